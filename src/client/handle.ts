import type { TaskView } from "../contract/responses.js";
import { outcomeError, ResultTimeoutError } from "./errors.js";

/** Progress of a running attempt, as its worker reported it. */
export type Progress = { readonly attempt: number; readonly done: number; readonly total: number; readonly message?: string; readonly at: string };

/** What a handle needs of its client. */
export type HandleHost = {
  /** The task; with `waitMs`, once it ended or the wait ran out. */
  readonly getTask: (taskId: string, waitMs?: number) => Promise<TaskView>;
  readonly cancelTask: (taskId: string, reason?: string) => Promise<TaskView>;
  /** The task's changes as the core publishes them (`task.progress`, …), until `stop`. */
  readonly changes: (taskId: string) => { readonly events: AsyncIterable<{ type: string; data: unknown }>; readonly stop: () => void };
};

const ENDED = new Set(["completed", "cancelled", "dead_lettered"]);
/** Longest single wait the client asks the core for (the request's timeout is this and a margin). */
export const WAIT_SLICE_MS = 30_000;

/**
 * A submitted task. `result()` waits for its end on the core (long polls of `get` with `waitMs`,
 * repeated across reconnects) and throws a typed error when it ended without a result.
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
    let v = this.last && ENDED.has(this.last.status) ? this.last : undefined;
    while (!v) {
      const left = until - Date.now();
      if (left <= 0) throw new ResultTimeoutError(this.id, opts.timeoutMs!);
      const now = await this.host.getTask(this.id, Math.max(1, Math.min(left, WAIT_SLICE_MS)));
      this.last = now;
      if (ENDED.has(now.status)) v = now;
    }
    if (v.status === "completed") return v.result as Result;
    throw outcomeError(v);
  }

  /**
   * Progress reports of the task as they come (live: reports sent before this is called, or while
   * the connection was down, are not replayed). Ends when the task ends.
   */
  async *progress(): AsyncGenerator<Progress, void, undefined> {
    const feed = this.host.changes(this.id);
    let stopped = false;
    // The end of the task, seen on the core: the feed is at most once, so it cannot be the only signal.
    const ended = (async () => {
      while (!stopped) {
        try {
          const v = await this.host.getTask(this.id, WAIT_SLICE_MS);
          if (ENDED.has(v.status)) break;
        } catch {
          if (!stopped) await new Promise((r) => setTimeout(r, 500));
        }
      }
      feed.stop();
    })();
    try {
      for await (const c of feed.events) {
        if (c.type === "task.progress") {
          const d = c.data as Progress & { taskId: string };
          yield { attempt: d.attempt, done: d.done, total: d.total, at: d.at, ...(d.message !== undefined ? { message: d.message } : {}) };
        }
        if (c.type === "task.completed" || c.type === "task.cancelled" || c.type === "task.dead_lettered") break;
      }
    } finally {
      stopped = true;
      feed.stop();
      void ended;
    }
  }

  /** Cancels the task (its running handler receives an abort signal); answers the task as it is then. */
  async cancel(reason?: string): Promise<TaskView> {
    return (this.last = await this.host.cancelTask(this.id, reason));
  }
}
