import * as t from "io-ts";
import { assertNever } from "../events/exhaustive.js";
import { TaskError, TaskEvent } from "../events/task.js";
import { taskStatusAfter, TERMINAL } from "../tasks/status.js";
import type { SubmittedStatus } from "../tasks/status.js";
import { codecsByType, kvKey } from "./view.js";
import type { View } from "./view.js";
import { TaskRow } from "../contract/responses.js";
import { checkRetention, decodeRetention, DEFAULT_TASK_RETENTION, retentionStep } from "./taskRetention.js";
import type { TaskRetention } from "./taskRetention.js";

/** The row codecs are the contract's (`src/contract/responses.ts`): one definition for the view, the service and its clients. */
export { TaskRow };

/** The statuses of a task row: the table's (`src/tasks/status.ts`), less `absent` (no row). */
export const TaskViewStatus = t.keyof({
  scheduled: null,
  running: null,
  retry_wait: null,
  completed: null,
  cancelled: null,
  dead_lettered: null,
} satisfies Record<SubmittedStatus, null>);
export type TaskViewStatus = t.TypeOf<typeof TaskViewStatus>;
export const TERMINAL_STATUSES: readonly TaskViewStatus[] = TERMINAL.filter((x): x is TaskViewStatus => x !== "absent");

const Nullable = <C extends t.Mixed>(c: C) => t.union([c, t.null]);

/**
 * Row `<taskId>` of the `tasks` bucket. Times are ISO strings from the events; `durationMs` is
 * submission → terminal event. `result` is set once completed, `error` holds the last failure.
 */

export const taskKey = (taskId: string) => kvKey(taskId);

const MAX_FAILURES = 10;
const since = (from: string, to: string) => Math.max(0, Date.parse(to) - Date.parse(from));

/**
 * Folds the lifecycle events of each task (`task-<id>` streams) into one row per task; rows of
 * finished tasks go by the retention rule (`taskRetention.ts`).
 */
export const tasksViewWith = (retention: TaskRetention): View<TaskRow, TaskEvent> => ({
  ...tasksFold,
  after: retentionStep(checkRetention(retention), taskKey),
  settings: {
    value: { retention },
    with: (raw) => {
      const r = decodeRetention((raw as { retention?: unknown } | null)?.retention);
      return r ? tasksViewWith(r) : undefined;
    },
  },
});

const tasksFold: View<TaskRow, TaskEvent> = {
  name: "tasks",
  row: TaskRow,
  // Every TaskEvent type: a type added to the union is folded here too, or the build says why not.
  events: codecsByType(TaskEvent.types as readonly t.Mixed[]),
  keys: (e) => (e.type === "task.report_refused" ? [] : [taskKey(e.data.taskId)]),
  evolve: (_key, row, e) => {
    // The status moves by the tasks' one table (`src/tasks/status.ts`); no row: absent.
    const status = taskStatusAfter(e, row?.status ?? "absent");
    if (status === "absent") return null;
    if (e.type === "task.submitted") {
      const d = e.data;
      return {
        taskId: d.taskId,
        pluginId: d.pluginId,
        pluginVersion: d.pluginVersion,
        taskType: d.taskType,
        status,
        attempt: 1,
        maxAttempts: d.retry.maxAttempts,
        instance: null,
        submittedAt: d.at,
        dispatchedAt: d.at,
        startedAt: null,
        finishedAt: null,
        retryAt: null,
        durationMs: null,
        progress: null,
        result: null,
        error: null,
        failures: [],
        correlationId: d.correlationId ?? null,
        updatedAt: d.at,
      };
    }
    if (!row) return null; // (not reached: narrows `row`)
    const at = e.data.at;
    const r = { ...row, status, updatedAt: at };
    const fail = (attempt: number, error: TaskError, instance: string | undefined): TaskRow => ({
      ...r,
      error,
      failures: [...row.failures, { attempt, at, error, instance: instance ?? null }].slice(-MAX_FAILURES),
    });
    const finish = (): TaskRow => ({ ...r, finishedAt: at, durationMs: since(row.submittedAt, at), retryAt: null });
    switch (e.type) {
      case "task.dispatched":
        return { ...r, attempt: e.data.attempt, dispatchedAt: at, instance: null, startedAt: null, progress: null, retryAt: null };
      case "task.started":
        return { ...r, attempt: e.data.attempt, instance: e.data.instance, startedAt: at };
      case "task.progress":
        return {
          ...r,
          progress:
            e.data.message === undefined ? { done: e.data.done, total: e.data.total } : { done: e.data.done, total: e.data.total, message: e.data.message },
        };
      case "task.completed":
        return { ...finish(), result: e.data.result, instance: e.data.instance };
      case "task.failed":
        return fail(e.data.attempt, e.data.error, e.data.instance);
      case "task.timed_out":
        return fail(e.data.attempt, { message: `${e.data.kind} timeout`, kind: "timeout" }, e.data.instance);
      case "task.retry_scheduled":
        // An attempt lost to a dead instance is not charged: the decider's budget grows by one.
        return { ...r, retryAt: e.data.retryAt, ...(e.data.uncharged ? { maxAttempts: r.maxAttempts + 1 } : {}) };
      case "task.cancelled":
      case "task.dead_lettered":
        return finish();
      case "task.resubmitted":
        return {
          ...r,
          attempt: e.data.attempt,
          // The decider's budget: attempts so far plus a fresh policy's worth.
          maxAttempts: e.data.attempt - 1 + Math.max(1, e.data.maxAttempts),
          dispatchedAt: at,
          finishedAt: null,
          durationMs: null,
          instance: null,
          startedAt: null,
          progress: null,
        };
      // Audit only: `keys` gives it no row.
      case "task.report_refused":
        return row;
      default:
        return assertNever(e, "task event");
    }
  },
};

/** The tasks view with the default retention (`DEFAULT_TASK_RETENTION`). */
export const tasksView: View<TaskRow, TaskEvent> = tasksViewWith(DEFAULT_TASK_RETENTION);
