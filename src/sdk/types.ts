import type * as t from "io-ts";
import type { Logger } from "pino";
import type { JsMsg } from "@nats-io/jetstream";
import type { ClientTls } from "../contract/tls.js";
import type { Artifacts } from "./artifacts.js";

/*
 * The worker SDK's types and errors (`ganglion/sdk` re-exports them), apart from the `Worker`
 * itself (`./worker.ts`) so that each file stays small.
 */

export type WorkerOptions = {
  /** The plugin id (the manifest's `id`). */
  readonly plugin: string;
  /** A `.creds` file path, or the credentials text itself. */
  readonly creds?: string;
  /** Default `nats://127.0.0.1:4222`. */
  readonly servers?: string | string[];
  /**
   * TLS (a bus started with `ganglion up --tls`), as PEM file paths: `ca` checks the server's
   * certificate (e.g. `<data-dir>/tls/ca-cert.pem`); `cert` and `key` are the client certificate a
   * bus with `--tls-verify` asks for (`ganglion tls client <name>`). With it the connection must be
   * TLS; without it a `tls://` server is checked against the system CAs.
   */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  /** This process's instance id (a subject token); default `<host>-<pid>-<random>`. */
  readonly instance?: string;
  /** Reported in heartbeats; default `0.0.0`. */
  readonly version?: string;
  readonly logger?: Logger;
  /** Heartbeat period (default 5 s). */
  readonly heartbeatMs?: number;
  /**
   * A task's `started` report is sent once its handler has run this long (ms, default 50); a
   * handler that ends sooner reports only its end, and the core records start and end in one
   * commit. 0 sends `started` as soon as the task arrives, as every redelivery does (the core must
   * learn at once that a new instance holds the attempt).
   */
  readonly startedReportDelayMs?: number;
  /** At most one progress report per task per this many ms (default 1 s). */
  readonly progressThrottleMs?: number;
  /** Strings of a result longer than this (bytes, default 64 KiB), and every Buffer in it, are put as artifacts and replaced by `artifact://` references; `Infinity` turns it off. */
  readonly artifactThresholdBytes?: number;
  /** Tasks this instance runs at once (default: the plugin's concurrency, the consumer's `max_ack_pending`). */
  readonly concurrency?: number;
};

/** What a handler knows about the task it runs. */
export type TaskInfo = {
  readonly id: string;
  readonly type: string;
  readonly attempt: number;
  /** JetStream delivery count (> 1: redelivered after a crash or a stall). */
  readonly delivery: number;
  readonly deadline?: Date;
  readonly plugin: string;
  readonly instance: string;
};

/** Counters and observations of one worker; `worker.metrics()` reads them. */
export type Metrics = {
  readonly increment: (name: string, by?: number) => void;
  readonly observe: (name: string, value: number) => void;
};
export type MetricsSnapshot = { counters: Record<string, number>; observations: Record<string, { count: number; sum: number; max: number }> };

export type TaskContext = {
  readonly task: TaskInfo;
  /** A child of the worker's logger bound to the task. */
  readonly log: Logger;
  /** Aborted when the task is cancelled or timed out by the core, or the worker stops hard. */
  readonly signal: AbortSignal;
  /** Reports progress (throttled) and keeps the attempt alive (start-to-close restarts). */
  readonly progress: (done: number, total: number, message?: string) => void;
  /** Keeps the attempt alive without reporting progress (start-to-close restarts; no event). */
  readonly working: () => void;
  readonly metrics: Metrics;
  /** The value of secret `name` (granted `secret.read:<name>`), cached and refreshed on rotation (`src/sdk/secrets.ts`). */
  readonly secret: (name: string, onRotated?: (value: string, version: number) => void) => Promise<string>;
  /** Artifacts (`put` → `artifact://<sha256>`, `get(ref)` → a checked stream): references in this task's params are readable. */
  readonly artifacts: Artifacts;
  /** The plugin's config in force when the attempt started (`worker.live.config.onConfig` hears changes). */
  readonly config: Readonly<Record<string, unknown>>;
};

export type TopicContext = {
  readonly topic: string;
  /** TOPICS stream sequence: a stable id of the message. */
  readonly seq: number;
  readonly delivery: number;
  readonly log: Logger;
  readonly metrics: Metrics;
};

export type TaskHandler<P, R> = (params: P, ctx: TaskContext) => Promise<R> | R;
export type TopicHandler<M> = (message: M, ctx: TopicContext) => Promise<void> | void;

/**
 * Throw it from a handler to fail the attempt; `retryable: false` skips the remaining attempts
 * (any other error is retryable, per the task type's policy).
 */
export class TaskFailure extends Error {
  override name = "TaskFailure";
  readonly retryable: boolean;
  /** `invalid_result`: the handler ran but its result cannot be delivered (too large, refused by its codec). */
  readonly kind: "invalid_result" | undefined;
  constructor(message: string, opts: { retryable?: boolean; kind?: "invalid_result" } = {}) {
    super(message);
    this.retryable = opts.retryable ?? true;
    this.kind = opts.kind;
  }
}

/** A submission from this plugin was refused by the core (`code` as the service names it). */
export class SubmitError extends Error {
  override name = "SubmitError";
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The abort reason when `stop()` ran out of grace: the attempt is handed back, not dropped. */
export class WorkerStopping extends Error {
  override name = "WorkerStopping";
  constructor() {
    super("worker stopping");
  }
}

export type Registered = {
  readonly handler: TaskHandler<unknown, unknown>;
  readonly params?: t.Type<unknown, unknown, unknown>;
  readonly result?: t.Type<unknown, unknown, unknown>;
};

export type Running = { readonly attempt: number; readonly abort: AbortController; readonly msg: JsMsg };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const token = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "-")
    .replace(/^[^a-z0-9]+/, "") || "w";
