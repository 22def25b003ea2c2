/** The TypeScript worker SDK (`ganglion/sdk`) and the test harness for plugin authors. */
export { Worker, TaskFailure, SubmitError } from "./worker.js";
export { createTestBus } from "./testBus.js";

export type { WorkerOptions, TaskContext, TaskInfo, TopicContext, TaskHandler, TopicHandler, Metrics, MetricsSnapshot } from "./worker.js";
export type { TestBus, TestBusOptions } from "./testBus.js";
