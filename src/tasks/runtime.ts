/** The tasks runtime, cut by job in `./runtime/` (see `./runtime/index.ts`); kept for its importers. */
export { startTasks, toView, TasksStoreEvent, PluginSubmit } from "./runtime/index.js";
export type { TaskRuntime, TaskView, TasksDeps, TasksOptions, SubmitRequest, LimitsView, Clock } from "./runtime/index.js";
