import * as t from "io-ts";

/**
 * Events of one task, on the event-store stream `task-<taskId>` (subject `ev.task.<taskId>`).
 * Every step of a task is one of these; `src/tasks/decider.ts` decides and folds them.
 *
 * Attempts count from 1. A task reaches exactly one terminal event: `task.completed`,
 * `task.cancelled` or `task.dead_lettered` (appends use stream-revision expectations, so a
 * redelivered or late result can never complete a task twice).
 */

/** Retry policy of a task type (from the provider's manifest, frozen at submission). */
export const RetryPolicy = t.type({
  /** Total attempts allowed, the first included (>= 1). */
  maxAttempts: t.number,
  /** Delay before attempt n+1 is `backoffMs[n-1]` (the last entry repeats; empty = no delay). */
  backoffMs: t.array(t.number),
});
export type RetryPolicy = t.TypeOf<typeof RetryPolicy>;

/** Timeouts of a task, Temporal-style. All in milliseconds; absent = no such limit. */
export const TaskTimeouts = t.intersection([
  t.type({
    /** An attempt must finish within this after it started; every progress report restarts it. */
    startToCloseMs: t.number,
  }),
  t.partial({
    /** An attempt must be started by a worker within this after it was dispatched. */
    scheduleToStartMs: t.number,
    /** The whole task (all attempts) must end within this after submission. */
    deadlineMs: t.number,
  }),
]);
export type TaskTimeouts = t.TypeOf<typeof TaskTimeouts>;

/** Why an attempt ended without a result. */
export const TaskError = t.intersection([
  t.type({ message: t.string }),
  t.partial({
    /** false: do not retry whatever the policy says. Default true. */
    retryable: t.boolean,
    /** `handler` (the worker reported it), `invalid_result`, `timeout`, `lost` (worker gone), `withdrawn` (its plugin was disabled). */
    kind: t.string,
    /** Schema paths of an invalid result. */
    paths: t.array(t.string),
  }),
]);
export type TaskError = t.TypeOf<typeof TaskError>;

/** One failed attempt, as kept in the failure chain of a dead letter. */
export const AttemptFailure = t.intersection([t.type({ attempt: t.number, at: t.string, error: TaskError }), t.partial({ instance: t.string })]);
export type AttemptFailure = t.TypeOf<typeof AttemptFailure>;

export const TimeoutKind = t.keyof({ schedule_to_start: null, start_to_close: null, deadline: null });
export type TimeoutKind = t.TypeOf<typeof TimeoutKind>;

/** A task was accepted (params already validated) and attempt 1 is being dispatched. */
export const TaskSubmitted = t.type({
  type: t.literal("task.submitted"),
  data: t.intersection([
    t.type({
      taskId: t.string,
      pluginId: t.string,
      pluginVersion: t.string,
      taskType: t.string,
      params: t.unknown,
      retry: RetryPolicy,
      timeouts: TaskTimeouts,
      /** ISO time of the submission (also the time attempt 1 was dispatched). */
      at: t.string,
    }),
    t.partial({
      correlationId: t.string,
      /** The submitter's idempotency key (applications): the task id was derived from it. */
      idempotencyKey: t.string,
    }),
  ]),
});
export type TaskSubmitted = t.TypeOf<typeof TaskSubmitted>;

/** A later attempt (after a retry delay, or a manual retry) was dispatched to TASKS. */
export const TaskDispatched = t.type({
  type: t.literal("task.dispatched"),
  data: t.type({ taskId: t.string, attempt: t.number, at: t.string }),
});
export type TaskDispatched = t.TypeOf<typeof TaskDispatched>;

/** A worker instance took an attempt (`delivery` > 1: JetStream redelivered it, e.g. after a crash). */
export const TaskStarted = t.type({
  type: t.literal("task.started"),
  data: t.type({ taskId: t.string, attempt: t.number, instance: t.string, delivery: t.number, at: t.string }),
});
export type TaskStarted = t.TypeOf<typeof TaskStarted>;

/** Progress of the running attempt (throttled by the core). */
export const TaskProgressed = t.type({
  type: t.literal("task.progress"),
  data: t.intersection([t.type({ taskId: t.string, attempt: t.number, done: t.number, total: t.number, at: t.string }), t.partial({ message: t.string })]),
});
export type TaskProgressed = t.TypeOf<typeof TaskProgressed>;

/** The result, valid against the provider's result schema. Terminal. */
export const TaskCompleted = t.type({
  type: t.literal("task.completed"),
  data: t.type({ taskId: t.string, attempt: t.number, instance: t.string, result: t.unknown, at: t.string }),
});
export type TaskCompleted = t.TypeOf<typeof TaskCompleted>;

/** An attempt failed (reported by the worker, or an invalid result). A retry or a dead letter follows in the same commit. */
export const TaskFailed = t.type({
  type: t.literal("task.failed"),
  data: t.intersection([t.type({ taskId: t.string, attempt: t.number, error: TaskError, at: t.string }), t.partial({ instance: t.string })]),
});
export type TaskFailed = t.TypeOf<typeof TaskFailed>;

/** An attempt ran out of time. A retry or a dead letter follows in the same commit. */
export const TaskTimedOut = t.type({
  type: t.literal("task.timed_out"),
  data: t.intersection([t.type({ taskId: t.string, attempt: t.number, kind: TimeoutKind, at: t.string }), t.partial({ instance: t.string })]),
});
export type TaskTimedOut = t.TypeOf<typeof TaskTimedOut>;

/** Attempt `attempt` will be dispatched at `retryAt`. */
export const TaskRetryScheduled = t.type({
  type: t.literal("task.retry_scheduled"),
  data: t.intersection([
    t.type({ taskId: t.string, attempt: t.number, retryAt: t.string, delayMs: t.number, at: t.string }),
    // The attempt before was lost to a dead worker instance: not charged, the budget grows by one.
    t.partial({ uncharged: t.boolean }),
  ]),
});
export type TaskRetryScheduled = t.TypeOf<typeof TaskRetryScheduled>;

/** Cancelled by an operator or the submitter. Terminal; the running handler gets an abort signal. */
export const TaskCancelled = t.type({
  type: t.literal("task.cancelled"),
  data: t.intersection([t.type({ taskId: t.string, at: t.string }), t.partial({ reason: t.string, attempt: t.number, instance: t.string })]),
});
export type TaskCancelled = t.TypeOf<typeof TaskCancelled>;

/** No attempt left (or a non-retryable failure or timeout): the task went to DEADLETTERS. Terminal until a manual retry. */
export const TaskDeadLettered = t.type({
  type: t.literal("task.dead_lettered"),
  data: t.type({ taskId: t.string, attempts: t.number, failures: t.array(AttemptFailure), at: t.string }),
});
export type TaskDeadLettered = t.TypeOf<typeof TaskDeadLettered>;

/** An operator sent a dead-lettered task again (`ganglion task retry`): a fresh attempt budget. */
export const TaskResubmitted = t.type({
  type: t.literal("task.resubmitted"),
  data: t.type({ taskId: t.string, attempt: t.number, maxAttempts: t.number, at: t.string }),
});
export type TaskResubmitted = t.TypeOf<typeof TaskResubmitted>;

/** Audit: a worker reported on a task attempt it does not hold (stale, foreign or finished); nothing changed. */
export const TaskReportRefused = t.type({
  type: t.literal("task.report_refused"),
  data: t.intersection([
    t.type({ taskId: t.string, attempt: t.number, instance: t.string, pluginId: t.string, status: t.string, reason: t.string, at: t.string }),
    // Refusals of the same kind on this task that were not recorded since the last one (rate limit).
    t.partial({ suppressed: t.number }),
  ]),
});
export type TaskReportRefused = t.TypeOf<typeof TaskReportRefused>;

export const TaskEvent = t.union([
  TaskSubmitted,
  TaskDispatched,
  TaskStarted,
  TaskProgressed,
  TaskCompleted,
  TaskFailed,
  TaskTimedOut,
  TaskRetryScheduled,
  TaskCancelled,
  TaskDeadLettered,
  TaskResubmitted,
  TaskReportRefused,
]);
export type TaskEvent = t.TypeOf<typeof TaskEvent>;

/** Stream category of all tasks (`ev.task.>`). */
export const TASK_CATEGORY = "task";
/** Event-store stream of a task. */
export const taskStreamName = (taskId: string) => `${TASK_CATEGORY}-${taskId}`;

/**
 * An operator set a plugin's limits over its manifest's (`ganglion task limits`), on the stream
 * `tasklimits-<pluginId>`. Each event replaces the previous override whole: an absent field means
 * "the manifest's value again".
 */
export const TaskLimitsOverridden = t.type({
  type: t.literal("task.limits.overridden"),
  data: t.intersection([
    t.type({ pluginId: t.string }),
    t.partial({
      /** Tasks in flight across the plugin's instances (its consumer's `max_ack_pending`). */
      concurrency: t.number,
      /** Submissions: `count` per `perMs` milliseconds. */
      rate: t.type({ count: t.number, perMs: t.number }),
    }),
  ]),
});
export type TaskLimitsOverridden = t.TypeOf<typeof TaskLimitsOverridden>;

/**
 * The events of the `tasklimits` category: a family of one type for now (io-ts unions need two
 * members), kept apart from `TaskEvent` because they name a plugin, not a task. Part of
 * `GanglionEvent`.
 */
export const TaskLimitsEvent = TaskLimitsOverridden;
export type TaskLimitsEvent = TaskLimitsOverridden;

/** Stream category and name of a plugin's limit overrides. */
export const LIMITS_CATEGORY = "tasklimits";
export const limitsStreamName = (pluginId: string) => `${LIMITS_CATEGORY}-${pluginId}`;
