import { nuid } from "@nats-io/transport-node";
import { natsEventStore } from "../../store/eventStore.js";
import { HEARTBEATS_ALL, RESULTS_CONSUMER, Streams, SUBMIT_ALL } from "../../contract/subjects.js";
import { MAX_HEARTBEAT_BYTES } from "../../contract/limits.js";
import { api } from "./api.js";
import { dateOf, every, realClock } from "./clock.js";
import { taskCommands, workerCommands } from "./commands.js";
import { consumers } from "./consumers.js";
import { dispatch } from "./dispatch.js";
import { disabling } from "./disable.js";
import { folds } from "./folds.js";
import { health } from "./health.js";
import { advisories } from "./advisories.js";
import { liveness } from "./liveness.js";
import { natsIO } from "./nats.js";
import { reconcile } from "./reconcile.js";
import { reports } from "./reports.js";
import { pluginSubmissions } from "./responder.js";
import { schemas } from "./schemas.js";
import { background, configOf, createState } from "./state.js";
import type { Ctx } from "./state.js";
import { submitter } from "./submit.js";
import { timers } from "./timers.js";
import { TasksStoreEvent } from "./types.js";
import type { TaskRuntime, TasksDeps } from "./types.js";
import type * as t from "io-ts";
import { TaskEvent } from "../../events/task.js";
import { WorkerEvent } from "../../events/worker.js";
import { trustedEventsOf } from "../../projections/view.js";

export { toView, TasksStoreEvent, PluginSubmit } from "./types.js";
export type { TaskRuntime, TaskView, TasksDeps, TasksOptions, SubmitRequest, LimitsView } from "./types.js";
export type { Clock } from "./clock.js";

/**
 * The tasks context of the core: routing and submission (params validated, rate limited), the
 * per-plugin TASKS consumers and TOPICS consumers, the RESULTS consumer that validates worker
 * reports and appends task events, timers (timeouts, retry delays), cancellation, dead letters,
 * worker liveness from heartbeats and automatic disabling of unhealthy plugins. Each job is a part
 * of `src/tasks/runtime/` over one state object (`state.ts`, which also says which cache to
 * trust); this function only wires them and starts them in order.
 *
 * State is folded from the log (subscriptions on the `plugin`, `task`, `worker` and `tasklimits`
 * categories); every decision goes through the command handler, which decides on the task's
 * stream and appends with its revision, so replicas of the core may run side by side and a task
 * still completes exactly once.
 */
const trustedTaskEvents = trustedEventsOf([...TaskEvent.types, ...WorkerEvent.types] as t.Mixed[]);

export const startTasks = async (deps: TasksDeps): Promise<TaskRuntime> => {
  const clock = deps.clock ?? realClock;
  const log = deps.log.child({ component: "tasks" });
  const store =
    deps.store ??
    natsEventStore(deps.nc, {
      codec: TasksStoreEvent,
      defaultActor: "system:tasks",
      clock: () => dateOf(clock),
      onSkipped: (s) => log.warn({ skipped: s }, "undecodable event skipped"),
      // Task and worker events, the bulk of what it reads, are plain JSON written by the core
      // after a full decode: read back as they are when they sniff right (issue 14).
      trustLog: trustedTaskEvents,
    });
  const ctx: Ctx = {
    state: createState(clock.now()),
    clock,
    log,
    config: configOf(deps.options),
    io: deps.io ?? (await natsIO(deps.nc)),
    store,
    taskStream: deps.taskStream,
  };
  const { state, io } = ctx;

  const sch = schemas();
  const out = dispatch(ctx);
  const { load, execute } = taskCommands(ctx, out.effects);
  out.useLoad(load);
  const { executeWorker } = workerCommands(ctx);
  const tm = timers(ctx, execute);
  const cons = consumers(ctx);
  const fold = folds(ctx, { timers: tm, health: health(ctx, deps.disablePlugin), consumers: cons, load, onDisabled: disabling(ctx, { execute }) });
  const res = reports(ctx, { execute, load, dispatch: out, schemas: sch });
  const live = liveness(ctx, { execute, executeWorker });

  // Plugins and limits first (consumers follow them), then the open tasks and the workers, then
  // RESULTS (a report needs its task folded), then what runs in the background.
  const subs = fold.start();
  await subs.pluginsCaughtUp();
  await cons.retireLegacyTasks();
  for (const p of state.providers.values()) await cons.ensureConsumersLogged(p);
  state.pluginsLive = true;
  await subs.tasksCaughtUp();
  state.tasksLive = true;
  await cons.ensureResultsConsumer();
  // A short pull expiry (heartbeats every 2.5 s): a pull left on a lost cluster node is noticed in
  // seconds, not after the 30 s default, and the consumer pulls from the new leader.
  const results = await io.consume(Streams.Results, RESULTS_CONSUMER, { maxMessages: 256, expiresMs: 5_000 });
  const loops = [...subs.loops, res.run(results).catch((err) => (state.stopped ? undefined : log.error({ err }, "the results consumer ended")))];
  background(
    state,
    reconcile(ctx, out)().catch((err) => log.error({ err }, "reconciling TASKS with the log failed")),
  );
  const hb = io.subscribe(HEARTBEATS_ALL, {}, (m) => {
    if ((m.data?.length ?? 0) > MAX_HEARTBEAT_BYTES) {
      log.debug({ subject: m.subject, bytes: m.data?.length, limit: MAX_HEARTBEAT_BYTES }, "heartbeat over the size limit; dropped unread");
      return;
    }
    try {
      live.onHeartbeat(m.subject, m.json());
    } catch {
      log.warn({ subject: m.subject }, "heartbeat is not JSON; dropped");
    }
  });
  const stopSweeper = live.startSweeper();
  const stopAdvisories = advisories(ctx, { execute }).start();
  // Ended attempts' messages, swept well inside ack_wait so none is delivered again.
  const stopRetiring = every(clock, Math.max(100, Math.floor(ctx.config.ackWaitMs / 4)), () => background(state, out.sweepRetired()), { unref: true });
  log.info({ plugins: state.providers.size, openTasks: state.open.size }, "tasks runtime started");

  const answers = api(ctx, { execute, load, consumers: cons });
  const submit = submitter(ctx, { schemas: sch, execute, newId: () => nuid.next(), load });
  const submissions = pluginSubmissions(ctx, { api: { submit, get: answers.get }, ...(deps.pluginAccount ? { pluginAccount: deps.pluginAccount } : {}) });
  const submitSub = io.subscribe(SUBMIT_ALL, { queue: "ganglion-core" }, (m) => void submissions.onRequest(m));

  const stop = async () => {
    if (state.stopped) return;
    state.stopped = true;
    stopSweeper();
    stopAdvisories();
    stopRetiring();
    tm.disarmAll();
    hb.unsubscribe();
    submitSub.unsubscribe();
    results.stop();
    await subs.unsubscribe();
    await Promise.allSettled([...state.pending]);
    await Promise.allSettled(loops);
  };
  return { ...answers, submit, stop };
};
