import { hostname } from "node:os";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { pino } from "pino";
import type { Logger } from "pino";
import { jetstream } from "@nats-io/jetstream";
import type { Consumer, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { nuid } from "@nats-io/transport-node";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  assertDotted,
  assertPluginId,
  heartbeatSubject,
  JS_BUS_API,
  tasksStream,
  Streams,
  submitSubject,
  taskConsumer,
  topicConsumer,
  topicSubject,
} from "../contract/subjects.js";
import { Control, TaskHeaders } from "../contract/wire.js";
import type { Heartbeat, Report } from "../contract/wire.js";
import { sleep, SubmitError, TaskFailure, token, WorkerStopping } from "./types.js";
import type { Metrics, MetricsSnapshot, Registered, Running, TaskContext, TaskHandler, TaskInfo, TopicContext, TopicHandler, WorkerOptions } from "./types.js";
import { metricsRecorder } from "./metrics.js";
import { cutText, publishReport, resultTooLarge } from "./reportLimits.js";
import { runTopicLoop } from "./topics.js";
import { artifactsClient, externalize } from "./artifacts.js";
import { runTaskPull, taskSlots } from "./taskPull.js";
import type { TaskSlots } from "./taskPull.js";
import { live } from "./live.js";
import { onControl } from "./control.js";
import { connectWorker, ExitCode, reloadCreds, watchConnection } from "./lifecycle.js";
import type { WorkerEnd } from "./lifecycle.js";
import { drainOrClose } from "./connection.js";
import { startedReport } from "./startedReport.js";

export { SubmitError, TaskFailure } from "./types.js";
export { CredentialsRefused, ExitCode } from "./lifecycle.js";
export type { WorkerEnd } from "./lifecycle.js";
export type { Metrics, MetricsSnapshot, TaskContext, TaskHandler, TaskInfo, TopicContext, TopicHandler, WorkerOptions } from "./types.js";

/**
 * A Ganglion worker: connects with the plugin's own credentials, pulls its tasks from its durable
 * consumer, runs the handlers, reports progress and results, sends heartbeats, reads its topics.
 *
 * ```ts
 * const worker = new Worker({ plugin: "embedder", creds: "./embedder.creds", servers: "nats://127.0.0.1:4222" });
 * worker.onTask("embedding.create", async (params, ctx) => { ctx.progress(1, 2, "encode"); return { vector } });
 * await worker.run();   // resolves once pulling; `stop()` drains in-flight work
 * ```
 *
 * It is a class (the one exception to our factory-function style) because the public API
 * is `new Worker(...)`, which plugin authors copy from the README.
 */
export class Worker {
  readonly plugin: string;
  readonly instance: string;
  readonly version: string;
  readonly log: Logger;
  private readonly opts: WorkerOptions;
  private readonly tasks = new Map<string, Registered>();
  private readonly topics = new Map<string, { handler: TopicHandler<unknown>; codec?: t.Type<unknown, unknown, unknown> }>();
  private readonly capabilities = new Set<string>();
  private readonly running = new Map<string, Running>();
  private readonly recorder = metricsRecorder();
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private stopping = false;
  private stopped?: Promise<void>;
  private loops: Promise<void>[] = [];
  private timers: NodeJS.Timeout[] = [];
  private ctlSub?: Subscription;
  /** Task slots shared by the pull loops (one per task type). */
  private readonly slots: TaskSlots;
  private readonly slotFreed = () => (this.stopping ? this.slots.wakeAll() : this.slots.freed());
  /** Secrets (`live.secrets.get`, sealed to a key made here, refreshed on rotation) and config (`live.config.onConfig`), live. */
  readonly live = live();
  private resolveClosed!: (end: WorkerEnd) => void;
  /**
   * Resolves once the worker ended: `{ reason: "stopped" }` after `stop()`, or
   * `{ reason: "refused" }` when the server refused its credentials on a live connection (revoked,
   * the plugin disabled or removed): it stops by itself then. A worker's main should exit with
   * `end.exitCode` (see `ExitCode`).
   */
  readonly closed: Promise<WorkerEnd> = new Promise((r) => (this.resolveClosed = r));

  constructor(opts: WorkerOptions) {
    this.opts = opts;
    this.slots = taskSlots(opts.concurrency, () => this.running.size);
    this.plugin = assertPluginId(opts.plugin);
    this.instance = token(opts.instance ?? `${hostname()}-${process.pid}-${nuid.next().slice(-6)}`);
    this.version = opts.version ?? "0.0.0";
    this.log = (opts.logger ?? pino({ level: "info" }, pino.destination({ fd: 2, sync: false }))).child({ plugin: this.plugin, instance: this.instance });
  }

  /**
   * Declares a capability this worker uses (it must be in the manifest and granted). Capabilities
   * the server cannot enforce are the worker's to honour; this
   * list is what `hasCapability` answers from.
   */
  capability(name: string): this {
    this.capabilities.add(name);
    return this;
  }

  hasCapability(name: string): boolean {
    return this.capabilities.has(name);
  }

  /**
   * Handles tasks of `type`. With `params`, params are decoded first (a mismatch fails the attempt,
   * not retried); with `result`, the result is checked and encoded before it is sent.
   */
  onTask<P = unknown, R = unknown>(
    type: string,
    handler: TaskHandler<P, R>,
    codecs: { params?: t.Type<P, unknown, unknown>; result?: t.Type<R, unknown, unknown> } = {},
  ): this {
    assertDotted("task type", type);
    this.tasks.set(type, {
      handler: handler as TaskHandler<unknown, unknown>,
      ...(codecs.params ? { params: codecs.params as t.Type<unknown, unknown, unknown> } : {}),
      ...(codecs.result ? { result: codecs.result as t.Type<unknown, unknown, unknown> } : {}),
    });
    return this;
  }

  /** Reads `topic` (the plugin must be granted `topic.subscribe:<topic>`), at least once: ack after the handler returns. */
  onTopic<M = unknown>(topic: string, handler: TopicHandler<M>, opts: { codec?: t.Type<M, unknown, unknown> } = {}): this {
    assertDotted("topic", topic);
    this.topics.set(topic, { handler: handler as TopicHandler<unknown>, ...(opts.codec ? { codec: opts.codec as t.Type<unknown, unknown, unknown> } : {}) });
    return this;
  }

  /** Publishes on a topic (the plugin must be granted `topic.publish:<topic>`); resolves once stored. */
  async publish(topic: string, message: unknown): Promise<void> {
    assertDotted("topic", topic);
    await this.jsc().publish(topicSubject(topic), JSON.stringify(message), { timeout: 5000 });
  }

  /**
   * Submits a task to whichever plugin provides `taskType` (the plugin must be granted
   * `task.submit:<taskType>`). Without `waitMs` resolves to `{ taskId }`; with it, to the task as
   * the core shows it once ended (or when the wait ran out).
   */
  async submit(taskType: string, params: unknown, opts: { pluginId?: string; waitMs?: number; timeoutMs?: number } = {}): Promise<Record<string, unknown>> {
    assertDotted("task type", taskType);
    const nc = this.conn();
    const { timeoutMs, ...rest } = opts;
    const m = await nc.request(submitSubject(taskType), JSON.stringify({ params, ...rest }), { timeout: (opts.waitMs ?? 0) + (timeoutMs ?? 10_000) });
    const reply = m.json() as { ok: boolean; result?: Record<string, unknown>; error?: { code: string; message: string; retryAfterMs?: number } };
    if (!reply.ok) throw new SubmitError(reply.error?.code ?? "Internal", reply.error?.message ?? "refused", reply.error?.retryAfterMs);
    return reply.result ?? {};
  }

  /** Counters and observations so far (handlers add theirs through `ctx.metrics`). */
  metrics(): MetricsSnapshot {
    return this.recorder.snapshot();
  }

  /** Tasks running in this instance now. */
  inFlight(): number {
    return this.running.size;
  }

  /**
   * Connects and starts pulling tasks and topic messages; resolves once running. Reconnects by
   * itself after a lost connection or a server restart; a `.creds` path is read again at each
   * reconnect. Rejects with `CredentialsRefused` when the server refuses the credentials.
   */
  async run(): Promise<void> {
    if (this.nc) throw new Error("this worker already runs");
    const servers = this.opts.servers ?? "nats://127.0.0.1:4222";
    // An empty URL (an empty NATS_URL passed through) would silently mean the client's default.
    if ((Array.isArray(servers) ? servers : [servers]).every((s) => typeof s !== "string" || s.trim() === "")) {
      throw new Error(`servers is empty (${JSON.stringify(servers)}): give the bus URL, such as nats://127.0.0.1:4222`);
    }
    this.nc = await connectWorker(this.plugin, this.instance, this.opts);
    // The plugin's account has no JetStream: BUS's consumer API is imported under this prefix.
    this.js = jetstream(this.nc, { apiPrefix: JS_BUS_API });
    watchConnection(this.nc, this.plugin, this.log, (refused) => void this.end({ graceMs: 0 }, refused));
    this.ctlSub = onControl(this.nc, this.plugin, Control, (c) => {
      const r = this.running.get(c.taskId);
      if (r && r.attempt === c.attempt) {
        this.log.info({ taskId: c.taskId, reason: c.reason }, "task aborted by the core");
        r.abort.abort(new Error(c.reason));
      }
    });
    await this.live.attach(this.nc, this.plugin, this.log);
    const hb = () => this.heartbeat("running");
    hb();
    const timer = setInterval(hb, this.opts.heartbeatMs ?? 5000);
    this.timers.push(timer);
    // One pull loop per task type: each type has its own consumer, so this instance is handed
    // only the types it has handlers for (another instance may serve other ones).
    for (const type of this.tasks.keys()) this.loops.push(this.taskLoop(type));
    for (const [topic, h] of this.topics) this.loops.push(this.topicLoop(topic, h));
    this.log.info({ tasks: [...this.tasks.keys()], topics: [...this.topics.keys()] }, "worker running");
  }

  /**
   * Reads the `.creds` path again and reconnects with it now (`ganglion plugin creds` re-minted
   * them; the example worker calls this on SIGHUP). Rejects, keeping the connection, when the file
   * is not usable. Without a call the file is read again at the next reconnect anyway.
   */
  async reloadCredentials(): Promise<void> {
    if (!this.nc || this.nc.isClosed()) throw new Error("the worker is not running");
    await reloadCreds(this.nc, this.opts.creds, this.log);
  }

  /**
   * Stops pulling, lets running handlers finish (`graceMs`, default 30 s; then they are aborted),
   * says goodbye in a last heartbeat and drains the connection.
   */
  stop(opts: { graceMs?: number } = {}): Promise<void> {
    return this.end(opts, { reason: "stopped", exitCode: ExitCode.Stopped });
  }

  // ---- internals ---------------------------------------------------------------------------

  private end(opts: { graceMs?: number }, how: WorkerEnd): Promise<void> {
    return (this.stopped ??= (async () => {
      this.stopping = true;
      this.slotFreed?.();
      const deadline = Date.now() + (opts.graceMs ?? 30_000);
      while (this.running.size > 0 && Date.now() < deadline) await sleep(50);
      for (const r of this.running.values()) r.abort.abort(new WorkerStopping());
      while (this.running.size > 0) await sleep(20);
      await Promise.allSettled(this.loops);
      for (const t of this.timers) clearInterval(t);
      if (this.nc && !this.nc.isClosed()) {
        this.heartbeat("stopping");
        this.ctlSub?.unsubscribe();
        await drainOrClose(this.nc);
      }
      this.log.info({ reason: how.reason }, "worker stopped");
      this.resolveClosed(how);
    })());
  }

  private conn(): NatsConnection {
    if (!this.nc) throw new Error("call run() first");
    return this.nc;
  }

  private jsc(): JetStreamClient {
    if (!this.js) throw new Error("call run() first");
    return this.js;
  }

  private readonly metricsApi: Metrics = this.recorder.api;

  private heartbeat(state: "running" | "stopping") {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    const hb: Heartbeat = { instance: this.instance, version: this.version, inFlight: this.running.size, state, intervalMs: this.opts.heartbeatMs ?? 5000 };
    nc.publish(heartbeatSubject(this.plugin, this.instance), JSON.stringify(hb));
  }

  /** The durable consumer appears once the plugin is approved: wait for it instead of failing. */
  private async consumerOf(stream: string, name: string): Promise<Consumer | undefined> {
    let warned = false;
    while (!this.stopping) {
      try {
        return await this.jsc().consumers.get(stream, name);
      } catch (err) {
        if (!warned)
          this.log.warn({ stream, consumer: name, err: (err as Error).message }, "consumer not available yet (is the plugin approved and enabled?); retrying");
        warned = true;
        await sleep(500);
      }
    }
    return undefined;
  }

  private async taskLoop(type: string): Promise<void> {
    const consumer = await this.consumerOf(tasksStream(this.plugin), taskConsumer(this.plugin, type));
    if (!consumer) return;
    const log = this.log.child({ taskType: type });
    await runTaskPull({ consumer, type, types: this.tasks.size, slots: this.slots, stopping: () => this.stopping, start: (m, w) => this.startTask(m, w), log });
  }

  /** Publishes a report to RESULTS and waits for the stream's ack; retried while connected. */
  private report(r: Report): Promise<boolean> {
    return publishReport(
      () => this.jsc(),
      () => this.nc?.isClosed() ?? true,
      this.log,
      this.plugin,
      r,
    );
  }

  private startTask(m: JsMsg, ackWaitMs: number) {
    const taskId = m.headers?.get(TaskHeaders.TaskId) ?? "";
    const attempt = Number(m.headers?.get(TaskHeaders.Attempt) ?? "");
    const type = m.headers?.get(TaskHeaders.TaskType) || m.subject.split(".").slice(2).join(".");
    const deadlineHdr = m.headers?.get(TaskHeaders.Deadline);
    if (!taskId || !Number.isInteger(attempt) || attempt < 1) {
      this.log.warn({ subject: m.subject }, "a task message without task id or attempt; terminated");
      m.term();
      return;
    }
    const deadline = deadlineHdr ? new Date(deadlineHdr) : undefined;
    if (deadline && deadline.getTime() < Date.now()) {
      m.term();
      return;
    }
    const abort = new AbortController();
    this.running.set(taskId, { attempt, abort, msg: m });
    // Once the connection is closed (credentials refused) acks throw: the attempt is the core's to time out.
    void this.runTask(m, { taskId, attempt, type, deadline, abort, ackWaitMs })
      .catch((err) => this.log.debug({ taskId, err: String(err) }, "task ended without its ack"))
      .finally(() => {
        this.running.delete(taskId);
        this.slotFreed();
      });
  }

  private async runTask(
    m: JsMsg,
    a: { taskId: string; attempt: number; type: string; deadline: Date | undefined; abort: AbortController; ackWaitMs: number },
  ): Promise<void> {
    const { taskId, attempt, type, abort } = a;
    const base = { taskId, attempt, instance: this.instance };
    const log = this.log.child({ taskId, taskType: type, attempt });
    const started = Date.now();
    const reg = this.tasks.get(type);
    if (!reg) {
      await this.report({ ...base, status: "failed", error: { message: `instance ${this.instance} has no handler for ${type}`, retryable: true } });
      m.ack();
      return;
    }
    // `started` does not hold up the handler and waits `startedReportDelayMs` (`startedReport.ts`),
    // but not for a redelivery: the core must learn the new holder before it counts it lost.
    const delivery = m.info.deliveryCount;
    const delay = delivery > 1 ? 0 : (this.opts.startedReportDelayMs ?? 50);
    const startedR = startedReport(() => this.report({ ...base, status: "started", delivery }), delay);
    const after = (r: Report) => startedR.first().then(() => this.report(r));
    const final = async (r: Report) => this.report((await startedR.settle()) ? r : { ...r, delivery });
    let lastWorking = Date.now();
    let lastKeepAlive = Date.now();
    const throttle = this.opts.progressThrottleMs ?? 1000;
    const working = () => {
      if (Date.now() - lastWorking < 100) return;
      lastWorking = Date.now();
      m.working();
      // `+WPI` only reaches JetStream; the core's start-to-close timer needs a report. A progress
      // report without a `progress` body is a pure keep-alive: it restarts the timer, appends nothing.
      if (Date.now() - lastKeepAlive >= throttle) {
        lastKeepAlive = Date.now();
        void after({ ...base, status: "progress" });
      }
    };
    const keepAlive = setInterval(() => this.nc?.isClosed() || m.working(), Math.max(100, Math.floor(a.ackWaitMs / 3)));
    let lastProgress = 0;
    const ctx: TaskContext = {
      task: {
        id: taskId,
        type,
        attempt,
        delivery: m.info.deliveryCount,
        plugin: this.plugin,
        instance: this.instance,
        ...(a.deadline ? { deadline: a.deadline } : {}),
      },
      log,
      signal: abort.signal,
      working,
      metrics: this.metricsApi,
      secret: (name, onRotated) => this.live.secrets.get(name, onRotated),
      artifacts: artifactsClient(this.nc!, this.jsc(), { taskId }),
      config: this.live.config.current(),
      progress: (done, total, message) => {
        working();
        if (Date.now() - lastProgress < throttle && done < total) return;
        lastProgress = Date.now();
        void after({ ...base, status: "progress", progress: { done, total, ...(message !== undefined ? { message: cutText(message) } : {}) } });
      },
    };
    this.metricsApi.increment("tasks.started");
    try {
      let params: unknown;
      try {
        params = m.json();
      } catch {
        throw new TaskFailure("the task's params are not JSON", { retryable: false });
      }
      if (reg.params) {
        const d = reg.params.decode(params);
        if (E.isLeft(d)) throw new TaskFailure(`params do not match this worker's codec: ${failure(d.left).join("; ")}`, { retryable: false });
        params = d.right;
      }
      const aborted = new Promise<never>((_, rej) => abort.signal.addEventListener("abort", () => rej(abort.signal.reason), { once: true }));
      aborted.catch(() => undefined);
      let result = await Promise.race([Promise.resolve(reg.handler(params, ctx)), aborted]);
      if (reg.result) {
        if (!reg.result.is(result)) {
          const v = reg.result.decode(result);
          throw new TaskFailure(`the handler's result does not match its codec: ${E.isLeft(v) ? failure(v.left).join("; ") : "not an instance"}`, {
            retryable: false,
            kind: "invalid_result",
          });
        }
        result = reg.result.encode(result);
      }
      result = await externalize(result, ctx.artifacts, this.opts.artifactThresholdBytes ?? 64 * 1024);
      if (abort.signal.aborted) throw abort.signal.reason;
      const completed: Report = { ...base, status: "completed", result: result === undefined ? null : result };
      // RESULTS refuses a report over MAX_REPORT_BYTES: fail the attempt now, with the size, instead of letting it time out.
      const tooLarge = resultTooLarge(completed.result);
      if (tooLarge) throw new TaskFailure(tooLarge, { retryable: false, kind: "invalid_result" });
      if (await final(completed)) m.ack();
      this.metricsApi.increment("tasks.completed");
    } catch (err) {
      if (abort.signal.aborted && abort.signal.reason instanceof WorkerStopping) {
        // This instance is going away: hand the attempt back at once for another instance.
        m.nak();
        this.metricsApi.increment("tasks.handed_back");
        log.info("task handed back (worker stopping)");
        return;
      }
      if (abort.signal.aborted) {
        // The core withdrew the attempt (cancelled, timed out, or another instance holds it).
        m.term();
        this.metricsApi.increment("tasks.aborted");
        log.info("task aborted");
        return;
      }
      const e = err as Error;
      const retryable = err instanceof TaskFailure ? err.retryable : true;
      log.warn({ err: e.message, retryable }, "task failed");
      const kind = err instanceof TaskFailure && err.kind ? { kind: err.kind } : {};
      if (await final({ ...base, status: "failed", error: { message: cutText(e.message || String(err)), retryable, ...kind } })) m.ack();
      this.metricsApi.increment("tasks.failed");
    } finally {
      clearInterval(keepAlive);
      startedR.cancel();
      this.metricsApi.observe("tasks.duration_ms", Date.now() - started);
    }
  }

  private async topicLoop(topic: string, h: { handler: TopicHandler<unknown>; codec?: t.Type<unknown, unknown, unknown> }): Promise<void> {
    const consumer = await this.consumerOf(Streams.Topics, topicConsumer(this.plugin, topic));
    if (consumer) await runTopicLoop({ consumer, topic, handler: h, log: this.log.child({ topic }), metrics: this.metricsApi, stopping: () => this.stopping });
  }
}
