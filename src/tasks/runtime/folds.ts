import { LIMITS_CATEGORY } from "../../events/task.js";
import type { TaskEvent, TaskLimitsOverridden } from "../../events/task.js";
import type { PluginEvent } from "../../events/plugin.js";
import type { WorkerEvent } from "../../events/worker.js";
import type { RecordedEvent } from "../../store/types.js";
import { evolve, initialState, isEnded } from "../decider.js";
import type { TaskState } from "../decider.js";
import { evolveProviders } from "../providers.js";
import { evolveWorkers, initialWorkers } from "../workers.js";
import { isTaskEvent, isWorkerEvent } from "./commands.js";
import type { Consumers } from "./consumers.js";
import type { Health } from "./health.js";
import { forgetTask } from "./state.js";
import type { Ctx } from "./state.js";
import type { Timers } from "./timers.js";
import type { TasksStoreEvent } from "./types.js";

/** Events after which an attempt starts afresh: keep-alives of the previous one no longer count. */
const NEW_ATTEMPT: ReadonlySet<TaskEvent["type"]> = new Set(["task.started", "task.dispatched", "task.resubmitted", "task.retry_scheduled"]);

/**
 * The runtime's view of the log, from four subscriptions: plugins (`state.providers`, consumers
 * follow), open tasks (`state.open`, timers and health follow), worker instances
 * (`state.workers`) and limit overrides (`state.overrides`, consumers follow).
 */
export const folds = (
  ctx: Ctx,
  deps: {
    timers: Timers;
    health: Health;
    consumers: Consumers;
    load: (taskId: string) => Promise<{ state: TaskState }>;
    /** A plugin was disabled (live, not on replay): its running attempts are handed back. */
    onDisabled?: (pluginId: string) => void;
  },
) => {
  const { state } = ctx;

  const onTaskEvent = async (e: RecordedEvent<TaskEvent>) => {
    const id = e.data.taskId;
    const was = state.open.get(id);
    // An ended task is dropped from memory; if it comes back (a manual retry), the log has it.
    const s = was
      ? evolve(was, e)
      : e.type === "task.submitted"
        ? evolve(initialState(), e)
        : e.type === "task.report_refused"
          ? initialState()
          : (await deps.load(id)).state;
    if (s.status === "absent") return;
    if (NEW_ATTEMPT.has(e.type)) state.lastActive.delete(id);
    if (state.tasksLive) deps.health.observe(s, e);
    if (isEnded(s)) return forgetTask(state, id);
    state.open.set(id, s);
    deps.timers.arm(s);
  };

  const onPluginEvent = async (e: RecordedEvent<PluginEvent>) => {
    state.providers = evolveProviders(state.providers, e);
    if (e.type === "plugin.enabled" || e.type === "plugin.disabled") deps.health.reset(e.data.pluginId);
    const p = state.providers.get(e.data.pluginId);
    if (state.pluginsLive && p) await deps.consumers.ensureConsumersLogged(p);
    if (e.type === "plugin.disabled" && state.tasksLive) deps.onDisabled?.(e.data.pluginId);
  };

  const onWorkerEvent = (e: RecordedEvent<WorkerEvent>) => {
    state.workers.set(e.data.pluginId, evolveWorkers(state.workers.get(e.data.pluginId) ?? initialWorkers(), e));
  };

  const onLimitsEvent = async (e: RecordedEvent<TaskLimitsOverridden>) => {
    const { pluginId, ...o } = e.data;
    state.overrides.set(pluginId, o);
    const p = state.providers.get(pluginId);
    if (state.pluginsLive && p) await deps.consumers.ensureConsumersLogged(p, "applying a limits override failed");
  };

  /**
   * Starts the four subscriptions. Their loops end when they are unsubscribed; a loop that ends
   * otherwise is logged. The plugin and limits folds must catch up before consumers are made,
   * the task and worker folds before RESULTS is consumed (`index.ts` does the ordering).
   */
  const start = () => {
    const { store, log } = ctx;
    const plugins = store.subscribeToAll({ filter: { categories: ["plugin"] } });
    // SMELL -- every start folds the whole `task` category to find the open tasks: fine for now,
    // linear in history. A checkpointed projection of open tasks (KV `tasks`) would bound it.
    const tasks = store.subscribeToAll({ filter: { categories: ["task"] } });
    const workers = store.subscribeToAll({ filter: { categories: ["worker"] } });
    const limits = store.subscribeToAll({ filter: { categories: [LIMITS_CATEGORY] } });
    const isPlugin = (e: RecordedEvent<TasksStoreEvent>): e is RecordedEvent<PluginEvent> => e.type.startsWith("plugin.");
    const isLimits = (e: RecordedEvent<TasksStoreEvent>): e is RecordedEvent<TaskLimitsOverridden> => e.type === "task.limits.overridden";
    const loops = [
      (async () => {
        for await (const e of plugins) if (isPlugin(e)) await onPluginEvent(e);
      })(),
      (async () => {
        for await (const e of tasks) if (isTaskEvent(e)) await onTaskEvent(e);
      })(),
      (async () => {
        for await (const e of workers) if (isWorkerEvent(e)) onWorkerEvent(e);
      })(),
      (async () => {
        for await (const e of limits) if (isLimits(e)) await onLimitsEvent(e);
      })(),
    ].map((p) => p.catch((err) => (state.stopped ? undefined : log.error({ err }, "a tasks subscription ended"))));
    return {
      loops,
      pluginsCaughtUp: () => Promise.all([limits.caughtUp, plugins.caughtUp]),
      tasksCaughtUp: () => Promise.all([tasks.caughtUp, workers.caughtUp]),
      unsubscribe: () => Promise.all([plugins.unsubscribe(), tasks.unsubscribe(), workers.unsubscribe(), limits.unsubscribe()]),
    };
  };

  return { onTaskEvent, onPluginEvent, onWorkerEvent, onLimitsEvent, start };
};
export type Folds = ReturnType<typeof folds>;
