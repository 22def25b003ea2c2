import * as t from "io-ts";
import { PluginId } from "./manifest.js";

/**
 * The live-config wire contract (subjects.md, "Configuration, live"): what a worker gets on
 * `cfg` (its account's import of `cfg.<plugin>`) and on `ctl.<plugin>` when an operator changes
 * it, and the `plugin.config.*` endpoints.
 */

/** Largest config a plugin may have (JSON bytes). */
export const MAX_CONFIG_BYTES = 64 * 1024;

/** The config in force: `version` 0 and `{}` until the first `plugin.config.set`. */
export const PluginConfig = t.type({ pluginId: t.string, version: t.number, config: t.UnknownRecord });
export type PluginConfig = t.TypeOf<typeof PluginConfig>;

/** On `ctl.<plugin>`, to every instance: the new config in force (secret references stay references). */
export const ConfigChanged = t.type({ type: t.literal("config.changed"), version: t.number, config: t.UnknownRecord });
export type ConfigChanged = t.TypeOf<typeof ConfigChanged>;

/** `set`: top-level keys to set (merged over the config in force); `replace`: the whole config. One of them. */
export const ConfigSetRequest = t.intersection([
  t.type({ pluginId: PluginId }),
  t.partial({ set: t.UnknownRecord, replace: t.UnknownRecord, unset: t.array(t.string) }),
]);
export const ConfigGetRequest = t.type({ pluginId: PluginId });

/**
 * On `ctl.<plugin>`, sent by the core at its start and every minute (subjects.md, "Live versions"):
 * the plugin's config version and the version of each secret it is granted and that exists. A
 * `config.changed` or `secret.rotated` published just before a core crashed, or sent while the
 * worker was disconnected, is missed; this repairs it. A worker asks again only for what is newer
 * than what it holds, and forgets a secret it holds that is not listed (removed, or no longer
 * granted).
 */
export const LiveVersions = t.type({ type: t.literal("live.versions"), config: t.number, secrets: t.record(t.string, t.number) });
export type LiveVersions = t.TypeOf<typeof LiveVersions>;

/** What a worker gets on `cfg`: the config in force and, from cores that know it, the versions of its secrets (as in `live.versions`). */
export const ConfigAnswer = t.intersection([PluginConfig, t.partial({ secrets: t.record(t.string, t.number) })]);
export type ConfigAnswer = t.TypeOf<typeof ConfigAnswer>;
