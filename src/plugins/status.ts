import { assertNever } from "../events/exhaustive.js";
import type { PluginEvent } from "../events/plugin.js";

/**
 * The status of a plugin, and the one table of how events move it. The plugins decider's
 * `evolve`, the `plugins` view and the `totals` view all read it from here.
 *
 * - `plugin.registered`: → pending (a first install, or one after a removal);
 * - `plugin.capabilities.granted`: pending → active (the first approval, even of nothing);
 * - `plugin.disabled`: → disabled; `plugin.enabled`: disabled → active;
 * - `plugin.removed`: → removed.
 *
 * Every other event leaves the status as it is.
 */
export const PluginStatus = {
  Absent: "absent",
  Pending: "pending",
  Active: "active",
  Disabled: "disabled",
  Removed: "removed",
} as const;
export type PluginStatus = (typeof PluginStatus)[keyof typeof PluginStatus];
/** The statuses of a plugin that was installed at some point. */
export type InstalledStatus = Exclude<PluginStatus, "absent">;

/**
 * The status after `e`, given the status before it. Total: an event that moves nothing (or that
 * makes no sense in `before`) leaves `before`. Nothing but `plugin.registered` leaves `absent`,
 * and nothing leads back to it.
 */
export function pluginStatusAfter(e: PluginEvent, before: InstalledStatus): InstalledStatus;
export function pluginStatusAfter(e: PluginEvent, before: PluginStatus): PluginStatus;
export function pluginStatusAfter(e: PluginEvent, before: PluginStatus): PluginStatus {
  if (before === PluginStatus.Absent) return e.type === "plugin.registered" ? PluginStatus.Pending : before;
  switch (e.type) {
    case "plugin.registered":
      return PluginStatus.Pending;
    case "plugin.capabilities.granted":
      // The first approval activates, even when it grants nothing; later grants move nothing.
      return before === PluginStatus.Pending ? PluginStatus.Active : before;
    case "plugin.disabled":
      return PluginStatus.Disabled;
    case "plugin.enabled":
      return before === PluginStatus.Disabled ? PluginStatus.Active : before;
    case "plugin.removed":
      return PluginStatus.Removed;
    case "plugin.capability.revoked":
    case "plugin.upgraded":
    case "plugin.credentials.issued":
    case "plugin.credentials.revoked":
    case "plugin.network.restricted":
      return before;
    default:
      return assertNever(e, "plugin event");
  }
}
