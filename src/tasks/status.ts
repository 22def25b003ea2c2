import { assertNever } from "../events/exhaustive.js";
import type { TaskEvent } from "../events/task.js";

/**
 * The status of a task, and the one table of how events move it. The tasks decider's `evolve`,
 * the `tasks` view and the `totals` view all read it from here.
 *
 * ```
 * submitted ─▶ scheduled ─start─▶ running ─complete─▶ completed
 *                 ▲   │              │ fail / timeout
 *       dispatch  │   └─timeout──────┤
 *                 │                  ▼
 *            retry_wait ◀── attempts left?  ── no ──▶ dead_lettered ─resubmit─▶ scheduled
 * cancel: any open state ─▶ cancelled
 * ```
 */
export const TaskStatus = {
  Absent: "absent",
  Scheduled: "scheduled",
  Running: "running",
  RetryWait: "retry_wait",
  Completed: "completed",
  Cancelled: "cancelled",
  DeadLettered: "dead_lettered",
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];
/** The statuses of a submitted task. */
export type SubmittedStatus = Exclude<TaskStatus, "absent">;

export const TERMINAL: readonly TaskStatus[] = [TaskStatus.Completed, TaskStatus.Cancelled, TaskStatus.DeadLettered];

/**
 * The status after `e`, given the status before it. Total: an event that moves nothing leaves
 * `before`. Nothing but `task.submitted` leaves `absent`, and nothing leads back to it. A failed
 * or timed-out attempt moves nothing by itself: the retry or dead letter in the same commit does.
 */
export function taskStatusAfter(e: TaskEvent, before: SubmittedStatus): SubmittedStatus;
export function taskStatusAfter(e: TaskEvent, before: TaskStatus): TaskStatus;
export function taskStatusAfter(e: TaskEvent, before: TaskStatus): TaskStatus {
  if (before === TaskStatus.Absent) return e.type === "task.submitted" ? TaskStatus.Scheduled : before;
  switch (e.type) {
    case "task.submitted":
    case "task.dispatched":
    case "task.resubmitted":
      return TaskStatus.Scheduled;
    case "task.started":
      return TaskStatus.Running;
    case "task.retry_scheduled":
      return TaskStatus.RetryWait;
    case "task.completed":
      return TaskStatus.Completed;
    case "task.cancelled":
      return TaskStatus.Cancelled;
    case "task.dead_lettered":
      return TaskStatus.DeadLettered;
    case "task.progress":
    case "task.failed":
    case "task.timed_out":
    case "task.report_refused":
      return before;
    default:
      return assertNever(e, "task event");
  }
}
