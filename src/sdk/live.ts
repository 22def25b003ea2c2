import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { liveConfig } from "./config.js";
import type { LiveConfig } from "./config.js";
import { secretsClient } from "./secrets.js";
import { onControl } from "./control.js";
import { LiveVersions } from "../contract/pluginConfig.js";
import type { Secrets } from "./secrets.js";

/** What a running worker receives live from the core: its secrets and its config. */
export type Live = {
  readonly secrets: Secrets;
  readonly config: LiveConfig;
  /** Called by `Worker.run()` once connected: fetches the config in force and listens for changes. */
  readonly attach: (nc: NatsConnection, plugin: string, log: Logger) => Promise<void>;
};

/** How often a worker asks for what is in force after a reconnect before it waits for the core's next `live.versions`. */
const CATCH_UP_TRIES = 10;

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
      reconcile: (inForce) => secrets?.reconcile(inForce),
      refresh: async () => secrets?.refresh(),
      close: () => secrets?.close(),
    },
    config: cfg.api,
    attach: async (nc, plugin, log) => {
      const s = (secrets = secretsClient(nc, plugin, log));
      // The core's `live.versions` (at its start, then every minute): catch up on a missed notice.
      onControl(nc, plugin, LiveVersions, (lv) => {
        if (lv.config > cfg.api.version()) void cfg.fetchNow(nc, log);
        s.reconcile(lv.secrets);
      });
      await cfg.attach(nc, plugin, log);
      // Notices on ctl.<plugin> are core NATS: one sent while disconnected is lost, so ask again:
      // the config in force, and the secrets whose version changed (all of them when the core's
      // answer lists no versions). After a server restart the core may come back after this
      // worker (no responders yet): a few tries, further apart.
      const catchUp = async () => {
        for (let i = 1; i <= CATCH_UP_TRIES && !nc.isClosed(); i++) {
          const answer = await cfg.fetchNow(nc, log);
          if (answer?.secrets) return s.reconcile(answer.secrets);
          if (answer) return s.refresh();
          await new Promise((r) => setTimeout(r, Math.min(500 * i, 5000)));
        }
      };
      void (async () => {
        for await (const st of nc.status()) if (st.type === "reconnect") await catchUp();
      })();
    },
  };
};
