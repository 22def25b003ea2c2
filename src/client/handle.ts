import type { TaskView } from "../contract/responses.js";
import { outcomeError, ResultTimeoutError } from "./errors.js";
import type { Ending, FeedMark } from "./feed.js";

/** Progress of a running attempt, as its worker reported it. */
export type Progress = { readonly attempt: number; readonly done: number; readonly total: number; readonly message?: string; readonly at: string };

/** What a handle needs of its client. */
export type HandleHost = {
  /** The task; with `waitMs`, once it ended or the wait ran out. */
  readonly getTask: (taskId: string, waitMs?: number) => Promise<TaskView>;
  readonly cancelTask: (taskId: string, reason?: string) => Promise<TaskView>;
  /** The task's end from the application's change feed (undefined at `until` or on abort); see `ChangeFeed.waitEnd`. */
  readonly waitEnd: (taskId: string, o: { until: number; mark?: FeedMark; signal?: AbortSignal }) => Promise<Ending | undefined>;
  /** Each change of the task from the shared feed, repeats dropped, until the answer is called. */
  readonly listen: (taskId: string, f: (c: { type: string; data: unknown }) => void) => () => void;
};

const ENDED = new Set(["completed", "cancelled", "dead_lettered"]);

/**
 * A submitted task. `result()` waits for its end on the application's change feed (one
 * subscription per client; the task is read with `get` only when the feed may have missed
 * something: a handle not submitted by this client, a reconnect, a lost event) and throws a typed
 * error when it ended without a result.
 */
export class TaskHandle<Result = unknown> {
  constructor(
    private readonly host: HandleHost,
    /** The task id (`<app>_…`). */
    readonly id: string,
    /** The plugin the task was routed to. */
    readonly pluginId: string,
    /** true: the idempotency key named a task submitted before; this is that task. */
    readonly existing: boolean,
    private last?: TaskView,
    /** The feed's mark when this client sent the submission (absent: the task is read once first). */
    private readonly mark?: FeedMark,
  ) {}

  /** The task as it is now. */
  async get(): Promise<TaskView> {
    return (this.last = await this.host.getTask(this.id));
  }

  /**
   * The task's result once it completed. Throws `TaskDeadLetteredError` (every attempt failed),
   * `TaskTimedOutError` (its last attempt or its deadline ran out), `TaskCancelledError`, or with
   * `timeoutMs`, `ResultTimeoutError` when it is still open by then.
   */
  async result(opts: { timeoutMs?: number } = {}): Promise<Result> {
    const until = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Infinity;
    let v: Ending | undefined = this.last && ENDED.has(this.last.status) ? this.last : undefined;
    while (!v) {
      if (until - Date.now() <= 0) throw new ResultTimeoutError(this.id, opts.timeoutMs!);
      v = await this.host.waitEnd(this.id, { until, ...(this.mark ? { mark: this.mark } : {}) });
    }
    if ("taskId" in v) this.last = v;
    if (v.status === "completed") return v.result as Result;
    throw outcomeError(v as TaskView);
  }

  /**
   * Progress reports of the task as they come (live: reports sent before this is called, or while
   * the connection was down, are not replayed). Ends when the task ends.
   */
  async *progress(): AsyncGenerator<Progress, void, undefined> {
    const queue: ({ type: string; data: unknown } | "end")[] = [];
    let wake: (() => void) | undefined;
    const push = (x: { type: string; data: unknown } | "end") => {
      queue.push(x);
      wake?.();
    };
    const stop = this.host.listen(this.id, push);
    // The end of the task, from the feed or (after a reconnect) the log: the feed is at most once.
    const abort = new AbortController();
    void this.host.waitEnd(this.id, { until: Infinity, signal: abort.signal, ...(this.mark ? { mark: this.mark } : {}) }).then(
      () => push("end"),
      () => push("end"),
    );
    try {
      for (;;) {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        const c = queue.shift()!;
        if (c === "end") break;
        if (c.type === "task.progress") {
          const d = c.data as Progress & { taskId: string };
          yield { attempt: d.attempt, done: d.done, total: d.total, at: d.at, ...(d.message !== undefined ? { message: d.message } : {}) };
        }
        if (c.type === "task.completed" || c.type === "task.cancelled" || c.type === "task.dead_lettered") break;
      }
    } finally {
      stop();
      abort.abort();
    }
  }

  /** Cancels the task (its running handler receives an abort signal); answers the task as it is then. */
  async cancel(reason?: string): Promise<TaskView> {
    return (this.last = await this.host.cancelTask(this.id, reason));
  }
}
