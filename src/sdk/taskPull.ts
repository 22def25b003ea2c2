import type { Logger } from "pino";
import type { Consumer, JsMsg } from "@nats-io/jetstream";
import { sleep } from "./types.js";

/**
 * The task slots of one worker instance, shared by its pull loops (one per task type): at most
 * `limit()` tasks run or are asked for at once. The limit is the worker's `concurrency` option,
 * else the largest `max_ack_pending` its consumers showed (the plugin's concurrency), else 4.
 */
export const taskSlots = (fixed: number | undefined, running: () => number) => {
  let fromConsumers = 0;
  /** Slots a loop asked its consumer to fill and that are not filled yet. */
  let reserved = 0;
  const waiters = new Set<() => void>();
  const limit = () => fixed ?? (fromConsumers > 0 ? fromConsumers : 4);
  return {
    limit,
    seen: (maxAckPending: number | undefined) => {
      if (maxAckPending && maxAckPending > fromConsumers) fromConsumers = maxAckPending;
    },
    /** Takes up to `n` free slots; how many it took. */
    reserve: (n: number) => {
      const got = Math.max(0, Math.min(n, limit() - running() - reserved));
      reserved += got;
      return got;
    },
    /** A reserved slot was filled (the task now counts in `running`) or is given back. */
    release: (n: number) => {
      reserved -= n;
    },
    wait: () => new Promise<void>((r) => waiters.add(r)),
    /** Wakes every waiting loop (a task ended, slots were given back, or the worker stops). */
    freed: () => {
      const ws = [...waiters];
      waiters.clear();
      for (const w of ws) w();
    },
  };
};
export type TaskSlots = ReturnType<typeof taskSlots>;

/**
 * Pulls one task type's consumer (`task_<plugin>_<type>`) while the worker runs. A loop reserves
 * the slots it asks for, at most its fair share (`limit / types`, at least 1) so that an idle
 * type does not hold every slot for the pull's second, and gives back what the pull did not fill.
 */
export const runTaskPull = async (o: {
  consumer: Consumer;
  type: string;
  types: number;
  slots: TaskSlots;
  stopping: () => boolean;
  start: (m: JsMsg, ackWaitMs: number) => void;
  log: Logger;
}): Promise<void> => {
  const { consumer, slots } = o;
  const info = await consumer.info(true).catch(() => undefined);
  const ackWaitMs = info?.config.ack_wait ? info.config.ack_wait / 1e6 : 30_000;
  slots.seen(info?.config.max_ack_pending);
  while (!o.stopping()) {
    const want = slots.reserve(Math.max(1, Math.ceil(slots.limit() / o.types)));
    if (want === 0) {
      await slots.wait();
      continue;
    }
    let left = want;
    try {
      const batch = await consumer.fetch({ max_messages: want, expires: 1000 });
      for await (const m of batch) {
        if (left > 0) {
          left--;
          slots.release(1);
        }
        if (o.stopping()) {
          m.nak();
          continue;
        }
        o.start(m, ackWaitMs);
      }
    } catch (err) {
      if (o.stopping()) break;
      o.log.debug({ err: (err as Error).message, taskType: o.type }, "fetching tasks failed; retrying");
      await sleep(500);
    } finally {
      slots.release(left);
      if (left > 0) slots.freed();
    }
  }
};
