import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { CONFIG_SUBJECT } from "../contract/subjects.js";
import { ConfigAnswer, ConfigChanged } from "../contract/pluginConfig.js";
import { onControl } from "./control.js";

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
 * asked on `cfg` when the worker starts, then every `config.changed` on `ctl.<plugin>` replaces it.
 * Only a newer version replaces the one held (a late answer, a repeated notice, a `live.versions`
 * round change nothing). No restart is needed.
 */
export const liveConfig = () => {
  let config: Readonly<Record<string, unknown>> = {};
  let version = 0;
  let fetched = false;
  const listeners = new Set<ConfigListener>();
  const apply = (c: Record<string, unknown>, v: number, log?: Logger) => {
    // The first answer is told to listeners even at version 0 ("once at start").
    if (fetched && v <= version) return;
    fetched = true;
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
    const sub = onControl(nc, plugin, ConfigChanged, (c) => apply(c.config, c.version, log));
    await fetchNow(nc, log);
    return () => sub.unsubscribe();
  };
  /**
   * Asks for the config in force (at start, after a reconnect, when `live.versions` names a newer
   * one); answers what the core said, whose `secrets` versions the secrets client compares, or
   * undefined when it did not answer.
   */
  const fetchNow = async (nc: NatsConnection, log: Logger): Promise<ConfigAnswer | undefined> => {
    try {
      const d = ConfigAnswer.decode((await nc.request(CONFIG_SUBJECT, "{}", { timeout: 5000 })).json());
      if (E.isRight(d)) {
        apply(d.right.config, d.right.version, log);
        return d.right;
      }
      log.warn("the core's config answer does not decode");
    } catch (err) {
      log.warn({ err: (err as Error).message }, "no config from the core; running with the last one");
    }
    return undefined;
  };
  return { api, attach, fetchNow };
};
