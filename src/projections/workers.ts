import * as t from "io-ts";
import { assertNever } from "../events/exhaustive.js";
import { TaskCancelled, TaskCompleted, TaskDeadLettered, TaskFailed, TaskStarted, TaskSubmitted, TaskTimedOut } from "../events/task.js";
import type { TaskEvent } from "../events/task.js";
import { WorkerOffline, WorkerOnline } from "../events/worker.js";
import type { WorkerEvent } from "../events/worker.js";
import { RunnerCrashLoop, RunnerInstanceExited, RunnerInstanceRestarted, RunnerInstanceStarted, RunnerScaled } from "../events/runner.js";
import type { RunnerEvent } from "../events/runner.js";
import { foldRunner } from "./workersRunner.js";
import { codecsByType, kvKey } from "./view.js";
import type { View } from "./view.js";
import { WorkerRow } from "../contract/responses.js";

/** The row codecs are the contract's (`src/contract/responses.ts`): one definition for the view, the service and its clients. */
export { WorkerRow };

/**
 * Row `<pluginId>` of the `workers` bucket: instances online, tasks in flight (started, not
 * finished), the last 20 failures, and counters. The health monitor appends `worker.online` /
 * `worker.offline` on transitions only, so `lastSeenAt` is as fresh as the log, not the wire.
 */

/**
 * The families this view reads from. It folds only some of their types (`events` below); the
 * others have a `case` that leaves the row as it is, so a type added to a family is a build
 * error here until someone decides what it means for a worker.
 */
type Ev = WorkerEvent | TaskEvent | RunnerEvent;
/** The task events that end or start an attempt on a worker. */
type AttemptEvent = TaskStarted | TaskCompleted | TaskFailed | TaskTimedOut | TaskCancelled | TaskDeadLettered;

const MAX_FAILURES = 20;

const empty = (pluginId: string, at: string): WorkerRow => ({
  pluginId,
  instances: {},
  online: 0,
  inFlight: {},
  inFlightCount: 0,
  recentFailures: [],
  completed: 0,
  failed: 0,
  lastOfflineAt: null,
  updatedAt: at,
});

const without = <V>(r: Record<string, V>, k: string): Record<string, V> => {
  const { [k]: _, ...rest } = r;
  return rest;
};

const sorted = <V>(r: Record<string, V>): Record<string, V> => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)));

const seen = (row: WorkerRow, instance: string, at: string): WorkerRow["instances"] => {
  // Instance names come from workers: `toString` or `__proto__` must read as "not there", not as
  // a property every object inherits.
  const i = Object.hasOwn(row.instances, instance) ? row.instances[instance] : undefined;
  return i ? { ...row.instances, [instance]: { ...i, lastSeenAt: at } } : row.instances;
};

/** A task attempt's start or end, on the row of the plugin the task went to (`key`). */
const foldAttempt = (key: string, prev: WorkerRow | null, e: AttemptEvent): WorkerRow => {
  const at = e.data.at;
  // Keys of this view are plugin ids (valid KV keys as they are).
  const row = { ...(prev ?? empty(key, at)), updatedAt: at };
  const id = e.data.taskId;
  const done = (r: WorkerRow): WorkerRow => {
    const inFlight = without(r.inFlight, id);
    return { ...r, inFlight, inFlightCount: Object.keys(inFlight).length };
  };
  switch (e.type) {
    case "task.started": {
      const inFlight = sorted({ ...row.inFlight, [id]: { attempt: e.data.attempt, instance: e.data.instance, startedAt: at } });
      return { ...row, inFlight, inFlightCount: Object.keys(inFlight).length, instances: seen(row, e.data.instance, at) };
    }
    case "task.completed":
      return { ...done(row), completed: row.completed + 1, instances: seen(row, e.data.instance, at) };
    case "task.failed":
    case "task.timed_out": {
      const message = e.type === "task.failed" ? e.data.error.message : `${e.data.kind} timeout`;
      const kind = e.type === "task.failed" ? (e.data.error.kind ?? "handler") : "timeout";
      return {
        ...done(row),
        failed: row.failed + 1,
        recentFailures: [...row.recentFailures, { taskId: id, attempt: e.data.attempt, at, message, kind }].slice(-MAX_FAILURES),
      };
    }
    case "task.cancelled":
    case "task.dead_lettered":
      return done(row);
    default:
      return assertNever(e, "task event");
  }
};

/**
 * Per-plugin liveness and load. Task events after `task.submitted` name only the task, so the
 * view indexes taskId ↦ pluginId from the submission (`View.index`).
 */
export const workersView: View<WorkerRow, Ev> = {
  name: "workers",
  row: WorkerRow,
  events: codecsByType([
    WorkerOnline,
    WorkerOffline,
    TaskSubmitted,
    TaskStarted,
    TaskCompleted,
    TaskFailed,
    TaskTimedOut,
    TaskCancelled,
    TaskDeadLettered,
    RunnerScaled,
    RunnerInstanceStarted,
    RunnerInstanceExited,
    RunnerInstanceRestarted,
    RunnerCrashLoop,
  ]),
  index: {
    key: (e) => (e.type.startsWith("task.") ? kvKey((e as TaskSubmitted).data.taskId) : undefined),
    // A completed or cancelled task has no more attempts (a dead-lettered one may be resubmitted).
    next: (e) => (e.type === "task.submitted" ? e.data.pluginId : e.type === "task.completed" || e.type === "task.cancelled" ? null : undefined),
  },
  keys: (e, plugin) => {
    if (e.type === "worker.online" || e.type === "worker.offline" || e.type.startsWith("runner.")) return [kvKey((e as RunnerEvent).data.pluginId)];
    if (e.type === "task.submitted") return [];
    return plugin ? [kvKey(plugin)] : [];
  },
  evolve: (key, prev, e) => {
    const at = e.data.at;
    switch (e.type) {
      case "worker.online":
      case "worker.offline": {
        const row = { ...(prev ?? empty(e.data.pluginId, at)), updatedAt: at };
        const instances =
          e.type === "worker.online"
            ? sorted({ ...row.instances, [e.data.instance]: { version: e.data.version, onlineSince: at, lastSeenAt: at } })
            : without(row.instances, e.data.instance);
        return { ...row, instances, online: Object.keys(instances).length, ...(e.type === "worker.offline" ? { lastOfflineAt: at } : {}) };
      }
      // The runner's side, beside the heartbeats.
      case "runner.scaled":
      case "runner.instance.started":
      case "runner.instance.exited":
      case "runner.instance.restarted":
      case "runner.instance.crash_loop":
        return foldRunner(prev ?? empty(e.data.pluginId, at), e);
      // Read for the index only (`keys` gives it no row).
      case "task.submitted":
        return prev;
      case "task.started":
      case "task.completed":
      case "task.failed":
      case "task.timed_out":
      case "task.cancelled":
      case "task.dead_lettered":
        return foldAttempt(key, prev, e);
      // Nothing a worker's row shows (their codecs are not in `events`).
      case "task.dispatched":
      case "task.progress":
      case "task.retry_scheduled":
      case "task.resubmitted":
      case "task.report_refused":
        return prev;
      default:
        return assertNever(e, "workers event");
    }
  },
};
