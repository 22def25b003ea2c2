import { capabilitiesView } from "./capabilities.js";
import { pluginsView } from "./plugins.js";
import { tasksView } from "./tasks.js";
import { totalsView } from "./totals.js";
import type { AnyView } from "./view.js";
import { workersView } from "./workers.js";
import { pipelinesView } from "./pipelines.js";

/** The built-in views by name; `projections/<name>.json` says where and from what each runs. */
export const allViews: Readonly<Record<string, AnyView>> = {
  plugins: pluginsView,
  capabilities: capabilitiesView,
  workers: workersView,
  tasks: tasksView,
  totals: totalsView,
  // Pipelines
  pipelines: pipelinesView,
};
