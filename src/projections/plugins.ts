import * as t from "io-ts";
import { assertNever } from "../events/exhaustive.js";
import { PluginEvent } from "../events/plugin.js";
import { pluginStatusAfter } from "../plugins/status.js";
import type { InstalledStatus } from "../plugins/status.js";
import { codecsByType, kvKey, sortedSet } from "./view.js";
import type { View } from "./view.js";
import { PluginRow } from "../contract/responses.js";

/** The row codecs are the contract's (`src/contract/responses.ts`): one definition for the view, the service and its clients. */
export { PluginRow };

/** The statuses of a plugin row: the table's (`src/plugins/status.ts`), less `absent` (no row). */
export const PluginViewStatus = t.keyof({ pending: null, active: null, disabled: null, removed: null } satisfies Record<InstalledStatus, null>);

/**
 * Row `<pluginId>` of the `plugins` bucket. `pending` lists the capabilities the manifest asks
 * for that are not granted (yet); `credentials` the public keys of user JWTs minted and not
 * revoked. Times are the events' `metadata.time`.
 */

export const pluginKey = (pluginId: string) => kvKey(pluginId);

const asked = (m: { capabilities: string[] }) => m.capabilities;

export const pluginsView: View<PluginRow, PluginEvent> = {
  name: "plugins",
  row: PluginRow,
  // Every PluginEvent type: a type added to the union is folded here too, or the build says why not.
  events: codecsByType(PluginEvent.types as readonly t.Mixed[]),
  keys: (e) => [pluginKey(e.data.pluginId)],
  evolve: (_key, row, e) => {
    const at = e.metadata.time;
    // The status moves by the plugins' one table (`src/plugins/status.ts`); no row: absent.
    const status = pluginStatusAfter(e, row?.status ?? "absent");
    if (status === "absent") return null;
    if (e.type === "plugin.registered") {
      const m = e.data.manifest;
      return {
        pluginId: e.data.pluginId,
        status,
        version: e.data.version,
        description: m.description,
        selfRegistered: e.data.selfRegistered,
        taskTypes: sortedSet(m.provides.map((p) => p.type)),
        requested: sortedSet(asked(m)),
        granted: [],
        pending: sortedSet(asked(m)),
        credentials: [],
        disabledReason: null,
        registeredAt: at,
        updatedAt: at,
      };
    }
    if (!row) return null; // (not reached: narrows `row`)
    const r = { ...row, status, updatedAt: at };
    switch (e.type) {
      case "plugin.capabilities.granted": {
        const granted = sortedSet([...row.granted, ...e.data.capabilities]);
        return { ...r, granted, pending: row.pending.filter((c) => !granted.includes(c)) };
      }
      case "plugin.capability.revoked": {
        const granted = row.granted.filter((c) => !e.data.capabilities.includes(c));
        return { ...r, granted, pending: row.requested.filter((c) => !granted.includes(c)) };
      }
      case "plugin.disabled":
        return { ...r, disabledReason: e.data.reason };
      case "plugin.enabled":
        return { ...r, disabledReason: null };
      case "plugin.upgraded": {
        const granted = sortedSet(e.data.carriedOver);
        return {
          ...r,
          version: e.data.version,
          description: e.data.manifest.description,
          taskTypes: sortedSet(e.data.manifest.provides.map((p) => p.type)),
          requested: sortedSet(asked(e.data.manifest)),
          granted,
          pending: sortedSet(asked(e.data.manifest).filter((c) => !granted.includes(c))),
        };
      }
      case "plugin.removed":
        return { ...r, granted: [], pending: [], credentials: [] };
      case "plugin.credentials.issued":
        return { ...r, credentials: sortedSet([...row.credentials, e.data.publicKey]) };
      case "plugin.credentials.revoked":
        return { ...r, credentials: row.credentials.filter((k) => !e.data.publicKeys.includes(k)) };
      // Not shown in this view (and the row's `updatedAt` stays as it was).
      case "plugin.network.restricted":
        return row;
      default:
        return assertNever(e, "plugin event");
    }
  },
};
