import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Authority } from "../auth/authority.js";
import { pluginAccountKey } from "../auth/accounts.js";
import type { PluginApp } from "../plugins/app.js";
import type { Endpoint } from "../service/endpoint.js";
import { secretEndpoints } from "../service/endpoints/secrets.js";
import { serveSecrets } from "./delivery.js";
import { loadOrCreateSecretKey } from "./keys.js";
import { secretResolver } from "./resolver.js";
import type { SecretResolver } from "./resolver.js";
import { secretStore } from "./store.js";
import type { Rate } from "../tasks/limits.js";

/** The core's secrets: its key, the sealed bucket, the plugins' read path, the operators' endpoints, the runner's resolver. */
export const startSecrets = async (deps: {
  nc: NatsConnection;
  log: Logger;
  authority: Authority;
  plugins: PluginApp;
  replicas?: number;
  readRate?: Rate;
}): Promise<{
  endpoints: Endpoint[];
  resolver: SecretResolver;
  /** The bucket's version of each named secret that exists (for `live.versions` and the `cfg` answer). */
  versions: (names: readonly string[]) => Promise<Record<string, number>>;
  stop: () => Promise<void>;
}> => {
  const key = await loadOrCreateSecretKey(deps.authority.dataDir);
  const store = await secretStore({
    nc: deps.nc,
    key,
    plugins: deps.plugins,
    log: deps.log,
    ...(deps.replicas ? { replicas: deps.replicas } : {}),
    ...(deps.readRate ? { readRate: deps.readRate } : {}),
  });
  const served = serveSecrets({ nc: deps.nc, log: deps.log, store, key, pluginAccount: (p) => pluginAccountKey(deps.authority, p).getPublicKey() });
  return { endpoints: secretEndpoints({ store, notify: served.notify }), resolver: secretResolver(store), versions: store.versions, stop: served.stop };
};

export { secretResolver, SecretResolveError, SECRET_REF_PREFIX, secretRef } from "./resolver.js";
export type { SecretResolver } from "./resolver.js";
