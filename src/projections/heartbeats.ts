import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { HEARTBEATS_ALL } from "../contract/subjects.js";
import { Heartbeat } from "../contract/wire.js";
import { MAX_HEARTBEAT_BYTES } from "../contract/limits.js";

export type LiveInstance = { readonly lastHeartbeatAt: string; readonly inFlight: number | null; readonly state: string | null };

/**
 * The last heartbeat of each worker instance, as seen on the wire by this core. Heartbeats are
 * not events (only online/offline transitions are), so this is live state, not a view: it is not
 * in the `workers` bucket, and it starts empty when the core starts.
 */
export type HeartbeatTracker = {
  readonly live: (pluginId: string) => Record<string, LiveInstance>;
  readonly stop: () => void;
};

export const trackHeartbeats = (nc: NatsConnection, clock: () => Date = () => new Date()): HeartbeatTracker => {
  const byPlugin = new Map<string, Map<string, LiveInstance>>();
  const sub: Subscription = nc.subscribe(HEARTBEATS_ALL, {
    callback: (err, m) => {
      if (err) return;
      const [, pluginId, instance] = m.subject.split(".");
      if (!pluginId || !instance) return;
      // Core NATS: nothing bounds it but max_payload. A heartbeat is a few short fields.
      if (m.data.length > MAX_HEARTBEAT_BYTES) return;
      let raw: unknown;
      try {
        raw = m.json();
      } catch {
        return;
      }
      const d = Heartbeat.decode(raw);
      if (E.isLeft(d)) return;
      const map = byPlugin.get(pluginId) ?? new Map<string, LiveInstance>();
      byPlugin.set(pluginId, map);
      if (d.right.state === "stopping") map.delete(instance);
      else map.set(instance, { lastHeartbeatAt: clock().toISOString(), inFlight: d.right.inFlight ?? null, state: d.right.state ?? null });
    },
  });
  return {
    live: (pluginId) => Object.fromEntries([...(byPlugin.get(pluginId) ?? new Map()).entries()].sort(([a], [b]) => (a < b ? -1 : 1))),
    stop: () => sub.unsubscribe(),
  };
};
