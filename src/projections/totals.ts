import * as t from "io-ts";
import { PluginEvent } from "../events/plugin.js";
import { TaskEvent } from "../events/task.js";
import { codecsByType, kvKey } from "./view.js";
import type { View } from "./view.js";

/** Rows `tasks` and `plugins` of the `totals` bucket: how many are in each status. */
export const TotalsRow = t.type({ byStatus: t.record(t.string, t.number), total: t.number });
export type TotalsRow = t.TypeOf<typeof TotalsRow>;

export const TOTALS_TASKS = "tasks";
export const TOTALS_PLUGINS = "plugins";

type Ev = PluginEvent | TaskEvent;

/** The status of a task or plugin after an event, given the one before (undefined: unchanged). */
export const statusAfter = (e: Ev, before: string | undefined): string | undefined => {
  switch (e.type) {
    case "task.submitted":
    case "task.dispatched":
    case "task.resubmitted":
      return "scheduled";
    case "task.started":
      return "running";
    case "task.retry_scheduled":
      return "retry_wait";
    case "task.completed":
      return "completed";
    case "task.cancelled":
      return "cancelled";
    case "task.dead_lettered":
      return "dead_lettered";
    case "plugin.registered":
      return "pending";
    case "plugin.capabilities.granted":
      return before === "pending" ? "active" : undefined;
    case "plugin.disabled":
      return "disabled";
    case "plugin.enabled":
      return before === "disabled" ? "active" : undefined;
    case "plugin.removed":
      return "removed";
    default:
      return undefined;
  }
};

const subjectOf = (e: Ev): string | undefined =>
  e.type.startsWith("task.") ? kvKey("task", (e as TaskEvent).data.taskId) : e.type.startsWith("plugin.") ? kvKey("plugin", (e as PluginEvent).data.pluginId) : undefined;

/**
 * Counts by status. Each task's and plugin's current status is kept in the index (`_idx.task.<id>`,
 * `_idx.plugin.<id>`) so a transition moves exactly one unit from the old status to the new one.
 */
export const totalsView: View<TotalsRow, Ev> = {
  name: "totals",
  row: TotalsRow,
  events: codecsByType([...(TaskEvent.types as readonly t.Mixed[]), ...(PluginEvent.types as readonly t.Mixed[])]),
  index: { key: subjectOf, next: statusAfter },
  keys: (e, before) => {
    const after = statusAfter(e, before);
    if (after === undefined || after === before) return [];
    return [e.type.startsWith("task.") ? TOTALS_TASKS : TOTALS_PLUGINS];
  },
  evolve: (_key, row, e, before) => {
    const after = statusAfter(e, before)!;
    const by = { ...(row?.byStatus ?? {}) };
    if (before !== undefined) {
      by[before] = (by[before] ?? 1) - 1;
      if (by[before] === 0) delete by[before];
    }
    by[after] = (by[after] ?? 0) + 1;
    const byStatus = Object.fromEntries(Object.entries(by).sort(([a], [b]) => (a < b ? -1 : 1)));
    return { byStatus, total: Object.values(byStatus).reduce((a, b) => a + b, 0) };
  },
};
