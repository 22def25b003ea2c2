import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Authority } from "../auth/authority.js";
import { busRevoker } from "../auth/revocation.js";
import type { Revoker } from "../auth/revocation.js";
import { PLUGIN_CATEGORY, PluginEvent } from "../events/plugin.js";
import { natsEventStore } from "../store/eventStore.js";
import type { EventStore } from "../store/types.js";

export type PluginsRuntimeDeps = {
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly authority?: Authority;
  /** Content of a SYS-account `.creds` file. */
  readonly sysCreds?: string;
  readonly store?: EventStore<PluginEvent>;
  readonly revoker?: Revoker;
};

/**
 * Makes the server's revocation list agree with the log: every key a `plugin.credentials.revoked`
 * event names must be revoked in the BUS account JWT. They normally are (the push happens before
 * the append), but a data dir restored from an older backup would bring revoked credentials back
 * to life; this closes that hole at every start. Answers the keys it had to revoke again.
 */
export const reconcileRevocations = async (store: EventStore<PluginEvent>, revoker: Revoker): Promise<string[]> => {
  const inForce = await revoker.revocations();
  const missing = new Set<string>();
  for await (const e of store.readAll({ filter: { categories: [PLUGIN_CATEGORY], eventTypePrefixes: ["plugin.credentials.revoked"] } })) {
    if (e.type !== "plugin.credentials.revoked") continue;
    for (const k of e.data.publicKeys) if (inForce[k] === undefined) missing.add(k);
  }
  if (missing.size > 0) await revoker.revoke([...missing]);
  return [...missing];
};

/**
 * The plugins component of the core. At start it reconciles revocations (above); the `plugin.*`
 * endpoints (`src/service/endpoints/plugins.ts`) do the rest. Without keys or SYS credentials
 * (a core started with `serve --nats` only) there is nothing it can revoke, and it says so.
 */
export const startPlugins = async (deps: PluginsRuntimeDeps): Promise<{ stop: () => Promise<void> }> => {
  const log = deps.log.child({ component: "plugins" });
  const revoker =
    deps.revoker ?? (deps.authority && deps.sysCreds ? busRevoker({ authority: deps.authority, sysCreds: deps.sysCreds, servers: deps.nc.getServer() }) : undefined);
  if (!revoker) {
    log.warn("no key material or SYS credentials: this core cannot revoke plugin credentials (revoke, disable and remove will answer Unavailable)");
    return { stop: async () => undefined };
  }
  const store = deps.store ?? natsEventStore(deps.nc, { codec: PluginEvent, onSkipped: (s) => log.warn({ skipped: s }, "undecodable plugin event skipped") });
  const again = await reconcileRevocations(store, revoker);
  if (again.length > 0) log.warn({ publicKeys: again }, "revoked credentials the account JWT did not list (restored data dir?) were revoked again");
  return { stop: async () => undefined };
};
