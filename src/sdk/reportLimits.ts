import { JetStreamApiError } from "@nats-io/jetstream";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { MAX_RESULT_BYTES } from "../contract/limits.js";
import { resultSubject } from "../contract/subjects.js";
import type { Report } from "../contract/wire.js";
import { sleep } from "./types.js";

/** The core keeps at most this much of a failure's or a progress report's message: the SDK cuts them before sending. */
export const MAX_REPORT_TEXT = 4_000;

/** JetStream's code for a message over the stream's `max_msg_size` (RESULTS: `MAX_REPORT_BYTES`). */
const MESSAGE_TOO_LARGE = 10054;

/** Why a handler's result cannot be sent (measured as the core measures it), or undefined when it fits. */
export const resultTooLarge = (result: unknown): string | undefined => {
  const size = Buffer.byteLength(JSON.stringify(result ?? null));
  if (size <= MAX_RESULT_BYTES) return undefined;
  return `the result is ${size} bytes, the limit is 1 MiB (${MAX_RESULT_BYTES} bytes): keep large outputs elsewhere and return a reference`;
};

/** The server refused a report for its size: sending it again cannot help. */
export const isTooLarge = (err: unknown): boolean => err instanceof JetStreamApiError && err.code === MESSAGE_TOO_LARGE;

export const cutText = (s: string): string => (s.length > MAX_REPORT_TEXT ? `${s.slice(0, MAX_REPORT_TEXT - 14)}… (truncated)` : s);

/**
 * Stores a report on RESULTS, retrying while the bus is out of reach (20 tries, growing waits)
 * and never when the server refused it for its size. Answers whether it was stored.
 */
export const publishReport = async (js: () => JetStreamClient, closed: () => boolean, log: Logger, plugin: string, r: Report): Promise<boolean> => {
  for (let i = 0; i < 20 && !closed(); i++) {
    try {
      await js().publish(resultSubject(plugin, r.taskId), JSON.stringify(r), { timeout: 5000 });
      return true;
    } catch (err) {
      if (isTooLarge(err)) {
        log.error({ taskId: r.taskId, status: r.status, err: (err as Error).message }, "report refused by the bus for its size; not retried");
        return false;
      }
      log.warn({ taskId: r.taskId, status: r.status, err: (err as Error).message }, "report not stored yet; retrying");
      await sleep(250 * Math.min(i + 1, 8));
    }
  }
  return false;
};
