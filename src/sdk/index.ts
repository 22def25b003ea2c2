/**
 * The TypeScript worker SDK (`ganglion/sdk`): the `Worker` and its types. It imports only the
 * contract (`src/contract/`), so loading it loads nothing of the core; the test bus and the mock
 * task environment are in `ganglion/testing`.
 */
export { Worker, TaskFailure, SubmitError, CredentialsRefused, ExitCode } from "./worker.js";
export { SecretError } from "./secrets.js";
export { ArtifactError } from "./artifacts.js";
export type { Artifacts, PutOptions } from "./artifacts.js";

export type { WorkerOptions, TaskContext, TaskInfo, TopicContext, TaskHandler, TopicHandler, Metrics, MetricsSnapshot, WorkerEnd } from "./worker.js";
export type { Secrets, SecretListener } from "./secrets.js";
export type { Live } from "./live.js";
export type { LiveConfig, ConfigListener } from "./config.js";
