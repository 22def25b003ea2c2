import * as E from "fp-ts/lib/Either.js";
import { commandHandler } from "../../es/handleCommand.js";
import type { Handled, Hooks } from "../../es/handleCommand.js";
import { taskStreamName } from "../../events/task.js";
import type { TaskEvent } from "../../events/task.js";
import { workerStreamName } from "../../events/worker.js";
import type { WorkerEvent } from "../../events/worker.js";
import type { EventStore, RecordedEvent, Subscription } from "../../store/types.js";
import { taskDecider } from "../decider.js";
import type { TaskCommand, TaskRejection, TaskState } from "../decider.js";
import { workerDecider } from "../workers.js";
import type { WorkerCommand } from "../workers.js";
import { dateOf } from "./clock.js";
import { decidedCache } from "./state.js";
import type { Ctx } from "./state.js";
import type { TasksStoreEvent } from "./types.js";

type Ev = { type: string; data: unknown };

/**
 * The store seen through one codec: reads hand out only the events `is` accepts (a task stream
 * holds only task events; the filter makes the type say so), appends pass through.
 */
export const narrowStore = <All extends Ev, Some extends All>(
  store: EventStore<All>,
  is: (e: RecordedEvent<All>) => e is RecordedEvent<Some>,
): EventStore<Some> => {
  const only = async function* (events: AsyncIterable<RecordedEvent<All>>) {
    for await (const e of events) if (is(e)) yield e;
  };
  const sub = (s: Subscription<All>): Subscription<Some> => ({ ...s, [Symbol.asyncIterator]: () => only(s)[Symbol.asyncIterator]() });
  return {
    appendToStream: (name, events, opts) => store.appendToStream(name, events, opts),
    readStream: (name, opts) => only(store.readStream(name, opts)),
    readAll: (opts) => only(store.readAll(opts)),
    subscribeToAll: (opts) => sub(store.subscribeToAll(opts)),
    subscribeToStream: (name, opts) => sub(store.subscribeToStream(name, opts)),
    streamRevision: (name) => store.streamRevision(name),
    headPosition: () => store.headPosition(),
  };
};

export const isTaskEvent = (e: RecordedEvent<TasksStoreEvent>): e is RecordedEvent<TaskEvent> =>
  e.type.startsWith("task.") && e.type !== "task.limits.overridden";
export const isWorkerEvent = (e: RecordedEvent<TasksStoreEvent>): e is RecordedEvent<WorkerEvent> => e.type === "worker.online" || e.type === "worker.offline";

export type TaskOutcome = E.Either<TaskRejection, Handled<TaskState, TaskEvent>>;
export type Execute = (taskId: string, cmd: TaskCommand, actor: string, correlationId?: string) => Promise<TaskOutcome>;

/**
 * Commands on task streams, through the one command handler: load (or the `decided` cache for
 * one try), decide, append with the expected revision, retry on a concurrent append. The side
 * effects of what was appended (`afterAppend`: publish, withdraw, dead-letter) follow the append.
 */
export const taskCommands = (ctx: Ctx, afterAppend: NonNullable<Hooks<TaskState, TaskEvent, never>["afterAppend"]>) => {
  const handler = commandHandler(narrowStore(ctx.store, isTaskEvent), taskDecider, { streamName: taskStreamName, cache: decidedCache(ctx.state) });
  const execute: Execute = (taskId, cmd, actor, correlationId) =>
    handler.handle(taskId, cmd, { actor, time: dateOf(ctx.clock), ...(correlationId ? { correlationId } : {}) }, { afterAppend });
  return { load: handler.load, execute };
};
export type TaskCommands = ReturnType<typeof taskCommands>;

/** Commands on `worker-<plugin>` streams; `true` when an event was appended (a transition). */
export const workerCommands = (ctx: Ctx) => {
  const handler = commandHandler(narrowStore(ctx.store, isWorkerEvent), workerDecider, { streamName: workerStreamName });
  const executeWorker = async (cmd: WorkerCommand): Promise<boolean> => {
    const r = await handler.handle(cmd.pluginId, cmd, { actor: "system:health", time: dateOf(ctx.clock) });
    return E.isRight(r) && r.right.events.length > 0;
  };
  return { executeWorker };
};
