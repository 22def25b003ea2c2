/**
 * `ganglion/testing`: what a plugin author tests a worker with. `createTestBus()` runs a real
 * nats-server and the real core in a temp dir; `MockTaskEnvironment` runs one handler with no bus
 * at all (after Temporal's `MockActivityEnvironment`).
 */
export { createTestBus } from "./testBus.js";
export { MockTaskEnvironment } from "./mockTask.js";

export type { TestBus, TestBusOptions } from "./testBus.js";
export type { MockTaskRecord } from "./mockTask.js";
