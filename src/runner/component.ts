import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import type { Logger } from "pino";
import { RunnerEvent } from "../events/runner.js";
import type { PluginEvent } from "../events/plugin.js";
import type { PluginApp } from "../plugins/app.js";
import { natsEventStore } from "../store/eventStore.js";
import type { EventStore } from "../store/types.js";
import { runnerBackend } from "./factory.js";
import type { RunnerConfig } from "./factory.js";
import type { SecretResolver } from "./ports.js";
import { supervisor } from "./supervisor.js";
import type { Supervisor } from "./supervisor.js";

export type RunnerDeps = {
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly config: RunnerConfig;
  readonly pluginStore: EventStore<PluginEvent>;
  readonly plugins: PluginApp;
  readonly disable: (pluginId: string, reason: string) => Promise<void>;
  readonly secrets?: SecretResolver;
};

/**
 * The runner component of the core: the backend the configuration names, supervised. Credentials
 * are minted through the plugin commands (`plugin.credentials.issued`, actor `system:runner`), so
 * a disable or remove revokes them like any other.
 */
export const startRunner = async (deps: RunnerDeps): Promise<Supervisor> => {
  const log = deps.log.child({ component: "runner" });
  let sup: Supervisor | undefined;
  const backend = runnerBackend(deps.config, log, { onExit: (p, i, x) => sup?.onExit(p, i, x) });
  const store = natsEventStore(deps.nc, {
    codec: RunnerEvent,
    defaultActor: "system:runner",
    onSkipped: (s) => log.warn({ skipped: s }, "undecodable runner event skipped"),
  });
  sup = supervisor({
    backend,
    store,
    pluginStore: deps.pluginStore,
    natsUrl: deps.config.natsUrl,
    log,
    disable: deps.disable,
    ...(deps.secrets ? { secrets: deps.secrets } : {}),
    credentials: async (pluginId) => {
      const r = await deps.plugins.issueCredentials(pluginId, {}, { actor: "system:runner", time: new Date() });
      if (E.isLeft(r)) throw new Error(`no credentials for ${pluginId}: ${r.left.message}`);
      return { creds: r.right.creds, publicKey: r.right.publicKey };
    },
  });
  const h = await backend.health();
  if (!h.ok) log.warn({ detail: h.detail }, "the runner's backend cannot start workers");
  await sup.start();
  log.info({ backend: backend.name }, "runner started");
  return sup;
};
