import type { Logger } from "pino";
import type { AccountAuthority } from "../auth/accountAuthority.js";
import { PLUGIN_CATEGORY } from "../events/plugin.js";
import type { PluginEvent } from "../events/plugin.js";
import type { EventStore } from "../store/types.js";
import { accessOf } from "./app.js";
import { evolve, initialState } from "./decider.js";
import type { Plugin } from "./decider.js";

export type PluginsRuntimeDeps = {
  readonly log: Logger;
  readonly store: EventStore<PluginEvent>;
  readonly accounts?: AccountAuthority;
};

/**
 * Makes the server's accounts agree with the log, at every start: BUS (its exports, its
 * revocations) and DEV are pushed, then every plugin's account with the imports its state allows
 * and every key a `plugin.credentials.revoked` event ever named in its revocations (on top of
 * those the last pushed JWT kept). So a crash between a push and its append, a data dir restored
 * from an older backup, or a cluster node that lost its resolver directory cannot bring back a
 * revoked credential or a withdrawn grant. Answers how many plugin accounts it pushed.
 */
export const reconcileAccounts = async (store: EventStore<PluginEvent>, accounts: AccountAuthority): Promise<number> => {
  await accounts.applyInfrastructure();
  const plugins = new Map<string, { state: Plugin; revoked: Set<string> }>();
  for await (const e of store.readAll({ filter: { categories: [PLUGIN_CATEGORY] } })) {
    const id = e.data.pluginId;
    const cur = plugins.get(id) ?? { state: initialState(), revoked: new Set<string>() };
    cur.state = evolve(cur.state, e);
    if (e.type === "plugin.credentials.revoked") e.data.publicKeys.forEach((k) => cur.revoked.add(k));
    plugins.set(id, cur);
  }
  for (const [id, p] of plugins) await accounts.applyPlugin(id, accessOf(p.state), [...p.revoked]);
  return plugins.size;
};

/**
 * The plugins component of the core. At start it reconciles the accounts (above); the `plugin.*`
 * endpoints (`src/service/endpoints/plugins.ts`) do the rest. Without keys or SYS credentials
 * (a core started with `serve --nats` only) there is nothing it can push, and it says so.
 */
export const startPlugins = async (deps: PluginsRuntimeDeps): Promise<{ stop: () => Promise<void> }> => {
  const log = deps.log.child({ component: "plugins" });
  if (!deps.accounts) {
    log.warn(
      "no key material or SYS credentials: this core cannot change plugin accounts (approve, revoke, disable, enable, remove and creds will answer Unavailable)",
    );
    return { stop: async () => undefined };
  }
  const n = await reconcileAccounts(deps.store, deps.accounts);
  log.info({ plugins: n }, "plugin accounts pushed");
  return { stop: async () => undefined };
};
