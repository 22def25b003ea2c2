import * as t from "io-ts";
import type * as E from "fp-ts/lib/Either.js";
import type { StreamConfig } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { PluginEvent } from "../../events/plugin.js";
import { TaskEvent, TaskLimitsOverridden } from "../../events/task.js";
import { WorkerEvent } from "../../events/worker.js";
import type { EventStore } from "../../store/types.js";
import type { ServiceError } from "../../service/endpoint.js";
import type { Task, TaskRejection } from "../decider.js";
import type { Rate } from "../limits.js";
import type { Clock } from "./clock.js";
import type { TasksIO } from "./ports.js";

/** Everything the tasks context reads from and appends to the log. */
export const TasksStoreEvent = t.union([TaskEvent, TaskLimitsOverridden, WorkerEvent, PluginEvent]);
export type TasksStoreEvent = t.TypeOf<typeof TasksStoreEvent>;

export type TasksOptions = {
  /** JetStream ack wait of task consumers: how soon a crashed worker's attempt is redelivered (default 30 s). */
  readonly ackWaitMs?: number;
  /** Largest params payload accepted on submission, in bytes of JSON (default 1 MiB). */
  readonly maxPayloadBytes?: number;
  /** At most one `task.progress` event per task per this many ms; others only keep the attempt alive (default 1 s). */
  readonly progressThrottleMs?: number;
  /**
   * An instance is offline after this long without a heartbeat (default 10 s: two missed beats of
   * the SDK's 5 s); the attempts it ran are handed over at once, not charged to their retries.
   */
  readonly heartbeatTimeoutMs?: number;
  /** Largest result a task may complete with (default 1 MiB, as params): larger ones fail the attempt. */
  readonly maxResultBytes?: number;
  /** Online instances a plugin may have (default 64): heartbeats of more new ones are dropped. */
  readonly maxInstancesPerPlugin?: number;
  /**
   * At most one `task.report_refused` event (and one cancel) per task and kind of refusal per this
   * many ms; the next one says how many were suppressed (default 60 s).
   */
  readonly refusalWindowMs?: number;
  /** Deliveries of one attempt's message before JetStream gives up on it (default 20). */
  readonly maxDeliver?: number;
  /** Operator overrides of manifest limits, per plugin. */
  readonly limitOverrides?: Readonly<Record<string, { readonly concurrency?: number; readonly rate?: Rate }>>;
};

export type TasksDeps = {
  readonly nc: NatsConnection;
  readonly log: Logger;
  /** The event store; by default one over EVENTS with the tasks codecs. */
  readonly store?: EventStore<TasksStoreEvent>;
  /**
   * Disables a plugin on the health monitor's verdict: the plugins context's own `disable`
   * command (the composition root passes it), which revokes its credentials and empties its
   * account exactly as an operator's disable does.
   */
  readonly disablePlugin: (pluginId: string, reason: string) => Promise<void>;
  /** The work-queue stream of a plugin (`streams/tasks.json` for that plugin). */
  readonly taskStream: (pluginId: string) => Partial<StreamConfig> & { name: string };
  /**
   * The account key of a plugin, when the core knows it: a plugin submission is served only
   * when the server's `Nats-Request-Info` names that account.
   */
  readonly pluginAccount?: (pluginId: string) => string;
  readonly options?: TasksOptions;
  /** The one clock of the runtime (time and timers); the real one by default. */
  readonly clock?: Clock;
  /** JetStream and core NATS as the runtime uses them; by default over `nc`. */
  readonly io?: TasksIO;
};

export type SubmitRequest = {
  readonly taskType: string;
  readonly params: unknown;
  readonly pluginId?: string;
  /**
   * The task id, when the caller derives it (an application's idempotency key): a task that
   * exists under it is answered as it is (`existing`), and two racing submissions append once
   * (the append expects no stream).
   */
  readonly taskId?: string;
  /** Recorded on `task.submitted` with a caller-derived `taskId`. */
  readonly idempotencyKey?: string;
  /** The submitter's deadline for the whole task; the provider's own deadline still applies when shorter. */
  readonly deadlineMs?: number;
};

/** A task as the service shows it. */
export type TaskView = {
  readonly taskId: string;
  readonly pluginId: string;
  readonly taskType: string;
  readonly status: Task["status"];
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly params: unknown;
  readonly submittedAt: string;
  readonly instance?: string;
  readonly progress?: Task["progress"];
  readonly result?: unknown;
  readonly failures: Task["failures"];
  readonly retryAt?: string;
  readonly deadlineAt?: string;
  readonly endedAt?: string;
  readonly cancelReason?: string;
};

export type LimitsView = {
  readonly pluginId: string;
  readonly concurrency: number;
  readonly rate: Rate;
  /** `override` (ganglion task limits), `config` (the core's options) or `manifest`. */
  readonly source: { readonly concurrency: string; readonly rate: string };
};

export type TaskRuntime = {
  readonly submit: (
    req: SubmitRequest,
    meta: { actor: string; correlationId?: string },
  ) => Promise<E.Either<ServiceError, { taskId: string; pluginId: string; existing?: boolean }>>;
  /** The task; with `waitMs`, waits up to that long for it to end. */
  readonly get: (taskId: string, waitMs?: number) => Promise<E.Either<ServiceError, TaskView>>;
  readonly cancel: (taskId: string, reason: string, actor: string) => Promise<E.Either<ServiceError, TaskView>>;
  /** Sends a dead-lettered task again, with a fresh attempt budget. */
  readonly retry: (taskId: string, actor: string) => Promise<E.Either<ServiceError, TaskView>>;
  /** The limits in force for a plugin, and where each comes from. */
  readonly limits: (pluginId: string) => E.Either<ServiceError, LimitsView>;
  /** Replaces the operator override of a plugin's limits (`{}`: back to the manifest's). */
  readonly setLimits: (pluginId: string, override: { concurrency?: number; rate?: Rate }, actor: string) => Promise<E.Either<ServiceError, LimitsView>>;
  readonly stop: () => Promise<void>;
};

export const toView = (s: Task): TaskView => ({
  taskId: s.taskId,
  pluginId: s.pluginId,
  taskType: s.taskType,
  status: s.status,
  attempt: s.attempt,
  maxAttempts: s.maxAttempt,
  params: s.params,
  submittedAt: s.submittedAt,
  failures: s.failures,
  ...(s.instance ? { instance: s.instance } : {}),
  ...(s.progress ? { progress: s.progress } : {}),
  ...(s.status === "completed" ? { result: s.result } : {}),
  ...(s.retryAt ? { retryAt: s.retryAt } : {}),
  ...(s.deadlineAt ? { deadlineAt: s.deadlineAt } : {}),
  ...(s.endedAt ? { endedAt: s.endedAt } : {}),
  ...(s.cancelReason ? { cancelReason: s.cancelReason } : {}),
});

export const rejectionToError = (r: TaskRejection, taskId: string): ServiceError => {
  switch (r._tag) {
    case "NotFound":
      return { code: "NotFound", message: `no task ${taskId}` };
    case "AlreadyEnded":
      return { code: "AlreadyEnded", message: r.message, details: { status: r.status } };
    default:
      return { code: r._tag, message: r.message };
  }
};

/** A plugin's submission on `submit.<taskType>`; with `waitMs` the reply is the task once ended (or then). */
export const PluginSubmit = t.intersection([t.type({ params: t.unknown }), t.partial({ pluginId: t.string, waitMs: t.number })]);
