import type { NatsConnection } from "@nats-io/nats-core";

/** How long a drain may take before the connection is simply closed. */
export const DRAIN_TIMEOUT_MS = 5_000;

/**
 * Drains `nc` (pending replies and publishes go out, subscriptions finish what they hold), but
 * never waits longer than `timeoutMs`: a drain needs a round trip to the server, so on a
 * connection that is reconnecting to a server that is gone it waited forever (a client closed
 * after its bus stopped hung its process). Past the bound, or when the drain fails, it closes.
 */
export const drainOrClose = async (nc: NatsConnection, timeoutMs = DRAIN_TIMEOUT_MS): Promise<void> => {
  if (nc.isClosed()) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const drained = nc.drain().then(
    () => true,
    () => false,
  );
  const bounded = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
  const ok = await Promise.race([drained, bounded]);
  clearTimeout(timer);
  if (!ok && !nc.isClosed()) await nc.close().catch(() => undefined);
};
