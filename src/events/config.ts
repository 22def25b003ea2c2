import * as t from "io-ts";

/**
 * A plugin's live configuration, on the stream `config-<pluginId>` (subject `ev.config.<pluginId>`).
 * Appended by the core's `plugin.config.set` endpoint only; `metadata.actor` says who. The config
 * is stored as validated against the manifest's `config` schema: secret references
 * (`secret://<name>`) stay references, never values.
 */
export const PluginConfigSet = t.type({
  type: t.literal("plugin.config.set"),
  data: t.type({ pluginId: t.string, version: t.number, config: t.UnknownRecord, changed: t.array(t.string) }),
});
export type PluginConfigSet = t.TypeOf<typeof PluginConfigSet>;

export const ConfigEvent = PluginConfigSet;
export type ConfigEvent = PluginConfigSet;

/** Stream category of every plugin's config (`ev.config.>`). */
export const CONFIG_CATEGORY = "config";
export const configStreamName = (pluginId: string) => `${CONFIG_CATEGORY}-${pluginId}`;
