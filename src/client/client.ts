import type { Readable } from "node:stream";
import { readFile } from "node:fs/promises";
import { connect, credsAuthenticator, nuid } from "@nats-io/transport-node";
import type { ConnectionOptions, NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { AppInfo, AppSubmitted, MAX_APP_WAIT_MS, TaskChange } from "../contract/app.js";
import type { AppListRequest } from "../contract/app.js";
import { TaskRow, TaskView } from "../contract/responses.js";
import { APP_ARTIFACT_GET, appCallSubject, appChanges, appChangeSubject, appSubmitSubject } from "../contract/subjects.js";
import { artifactsClient } from "../sdk/artifacts.js";
import { submitMany } from "./bulk.js";
import type { BulkItem, BulkOptions, BulkReport } from "./bulk.js";
import { ContextError, readNatsContext } from "./context.js";
import { contextConnectOptions, hasContextAuth } from "./contextAuth.js";
import type { SubmitOptions, TaskMap } from "./types.js";
export type { SubmitOptions, TaskMap } from "./types.js";
import { BusUnavailableError, NotGrantedError } from "./errors.js";
import { ChangeFeed, decodeChange, RecentKeys } from "./feed.js";
import { TaskHandle } from "./handle.js";
import type { HandleHost } from "./handle.js";
import { NoRouteError, request, retrying, transient } from "./transport.js";
import { RunView } from "../contract/pipeline.js";
import { appPipelineSubject } from "../contract/subjects.js";
import { GanglionError } from "./errors.js";
import { PipelineHandle } from "./pipeline.js";
import { drainOrClose } from "../sdk/connection.js";

export type ClientOptions = {
  /** Server URL(s); a context's `url` otherwise. */
  readonly servers?: string | readonly string[];
  /** The application's `.creds`: a file path, or the text itself. A context's `creds` otherwise. */
  readonly creds?: string;
  /** A nats CLI context (`~/.config/nats/context/<name>.json`): url, creds (or nkey, user and password, token), inbox prefix. */
  readonly context?: string;
  readonly inboxPrefix?: string;
  /** A name shown by the server for this connection. */
  readonly name?: string;
  readonly tls?: ConnectionOptions["tls"];
  /** How long a request is repeated while the bus is unreachable (a restart, a reconnect); default 120 s. */
  readonly retryForMs?: number;
  /** Timeout of one request without a wait (default 10 s). */
  readonly requestTimeoutMs?: number;
};

export type ListFilter = AppListRequest;
export type WatchFilter = { readonly taskId?: string; readonly types?: readonly string[] };

const creds = async (c: string) => (c.includes("BEGIN NATS USER JWT") ? c : readFile(c, "utf8"));
const splitServers = (s: string | readonly string[]) => (typeof s === "string" ? s.split(",").map((x) => x.trim()) : [...s]).filter((x) => x.length > 0);

/**
 * An application's client of the bus (`import { Client } from "ganglion"`): it connects with the
 * application's own credentials, submits tasks of the types it is granted, follows them, and
 * reads its own tasks. It reconnects by itself; requests that are safe to repeat (all of them:
 * every submission carries an idempotency key) are repeated across a reconnect.
 */
export class Client<TM extends TaskMap = TaskMap> {
  private closed = false;
  private readonly retryForMs: number;
  private readonly timeoutMs: number;
  private readonly host: HandleHost;
  /** The application's change feed: one subscription, shared by every handle's `result()` and `progress()`. */
  private readonly changes: ChangeFeed;

  private constructor(
    /** The connection (for what the client does not cover). */
    readonly nc: NatsConnection,
    /** Who the core says this application is, and what it may submit (as of connecting). */
    readonly info: AppInfo,
    opts: ClientOptions,
  ) {
    this.retryForMs = opts.retryForMs ?? 120_000;
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.changes = new ChangeFeed(nc, info.appId, (id) => this.getTask(id));
    this.host = {
      getTask: (id, waitMs) => this.getTask(id, waitMs),
      cancelTask: (id, reason) => this.call("cancel", { taskId: id, ...(reason !== undefined ? { reason } : {}) }, TaskView),
      waitEnd: (id, o) => this.changes.waitEnd(id, o),
      listen: (id, f) => this.changes.listen(id, f),
    };
  }

  /** Connects with `{ servers, creds }` or `{ context }` and asks the core who this application is. */
  static async connect<TM extends TaskMap = TaskMap>(opts: ClientOptions): Promise<Client<TM>> {
    const ctx = opts.context !== undefined ? await readNatsContext(opts.context) : undefined;
    const servers = opts.servers ?? ctx?.url;
    const inboxPrefix = opts.inboxPrefix ?? ctx?.inbox_prefix;
    if (servers === undefined || splitServers(servers).length === 0) throw new Error("Client.connect: no servers (give `servers`, or a context with a url)");
    if (opts.creds === undefined && !(ctx && hasContextAuth(ctx)))
      throw new Error("Client.connect: no credentials (give `creds`, or a context with creds, nkey, user and password, or token)");
    const auth =
      opts.creds !== undefined
        ? { authenticator: credsAuthenticator(new TextEncoder().encode(await creds(opts.creds))) }
        : await contextConnectOptions(ctx!).catch((err: Error) => {
            throw new ContextError(`nats context ${ctx!.path}: ${err.message}`);
          });
    const nc = await connect({
      servers: splitServers(servers),
      ...auth,
      name: opts.name ?? "ganglion-client",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      noAsyncTraces: true,
      ...(inboxPrefix ? { inboxPrefix } : {}),
      ...(opts.tls ? { tls: opts.tls } : {}),
    });
    try {
      const retryOn = (e: unknown) => transient(e) || e instanceof NoRouteError;
      const info = await retrying(
        () => request(nc, appCallSubject("info"), {}, AppInfo, opts.requestTimeoutMs ?? 10_000),
        opts.retryForMs ?? 30_000,
        () => false,
        retryOn,
      );
      return new Client<TM>(nc, info, opts);
    } catch (err) {
      await nc.close();
      throw err instanceof NoRouteError ? new BusUnavailableError("no Ganglion core answers (or these are not an application's credentials)") : err;
    }
  }

  private call<A>(verb: "get" | "cancel" | "list" | "info" | "run", body: unknown, codec: t.Type<A, any, unknown>, timeoutMs = this.timeoutMs): Promise<A> {
    const retryOn = (e: unknown) => transient(e) || e instanceof NoRouteError;
    return retrying(
      () => request(this.nc, appCallSubject(verb), body, codec, timeoutMs),
      this.retryForMs,
      () => this.closed,
      retryOn,
    );
  }

  /**
   * The bytes of an artifact that a task of this application references in its params or result
   * (`taskId`), streamed and checked chunk by chunk (subjects.md, "Artifacts"). `getArtifactBuffer`
   * reads a small one into memory (at most `maxBytes`, default 64 MiB).
   */
  getArtifact(ref: string, o: { taskId: string }): Readable {
    return artifactsClient(this.nc, undefined, { taskId: o.taskId, getSubject: APP_ARTIFACT_GET, timeoutMs: this.timeoutMs }).get(ref);
  }

  getArtifactBuffer(ref: string, o: { taskId: string; maxBytes?: number }): Promise<Buffer> {
    const a = artifactsClient(this.nc, undefined, { taskId: o.taskId, getSubject: APP_ARTIFACT_GET, timeoutMs: this.timeoutMs });
    return a.getBuffer(ref, o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {});
  }

  private getTask(taskId: string, waitMs?: number): Promise<TaskView> {
    const w = waitMs ? Math.min(waitMs, MAX_APP_WAIT_MS) : 0;
    return this.call("get", { taskId, ...(w ? { waitMs: w } : {}) }, TaskView, this.timeoutMs + w);
  }

  /**
   * Submits a task. Resolves once the core recorded it (or, with `waitMs`, once it ended or the
   * wait ran out). A refusal throws `GanglionError` (`InvalidParams` with paths, `RateLimited`
   * with `retryAfterMs`, …); an ungranted type `NotGrantedError` (the server has no route for it).
   */
  async submit<K extends keyof TM & string>(taskType: K, params: TM[K]["params"], opts: SubmitOptions = {}): Promise<TaskHandle<TM[K]["result"]>> {
    const key = opts.idempotencyKey ?? `auto:${nuid.next()}`;
    const deadlineMs = opts.deadline === undefined ? undefined : opts.deadline instanceof Date ? opts.deadline.getTime() - Date.now() : opts.deadline;
    if (deadlineMs !== undefined && !(deadlineMs >= 1)) throw new RangeError(`deadline: the task would be due already (${deadlineMs} ms)`);
    const waitMs = opts.waitMs ? Math.min(Math.max(0, Math.floor(opts.waitMs)), MAX_APP_WAIT_MS) : 0;
    const body = {
      params,
      idempotencyKey: key,
      ...(opts.pluginId !== undefined ? { pluginId: opts.pluginId } : {}),
      ...(deadlineMs !== undefined ? { deadlineMs: Math.ceil(deadlineMs) } : {}),
      ...(waitMs ? { waitMs } : {}),
    };
    const Answer = t.union([TaskView, AppSubmitted]);
    const once = async () => {
      try {
        return await request(this.nc, appSubmitSubject(taskType), body, Answer, this.timeoutMs + waitMs);
      } catch (err) {
        if (!(err instanceof NoRouteError)) throw err;
        // No route: either the type is not granted (no import), or no core is up. The core's
        // answer to `info` tells which (it has no such route problem while a core runs).
        await request(this.nc, appCallSubject("info"), {}, AppInfo, this.timeoutMs).catch((e) => {
          throw e instanceof NoRouteError ? new BusUnavailableError("no Ganglion core answers") : e;
        });
        throw new NotGrantedError(taskType);
      }
    };
    // The feed is live before the submission is sent: its end cannot slip by unseen (a reconnect in between is seen).
    const mark = await this.changes.start();
    const r = await retrying(once, this.retryForMs, () => this.closed);
    if ("existing" in r) return new TaskHandle(this.host, r.taskId, r.pluginId, r.existing, undefined, r.existing ? undefined : mark);
    return new TaskHandle(this.host, r.taskId, r.pluginId, false, r, mark);
  }

  /** Submits many tasks, `concurrency` in flight; one report per item, in order (see `BulkReport`). */
  submitMany<K extends keyof TM & string>(items: readonly BulkItem<TM, K>[], opts: BulkOptions = {}): Promise<BulkReport<TM[K]["result"]>[]> {
    return submitMany((i: BulkItem<TM, K>) => this.submit(i.taskType, i.params, i), items, opts);
  }

  /** A handle on a task of this application submitted earlier (by id). */
  handle<R = unknown>(taskId: string): TaskHandle<R> {
    return new TaskHandle<R>(this.host, taskId, "", true);
  }

  /** One of this application's tasks. */
  get(taskId: string): Promise<TaskView> {
    return this.getTask(taskId);
  }

  /** This application's tasks from the tasks view, newest first (`limit` default 100). */
  list(filter: ListFilter = {}): Promise<TaskRow[]> {
    return this.call("list", filter, t.array(TaskRow), this.timeoutMs * 3);
  }

  /**
   * Changes of this application's tasks (every event of them: `task.submitted`, `task.started`,
   * `task.progress`, `task.completed`, …), live, as an async iterable: `for await (const c of
   * client.watch())`. At most once (each event once, though every core replica publishes it):
   * changes while the connection is down are not replayed (read
   * `get` or `list` after a reconnect). Ends when the loop breaks or the client closes.
   */
  async *watch(filter: WatchFilter = {}): AsyncGenerator<TaskChange, void, undefined> {
    const feed = this.feed(filter.taskId !== undefined ? appChangeSubject(this.info.appId, filter.taskId) : appChanges(this.info.appId));
    try {
      for await (const c of feed.events) if (!filter.types || filter.types.includes(c.type)) yield c;
    } finally {
      feed.stop();
    }
  }

  private feed(subject: string) {
    const sub = this.nc.subscribe(subject);
    // Every core replica publishes the feed: each event once, by its task and revision.
    const seen = new RecentKeys();
    const events = (async function* () {
      for await (const m of sub) {
        const c = decodeChange(m.data);
        if (c && (c.revision === undefined || seen.add(`${c.taskId}:${c.revision}`))) yield c;
      }
    })();
    return { events, stop: () => sub.unsubscribe() };
  }

  /**
   * Starts a run of pipeline `name` (the application needs the grant `pipeline.run:<name>`);
   * resolves once the core recorded it (with `waitMs`, once it ended or the wait ran out).
   * `handle.result()` waits for its end. Params that do not fit the pipeline's schema throw
   * `GanglionError` (`InvalidParams`), an ungranted pipeline `GanglionError` (`Forbidden`).
   * Unlike `submit`, a start is sent once, never repeated (a run has no idempotency key yet).
   */
  async runPipeline<R = unknown>(name: string, params: unknown, opts: { waitMs?: number } = {}): Promise<PipelineHandle<R>> {
    const waitMs = opts.waitMs ? Math.min(Math.max(0, Math.floor(opts.waitMs)), MAX_APP_WAIT_MS) : 0;
    let v: RunView;
    try {
      v = await request(this.nc, appPipelineSubject(name), { params, ...(waitMs ? { waitMs } : {}) }, RunView, this.timeoutMs + waitMs);
    } catch (err) {
      if (!(err instanceof NoRouteError)) throw err;
      await request(this.nc, appCallSubject("info"), {}, AppInfo, this.timeoutMs).catch((e) => {
        throw e instanceof NoRouteError ? new BusUnavailableError("no Ganglion core answers") : e;
      });
      throw new GanglionError({ code: "Forbidden", message: `this application is not granted pipeline.run:${name}` });
    }
    const host = {
      getRun: (runId: string, w: number) => this.call("run", { runId, ...(w ? { waitMs: Math.min(w, MAX_APP_WAIT_MS) } : {}) }, RunView, this.timeoutMs + w),
    };
    return new PipelineHandle<R>(host, v.runId, v);
  }

  /** Drains the connection: what was sent is flushed, subscriptions end, then it closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.changes.close(new BusUnavailableError("the client is closed"));
    await drainOrClose(this.nc);
  }
}
