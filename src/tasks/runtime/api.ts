import * as E from "fp-ts/lib/Either.js";
import { limitsStreamName } from "../../events/task.js";
import type { ServiceError } from "../../service/endpoint.js";
import type { Task, TaskState } from "../decider.js";
import { isoOf } from "./clock.js";
import type { Execute } from "./commands.js";
import type { Consumers } from "./consumers.js";
import { limitsOf } from "./state.js";
import type { Ctx } from "./state.js";
import { rejectionToError, toView } from "./types.js";
import type { TaskRuntime, TaskView } from "./types.js";

/** The id names the stream `task-<id>`, whose id part cannot start with '-' (`task.get {taskId: "-"}` failed as Internal). */
export const validTaskId = (id: string) => /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/.test(id);

const ENDED: readonly string[] = ["completed", "cancelled", "dead_lettered"];

const notATaskId = (taskId: string): E.Either<ServiceError, never> =>
  E.left({ code: "InvalidRequest", message: `${JSON.stringify(taskId)} is not a task id`, paths: ["taskId"] });

/**
 * The runtime's answers to the service, besides `submit`: a task's view (read from its stream,
 * optionally waiting for it to end: `state.waiters`, woken by the task fold), cancel, manual
 * retry, and the plugins' limits (an override is appended, then applied to the consumer).
 */
export const api = (
  ctx: Ctx,
  deps: { execute: Execute; load: (taskId: string) => Promise<{ state: TaskState }>; consumers: Consumers },
): Omit<TaskRuntime, "submit" | "stop"> => {
  const { state, clock, store, config } = ctx;

  const viewOf = async (taskId: string): Promise<E.Either<ServiceError, TaskView>> => {
    const { state: s } = await deps.load(taskId);
    return s.status === "absent" ? E.left({ code: "NotFound", message: `no task ${taskId}` }) : E.right(toView(s));
  };

  const waitForEnd = async (taskId: string, waitMs: number) => {
    let wake!: () => void;
    const ended = new Promise<void>((r) => (wake = r));
    const set = state.waiters.get(taskId) ?? new Set();
    set.add(wake);
    state.waiters.set(taskId, set);
    try {
      const first = await viewOf(taskId);
      if (E.isLeft(first) || ENDED.includes(first.right.status)) return first;
      let cancel: (() => void) | undefined;
      await Promise.race([ended, new Promise<void>((r) => (cancel = clock.after(waitMs, r)))]);
      cancel?.();
      return viewOf(taskId);
    } finally {
      set.delete(wake);
      if (set.size === 0) state.waiters.delete(taskId);
    }
  };

  return {
    get: async (taskId, waitMs) => {
      if (!validTaskId(taskId)) return notATaskId(taskId);
      return !waitMs || waitMs <= 0 ? viewOf(taskId) : waitForEnd(taskId, waitMs);
    },
    cancel: async (taskId, reason, actor) => {
      if (!validTaskId(taskId)) return notATaskId(taskId);
      const r = await deps.execute(taskId, { type: "cancel", reason, at: isoOf(clock) }, actor);
      if (E.isLeft(r)) return E.left(rejectionToError(r.left, taskId));
      return E.right(toView(r.right.state as Task));
    },
    retry: async (taskId, actor) => {
      if (!validTaskId(taskId)) return notATaskId(taskId);
      const r = await deps.execute(taskId, { type: "resubmit", at: isoOf(clock) }, actor);
      if (E.isLeft(r)) return E.left(r.left._tag === "NotApplicable" ? { code: "NotDeadLettered", message: r.left.message } : rejectionToError(r.left, taskId));
      return E.right(toView(r.right.state as Task));
    },
    limits: (pluginId) => {
      const p = state.providers.get(pluginId);
      return p ? E.right(limitsOf(state, config, p)) : E.left({ code: "NotFound", message: `no plugin ${pluginId} is installed` });
    },
    setLimits: async (pluginId, override, actor) => {
      const p = state.providers.get(pluginId);
      if (!p) return E.left({ code: "NotFound", message: `no plugin ${pluginId} is installed` });
      if (override.concurrency !== undefined && !(Number.isInteger(override.concurrency) && override.concurrency > 0)) {
        return E.left({ code: "InvalidRequest", message: `concurrency must be a whole number above 0, got ${override.concurrency}`, paths: ["concurrency"] });
      }
      await store.appendToStream(
        limitsStreamName(pluginId),
        [{ type: "task.limits.overridden", data: { pluginId, ...override }, metadata: { actor, time: isoOf(clock) } }],
        { streamState: "any" },
      );
      state.overrides.set(pluginId, override);
      state.buckets.delete(pluginId);
      await deps.consumers.ensureConsumers(p);
      return E.right(limitsOf(state, config, p));
    },
  };
};
