import * as t from "io-ts";

/**
 * The wire protocol between the core and workers in any language (mirrored in subjects.md,
 * "Tasks: the worker protocol"). JSON payloads, NATS headers, nothing TypeScript-specific.
 */

/** Headers of a task message on `task.<plugin>.<taskType>` (TASKS stream). */
export const TaskHeaders = {
  TaskId: "Ganglion-Task-Id",
  TaskType: "Ganglion-Task-Type",
  /** Attempt number, from 1. Report it back unchanged. */
  Attempt: "Ganglion-Attempt",
  /** ISO-8601 overall deadline of the task; absent when it has none. */
  Deadline: "Ganglion-Deadline",
  /** Start-to-close timeout in ms: send a `progress` report (a body-less one is a keep-alive; the SDK's `working()`) well within it. */
  StartToCloseMs: "Ganglion-Start-To-Close-Ms",
  /** JetStream de-duplication id: `<taskId>.<attempt>`. */
  MsgId: "Nats-Msg-Id",
} as const;

export const msgIdOf = (taskId: string, attempt: number) => `${taskId}.${attempt}`;

export const ReportStatus = t.keyof({ started: null, progress: null, completed: null, failed: null });
export type ReportStatus = t.TypeOf<typeof ReportStatus>;

/**
 * What a worker publishes on `res.<plugin>.<taskId>` (RESULTS stream) about an attempt it holds.
 * `started` when it takes the message, `progress` while it works, then exactly one of
 * `completed` (with `result`) or `failed` (with `error`).
 */
export const Report = t.intersection([
  t.type({
    taskId: t.string,
    attempt: t.number,
    instance: t.string,
    status: ReportStatus,
  }),
  t.partial({
    /** JetStream delivery count of the task message (1 = first delivery). */
    delivery: t.number,
    result: t.unknown,
    /**
     * `kind: "invalid_result"`: the worker could not deliver its result (over `MAX_RESULT_BYTES`,
     * or its codec refused it); recorded as such, and counted against the plugin's health like a
     * result the core refused. Without it a failure is the handler's.
     */
    error: t.intersection([t.type({ message: t.string }), t.partial({ retryable: t.boolean, kind: t.literal("invalid_result") })]),
    progress: t.intersection([t.type({ done: t.number, total: t.number }), t.partial({ message: t.string })]),
  }),
]);
export type Report = t.TypeOf<typeof Report>;

/** A heartbeat on `hb.<plugin>.<instance>` (core NATS), every few seconds. */
export const Heartbeat = t.intersection([
  t.type({ instance: t.string, version: t.string, inFlight: t.number }),
  t.partial({
    /** `stopping`: the instance is draining and says goodbye (offline without waiting). */
    state: t.keyof({ running: null, stopping: null }),
    /**
     * How often this instance sends a heartbeat, in ms. The core records it offline (and its
     * running attempts as lost) after twice this period of silence, clamped to
     * [`HEARTBEAT_TIMEOUT_FLOOR_MS`, `HEARTBEAT_TIMEOUT_CEILING_MS`]; without it, after the core's
     * configured timeout (10 s by default).
     */
    intervalMs: t.number,
  }),
]);
export type Heartbeat = t.TypeOf<typeof Heartbeat>;

/**
 * A control message from the core on `_INBOX.<plugin>.ctl` (core NATS): every instance of the
 * plugin receives it; the one running the attempt aborts its handler and terminates the message.
 */
export const Control = t.type({
  type: t.literal("cancel"),
  taskId: t.string,
  attempt: t.number,
  reason: t.string,
});
export type Control = t.TypeOf<typeof Control>;

/** A dead letter on `dlq.<plugin>.<taskId>` (DEADLETTERS stream): the task and its failure chain. */
export const DeadLetter = t.type({
  taskId: t.string,
  pluginId: t.string,
  taskType: t.string,
  params: t.unknown,
  attempts: t.number,
  failures: t.array(t.unknown),
  at: t.string,
});
export type DeadLetter = t.TypeOf<typeof DeadLetter>;
