import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { CONFIG_SUBJECT, controlSubject } from "../contract/subjects.js";
import { ConfigChanged, PluginConfig } from "../contract/pluginConfig.js";

export type ConfigListener = (config: Readonly<Record<string, unknown>>, version: number) => void;

/** A worker's live config (`worker.live.config`, `ctx.config`). */
export type LiveConfig = {
  /** The config in force (`{}` until an operator sets one); secret references stay `secret://<name>` strings. */
  readonly current: () => Readonly<Record<string, unknown>>;
  readonly version: () => number;
  /** Called with each new config as it arrives (and once at start when `run()` fetched it). */
  readonly onConfig: (listener: ConfigListener) => () => void;
};

/**
 * The SDK half of the config contract (subjects.md, "Configuration, live"): the config in force is
 * asked on `cfg` when the worker starts, then every `config.changed` on `ctl.<plugin>` replaces it
 * (an older version never replaces a newer one). No restart is needed.
 */
export const liveConfig = () => {
  let config: Readonly<Record<string, unknown>> = {};
  let version = 0;
  const listeners = new Set<ConfigListener>();
  const apply = (c: Record<string, unknown>, v: number, log?: Logger) => {
    if (v < version) return;
    config = Object.freeze({ ...c });
    version = v;
    for (const l of listeners) {
      try {
        l(config, version);
      } catch (err) {
        log?.warn({ err: (err as Error).message }, "onConfig listener threw");
      }
    }
  };
  const api: LiveConfig = {
    current: () => config,
    version: () => version,
    onConfig: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  /** Subscribes to changes, then asks for the config in force. A core that does not answer leaves `{}` (logged). */
  const attach = async (nc: NatsConnection, plugin: string, log: Logger) => {
    const sub = nc.subscribe(controlSubject(plugin), {
      callback: (err, m) => {
        if (err) return;
        let raw: unknown;
        try {
          raw = m.json();
        } catch {
          return;
        }
        const c = ConfigChanged.decode(raw);
        if (E.isRight(c)) apply(c.right.config, c.right.version, log);
      },
    });
    await fetchNow(nc, log);
    return () => sub.unsubscribe();
  };
  /** Asks for the config in force (at start, and after a reconnect: a change may have been missed). */
  const fetchNow = async (nc: NatsConnection, log: Logger) => {
    try {
      const d = PluginConfig.decode((await nc.request(CONFIG_SUBJECT, "{}", { timeout: 5000 })).json());
      if (E.isRight(d)) apply(d.right.config, d.right.version, log);
      else log.warn("the core's config answer does not decode");
    } catch (err) {
      log.warn({ err: (err as Error).message }, "no config from the core; running with the last one");
    }
  };
  return { api, attach, fetchNow };
};
