/** The tasks bounded context: the pure lifecycle, the wire protocol, and the core's runtime. */
export { decide, evolve, fold, initialState, dueTimer, timerCommand, isEnded, backoffBefore, TaskStatus, TERMINAL } from "./decider.js";
export { route, evolveProvider, evolveProviders, subscribedTopics } from "./providers.js";
export { take } from "./limits.js";
export { healthy, record, verdict } from "./health.js";
export { decideWorker, evolveWorkers, initialWorkers } from "./workers.js";
export { TaskHeaders, msgIdOf, Report, ReportStatus, Heartbeat, Control, DeadLetter } from "../contract/wire.js";
export { startTasks, toView, TasksStoreEvent, PluginSubmit } from "./runtime.js";

export type { Task, TaskState, TaskCommand, TaskRejection } from "./decider.js";
export type { Provider, Providers, RouteError } from "./providers.js";
export type { Rate, Bucket } from "./limits.js";
export type { HealthPolicy, HealthState } from "./health.js";
export type { Workers, WorkerCommand } from "./workers.js";
export type { TaskRuntime, TaskView, TasksDeps, TasksOptions, SubmitRequest, LimitsView, Clock } from "./runtime.js";
