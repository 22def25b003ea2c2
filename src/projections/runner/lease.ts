import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { Buckets } from "../../contract/subjects.js";
import { openBucket } from "./kv.js";

/** How long a lease outlives its last renewal (the bucket's `max_age`); renewed every third of it. */
export const LEASE_TTL_MS = 6_000;

const isCasConflict = (err: unknown) => err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;

export type Lease = {
  /** Whether this process holds the lease and runs the duty now. */
  readonly leading: () => boolean;
  /** Stops the duty (if running) and hands the lease back, so another process takes it at once. */
  readonly stop: () => Promise<void>;
};

/**
 * Runs `duty` in one process of many (the core's replicas), by a lease in `ganglion-leases`: key
 * `key` holds the holder's id; it is taken with `create` (only when absent: expired by the bucket's
 * `max_age`, or handed back), renewed with compare-and-set every `ttlMs / 3`, and lost when a
 * renewal finds another holder (this process stalled past `ttlMs`): the duty is stopped then.
 * A process that is not leading tries again at every renewal period, so a dead holder's duty
 * moves within `ttlMs`. Two holders at once (a stalled one not yet aware) must be harmless: the
 * views are, since every row write is a compare-and-set; the lease only saves the work twice.
 */
export const leased = async (o: {
  nc: NatsConnection;
  key: string;
  holder: string;
  log: Logger;
  duty: () => Promise<{ stop: () => Promise<void> }>;
  ttlMs?: number;
  replicas?: number;
}): Promise<Lease> => {
  const ttlMs = o.ttlMs ?? LEASE_TTL_MS;
  const kv = await openBucket(o.nc, Buckets.Leases, 1, o.replicas ?? 1, ttlMs);
  let revision: number | undefined;
  let running: { stop: () => Promise<void> } | undefined;
  let stopped = false;
  let busy: Promise<void> = Promise.resolve();

  const step = async () => {
    if (stopped) return;
    if (revision === undefined) {
      try {
        revision = await kv.create(o.key, o.holder);
      } catch (err) {
        if (!isCasConflict(err)) o.log.warn({ err, lease: o.key }, "taking the lease failed; trying again");
        return; // another process holds it
      }
      o.log.info({ lease: o.key, holder: o.holder }, "lease taken: running the duty here");
      try {
        running = await o.duty();
      } catch (err) {
        o.log.error({ err, lease: o.key }, "the leased duty did not start; handing the lease back");
        await kv.delete(o.key, { previousSeq: revision }).catch(() => undefined);
        revision = undefined;
      }
      return;
    }
    try {
      revision = await kv.update(o.key, o.holder, revision);
    } catch (err) {
      if (!isCasConflict(err)) {
        // Out of reach for now: the lease holds until it expires; the next renewal may reach it.
        o.log.warn({ err, lease: o.key }, "renewing the lease failed; trying again");
        return;
      }
      o.log.warn({ lease: o.key }, "lease lost to another process (this one stalled past its lease): stopping the duty");
      revision = undefined;
      const r = running;
      running = undefined;
      await r?.stop();
    }
  };
  const tick = () => {
    busy = busy.then(step).catch((err) => o.log.error({ err, lease: o.key }, "lease step failed"));
    return busy;
  };
  await tick();
  const timer = setInterval(() => void tick(), Math.max(100, Math.floor(ttlMs / 3)));
  timer.unref?.();

  return {
    leading: () => running !== undefined,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await busy;
      const r = running;
      running = undefined;
      await r?.stop();
      if (revision !== undefined) await kv.delete(o.key, { previousSeq: revision }).catch(() => undefined);
      revision = undefined;
    },
  };
};
