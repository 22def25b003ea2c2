import type { SubmitOptions, TaskMap } from "./types.js";
import { GanglionError } from "./errors.js";
import type { TaskHandle } from "./handle.js";

export type BulkItem<TM extends TaskMap, K extends keyof TM & string> = SubmitOptions & { readonly taskType: K; readonly params: TM[K]["params"] };

export type BulkOptions = {
  /** Submissions in flight at once (default 64). */
  readonly concurrency?: number;
  /** Called as each item is settled (for a progress bar). */
  readonly onReport?: (report: BulkReport) => void;
  /** Give up on an item still rate limited after this long (default: never give up). */
  readonly maxRateLimitWaitMs?: number;
};

/** The outcome of one item: its handle, or why it was refused (`rateLimitedFor`: ms spent waiting on `RateLimited`). */
export type BulkReport<R = unknown> =
  | { readonly index: number; readonly ok: true; readonly handle: TaskHandle<R>; readonly rateLimitedFor: number }
  | { readonly index: number; readonly ok: false; readonly error: Error; readonly rateLimitedFor: number };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Pipelined submissions: `concurrency` requests in flight, each item settled on its own (a refusal
 * is that item's report, not the batch's failure). `RateLimited` is not a refusal: the item waits
 * the `retryAfterMs` the core said and is sent again (under the same idempotency key).
 */
export const submitMany = async <I extends SubmitOptions, R>(
  submit: (item: I) => Promise<TaskHandle<R>>,
  items: readonly I[],
  opts: BulkOptions = {},
): Promise<BulkReport<R>[]> => {
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 64));
  const reports: BulkReport<R>[] = new Array(items.length);
  let next = 0;
  const one = async (index: number, item: I): Promise<BulkReport<R>> => {
    // One key for every try of this item: a retry after a lost reply answers the same task.
    const keyed = {
      ...item,
      idempotencyKey: item.idempotencyKey ?? `bulk:${process.pid}:${Date.now().toString(36)}:${index}:${Math.random().toString(36).slice(2)}`,
    };
    let waited = 0;
    for (;;) {
      try {
        return { index, ok: true, handle: await submit(keyed), rateLimitedFor: waited };
      } catch (err) {
        if (err instanceof GanglionError && err.code === "RateLimited" && (opts.maxRateLimitWaitMs === undefined || waited < opts.maxRateLimitWaitMs)) {
          const pause = Math.max(1, err.retryAfterMs ?? 100) + Math.floor(Math.random() * 20);
          waited += pause;
          await sleep(pause);
          continue;
        }
        return { index, ok: false, error: err as Error, rateLimitedFor: waited };
      }
    }
  };
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      const r = await one(i, items[i]!);
      reports[i] = r;
      opts.onReport?.(r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return reports;
};
