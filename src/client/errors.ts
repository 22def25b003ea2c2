import type { ServiceError } from "../contract/errors.js";
import type { TaskView } from "../contract/responses.js";

/** The core refused a request (`code` is one of the service's `ErrorCode`s; `RateLimited` carries `retryAfterMs`). */
export class GanglionError extends Error {
  override name = "GanglionError";
  readonly code: ServiceError["code"];
  readonly paths: readonly string[];
  readonly retryAfterMs: number | undefined;
  readonly details: unknown;
  constructor(e: ServiceError) {
    super(`${e.code}: ${e.message}`);
    this.code = e.code;
    this.paths = e.paths ?? [];
    this.retryAfterMs = e.retryAfterMs;
    this.details = e.details;
  }
}

/** The server has no route for this submission: the application is not granted `task.submit:<type>`. */
export class NotGrantedError extends Error {
  override name = "NotGrantedError";
  constructor(readonly taskType: string) {
    super(`this application is not granted task.submit:${taskType} (its account has no import for app.submit.${taskType})`);
  }
}

/** The bus did not answer in time (no core, or the connection is down); the request may be retried. */
export class BusUnavailableError extends Error {
  override name = "BusUnavailableError";
}

/** A task ended without a result. `task` is its last state (failures, status, cancel reason). */
export class TaskFailedError extends Error {
  override name = "TaskFailedError";
  constructor(
    message: string,
    readonly task: TaskView,
  ) {
    super(message);
  }
}

/** Every attempt failed (or one failed as not retryable): the task is in the dead letters. */
export class TaskDeadLetteredError extends TaskFailedError {
  override name = "TaskDeadLetteredError";
}

/** Dead-lettered because its last attempt (or its deadline) ran out of time. */
export class TaskTimedOutError extends TaskDeadLetteredError {
  override name = "TaskTimedOutError";
}

/** Cancelled (by the application, or by an operator). */
export class TaskCancelledError extends TaskFailedError {
  override name = "TaskCancelledError";
}

/** `result({ timeoutMs })` ran out while the task was still open (the task goes on). */
export class ResultTimeoutError extends Error {
  override name = "ResultTimeoutError";
  constructor(
    readonly taskId: string,
    readonly timeoutMs: number,
  ) {
    super(`task ${taskId} did not end within ${timeoutMs} ms`);
  }
}

/** The error `result()` throws for a task that ended without a result. */
export const outcomeError = (v: TaskView): TaskFailedError => {
  if (v.status === "cancelled") return new TaskCancelledError(`task ${v.taskId} was cancelled${v.cancelReason ? `: ${v.cancelReason}` : ""}`, v);
  const last = v.failures[v.failures.length - 1];
  const why = last ? `: ${last.error.message}` : "";
  if (last?.error.kind === "timeout") return new TaskTimedOutError(`task ${v.taskId} timed out after ${v.failures.length} attempt(s)${why}`, v);
  return new TaskDeadLetteredError(`task ${v.taskId} failed after ${v.failures.length} attempt(s)${why}`, v);
};
