import * as t from "io-ts";
import { PluginEvent } from "../events/plugin.js";
import { TaskEvent } from "../events/task.js";
import { pluginStatusAfter } from "../plugins/status.js";
import type { PluginStatus } from "../plugins/status.js";
import { taskStatusAfter } from "../tasks/status.js";
import type { TaskStatus } from "../tasks/status.js";
import { codecsByType, kvKey } from "./view.js";
import type { Decoded, View } from "./view.js";
import { TotalsRow } from "../contract/responses.js";

/** The row codecs are the contract's (`src/contract/responses.ts`): one definition for the view, the service and its clients. */
export { TotalsRow };

/** Rows `tasks` and `plugins` of the `totals` bucket: how many are in each status. */

export const TOTALS_TASKS = "tasks";
export const TOTALS_PLUGINS = "plugins";

type Ev = PluginEvent | TaskEvent;

const taskCodecs = codecsByType(TaskEvent.types as readonly t.Mixed[]);
const pluginCodecs = codecsByType(PluginEvent.types as readonly t.Mixed[]);
const TASK_TYPES: ReadonlySet<string> = new Set(Object.keys(taskCodecs));

/** Which of the two families this view folds an event is of (`events` admits no other). */
const isTaskEvent = (e: Ev): e is TaskEvent => TASK_TYPES.has(e.type);

/**
 * The status of a task or plugin after an event, given the one before (undefined: no status
 * yet), by the aggregate's one table (`src/tasks/status.ts`, `src/plugins/status.ts`). Undefined
 * when the event leaves the status as it was (or leaves the aggregate absent).
 */
export const statusAfter = (e: Ev, before: string | undefined): string | undefined => {
  // Index values are the table's statuses: this view wrote them.
  const after = isTaskEvent(e) ? taskStatusAfter(e, (before ?? "absent") as TaskStatus) : pluginStatusAfter(e, (before ?? "absent") as PluginStatus);
  return after === "absent" || after === before ? undefined : after;
};

/** The event that closes a task for good (its index entry is deleted). */
const closes = (e: Ev): boolean => e.type === "task.completed" || e.type === "task.cancelled";

const subjectOf = (e: Decoded<Ev>): string => (isTaskEvent(e) ? kvKey("task", e.data.taskId) : kvKey("plugin", e.data.pluginId));

/**
 * Counts by status. Each open (or dead-lettered) task's and each plugin's current status is kept
 * in the index (`_idx.task.<id>`, `_idx.plugin.<id>`, internal entries) so a transition moves
 * exactly one unit from the old status to the new one. Retention of the `tasks` view does not
 * apply here: the counts cover every task in the log.
 */
export const totalsView: View<TotalsRow, Ev> = {
  name: "totals",
  row: TotalsRow,
  events: { ...taskCodecs, ...pluginCodecs },
  // A completed or cancelled task moves no more (only a dead-lettered one is resubmitted):
  // its entry goes, so the index holds open and dead-lettered tasks, not every task ever.
  index: { key: subjectOf, next: (e, before) => (closes(e) ? null : statusAfter(e, before)) },
  keys: (e, before) => {
    if (statusAfter(e, before) === undefined) return [];
    return [isTaskEvent(e) ? TOTALS_TASKS : TOTALS_PLUGINS];
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
