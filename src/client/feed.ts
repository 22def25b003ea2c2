import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { TaskChange } from "../contract/app.js";
import type { TaskView } from "../contract/responses.js";
import { appChanges, appFeedResumeSubject } from "../contract/subjects.js";

/** How a task ended: a completion as the feed carried it (its result), or the task as read. */
export type Ending = { readonly status: "completed"; readonly result: unknown } | TaskView;

/** The feed's state when a task was submitted: while it holds, the feed alone tells the task's end. */
export type FeedMark = { readonly epoch: number; readonly evictions: number };

const ENDED = new Set(["completed", "cancelled", "dead_lettered"]);
const TERMINAL = new Set(["task.completed", "task.cancelled", "task.dead_lettered"]);
/** Ends kept for tasks not (yet) awaited; past either bound the oldest go, and handles re-read. */
const MAX_ENDS = 100_000;
const MAX_END_BYTES = 64 * 1024 * 1024;
/** Keys `taskId:revision` remembered to drop the repeats of other core replicas (they come close together). */
const MAX_SEEN = 200_000;

/** A bounded set, oldest out first: repeats arrive within moments of the first copy. */
export class RecentKeys {
  private readonly keys = new Set<string>();
  constructor(private readonly max = MAX_SEEN) {}
  /** true the first time `key` is seen (within the window). */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > this.max) this.keys.delete(this.keys.values().next().value!);
    return true;
  }
}

/** Decodes one message of the feed; undefined when it is not a task change. */
export const decodeChange = (data: Uint8Array): TaskChange | undefined => {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  const d = TaskChange.decode(raw);
  return E.isRight(d) ? d.right : undefined;
};

/**
 * The application's change feed (`appev.<app>.>`), one subscription per client, shared by every
 * `result()` and `progress()`. Core NATS is at most once: a reconnect (or a core's `resume`, when
 * it started) bumps the epoch and every awaited task is read once (`get`); a task's end is then
 * what the log says. Every core replica publishes the feed: repeats are dropped by `taskId` and
 * `revision`, and a revision past the next one (a lost event) re-reads that task too.
 */
export class ChangeFeed {
  private epoch = 0;
  private evictions = 0;
  private ready?: Promise<void>;
  private sub?: Subscription;
  private closed?: Error;
  private readonly ends = new Map<string, { result: unknown; bytes: number } | "read">();
  private endBytes = 0;
  private readonly seen = new RecentKeys();
  private readonly listeners = new Map<string, Set<(c: TaskChange) => void>>();
  private readonly resyncs = new Set<(closed?: Error) => void>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly appId: string,
    /** Reads the task now (repeated across reconnects by the client). */
    private readonly get: (taskId: string) => Promise<TaskView>,
  ) {}

  /** Subscribes once (and flushes: the server has the subscription); answers the mark for a submission. */
  async start(): Promise<FeedMark> {
    this.ready ??= (async () => {
      this.sub = this.nc.subscribe(appChanges(this.appId), { callback: (err, m) => (err ? undefined : this.onMessage(m.subject, m.data)) });
      void (async () => {
        for await (const s of this.nc.status()) {
          if (s.type === "disconnect") this.epoch++;
          if (s.type === "reconnect") this.resync();
        }
      })();
      await this.nc.flush();
    })();
    await this.ready;
    return { epoch: this.epoch, evictions: this.evictions };
  }

  private resync() {
    this.epoch++;
    for (const f of [...this.resyncs]) f();
  }

  private onMessage(subject: string, data: Uint8Array) {
    if (subject === appFeedResumeSubject(this.appId)) return this.resync();
    const c = decodeChange(data);
    if (!c || subject !== `appev.${this.appId}.${c.taskId}`) return;
    if (c.revision !== undefined && !this.seen.add(`${c.taskId}:${c.revision}`)) return;
    if (TERMINAL.has(c.type) && !this.ends.has(c.taskId)) {
      const result = c.type === "task.completed" ? (c.data as { result?: unknown }).result : undefined;
      this.ends.set(c.taskId, c.type === "task.completed" ? { result, bytes: data.length } : "read");
      if (c.type === "task.completed") this.endBytes += data.length;
      while (this.ends.size > MAX_ENDS || this.endBytes > MAX_END_BYTES) {
        const [k, v] = this.ends.entries().next().value!;
        this.ends.delete(k);
        this.endBytes -= typeof v === "string" ? 0 : v.bytes;
        this.evictions++;
      }
    }
    for (const f of [...(this.listeners.get(c.taskId) ?? [])]) f(c);
  }

  /** The kept completion of `taskId` (kept until the bounds push it out: `result()` may be called again). */
  private take(taskId: string): Ending | undefined {
    const kept = this.ends.get(taskId);
    return kept === undefined || kept === "read" ? undefined : { status: "completed", result: kept.result };
  }

  /** Calls `f` with each change of `taskId` (repeats dropped) until the answer is called. */
  listen(taskId: string, f: (c: TaskChange) => void): () => void {
    const set = this.listeners.get(taskId) ?? new Set();
    this.listeners.set(taskId, set.add(f));
    return () => {
      set.delete(f);
      if (set.size === 0 && this.listeners.get(taskId) === set) this.listeners.delete(taskId);
    };
  }

  /**
   * The task's end, or undefined when `until` (epoch ms) passed or `signal` aborted first. With
   * `mark` (taken before the submission was sent) and the feed intact since, the feed alone
   * answers; otherwise the task is read once now, and again after every reconnect or lost event.
   */
  async waitEnd(taskId: string, o: { until: number; mark?: FeedMark; signal?: AbortSignal }): Promise<Ending | undefined> {
    const mark = await this.start();
    if (this.closed) throw this.closed;
    const kept = this.ends.get(taskId);
    if (kept !== undefined && kept !== "read") return this.take(taskId);
    return new Promise<Ending | undefined>((resolve, reject) => {
      let done = false;
      let reading: Promise<void> | undefined;
      let again = false;
      let last: number | undefined;
      const finish = (v: Ending | undefined, err?: unknown) => {
        if (done) return;
        done = true;
        stopListening();
        this.resyncs.delete(onResync);
        clearTimeout(timer);
        o.signal?.removeEventListener("abort", onAbort);
        if (err !== undefined) reject(err);
        else resolve(v);
      };
      const read = () => {
        if (reading) return void (again = true);
        reading = (async () => {
          do {
            again = false;
            const v = await this.get(taskId);
            if (ENDED.has(v.status)) finish(v);
          } while (again && !done);
        })()
          .catch((err) => finish(undefined, err))
          .finally(() => (reading = undefined));
      };
      const onResync = (closed?: Error) => (closed ? finish(undefined, closed) : read());
      const onAbort = () => finish(undefined);
      const stopListening = this.listen(taskId, (c) => {
        const gap = c.revision !== undefined && last !== undefined && c.revision > last + 1;
        if (c.revision !== undefined) last = Math.max(last ?? c.revision, c.revision);
        if (c.type === "task.completed") finish(this.take(taskId) ?? { status: "completed", result: (c.data as { result?: unknown }).result });
        else if (TERMINAL.has(c.type) || gap) read();
      });
      this.resyncs.add(onResync);
      o.signal?.addEventListener("abort", onAbort);
      const timer = Number.isFinite(o.until) ? setTimeout(() => finish(undefined), Math.min(Math.max(0, o.until - Date.now()), 2 ** 31 - 1)) : undefined;
      if (o.signal?.aborted) onAbort();
      // Read unless the feed was live and whole from before the submission until now.
      else if (kept === "read" || !o.mark || o.mark.epoch !== mark.epoch || o.mark.evictions !== mark.evictions) read();
    });
  }

  /** Ends every wait with `err` (the client closed); the subscription ends with the connection's drain. */
  close(err: Error) {
    if (this.closed) return;
    this.closed = err;
    for (const f of [...this.resyncs]) f(err);
  }
}
