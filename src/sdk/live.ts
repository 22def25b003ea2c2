import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { liveConfig } from "./config.js";
import type { LiveConfig } from "./config.js";
import { secretsClient } from "./secrets.js";
import type { Secrets } from "./secrets.js";

/** What a running worker receives live from the core: its secrets and its config. */
export type Live = {
  readonly secrets: Secrets;
  readonly config: LiveConfig;
  /** Called by `Worker.run()` once connected: fetches the config in force and listens for changes. */
  readonly attach: (nc: NatsConnection, plugin: string, log: Logger) => Promise<void>;
};

/** `worker.live`: usable before `run()` (`config.onConfig`); secrets answer once connected. */
export const live = (): Live => {
  const cfg = liveConfig();
  let secrets: Secrets | undefined;
  const need = () => {
    if (!secrets) throw new Error("the worker is not running: call run() before asking for secrets");
    return secrets;
  };
  return {
    secrets: {
      get: async (name, onRotated) => need().get(name, onRotated),
      version: (name) => secrets?.version(name),
      refresh: async () => secrets?.refresh(),
      close: () => secrets?.close(),
    },
    config: cfg.api,
    attach: async (nc, plugin, log) => {
      const s = (secrets = secretsClient(nc, plugin, log));
      await cfg.attach(nc, plugin, log);
      // Notices on ctl.<plugin> are core NATS: one sent while disconnected is lost, so ask again.
      void (async () => {
        for await (const st of nc.status()) {
          if (st.type !== "reconnect") continue;
          await cfg.fetchNow(nc, log);
          await s.refresh();
        }
      })();
    },
  };
};
