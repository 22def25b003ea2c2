import * as t from "io-ts";
import { PipelineDefinition } from "../contract/pipeline.js";

/**
 * Events of pipelines (README, "Pipelines"). A definition lives on `pipelinedef-<name>` (subject
 * `ev.pipelinedef.<name>`); each run on `pipeline-<runId>` (subject `ev.pipeline.<runId>`), which
 * carries the definition it started with, so a later definition never changes a running run.
 * `src/pipelines/decider.ts` decides and folds them. A run reaches exactly one terminal event:
 * `pipeline.completed`, `pipeline.failed` or `pipeline.cancelled`.
 */

/** An operator defined (or changed) a pipeline; it was validated against the installed plugins first. */
export const PipelineDefinedEvent = t.type({
  type: t.literal("pipeline.defined"),
  data: t.type({ name: t.string, version: t.string, definition: PipelineDefinition, at: t.string }),
});

/** A run started with params valid against the definition's params schema. */
export const PipelineStarted = t.type({
  type: t.literal("pipeline.started"),
  data: t.intersection([
    t.type({ runId: t.string, name: t.string, version: t.string, definition: PipelineDefinition, params: t.unknown, at: t.string }),
    // Who started it (`operator:<name>`, `app:<id>`): an application reads only the runs it started.
    t.partial({ startedBy: t.string }),
  ]),
});

/**
 * A step's task is about to be submitted under `taskId`, derived from (runId, stepId, attempt):
 * recorded before the submission, so a core that dies in between submits the same id again and
 * the tasks context answers the task that exists. `compensation`: the step's compensation task.
 */
export const PipelineStepScheduled = t.type({
  type: t.literal("pipeline.step.scheduled"),
  data: t.intersection([
    t.type({ runId: t.string, stepId: t.string, attempt: t.number, taskId: t.string, at: t.string }),
    t.partial({ compensation: t.boolean }),
  ]),
});

/** The step's task completed; `result` is its result (valid against the provider's result schema). */
export const PipelineStepCompleted = t.type({
  type: t.literal("pipeline.step.completed"),
  data: t.intersection([
    t.type({ runId: t.string, stepId: t.string, taskId: t.string, result: t.unknown, at: t.string }),
    t.partial({ compensation: t.boolean }),
  ]),
});

/** The step's task ended without a result (dead-lettered or cancelled), or its params could not be built or were refused. */
export const PipelineStepFailed = t.type({
  type: t.literal("pipeline.step.failed"),
  data: t.intersection([
    t.type({ runId: t.string, stepId: t.string, attempt: t.number, error: t.string, at: t.string }),
    t.partial({ taskId: t.string, compensation: t.boolean }),
  ]),
});

/** The step failed under the `skip` policy: the run goes on without its result. */
export const PipelineStepSkipped = t.type({
  type: t.literal("pipeline.step.skipped"),
  data: t.type({ runId: t.string, stepId: t.string, reason: t.string, at: t.string }),
});

/** Every step completed or was skipped; `result` is the last completed step's result. Terminal. */
export const PipelineCompleted = t.type({
  type: t.literal("pipeline.completed"),
  data: t.intersection([t.type({ runId: t.string, at: t.string }), t.partial({ result: t.unknown })]),
});

/** A step failed under `stop`, exhausted its retries, or was compensated. Terminal. */
export const PipelineFailed = t.type({
  type: t.literal("pipeline.failed"),
  data: t.type({ runId: t.string, stepId: t.string, error: t.string, at: t.string }),
});

/** An operator cancelled the run; its running step's task is cancelled too. Terminal. */
export const PipelineCancelled = t.type({
  type: t.literal("pipeline.cancelled"),
  data: t.intersection([t.type({ runId: t.string, at: t.string }), t.partial({ reason: t.string })]),
});

export const PipelineRunEvent = t.union([
  PipelineStarted,
  PipelineStepScheduled,
  PipelineStepCompleted,
  PipelineStepFailed,
  PipelineStepSkipped,
  PipelineCompleted,
  PipelineFailed,
  PipelineCancelled,
]);
export type PipelineRunEvent = t.TypeOf<typeof PipelineRunEvent>;

/** Every pipeline event: the definitions' and the runs'. Part of `GanglionEvent`. */
export const PipelineEvent = t.union([PipelineDefinedEvent, ...PipelineRunEvent.types]);
export type PipelineEvent = t.TypeOf<typeof PipelineEvent>;

/** Stream categories and names. */
export const PIPELINE_CATEGORY = "pipeline";
export const PIPELINE_DEF_CATEGORY = "pipelinedef";
export const pipelineStreamName = (runId: string) => `${PIPELINE_CATEGORY}-${runId}`;
export const pipelineDefStreamName = (name: string) => `${PIPELINE_DEF_CATEGORY}-${name}`;
