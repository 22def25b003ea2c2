import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { Ajv } from "ajv";
import type { ValidateFunction } from "ajv";
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { ConsumerConfig, JsMsg, StreamConfig } from "@nats-io/jetstream";
import { headers, nuid } from "@nats-io/transport-node";
import type { NatsConnection, Subscription as NatsSubscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { PluginEvent } from "../events/plugin.js";
import { LIMITS_CATEGORY, limitsStreamName, TaskEvent, TaskLimitsOverridden, taskStreamName } from "../events/task.js";
import type { TaskError } from "../events/task.js";
import { WorkerEvent, workerStreamName } from "../events/worker.js";
import { natsEventStore } from "../store/eventStore.js";
import {
  controlSubject,
  deadLetterSubject,
  DOTTED,
  HEARTBEATS_ALL,
  pluginTasks,
  RESULTS_ALL,
  RESULTS_CONSUMER,
  Streams,
  SUBMIT_ALL,
  taskConsumer,
  tasksStream,
  taskSubject,
  topicConsumer,
  topicSubject,
} from "../store/subjects.js";
import { WrongExpectedVersionError } from "../store/types.js";
import type { EventStore, RecordedEvent } from "../store/types.js";
import type { ServiceError } from "../service/endpoint.js";
import { REQUEST_INFO_HEADER, refuseCaller } from "../service/callers.js";
import { decide, dueTimer, evolve, initialState, isEnded, timerCommand } from "./decider.js";
import type { Task, TaskCommand, TaskRejection, TaskState } from "./decider.js";
import { healthy, record, verdict } from "./health.js";
import type { HealthState } from "./health.js";
import { take } from "./limits.js";
import type { Bucket, Rate } from "./limits.js";
import { evolveProviders, route, subscribedTopics } from "./providers.js";
import type { Provider, Providers } from "./providers.js";
import { Control, Heartbeat, msgIdOf, Report, TaskHeaders } from "./wire.js";
import type { DeadLetter } from "./wire.js";
import { decideWorker, evolveWorkers, initialWorkers } from "./workers.js";
import type { WorkerCommand, Workers } from "./workers.js";

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
  /** An instance is offline after this long without a heartbeat (default 15 s). */
  readonly heartbeatTimeoutMs?: number;
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
  readonly clock?: () => Date;
};

export type SubmitRequest = { readonly taskType: string; readonly params: unknown; readonly pluginId?: string };

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

export type TaskRuntime = {
  readonly submit: (req: SubmitRequest, meta: { actor: string; correlationId?: string }) => Promise<E.Either<ServiceError, { taskId: string; pluginId: string }>>;
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

export type LimitsView = {
  readonly pluginId: string;
  readonly concurrency: number;
  readonly rate: Rate;
  /** `override` (ganglion task limits), `config` (the core's options) or `manifest`. */
  readonly source: { readonly concurrency: string; readonly rate: string };
};

const MIB = 1024 * 1024;
/** Worker reports handled at once (different tasks; one task's reports stay in order). */
const REPORT_CONCURRENCY = 64;
/** How many tasks' last state `execute` remembers (see `known`). */
const KNOWN_TASKS = 50_000;
const nanos = (ms: number) => ms * 1_000_000;

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

const rejectionToError = (r: TaskRejection, taskId: string): ServiceError => {
  switch (r._tag) {
    case "NotFound":
      return { code: "NotFound", message: `no task ${taskId}` };
    case "AlreadyEnded":
      return { code: "AlreadyEnded", message: r.message, details: { status: r.status } };
    default:
      return { code: r._tag, message: r.message };
  }
};

const isTaskEvent = (e: RecordedEvent<TasksStoreEvent>): e is RecordedEvent<TaskEvent> => e.type.startsWith("task.");

/**
 * The tasks context of the core: routing and submission (params validated, rate limited), the
 * per-plugin TASKS consumers and TOPICS consumers, the RESULTS consumer that validates worker
 * reports and appends task events, timers (timeouts, retry delays), cancellation, dead letters,
 * worker liveness from heartbeats and automatic disabling of unhealthy plugins.
 *
 * State is folded from the log (subscriptions on the `plugin`, `task` and `worker` categories);
 * every decision re-reads the task's stream and appends with its revision, so replicas of the
 * core may run side by side and a task still completes exactly once.
 */
export const startTasks = async (deps: TasksDeps): Promise<TaskRuntime> => {
  const { nc } = deps;
  const log = deps.log.child({ component: "tasks" });
  const opts = deps.options ?? {};
  const ackWaitMs = opts.ackWaitMs ?? 30_000;
  const maxPayloadBytes = opts.maxPayloadBytes ?? MIB;
  const progressThrottleMs = opts.progressThrottleMs ?? 1000;
  const heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? 15_000;
  const maxDeliver = opts.maxDeliver ?? 20;
  const clock = deps.clock ?? (() => new Date());
  const nowIso = () => clock().toISOString();
  const store =
    deps.store ??
    natsEventStore(nc, {
      codec: TasksStoreEvent,
      defaultActor: "system:tasks",
      clock,
      onSkipped: (s) => log.warn({ skipped: s }, "undecodable event skipped"),
    });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validators = new Map<string, ValidateFunction>();

  let stopped = false;
  let providers: Providers = new Map();
  const tasks = new Map<string, Task>();
  const timers = new Map<string, NodeJS.Timeout>();
  /** TASKS message of the current attempt: deleted when the attempt is withdrawn. */
  const queued = new Map<string, { attempt: number; seq: number }>();
  /** Keep-alives that were not appended (throttled progress): they still extend start-to-close. */
  const lastActive = new Map<string, number>();
  const lastProgressEvent = new Map<string, number>();
  const waiters = new Map<string, Set<() => void>>();
  const buckets = new Map<string, Bucket>();
  const healthByPlugin = new Map<string, HealthState>();
  const disabling = new Set<string>();
  const workers = new Map<string, Workers>();
  const seen = new Map<string, { at: number; pluginId: string; instance: string }>();
  const startedAt = Date.now();
  /** Work started in the background, awaited by `stop()`; each entry leaves when it settles. */
  const pending = new Set<Promise<unknown>>();
  const background = {
    push: (p: Promise<unknown>) => {
      pending.add(p);
      void p.finally(() => pending.delete(p)).catch(() => undefined);
    },
  };

  const overrides = new Map<string, { concurrency?: number; rate?: Rate }>();
  const limitsView = (p: Provider): LimitsView => {
    const o = overrides.get(p.pluginId);
    const c = opts.limitOverrides?.[p.pluginId];
    const pick = <K extends "concurrency" | "rate">(k: K) =>
      o?.[k] !== undefined ? { v: o[k]!, src: "override" } : c?.[k] !== undefined ? { v: c[k]!, src: "config" } : { v: p.manifest.limits[k], src: "manifest" };
    const concurrency = pick("concurrency");
    const rate = pick("rate");
    return { pluginId: p.pluginId, concurrency: concurrency.v as number, rate: rate.v as Rate, source: { concurrency: concurrency.src, rate: rate.src } };
  };
  const limitsOf = (p: Provider) => limitsView(p);

  const validator = (p: Provider, taskType: string, which: "params" | "result"): ValidateFunction | undefined => {
    const spec = p.manifest.provides.find((s) => s.type === taskType);
    if (!spec) return undefined;
    const key = `${p.pluginId}@${p.version}/${taskType}/${which}`;
    let v = validators.get(key);
    if (!v) validators.set(key, (v = ajv.compile(spec[which])));
    return v;
  };
  /** One `path: reason` per schema error; a missing or extra property is named in the path. */
  const schemaErrors = (v: ValidateFunction, root: string) =>
    (v.errors ?? []).map((e) => {
      const p = e.params as { missingProperty?: string; additionalProperty?: string };
      const prop = p.missingProperty ?? p.additionalProperty;
      return `${root}${e.instancePath || ""}${prop !== undefined ? `/${prop}` : ""}: ${e.message ?? "invalid"}`;
    });

  // ---- the task stream: load, decide, append ------------------------------------------------

  const load = async (taskId: string): Promise<{ state: TaskState; revision: bigint | "no_stream" }> => {
    let state = initialState();
    let revision: bigint | "no_stream" = "no_stream";
    for await (const e of store.readStream(taskStreamName(taskId))) {
      revision = e.revision;
      if (isTaskEvent(e)) state = evolve(state, e);
    }
    return { state, revision };
  };

  /**
   * State and revision of recently decided tasks, as this core appended them: a command on a task
   * it just touched needs no read of the stream. Never trusted for more than a first try: a stale
   * entry (another core appended) fails the append with WrongExpectedVersion, and a rejection is
   * only answered after a fresh read.
   */
  const known = new Map<string, { state: TaskState; revision: bigint | "no_stream" }>();
  const remember = (taskId: string, k: { state: TaskState; revision: bigint | "no_stream" }) => {
    known.delete(taskId);
    known.set(taskId, k);
    if (known.size > KNOWN_TASKS) known.delete(known.keys().next().value!);
  };

  /** Decides `cmd` on the task's current state and appends the outcome; retries on a concurrent append. */
  const execute = async (taskId: string, cmd: TaskCommand, actor: string, correlationId?: string): Promise<E.Either<TaskRejection, { events: TaskEvent[]; state: TaskState; before: TaskState }>> => {
    for (let i = 0; ; i++) {
      const cached = known.get(taskId);
      const { state, revision } = cached ?? (await load(taskId));
      const d = decide(cmd, state);
      if (E.isLeft(d)) {
        if (cached) {
          known.delete(taskId);
          continue;
        }
        return d;
      }
      const after = d.right.reduce(evolve, state);
      if (d.right.length === 0) {
        remember(taskId, { state, revision });
        return E.right({ events: [], state: after, before: state });
      }
      try {
        const r = await store.appendToStream(
          taskStreamName(taskId),
          d.right.map((e) => ({ ...e, metadata: { actor, time: nowIso(), ...(correlationId ? { correlationId } : {}) } })),
          { streamState: revision },
        );
        remember(taskId, { state: after, revision: r.nextExpectedRevision });
      } catch (err) {
        known.delete(taskId);
        if (err instanceof WrongExpectedVersionError && i < 10) continue;
        throw err;
      }
      await effects(state, d.right, after);
      return E.right({ events: d.right, state: after, before: state });
    }
  };

  // ---- side effects of appended events -------------------------------------------------------

  const publishTask = async (s: Task) => {
    const h = headers();
    h.set(TaskHeaders.TaskId, s.taskId);
    h.set(TaskHeaders.TaskType, s.taskType);
    h.set(TaskHeaders.Attempt, String(s.attempt));
    h.set(TaskHeaders.StartToCloseMs, String(s.timeouts.startToCloseMs));
    if (s.deadlineAt) h.set(TaskHeaders.Deadline, s.deadlineAt);
    const ack = await js.publish(taskSubject(s.pluginId, s.taskType), JSON.stringify(s.params ?? null), { msgID: msgIdOf(s.taskId, s.attempt), headers: h });
    queued.set(s.taskId, { attempt: s.attempt, seq: ack.seq });
  };

  /** Retries a failed publish while the attempt is still the current, unstarted one. */
  const republishLater = (s: Task, tries = 0) => {
    if (stopped || tries >= 60) return;
    setTimeout(() => {
      const cur = tasks.get(s.taskId) ?? s;
      if (stopped || cur.status !== "scheduled" || cur.attempt !== s.attempt) return;
      publishTask(cur).catch(() => republishLater(s, tries + 1));
    }, 1000).unref();
  };

  /**
   * At start: finds which attempts are queued on TASKS (so they can be withdrawn later) and
   * queues again any scheduled attempt that is not (the core stopped between the append and the
   * publish). Runs after the RESULTS backlog is handled, so an attempt a worker finished while the
   * core was away is not sent twice.
   */
  const reconcile = async () => {
    const end = Date.now() + ackWaitMs;
    while (Date.now() < end && !stopped) {
      const ci = await jsm.consumers.info(Streams.Results, RESULTS_CONSUMER);
      if (ci.num_pending === 0 && ci.num_ack_pending === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const present = new Set<string>();
    for (const p of providers.values()) {
      if (p.status === "pending" || p.manifest.provides.length === 0) continue;
      const stream = tasksStream(p.pluginId);
      const info = await jsm.streams.info(stream).catch(() => undefined);
      if (!info) continue;
      let seq = info.state.first_seq;
      while (info.state.messages > 0 && seq <= info.state.last_seq) {
        const m = await jsm.direct.getMessage(stream, { seq, next_by_subj: pluginTasks(p.pluginId) }).catch(() => null);
        if (!m) break;
        const id = m.header?.get(TaskHeaders.TaskId);
        const attempt = Number(m.header?.get(TaskHeaders.Attempt));
        if (id) {
          present.add(msgIdOf(id, attempt));
          queued.set(id, { attempt, seq: m.seq });
        }
        seq = m.seq + 1;
      }
    }
    let requeued = 0;
    if (stopped) return;
    for (const t of [...tasks.values()]) {
      if (t.status === "scheduled" && !present.has(msgIdOf(t.taskId, t.attempt))) {
        await publishTask(t).catch(() => republishLater(t));
        requeued++;
      }
    }
    if (requeued > 0) log.warn({ requeued }, "queued again the attempts that were recorded but never published");
  };

  /** Takes an attempt back: its queued message is deleted and its holder told to abort. */
  const withdraw = async (s: Task, reason: string) => {
    const q = queued.get(s.taskId);
    if (q && q.attempt === s.attempt) {
      queued.delete(s.taskId);
      await jsm.streams.deleteMessage(tasksStream(s.pluginId), q.seq, false).catch(() => undefined);
    }
    sendCancel(s.pluginId, s.taskId, s.attempt, reason);
  };

  const sendCancel = (pluginId: string, taskId: string, attempt: number, reason: string) => {
    nc.publish(controlSubject(pluginId), JSON.stringify({ type: "cancel", taskId, attempt, reason } satisfies Control));
  };

  const effects = async (before: TaskState, events: TaskEvent[], after: TaskState) => {
    let withdrawn = false;
    for (const e of events) {
      switch (e.type) {
        case "task.submitted":
        case "task.dispatched":
          await publishTask(after as Task).catch((err) => {
            log.warn({ err, taskId: e.data.taskId }, "publishing a task message failed; retrying");
            republishLater(after as Task);
          });
          break;
        case "task.failed":
          // A lost attempt was never acked by its (dead) holder: take its message back too.
          if (e.data.error.kind === "lost" && !withdrawn && before.status !== "absent") {
            withdrawn = true;
            await withdraw(before, "the worker instance holding it went silent");
          }
          break;
        case "task.resubmitted": {
          const s = after as Task;
          await jsm.streams.purge(Streams.DeadLetters, { filter: deadLetterSubject(s.pluginId, s.taskId) }).catch((err) => log.warn({ err, taskId: s.taskId }, "removing the dead letter failed"));
          await publishTask(s).catch((err) => {
            log.warn({ err, taskId: s.taskId }, "publishing a task message failed; retrying");
            republishLater(s);
          });
          break;
        }
        case "task.cancelled":
        case "task.timed_out":
          if (!withdrawn && before.status !== "absent") {
            withdrawn = true;
            await withdraw(before, e.type === "task.cancelled" ? `cancelled${e.data.reason ? `: ${e.data.reason}` : ""}` : `timed out (${e.data.kind})`);
          }
          break;
        case "task.dead_lettered": {
          const s = after as Task;
          const letter: DeadLetter = { taskId: s.taskId, pluginId: s.pluginId, taskType: s.taskType, params: s.params, attempts: e.data.attempts, failures: e.data.failures, at: e.data.at };
          await js
            .publish(deadLetterSubject(s.pluginId, s.taskId), JSON.stringify(letter), { msgID: `${s.taskId}.dlq.${e.data.attempts}` })
            .catch((err) => log.error({ err, taskId: s.taskId }, "publishing a dead letter failed (the event is in the log)"));
          break;
        }
        default:
          break;
      }
    }
  };

  // ---- timers ----------------------------------------------------------------------------------

  const arm = (s: Task) => {
    clearTimeout(timers.get(s.taskId));
    timers.delete(s.taskId);
    const d = dueTimer(s);
    if (!d || stopped) return;
    let due = Date.parse(d.at);
    if (d.kind === "start_to_close") {
      const la = lastActive.get(s.taskId);
      if (la !== undefined) due = Math.max(due, la + s.timeouts.startToCloseMs);
    }
    const delay = Math.max(0, due - clock().getTime()) + 5;
    timers.set(
      s.taskId,
      setTimeout(() => {
        timers.delete(s.taskId);
        void fire(s.taskId);
      }, Math.min(delay, 2 ** 31 - 1)),
    );
  };

  const fire = async (taskId: string) => {
    const s = tasks.get(taskId);
    if (!s || stopped) return;
    const d = dueTimer(s);
    if (!d) return;
    const la = lastActive.get(taskId);
    if (d.kind === "start_to_close" && la !== undefined && la + s.timeouts.startToCloseMs > clock().getTime()) return arm(s);
    try {
      const r = await execute(taskId, timerCommand(s, d, nowIso()), "system:tasks");
      if (E.isLeft(r)) log.debug({ taskId, rejection: r.left }, "timer no longer applies");
    } catch (err) {
      log.warn({ err, taskId }, "timer action failed; retrying shortly");
      if (!stopped) setTimeout(() => void fire(taskId), 1000).unref();
    }
  };

  // ---- folding the log -------------------------------------------------------------------------

  const onTaskEvent = async (e: RecordedEvent<TaskEvent>, live: boolean) => {
    const id = e.data.taskId;
    const known = tasks.get(id);
    // An ended task is dropped from memory; if it comes back (a manual retry), the log has it.
    const s = known ? evolve(known, e) : e.type === "task.submitted" ? evolve(initialState(), e) : e.type === "task.report_refused" ? initialState() : (await load(id)).state;
    if (s.status === "absent") return;
    if (e.type === "task.started" || e.type === "task.dispatched" || e.type === "task.resubmitted" || e.type === "task.retry_scheduled") {
      lastActive.delete(id);
    }
    if (live) observeHealth(s, e);
    if (isEnded(s)) {
      tasks.delete(id);
      clearTimeout(timers.get(id));
      timers.delete(id);
      lastActive.delete(id);
      lastProgressEvent.delete(id);
      queued.delete(id);
      for (const w of waiters.get(id) ?? []) w();
      waiters.delete(id);
      return;
    }
    tasks.set(id, s);
    arm(s);
  };

  const observeHealth = (s: Task, e: TaskEvent) => {
    const ok = e.type === "task.completed";
    const bad = (e.type === "task.failed" && e.data.error.kind !== "lost") || (e.type === "task.timed_out" && e.data.kind === "start_to_close");
    if (!ok && !bad) return;
    const p = providers.get(s.pluginId);
    if (!p || p.status !== "active") return;
    const policy = p.manifest.health;
    const now = clock().getTime();
    const h = record(healthByPlugin.get(s.pluginId) ?? healthy(), ok, now, policy);
    healthByPlugin.set(s.pluginId, h);
    const reason = verdict(h, policy, now);
    if (reason && !disabling.has(s.pluginId)) {
      disabling.add(s.pluginId);
      background.push(
        disable(s.pluginId, `automatic: ${reason}`)
          .then(() => log.warn({ pluginId: s.pluginId, reason }, "plugin disabled automatically"))
          .catch((err) => log.error({ err, pluginId: s.pluginId }, "automatic disable failed"))
          .finally(() => disabling.delete(s.pluginId)),
      );
    }
  };

  const disable = deps.disablePlugin;

  const onPluginEvent = async (e: RecordedEvent<PluginEvent>, live: boolean) => {
    providers = evolveProviders(providers, e);
    if (e.type === "plugin.enabled" || e.type === "plugin.disabled") healthByPlugin.delete(e.data.pluginId);
    const p = providers.get(e.data.pluginId);
    if (live && p) await ensureConsumers(p).catch((err) => log.error({ err, pluginId: p.pluginId }, "creating the plugin's consumers failed"));
  };

  // ---- consumers -------------------------------------------------------------------------------

  const ensureConsumer = async (stream: string, cfg: Partial<ConsumerConfig> & { durable_name: string }) => {
    try {
      const have = (await jsm.consumers.info(stream, cfg.durable_name)).config;
      const differs = (["ack_wait", "max_ack_pending", "max_deliver"] as const).some((k) => cfg[k] !== undefined && have[k] !== cfg[k]);
      if (differs) await jsm.consumers.update(stream, cfg.durable_name, { ack_wait: cfg.ack_wait, max_ack_pending: cfg.max_ack_pending, max_deliver: cfg.max_deliver });
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
      await jsm.consumers.add(stream, cfg);
    }
  };

  const ensureStream = async (cfg: Partial<StreamConfig> & { name: string }) => {
    try {
      await jsm.streams.info(cfg.name);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      await jsm.streams.add(cfg);
    }
  };

  /**
   * The one-account topology (0.1) had a single TASKS work queue for every plugin. Its subjects
   * overlap the per-plugin streams', so it goes before they are made; the attempts it held are
   * queued again from the log by `reconcile` (scheduled attempts) or time out and retry (running
   * ones: their workers' credentials were revoked by the upgrade anyway).
   */
  const retireLegacyTasks = async () => {
    const info = await jsm.streams.info(Streams.LegacyTasks).catch(() => undefined);
    if (!info) return;
    await jsm.streams.delete(Streams.LegacyTasks);
    log.warn({ messages: info.state.messages }, "removed the shared TASKS stream of the one-account topology; its attempts are queued again per plugin");
  };

  const ensureConsumers = async (p: Provider) => {
    if (p.status === "pending") return;
    if (p.manifest.provides.length > 0) {
      await ensureStream(deps.taskStream(p.pluginId));
      await ensureConsumer(tasksStream(p.pluginId), {
        durable_name: taskConsumer(p.pluginId),
        filter_subject: pluginTasks(p.pluginId),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(ackWaitMs),
        max_ack_pending: limitsOf(p).concurrency,
        max_deliver: maxDeliver,
      });
    }
    for (const topic of subscribedTopics(p)) {
      if (!DOTTED.test(topic)) continue;
      await ensureConsumer(Streams.Topics, {
        durable_name: topicConsumer(p.pluginId, topic),
        filter_subject: topicSubject(topic),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        ack_wait: nanos(ackWaitMs),
        max_deliver: maxDeliver,
      });
    }
  };

  // ---- worker reports (RESULTS) ----------------------------------------------------------------

  const refuse = async (pluginId: string, r: Report, reason: string) => {
    log.warn({ pluginId, report: { taskId: r.taskId, attempt: r.attempt, instance: r.instance, status: r.status }, reason }, "worker report refused");
    if (r.status === "started" || r.status === "progress") sendCancel(pluginId, r.taskId, r.attempt, `refused: ${reason}`);
    const stream = taskStreamName(r.taskId);
    await store
      .appendToStream(
        stream,
        [
          {
            type: "task.report_refused",
            data: { taskId: r.taskId, attempt: r.attempt, instance: r.instance, pluginId, status: r.status, reason, at: nowIso() },
            metadata: { actor: `plugin:${pluginId}`, time: nowIso() },
          },
        ],
        { streamState: "stream_exists" },
      )
      .catch((err) => log.warn({ err, taskId: r.taskId }, "could not audit a refused report"));
  };

  const handleReport = async (m: JsMsg) => {
    const [, pluginId = "", subjectTaskId = ""] = m.subject.split(".");
    let raw: unknown;
    try {
      raw = m.json();
    } catch {
      log.warn({ subject: m.subject }, "a worker report is not JSON; dropped");
      return;
    }
    const d = Report.decode(raw);
    if (E.isLeft(d)) {
      const errors = failure(d.left);
      log.warn({ subject: m.subject, errors }, "a worker report does not match the protocol; dropped");
      // Audited on the task it names, when there is one (the subject says which).
      if (/^[A-Za-z0-9_-]+$/.test(subjectTaskId)) {
        const o = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
        const shown: Report = {
          taskId: subjectTaskId,
          attempt: typeof o.attempt === "number" ? o.attempt : 0,
          instance: typeof o.instance === "string" ? o.instance : "unknown",
          status: "failed",
        };
        await refuse(pluginId, { ...shown, status: (typeof o.status === "string" ? o.status : "unknown") as Report["status"] }, `malformed report: ${errors.join("; ")}`);
      }
      return;
    }
    const r = d.right;
    if (r.taskId !== subjectTaskId || !/^[A-Za-z0-9_-]+$/.test(r.taskId)) {
      log.warn({ subject: m.subject, taskId: r.taskId }, "a worker report names another task than its subject; dropped");
      return;
    }
    let s: TaskState = tasks.get(r.taskId) ?? (await load(r.taskId)).state;
    if (s.status === "absent") {
      log.warn({ pluginId, taskId: r.taskId }, "a worker reported on an unknown task; dropped");
      return;
    }
    if (s.pluginId !== pluginId) return refuse(pluginId, r, `the task belongs to plugin ${s.pluginId}`);
    const actor = `plugin:${pluginId}`;
    const at = nowIso();
    const taskType = s.taskType;
    // A worker may skip `started` (a minimal Go or C worker): its first report starts the attempt.
    if (r.status !== "started" && s.status === "scheduled" && s.attempt === r.attempt) s = (await load(r.taskId)).state;
    if (r.status !== "started" && s.status === "scheduled" && s.attempt === r.attempt) {
      const st = await execute(r.taskId, { type: "start", attempt: r.attempt, instance: r.instance, delivery: r.delivery ?? 1, at }, actor);
      if (E.isRight(st)) s = st.right.state;
    }
    let cmd: TaskCommand;
    switch (r.status) {
      case "started":
        cmd = { type: "start", attempt: r.attempt, instance: r.instance, delivery: r.delivery ?? 1, at };
        break;
      case "progress": {
        const held = s.status === "running" && s.attempt === r.attempt && s.instance === r.instance;
        const last = lastProgressEvent.get(r.taskId) ?? 0;
        // No `progress` body: a keep-alive (the SDK's `working()`); it restarts start-to-close only.
        if (held && (r.progress === undefined || Date.now() - last < progressThrottleMs)) {
          lastActive.set(r.taskId, clock().getTime());
          return;
        }
        lastProgressEvent.set(r.taskId, Date.now());
        cmd = { type: "progress", attempt: r.attempt, instance: r.instance, done: r.progress?.done ?? 0, total: r.progress?.total ?? 0, at, ...(r.progress?.message !== undefined ? { message: r.progress.message } : {}) };
        break;
      }
      case "completed": {
        const p = providers.get(pluginId);
        const v = p && validator(p, taskType, "result");
        if (!v) {
          cmd = { type: "fail", attempt: r.attempt, instance: r.instance, at, error: { message: `plugin ${pluginId} no longer provides ${taskType}: the result cannot be validated`, kind: "invalid_result", retryable: false } };
        } else if (!v(r.result)) {
          const paths = schemaErrors(v, "result");
          cmd = { type: "fail", attempt: r.attempt, instance: r.instance, at, error: { message: `the result does not match the result schema of ${taskType}: ${paths.join("; ")}`, kind: "invalid_result", paths } };
        } else {
          cmd = { type: "complete", attempt: r.attempt, instance: r.instance, result: r.result, at };
        }
        break;
      }
      case "failed": {
        const error: TaskError = { message: r.error?.message ?? "failed without a message", kind: "handler", ...(r.error?.retryable !== undefined ? { retryable: r.error.retryable } : {}) };
        cmd = { type: "fail", attempt: r.attempt, instance: r.instance, at, error };
        break;
      }
    }
    const res = await execute(r.taskId, cmd, actor);
    if (E.isLeft(res)) {
      if (res.left._tag === "NotHeld" || res.left._tag === "NotApplicable") return refuse(pluginId, r, res.left.message);
      // AlreadyEnded: the holder's own duplicate (a redelivered report) is ignored; anyone else's
      // report on an ended task is refused and audited.
      const own = s.status !== "absent" && s.attempt === r.attempt && s.instance === r.instance;
      if (own) log.debug({ taskId: r.taskId, rejection: res.left }, "duplicate report on an ended task ignored");
      else return refuse(pluginId, r, res.left.message);
    }
  };

  // ---- heartbeats and liveness -----------------------------------------------------------------

  const executeWorker = async (cmd: WorkerCommand) => {
    const stream = workerStreamName(cmd.pluginId);
    for (let i = 0; i < 10; i++) {
      let state = initialWorkers();
      let rev: bigint | "no_stream" = "no_stream";
      for await (const e of store.readStream(stream)) {
        rev = e.revision;
        if (e.type === "worker.online" || e.type === "worker.offline") state = evolveWorkers(state, e);
      }
      const d = decideWorker(cmd, state);
      if (E.isLeft(d)) return false;
      try {
        await store.appendToStream(stream, d.right.map((e) => ({ ...e, metadata: { actor: "system:health", time: nowIso() } })), { streamState: rev });
        return true;
      } catch (err) {
        if (err instanceof WrongExpectedVersionError) continue;
        throw err;
      }
    }
    return false;
  };

  const pendingOnline = new Set<string>();
  const onHeartbeat = (subject: string, data: unknown) => {
    const [, pluginId = "", instance = ""] = subject.split(".");
    const d = Heartbeat.decode(data);
    if (E.isLeft(d) || d.right.instance !== instance) {
      log.warn({ subject }, "malformed heartbeat dropped");
      return;
    }
    const key = `${pluginId}.${instance}`;
    seen.set(key, { at: Date.now(), pluginId, instance });
    const online = workers.get(pluginId)?.online.has(instance) ?? false;
    if (d.right.state === "stopping") {
      if (online) background.push(goOffline(pluginId, instance, "stopped"));
      return;
    }
    if (online || pendingOnline.has(key)) return;
    pendingOnline.add(key);
    background.push(
      executeWorker({ type: "heartbeat", pluginId, instance, version: d.right.version, at: nowIso() })
        .catch((err) => log.warn({ err, pluginId, instance }, "recording a worker online failed"))
        .finally(() => pendingOnline.delete(key)),
    );
  };

  /** Offline: its running attempts are lost (retried per policy, not counted against health). */
  const goOffline = async (pluginId: string, instance: string, reason: "silent" | "stopped") => {
    try {
      const changed = await executeWorker({ type: "lost", pluginId, instance, reason, at: nowIso() });
      if (!changed || reason === "stopped") return;
      for (const s of [...tasks.values()]) {
        if (s.pluginId === pluginId && s.status === "running" && s.instance === instance) {
          await execute(s.taskId, { type: "fail", attempt: s.attempt, instance, at: nowIso(), error: { message: `worker instance ${instance} went silent`, kind: "lost" } }, "system:health");
        }
      }
    } catch (err) {
      log.warn({ err, pluginId, instance }, "recording a worker offline failed");
    }
  };

  const sweep = () => {
    const now = Date.now();
    for (const [pluginId, w] of workers) {
      for (const instance of w.online.keys()) {
        const last = seen.get(`${pluginId}.${instance}`)?.at ?? startedAt;
        if (now - last > heartbeatTimeoutMs) {
          seen.set(`${pluginId}.${instance}`, { at: now, pluginId, instance });
          background.push(goOffline(pluginId, instance, "silent"));
        }
      }
    }
  };

  // ---- start -----------------------------------------------------------------------------------

  const pluginSub = store.subscribeToAll({ filter: { categories: ["plugin"] } });
  // SMELL -- every start folds the whole `task` category to find the open tasks: fine for now,
  // linear in history. A checkpointed projection of open tasks (KV `tasks`) would bound it.
  const taskSub = store.subscribeToAll({ filter: { categories: ["task"] } });
  const workerSub = store.subscribeToAll({ filter: { categories: ["worker"] } });
  const limitsSub = store.subscribeToAll({ filter: { categories: [LIMITS_CATEGORY] } });
  let pluginsLive = false;
  let tasksLive = false;
  const loops = [
    (async () => {
      for await (const e of pluginSub) if (e.type.startsWith("plugin.")) await onPluginEvent(e as RecordedEvent<PluginEvent>, pluginsLive);
    })(),
    (async () => {
      for await (const e of taskSub) if (isTaskEvent(e)) await onTaskEvent(e, tasksLive);
    })(),
    (async () => {
      for await (const e of workerSub) {
        if (e.type !== "worker.online" && e.type !== "worker.offline") continue;
        workers.set(e.data.pluginId, evolveWorkers(workers.get(e.data.pluginId) ?? initialWorkers(), e as RecordedEvent<WorkerEvent>));
      }
    })(),
    (async () => {
      for await (const e of limitsSub) {
        if (e.type !== "task.limits.overridden") continue;
        const { pluginId, ...o } = (e as RecordedEvent<TaskLimitsOverridden>).data;
        overrides.set(pluginId, o);
        const p = providers.get(pluginId);
        if (pluginsLive && p) await ensureConsumers(p).catch((err) => log.error({ err, pluginId }, "applying a limits override failed"));
      }
    })(),
  ].map((p) => p.catch((err) => (stopped ? undefined : log.error({ err }, "a tasks subscription ended"))));

  await limitsSub.caughtUp;
  await pluginSub.caughtUp;
  await retireLegacyTasks();
  for (const p of providers.values()) await ensureConsumers(p).catch((err) => log.error({ err, pluginId: p.pluginId }, "creating the plugin's consumers failed"));
  pluginsLive = true;
  await Promise.all([taskSub.caughtUp, workerSub.caughtUp]);
  tasksLive = true;

  await ensureConsumer(Streams.Results, {
    durable_name: RESULTS_CONSUMER,
    filter_subject: RESULTS_ALL,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    // Short on purpose: reports a crashed core had pulled but not handled come back to the next
    // core within seconds, before the attempts they complete reach their start-to-close timeout
    // (test/faults/coreCrash.int.test.ts; with 30 s, tasks timed out and the plugin was disabled).
    ack_wait: nanos(5_000),
    max_ack_pending: 1000,
  });
  // A short pull expiry (heartbeats every 2.5 s): a pull left on a lost cluster node is noticed in
  // seconds, not after the 30 s default, and the consumer pulls from the new leader.
  const results = await (await js.consumers.get(Streams.Results, RESULTS_CONSUMER)).consume({ max_messages: 256, expires: 5_000 });
  loops.push(
    (async () => {
      // Reports of different tasks are handled concurrently, those of one task in order (they
      // arrive in order on its subject): a slow append for one task does not hold up the rest.
      const perTask = new Map<string, Promise<void>>();
      let inFlight = 0;
      let freed: (() => void) | undefined;
      for await (const m of results) {
        while (inFlight >= REPORT_CONCURRENCY) await new Promise<void>((r) => (freed = r));
        inFlight++;
        const key = m.subject;
        const run = (perTask.get(key) ?? Promise.resolve()).then(async () => {
          try {
            await handleReport(m);
            m.ack();
          } catch (err) {
            log.warn({ err, subject: m.subject }, "handling a worker report failed; redelivering");
            m.nak(500);
          }
        });
        perTask.set(key, run);
        void run.finally(() => {
          if (perTask.get(key) === run) perTask.delete(key);
          inFlight--;
          const f = freed;
          freed = undefined;
          f?.();
        });
      }
    })().catch((err) => (stopped ? undefined : log.error({ err }, "the results consumer ended"))),
  );

  background.push(reconcile().catch((err) => log.error({ err }, "reconciling TASKS with the log failed")));

  const hbSub: NatsSubscription = nc.subscribe(HEARTBEATS_ALL, {
    callback: (err, m) => {
      if (err) return;
      try {
        onHeartbeat(m.subject, m.json());
      } catch {
        log.warn({ subject: m.subject }, "heartbeat is not JSON; dropped");
      }
    },
  });
  const sweeper = setInterval(sweep, Math.max(100, Math.floor(heartbeatTimeoutMs / 3)));
  sweeper.unref();
  log.info({ plugins: providers.size, openTasks: tasks.size }, "tasks runtime started");

  // ---- the API ---------------------------------------------------------------------------------

  const viewOf = async (taskId: string): Promise<E.Either<ServiceError, TaskView>> => {
    const { state } = await load(taskId);
    return state.status === "absent" ? E.left({ code: "NotFound", message: `no task ${taskId}` }) : E.right(toView(state));
  };

  // The id names the stream `task-<id>`, whose id part cannot start with '-' (`task.get {taskId: "-"}` failed as Internal).
  const validTaskId = (id: string) => /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/.test(id);

  const api: TaskRuntime = {
    submit: async (req, meta) => {
      if (!DOTTED.test(req.taskType)) {
        return E.left({ code: "InvalidRequest", message: `task type ${JSON.stringify(req.taskType)} is not valid: lower-case tokens joined by '.'`, paths: ["taskType"] });
      }
      const size = Buffer.byteLength(JSON.stringify(req.params ?? null));
      if (size > maxPayloadBytes) {
        return E.left({ code: "PayloadTooLarge", message: `params are ${size} bytes; the limit is ${maxPayloadBytes}`, paths: ["params"] });
      }
      const r = route(providers, req.taskType, req.pluginId);
      if (!r.ok) return E.left({ code: r.error._tag, message: r.error.message, ...("candidates" in r.error ? { details: { candidates: r.error.candidates } } : {}) });
      const { provider, spec } = r;
      const v = validator(provider, req.taskType, "params")!;
      if (!v(req.params)) {
        const paths = schemaErrors(v, "params");
        return E.left({ code: "InvalidParams", message: `params do not match the params schema of ${req.taskType}: ${paths.join("; ")}`, paths });
      }
      const now = clock().getTime();
      // SMELL -- the bucket lives in this core: with N replicas a plugin may get up to N times its
      // rate. A shared bucket (KV with CAS) would make it exact at a round trip per submission.
      const lim = take(buckets.get(provider.pluginId), limitsOf(provider).rate, now);
      buckets.set(provider.pluginId, lim.bucket);
      if (!lim.ok) {
        return E.left({ code: "RateLimited", message: `plugin ${provider.pluginId} accepts ${limitsOf(provider).rate.count} tasks per ${limitsOf(provider).rate.perMs} ms; retry in ${lim.retryAfterMs} ms`, retryAfterMs: lim.retryAfterMs });
      }
      const taskId = nuid.next();
      const res = await execute(
        taskId,
        {
          type: "submit",
          taskId,
          pluginId: provider.pluginId,
          pluginVersion: provider.version,
          taskType: req.taskType,
          params: req.params,
          retry: { maxAttempts: spec.retry.maxAttempts, backoffMs: spec.retry.backoff },
          timeouts: {
            startToCloseMs: spec.timeout,
            ...(spec.scheduleToStart !== undefined ? { scheduleToStartMs: spec.scheduleToStart } : {}),
            ...(spec.deadline !== undefined ? { deadlineMs: spec.deadline } : {}),
          },
          at: new Date(now).toISOString(),
          ...(meta.correlationId ? { correlationId: meta.correlationId } : {}),
        },
        meta.actor,
        meta.correlationId,
      );
      if (E.isLeft(res)) return E.left(rejectionToError(res.left, taskId));
      return E.right({ taskId, pluginId: provider.pluginId });
    },
    get: async (taskId, waitMs) => {
      if (!validTaskId(taskId)) return E.left({ code: "InvalidRequest", message: `${JSON.stringify(taskId)} is not a task id`, paths: ["taskId"] });
      if (!waitMs || waitMs <= 0) return viewOf(taskId);
      let wake!: () => void;
      const ended = new Promise<void>((r) => (wake = r));
      const set = waiters.get(taskId) ?? new Set();
      set.add(wake);
      waiters.set(taskId, set);
      try {
        const first = await viewOf(taskId);
        if (E.isLeft(first) || ["completed", "cancelled", "dead_lettered"].includes(first.right.status)) return first;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([ended, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
        clearTimeout(timer);
        return viewOf(taskId);
      } finally {
        set.delete(wake);
        if (set.size === 0) waiters.delete(taskId);
      }
    },
    cancel: async (taskId, reason, actor) => {
      if (!validTaskId(taskId)) return E.left({ code: "InvalidRequest", message: `${JSON.stringify(taskId)} is not a task id`, paths: ["taskId"] });
      const r = await execute(taskId, { type: "cancel", reason, at: nowIso() }, actor);
      if (E.isLeft(r)) return E.left(rejectionToError(r.left, taskId));
      return E.right(toView(r.right.state as Task));
    },
    retry: async (taskId, actor) => {
      if (!validTaskId(taskId)) return E.left({ code: "InvalidRequest", message: `${JSON.stringify(taskId)} is not a task id`, paths: ["taskId"] });
      const r = await execute(taskId, { type: "resubmit", at: nowIso() }, actor);
      if (E.isLeft(r)) return E.left(r.left._tag === "NotApplicable" ? { code: "NotDeadLettered", message: r.left.message } : rejectionToError(r.left, taskId));
      return E.right(toView(r.right.state as Task));
    },
    limits: (pluginId) => {
      const p = providers.get(pluginId);
      return p ? E.right(limitsView(p)) : E.left({ code: "NotFound", message: `no plugin ${pluginId} is installed` });
    },
    setLimits: async (pluginId, override, actor) => {
      const p = providers.get(pluginId);
      if (!p) return E.left({ code: "NotFound", message: `no plugin ${pluginId} is installed` });
      if (override.concurrency !== undefined && !(Number.isInteger(override.concurrency) && override.concurrency > 0)) {
        return E.left({ code: "InvalidRequest", message: `concurrency must be a whole number above 0, got ${override.concurrency}`, paths: ["concurrency"] });
      }
      await store.appendToStream(
        limitsStreamName(pluginId),
        [{ type: "task.limits.overridden", data: { pluginId, ...override }, metadata: { actor, time: nowIso() } }],
        { streamState: "any" },
      );
      overrides.set(pluginId, override);
      buckets.delete(pluginId);
      await ensureConsumers(p);
      return E.right(limitsView(p));
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      clearInterval(sweeper);
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      hbSub.unsubscribe();
      submitSub.unsubscribe();
      results.stop();
      await Promise.all([pluginSub.unsubscribe(), taskSub.unsubscribe(), workerSub.unsubscribe(), limitsSub.unsubscribe()]);
      await Promise.allSettled([...pending]);
      await Promise.allSettled(loops);
    },
  };

  // Plugins granted `task.submit:<type>` request `submit.<type>` in their own account; the import
  // delivers it here as `submit.<plugin>.<type>`, so the caller is the server's word, never the
  // message's. The reply is remapped by the server (`_R_.…` of the caller's account).
  const submitSub: NatsSubscription = nc.subscribe(SUBMIT_ALL, {
    queue: "ganglion-core",
    callback: (err, m) => {
      if (err) return;
      const [, plugin = "", ...typeTokens] = m.subject.split(".");
      const refusal = refuseCaller(m.reply, m.headers?.get(REQUEST_INFO_HEADER), deps.pluginAccount?.(plugin));
      if (refusal) {
        log.warn({ subject: m.subject, reply: m.reply, reason: refusal }, "plugin submission refused unanswered");
        return;
      }
      void (async () => {
        const reply = (r: E.Either<ServiceError, unknown>) =>
          m.respond(JSON.stringify(E.isLeft(r) ? { ok: false, error: r.left } : { ok: true, result: r.right }));
        let raw: unknown;
        try {
          raw = m.json();
        } catch {
          return reply(E.left({ code: "InvalidRequest", message: "the request is not JSON" }));
        }
        const d = PluginSubmit.decode(raw);
        if (E.isLeft(d)) return reply(E.left({ code: "InvalidRequest", message: failure(d.left).join("; "), paths: failure(d.left) }));
        const taskType = typeTokens.join(".");
        try {
          const r = await api.submit({ taskType, params: d.right.params, ...(d.right.pluginId ? { pluginId: d.right.pluginId } : {}) }, { actor: `plugin:${plugin}` });
          if (E.isLeft(r) || !d.right.waitMs) return reply(r);
          return reply(await api.get(r.right.taskId, d.right.waitMs));
        } catch (err) {
          log.error({ err }, "plugin submission failed");
          return reply(E.left({ code: "Internal", message: (err as Error).message }));
        }
      })();
    },
  });
  return api;
};

/** A plugin's submission on `submit.<taskType>`; with `waitMs` the reply is the task once ended (or then). */
export const PluginSubmit = t.intersection([t.type({ params: t.unknown }), t.partial({ pluginId: t.string, waitMs: t.number })]);
