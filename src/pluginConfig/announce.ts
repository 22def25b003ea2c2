import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { controlSubject } from "../contract/subjects.js";
import type { LiveVersions } from "../contract/pluginConfig.js";
import type { PluginView } from "../plugins/app.js";

/** How often the core says again what is in force (`live.versions`), when not told otherwise. */
export const DEFAULT_ANNOUNCE_EVERY_MS = 60_000;

const SECRET_READ = "secret.read:";

/** The names of the secrets a plugin is granted (`secret.read:<name>`). */
export const grantedSecrets = (granted: readonly string[]): string[] =>
  granted.filter((c) => c.startsWith(SECRET_READ)).map((c) => c.slice(SECRET_READ.length));

/**
 * The repair of missed notices. `config.changed` and `secret.rotated` are core NATS messages
 * published after the change was appended: a core that crashes in between, or a worker that is
 * disconnected at that moment, loses one. So every core says, at its start and then every
 * `everyMs`, on each active plugin's `ctl.<plugin>`, which config version and which secret
 * versions are in force (`live.versions`); a worker asks again only for what is newer than what it
 * holds. Several cores each announce: the messages are idempotent. A plugin with no config and no
 * secret gets nothing.
 */
export const startAnnouncer = (deps: {
  nc: NatsConnection;
  log: Logger;
  plugins: { list: () => Promise<PluginView[]> };
  configVersion: (pluginId: string) => Promise<number>;
  secretVersions?: (names: readonly string[]) => Promise<Record<string, number>>;
  everyMs?: number;
}): { readonly announce: () => Promise<number>; readonly stop: () => Promise<void> } => {
  let running: Promise<number> | undefined;
  /** One round; answers how many plugins were told. Rounds never overlap. */
  const announce = () =>
    (running ??= (async () => {
      let told = 0;
      try {
        for (const p of await deps.plugins.list()) {
          if (p.status !== "active" || deps.nc.isClosed()) continue;
          const names = grantedSecrets(p.granted);
          const secrets = deps.secretVersions && names.length > 0 ? await deps.secretVersions(names) : {};
          const config = await deps.configVersion(p.pluginId);
          if (config === 0 && Object.keys(secrets).length === 0) continue;
          const notice: LiveVersions = { type: "live.versions", config, secrets };
          deps.nc.publish(controlSubject(p.pluginId), JSON.stringify(notice));
          told++;
        }
      } catch (err) {
        deps.log.warn({ err: (err as Error).message }, "live versions not announced this round");
      }
      return told;
    })().finally(() => (running = undefined)));
  void announce();
  const timer = setInterval(() => void announce(), deps.everyMs ?? DEFAULT_ANNOUNCE_EVERY_MS);
  timer.unref();
  return {
    announce,
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
};
