import * as t from "io-ts";
import { assertNever } from "../events/exhaustive.js";
import { PluginCapabilitiesGranted, PluginCapabilityRevoked, PluginRegistered, PluginRemoved, PluginUpgraded } from "../events/plugin.js";
import type { PluginEvent } from "../events/plugin.js";
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

/** The events that move a plugin's grants: the ones this view folds (`events` below). */
type GrantEvent = PluginRegistered | PluginCapabilitiesGranted | PluginCapabilityRevoked | PluginUpgraded | PluginRemoved;

/** The plugin's grants after the event, given the grants before it. */
const grantsAfter = (before: readonly string[], e: GrantEvent): string[] => {
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
    default:
      return assertNever(e, "plugin event");
  }
};

/** One grant event folded into the row `key` (the plugin's, or `by-capability`). */
const foldGrants = (key: string, row: CapabilitiesRow | null, e: GrantEvent): CapabilitiesRow => {
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
};

/**
 * Who may do what: `plugin.<id>` rows hold each plugin's grants; the single `by-capability`
 * row inverts them (one row, because `plugin.removed` does not list what it drops).
 */
export const capabilitiesView: View<CapabilitiesRow, PluginEvent> = {
  name: "capabilities",
  row: CapabilitiesRow,
  events: codecsByType([PluginRegistered, PluginCapabilitiesGranted, PluginCapabilityRevoked, PluginUpgraded, PluginRemoved]),
  keys: (e) => [pluginCapabilitiesKey(e.data.pluginId), BY_CAPABILITY],
  evolve: (key, row, e) => {
    switch (e.type) {
      case "plugin.registered":
      case "plugin.capabilities.granted":
      case "plugin.capability.revoked":
      case "plugin.upgraded":
      case "plugin.removed":
        return foldGrants(key, row, e);
      // Grants stay as they are (their codecs are not in `events`).
      case "plugin.disabled":
      case "plugin.enabled":
      case "plugin.credentials.issued":
      case "plugin.credentials.revoked":
      case "plugin.network.restricted":
        return row;
      default:
        return assertNever(e, "plugin event");
    }
  },
};
