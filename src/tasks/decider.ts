import * as E from "fp-ts/lib/Either.js";
import type { Decider } from "../es/decider.js";
import type { AttemptFailure, RetryPolicy, TaskError, TaskEvent, TaskTimeouts, TimeoutKind } from "../events/task.js";
import { assertNever } from "../events/exhaustive.js";
import { TaskStatus, taskStatusAfter, TERMINAL } from "./status.js";
import type { SubmittedStatus } from "./status.js";

/**
 * The task lifecycle as a pure decider: `decide(command, state)` → events or a rejection,
 * `evolve(state, event)` → state, `initialState()`. Time comes in on every command (`at`, ISO).
 *
 * ```
 * submitted ─▶ scheduled ─start─▶ running ─complete─▶ completed
 *                 ▲   │              │ fail / timeout
 *       dispatch  │   └─timeout──────┤
 *                 │                  ▼
 *            retry_wait ◀── attempts left?  ── no ──▶ dead_lettered ─resubmit─▶ scheduled
 * cancel: any open state ─▶ cancelled
 * ```
 *
 * How events move the status is the table in `./status.ts` (shared with the views).
 */

export { TaskStatus, TERMINAL } from "./status.js";

export type Task = {
  readonly status: SubmittedStatus;
  readonly taskId: string;
  readonly pluginId: string;
  readonly pluginVersion: string;
  readonly taskType: string;
  readonly params: unknown;
  readonly retry: RetryPolicy;
  readonly timeouts: TaskTimeouts;
  readonly submittedAt: string;
  /** Absolute overall deadline (ISO), when the type has one. */
  readonly deadlineAt?: string;
  /** Current attempt (1-based). */
  readonly attempt: number;
  /** Highest attempt number this budget allows (grows on a manual resubmit). */
  readonly maxAttempt: number;
  /** When the current attempt was dispatched. */
  readonly scheduledAt: string;
  /** The instance holding the current attempt, once started. */
  readonly instance?: string;
  readonly startedAt?: string;
  /** Last start or progress of the current attempt: start-to-close counts from here. */
  readonly activeAt?: string;
  readonly retryAt?: string;
  readonly progress?: { readonly done: number; readonly total: number; readonly message?: string; readonly at: string };
  readonly failures: readonly AttemptFailure[];
  readonly result?: unknown;
  readonly endedAt?: string;
  readonly cancelReason?: string;
};

export type TaskState = { readonly status: "absent" } | Task;

export type TaskCommand =
  | {
      readonly type: "submit";
      readonly taskId: string;
      readonly pluginId: string;
      readonly pluginVersion: string;
      readonly taskType: string;
      readonly params: unknown;
      readonly retry: RetryPolicy;
      readonly timeouts: TaskTimeouts;
      readonly correlationId?: string;
      readonly idempotencyKey?: string;
      readonly at: string;
    }
  | { readonly type: "dispatch"; readonly at: string }
  | { readonly type: "start"; readonly attempt: number; readonly instance: string; readonly delivery: number; readonly at: string }
  | {
      readonly type: "progress";
      readonly attempt: number;
      readonly instance: string;
      readonly done: number;
      readonly total: number;
      readonly message?: string;
      readonly at: string;
    }
  | {
      readonly type: "complete";
      readonly attempt: number;
      readonly instance: string;
      readonly result: unknown;
      readonly at: string;
      readonly startsAttempt?: StartsAttempt;
    }
  | {
      readonly type: "fail";
      readonly attempt: number;
      readonly instance?: string;
      readonly error: TaskError;
      readonly at: string;
      readonly startsAttempt?: StartsAttempt;
    }
  | { readonly type: "timeout"; readonly kind: TimeoutKind; readonly attempt: number; readonly at: string }
  | { readonly type: "cancel"; readonly reason?: string; readonly at: string }
  | { readonly type: "resubmit"; readonly at: string };

/**
 * On a worker's final report: the worker sent no `started` for the attempt (a handler that ended
 * within the SDK's started delay, or a minimal worker), so this report starts it too. When the
 * attempt is still scheduled, the start and the end are decided together and appended as one
 * commit (`task.started` then `task.completed`/`task.failed`): one append instead of two.
 */
export type StartsAttempt = { readonly delivery: number };

export type TaskRejection =
  | { readonly _tag: "NotFound"; readonly message: string }
  | { readonly _tag: "AlreadyExists"; readonly message: string }
  /** The task is already completed, cancelled or dead-lettered. */
  | { readonly _tag: "AlreadyEnded"; readonly status: TaskStatus; readonly message: string }
  /** A worker reported on an attempt it does not hold; the report is refused (and audited). */
  | { readonly _tag: "NotHeld"; readonly message: string }
  /** A command that does not apply now (a timer that is no longer due, a resubmit of a live task). */
  | { readonly _tag: "NotApplicable"; readonly message: string };

export const initialState = (): TaskState => ({ status: "absent" });

const ms = (iso: string) => Date.parse(iso);
const plus = (iso: string, d: number) => new Date(ms(iso) + d).toISOString();

/** The delay before attempt `next` (>= 2): `backoffMs[next-2]`, the last entry repeating. */
export const backoffBefore = (policy: RetryPolicy, next: number): number => {
  const b = policy.backoffMs;
  if (b.length === 0) return 0;
  return b[Math.min(next - 2, b.length - 1)] ?? 0;
};

const isOpen = (s: TaskState): boolean => s.status !== "absent" && !TERMINAL.includes(s.status);

const ended = (s: Task): TaskRejection => ({ _tag: "AlreadyEnded", status: s.status, message: `task ${s.taskId} is already ${s.status}` });

/** The worker holds attempt `attempt` of a started task: the only one whose reports count. */
const holds = (s: Task, attempt: number, instance: string) => s.status === "running" && s.attempt === attempt && s.instance === instance;

/**
 * Attempts lost to a dead worker instance (kind `lost`: it went silent, its heartbeats stopped)
 * that are not charged to the retry policy, per task. Beyond them a lost attempt counts like any
 * failure: a task that kills every worker it reaches (a poison pill) still ends.
 */
export const MAX_UNCHARGED_LOST = 3;

/** Events after a failed or timed-out attempt: a retry when the policy allows, else a dead letter. */
const afterFailure = (s: Task, failure: AttemptFailure, at: string): TaskEvent[] => {
  const failures = [...s.failures, failure];
  const retryable = failure.error.retryable !== false;
  const next = s.attempt + 1;
  const deadlineLeft = s.deadlineAt === undefined ? Infinity : ms(s.deadlineAt) - ms(at);
  // A crashed worker is not the task's fault (Temporal does not charge it either): the next
  // attempt goes out at once, and the budget grows by one.
  // Nor is its plugin being disabled (kind `withdrawn`): the next attempt waits for the enable.
  const lostBefore = s.failures.filter((f) => f.error.kind === "lost").length;
  const uncharged = failure.error.kind === "withdrawn" || (failure.error.kind === "lost" && lostBefore < MAX_UNCHARGED_LOST);
  if (uncharged && deadlineLeft > 0) {
    return [{ type: "task.retry_scheduled", data: { taskId: s.taskId, attempt: next, retryAt: at, delayMs: 0, at, uncharged: true } }];
  }
  const delayMs = backoffBefore(s.retry, next);
  if (retryable && next <= s.maxAttempt && delayMs < deadlineLeft) {
    return [{ type: "task.retry_scheduled", data: { taskId: s.taskId, attempt: next, retryAt: plus(at, delayMs), delayMs, at } }];
  }
  return [{ type: "task.dead_lettered", data: { taskId: s.taskId, attempts: s.attempt, failures, at } }];
};

export const decide = (cmd: TaskCommand, s: TaskState): E.Either<TaskRejection, TaskEvent[]> => {
  if ((cmd.type === "complete" || cmd.type === "fail") && cmd.startsAttempt) {
    const { startsAttempt, ...end } = cmd;
    if (s.status !== "scheduled" || s.attempt !== cmd.attempt || cmd.instance === undefined) return decide(end, s);
    const start = decide({ type: "start", attempt: cmd.attempt, instance: cmd.instance, delivery: startsAttempt.delivery, at: cmd.at }, s);
    if (E.isLeft(start)) return start;
    const rest = decide(end, start.right.reduce(evolve, s));
    return E.isLeft(rest) ? rest : E.right([...start.right, ...rest.right]);
  }
  if (cmd.type === "submit") {
    if (s.status !== "absent") return E.left({ _tag: "AlreadyExists", message: `task ${cmd.taskId} already exists` });
    const { type: _type, correlationId, ...rest } = cmd;
    return E.right([{ type: "task.submitted", data: { ...rest, ...(correlationId ? { correlationId } : {}) } }]);
  }
  if (s.status === "absent") return E.left({ _tag: "NotFound", message: "no such task" });
  const id = s.taskId;
  switch (cmd.type) {
    case "dispatch":
      if (s.status !== "retry_wait") return E.left({ _tag: "NotApplicable", message: `task ${id} is ${s.status}, not waiting for a retry` });
      return E.right([{ type: "task.dispatched", data: { taskId: id, attempt: s.attempt + 1, at: cmd.at } }]);
    case "start":
      if (!isOpen(s)) return E.left({ _tag: "NotHeld", message: `task ${id} is ${s.status}` });
      if (cmd.attempt !== s.attempt || s.status === "retry_wait") {
        return E.left({ _tag: "NotHeld", message: `attempt ${cmd.attempt} of task ${id} is not current (current: ${s.attempt}, ${s.status})` });
      }
      // A second start of the same attempt is a JetStream redelivery (the first holder died or
      // stalled): the new instance holds it from now on.
      if (s.status === "running" && s.instance === cmd.instance) return E.right([]);
      return E.right([{ type: "task.started", data: { taskId: id, attempt: cmd.attempt, instance: cmd.instance, delivery: cmd.delivery, at: cmd.at } }]);
    case "progress":
      if (!holds(s, cmd.attempt, cmd.instance))
        return E.left({ _tag: "NotHeld", message: `instance ${cmd.instance} does not hold attempt ${cmd.attempt} of task ${id}` });
      return E.right([
        {
          type: "task.progress",
          data: {
            taskId: id,
            attempt: cmd.attempt,
            done: cmd.done,
            total: cmd.total,
            at: cmd.at,
            ...(cmd.message !== undefined ? { message: cmd.message } : {}),
          },
        },
      ]);
    case "complete":
      if (!isOpen(s)) return E.left(ended(s));
      if (!holds(s, cmd.attempt, cmd.instance))
        return E.left({ _tag: "NotHeld", message: `instance ${cmd.instance} does not hold attempt ${cmd.attempt} of task ${id}` });
      return E.right([{ type: "task.completed", data: { taskId: id, attempt: cmd.attempt, instance: cmd.instance, result: cmd.result, at: cmd.at } }]);
    case "fail": {
      if (!isOpen(s)) return E.left(ended(s));
      if (cmd.instance !== undefined && !holds(s, cmd.attempt, cmd.instance)) {
        return E.left({ _tag: "NotHeld", message: `instance ${cmd.instance} does not hold attempt ${cmd.attempt} of task ${id}` });
      }
      if (cmd.attempt !== s.attempt || s.status === "retry_wait")
        return E.left({ _tag: "NotApplicable", message: `attempt ${cmd.attempt} of task ${id} is not current` });
      const instance = cmd.instance ?? s.instance;
      const failure: AttemptFailure = { attempt: s.attempt, at: cmd.at, error: cmd.error, ...(instance ? { instance } : {}) };
      return E.right([
        { type: "task.failed", data: { taskId: id, attempt: s.attempt, error: cmd.error, at: cmd.at, ...(instance ? { instance } : {}) } },
        ...afterFailure(s, failure, cmd.at),
      ]);
    }
    case "timeout": {
      if (!isOpen(s)) return E.left(ended(s));
      if (cmd.attempt !== s.attempt || dueTimer(s)?.kind !== cmd.kind || ms(dueTimer(s)!.at) > ms(cmd.at)) {
        return E.left({ _tag: "NotApplicable", message: `no ${cmd.kind} timeout is due for attempt ${cmd.attempt} of task ${id}` });
      }
      const timedOut: TaskEvent = {
        type: "task.timed_out",
        data: { taskId: id, attempt: s.attempt, kind: cmd.kind, at: cmd.at, ...(s.instance && s.status === "running" ? { instance: s.instance } : {}) },
      };
      const error: TaskError = {
        message: `${cmd.kind.replaceAll("_", "-")} timeout of attempt ${s.attempt}`,
        kind: "timeout",
        // Temporal's rule: only start-to-close is retried; a queue nobody serves or a spent
        // deadline will not get better by trying again.
        retryable: cmd.kind === "start_to_close",
      };
      const failure: AttemptFailure = { attempt: s.attempt, at: cmd.at, error, ...(s.instance && s.status === "running" ? { instance: s.instance } : {}) };
      if (cmd.kind === "deadline" && s.status === "retry_wait") {
        return E.right([timedOut, { type: "task.dead_lettered", data: { taskId: id, attempts: s.attempt, failures: [...s.failures], at: cmd.at } }]);
      }
      return E.right([timedOut, ...afterFailure(s, failure, cmd.at)]);
    }
    case "cancel":
      if (!isOpen(s)) return E.left(ended(s));
      return E.right([
        {
          type: "task.cancelled",
          data: {
            taskId: id,
            at: cmd.at,
            attempt: s.attempt,
            ...(cmd.reason ? { reason: cmd.reason } : {}),
            ...(s.status === "running" && s.instance ? { instance: s.instance } : {}),
          },
        },
      ]);
    case "resubmit":
      if (s.status !== "dead_lettered")
        return E.left({ _tag: "NotApplicable", message: `task ${id} is ${s.status}; only a dead-lettered task can be retried` });
      return E.right([{ type: "task.resubmitted", data: { taskId: id, attempt: s.attempt + 1, maxAttempts: s.retry.maxAttempts, at: cmd.at } }]);
    default:
      return assertNever(cmd, "task command");
  }
};

export const evolve = (s: TaskState, e: TaskEvent): TaskState => {
  const status = taskStatusAfter(e, s.status);
  // The table keeps a task absent until its submission: nothing happens to it before.
  if (status === "absent") return s;
  if (e.type === "task.submitted") {
    const d = e.data;
    return {
      status,
      taskId: d.taskId,
      pluginId: d.pluginId,
      pluginVersion: d.pluginVersion,
      taskType: d.taskType,
      params: d.params,
      retry: d.retry,
      timeouts: d.timeouts,
      submittedAt: d.at,
      ...(d.timeouts.deadlineMs !== undefined ? { deadlineAt: plus(d.at, d.timeouts.deadlineMs) } : {}),
      attempt: 1,
      maxAttempt: Math.max(1, d.retry.maxAttempts),
      scheduledAt: d.at,
      failures: [],
    };
  }
  if (s.status === "absent") return s; // (not reached: narrows `s`)
  const clearAttempt = { instance: undefined, startedAt: undefined, activeAt: undefined, progress: undefined, retryAt: undefined };
  switch (e.type) {
    case "task.dispatched":
      return { ...s, ...clearAttempt, status, attempt: e.data.attempt, scheduledAt: e.data.at };
    case "task.started":
      return { ...s, status, instance: e.data.instance, startedAt: e.data.at, activeAt: e.data.at };
    case "task.progress":
      return {
        ...s,
        status,
        activeAt: e.data.at,
        progress: { done: e.data.done, total: e.data.total, at: e.data.at, ...(e.data.message !== undefined ? { message: e.data.message } : {}) },
      };
    case "task.completed":
      return { ...s, status, result: e.data.result, endedAt: e.data.at };
    case "task.failed":
      return {
        ...s,
        status,
        failures: [...s.failures, { attempt: e.data.attempt, at: e.data.at, error: e.data.error, ...(e.data.instance ? { instance: e.data.instance } : {}) }],
      };
    case "task.timed_out": {
      const error: TaskError = {
        message: `${e.data.kind.replaceAll("_", "-")} timeout of attempt ${e.data.attempt}`,
        kind: "timeout",
        retryable: e.data.kind === "start_to_close",
      };
      // A deadline hit while waiting for a retry is not a failure of an attempt.
      if (e.data.kind === "deadline" && s.status === "retry_wait") return s;
      return {
        ...s,
        status,
        failures: [...s.failures, { attempt: e.data.attempt, at: e.data.at, error, ...(e.data.instance ? { instance: e.data.instance } : {}) }],
      };
    }
    case "task.retry_scheduled":
      return { ...s, ...clearAttempt, status, retryAt: e.data.retryAt, ...(e.data.uncharged ? { maxAttempt: s.maxAttempt + 1 } : {}) };
    case "task.cancelled":
      return { ...s, status, endedAt: e.data.at, ...(e.data.reason ? { cancelReason: e.data.reason } : {}) };
    case "task.dead_lettered":
      return { ...s, status, endedAt: e.data.at };
    case "task.resubmitted":
      return {
        ...s,
        ...clearAttempt,
        status,
        attempt: e.data.attempt,
        maxAttempt: e.data.attempt - 1 + Math.max(1, e.data.maxAttempts),
        scheduledAt: e.data.at,
        endedAt: undefined,
        // The deadline counts from the resubmission: the old one has passed by definition.
        ...(s.timeouts.deadlineMs !== undefined ? { deadlineAt: plus(e.data.at, s.timeouts.deadlineMs) } : {}),
      };
    case "task.report_refused":
      return s;
    default:
      return assertNever(e, "task event");
  }
};

/** The task aggregate as one value, for the command handler (`src/es/handleCommand.ts`). */
export const taskDecider: Decider<TaskState, TaskCommand, TaskEvent, TaskRejection> = { decide, evolve, initialState };

export const fold = (events: readonly TaskEvent[]): TaskState => events.reduce(evolve, initialState());

/**
 * The next timer of an open task: a timeout (which kind) or, while waiting for a retry, the
 * dispatch of the next attempt. `undefined` for ended tasks. The runtime arms one timer per task
 * from this and sends the matching command when it fires; the decider re-checks it.
 */
export const dueTimer = (s: TaskState): { at: string; kind: TimeoutKind | "dispatch" } | undefined => {
  if (s.status === "absent" || !isOpen(s)) return undefined;
  const candidates: { at: string; kind: TimeoutKind | "dispatch" }[] = [];
  if (s.deadlineAt) candidates.push({ at: s.deadlineAt, kind: "deadline" });
  if (s.status === "scheduled" && s.timeouts.scheduleToStartMs !== undefined) {
    candidates.push({ at: plus(s.scheduledAt, s.timeouts.scheduleToStartMs), kind: "schedule_to_start" });
  }
  if (s.status === "running") candidates.push({ at: plus(s.activeAt ?? s.scheduledAt, s.timeouts.startToCloseMs), kind: "start_to_close" });
  if (s.status === "retry_wait" && s.retryAt) candidates.push({ at: s.retryAt, kind: "dispatch" });
  // Earliest first; on a tie the deadline wins (it is listed first and sort is stable).
  candidates.sort((a, b) => ms(a.at) - ms(b.at));
  return candidates[0];
};

/** The command a due timer turns into. */
export const timerCommand = (s: Task, timer: { kind: TimeoutKind | "dispatch" }, at: string): TaskCommand =>
  timer.kind === "dispatch" ? { type: "dispatch", at } : { type: "timeout", kind: timer.kind, attempt: s.attempt, at };

/** Is the state an ended one? */
export const isEnded = (s: TaskState) => s.status !== "absent" && TERMINAL.includes(s.status);
