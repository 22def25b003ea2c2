import * as t from "io-ts";
import { AppEvent } from "./app.js";
import { PluginEvent } from "./plugin.js";
import { TaskEvent, TaskLimitsEvent } from "./task.js";
import { WorkerEvent } from "./worker.js";
import { SecretEvent } from "./secret.js";
import { ConfigEvent } from "./config.js";
import { RunnerEvent } from "./runner.js";
import { PipelineEvent } from "./pipeline.js";
import { ArtifactEvent } from "./artifact.js";

/**
 * Every event Ganglion appends, one union of the families declared in this folder (one family
 * per stream category: `plugin`, `task`, `tasklimits`, `worker`, `secret`, `config`, `runner`, `app`, `pipeline`, `pipelinedef`, `artifact`).
 */
export const GanglionEvent = t.union([
  PluginEvent,
  TaskEvent,
  TaskLimitsEvent,
  WorkerEvent,
  SecretEvent,
  ConfigEvent,
  RunnerEvent,
  AppEvent,
  // Pipelines (src/pipelines/)
  PipelineEvent,
  // Artifacts (src/artifacts/)
  ArtifactEvent,
]);
export type GanglionEvent = t.TypeOf<typeof GanglionEvent>;

export { PluginEvent, TaskEvent, TaskLimitsEvent, WorkerEvent, SecretEvent, ConfigEvent, RunnerEvent, AppEvent, ArtifactEvent };
export { ARTIFACT_CATEGORY, artifactStreamName } from "./artifact.js";
export { APP_CATEGORY, appStreamName } from "./app.js";
export { EventMetadata, StoredEvent, Commit } from "./envelope.js";
export { assertNever } from "./exhaustive.js";
export { PLUGIN_CATEGORY, pluginStreamName } from "./plugin.js";
export { LIMITS_CATEGORY, limitsStreamName, TASK_CATEGORY, TaskLimitsOverridden, taskStreamName } from "./task.js";
export { WORKER_CATEGORY, workerStreamName } from "./worker.js";
export { SECRET_CATEGORY, secretStreamName } from "./secret.js";
export { CONFIG_CATEGORY, configStreamName } from "./config.js";
export { RUNNER_CATEGORY, runnerStreamName } from "./runner.js";
// Pipelines
export { PipelineEvent };
export { PIPELINE_CATEGORY, PIPELINE_DEF_CATEGORY, pipelineStreamName, pipelineDefStreamName } from "./pipeline.js";
