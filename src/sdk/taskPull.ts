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
  /** Loops waiting for slots, served first come first served: a loop that just gave slots back cannot take them again before the others. */
  const queue: { n: number; resolve: (got: number) => void }[] = [];
  const limit = () => fixed ?? (fromConsumers > 0 ? fromConsumers : 4);
  const free = () => limit() - running() - reserved;
  const take = (n: number) => {
    const got = Math.min(n, free());
    reserved += got;
    return got;
  };
  const pump = () => {
    while (queue.length > 0 && free() > 0) {
      const w = queue.shift()!;
      w.resolve(take(w.n));
    }
  };
  return {
    limit,
    seen: (maxAckPending: number | undefined) => {
      if (maxAckPending && maxAckPending > fromConsumers) fromConsumers = maxAckPending;
    },
    /** Up to `n` slots, once some are free and the loops that asked before were served. */
    acquire: (n: number): Promise<number> => {
      if (queue.length === 0 && free() > 0) return Promise.resolve(take(n));
      return new Promise((resolve) => queue.push({ n, resolve }));
    },
    /** A reserved slot was filled (the task now counts in `running`) or is given back. */
    release: (n: number) => {
      reserved -= n;
    },
    /** Slots came free (a task ended, a pull gave some back): the waiting loops are served in order. */
    freed: pump,
    /** The worker stops: every waiting loop gets nothing and looks at `stopping`. */
    wakeAll: () => {
      for (const w of queue.splice(0)) w.resolve(0);
    },
  };
};
export type TaskSlots = ReturnType<typeof taskSlots>;

/**
 * Pulls one task type's consumer (`task_<plugin>_<type>`) while the worker runs. A loop reserves
 * the slots it asks for, at most its fair share (`limit / types`, at least 1) so that an idle
 * type does not hold every slot for the pull's second, and gives back what the pull did not fill;
 * loops waiting for slots are served in order (a busy type is not starved by idle ones).
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
    const want = await slots.acquire(Math.max(1, Math.ceil(slots.limit() / o.types)));
    if (want === 0) continue;
    if (o.stopping()) {
      slots.release(want);
      break;
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
