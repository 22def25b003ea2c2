import * as t from "io-ts";
import {
  PluginCapabilitiesGranted,
  PluginCapabilityRevoked,
  PluginRegistered,
  PluginRemoved,
  PluginUpgraded,
} from "../events/plugin.js";
import { codecsByType, kvKey, sortedSet } from "./view.js";
import type { View } from "./view.js";

/** Row `by-capability` of the `capabilities` bucket: every granted capability → the plugins holding it. */
export const ByCapabilityRow = t.type({ capabilities: t.record(t.string, t.array(t.string)) });
export type ByCapabilityRow = t.TypeOf<typeof ByCapabilityRow>;

/** Row `plugin.<pluginId>`: the capabilities granted to one plugin (empty once removed). */
export const PluginCapabilitiesRow = t.type({ pluginId: t.string, capabilities: t.array(t.string) });
export type PluginCapabilitiesRow = t.TypeOf<typeof PluginCapabilitiesRow>;

export const CapabilitiesRow = t.union([ByCapabilityRow, PluginCapabilitiesRow]);
export type CapabilitiesRow = t.TypeOf<typeof CapabilitiesRow>;

export const BY_CAPABILITY = "by-capability";
export const pluginCapabilitiesKey = (pluginId: string) => `plugin.${kvKey(pluginId)}`;

type Ev = PluginRegistered | PluginCapabilitiesGranted | PluginCapabilityRevoked | PluginUpgraded | PluginRemoved;

/** The plugin's grants after the event, given the grants before it. */
const grantsAfter = (before: readonly string[], e: Ev): string[] => {
  switch (e.type) {
    case "plugin.registered":
    case "plugin.removed":
      return [];
    case "plugin.capabilities.granted":
      return sortedSet([...before, ...e.data.capabilities]);
    case "plugin.capability.revoked":
      return before.filter((c) => !e.data.capabilities.includes(c));
    case "plugin.upgraded":
      return sortedSet(e.data.carriedOver);
  }
};

/**
 * Who may do what: `plugin.<id>` rows hold each plugin's grants; the single `by-capability`
 * row inverts them (one row, because `plugin.removed` does not list what it drops).
 */
export const capabilitiesView: View<CapabilitiesRow, Ev> = {
  name: "capabilities",
  row: CapabilitiesRow,
  events: codecsByType([PluginRegistered, PluginCapabilitiesGranted, PluginCapabilityRevoked, PluginUpgraded, PluginRemoved]),
  keys: (e) => [pluginCapabilitiesKey(e.data.pluginId), BY_CAPABILITY],
  evolve: (key, row, e) => {
    const id = e.data.pluginId;
    if (key === BY_CAPABILITY) {
      const before = row && "capabilities" in row && !Array.isArray(row.capabilities) ? row.capabilities : {};
      const held = Object.keys(before).filter((c) => before[c]!.includes(id));
      const after = new Set(grantsAfter(held, e));
      const out: Record<string, string[]> = {};
      for (const c of sortedSet([...Object.keys(before), ...after])) {
        const others = (before[c] ?? []).filter((p) => p !== id);
        const plugins = after.has(c) ? sortedSet([...others, id]) : others;
        if (plugins.length > 0) out[c] = plugins;
      }
      return { capabilities: out };
    }
    const before = row && "pluginId" in row ? row.capabilities : [];
    return { pluginId: id, capabilities: grantsAfter(before, e) };
  },
};
