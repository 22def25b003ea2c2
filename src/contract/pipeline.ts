import * as t from "io-ts";
import { closed, withDefault } from "./decodeErrors.js";
import { jsonSchemaCodec, PluginId, Semver, TaskType } from "./manifest.js";

/**
 * Pipelines (README, "Pipelines"; subjects.md, "Pipelines"): a definition as data (YAML or JSON),
 * the one codec of it, and the wire of the `pipeline.*` endpoints. Pure: no I/O.
 *
 * A pipeline runs its steps in order. Each step is one ordinary task of a task type some plugin
 * provides; its params are built by the step's `params` mapping from the run's params and the
 * results of earlier steps, addressed by JSON Pointer (RFC 6901) into the document
 * `{ params, steps: { <stepId>: { result } } }`.
 */

const matching = (name: string, re: RegExp, hint: string) =>
  new t.Type<string, string, unknown>(
    name,
    (u): u is string => typeof u === "string" && re.test(u),
    (u, c) => (typeof u === "string" && re.test(u) ? t.success(u) : t.failure(u, c, `expected ${hint}, got ${JSON.stringify(u)?.slice(0, 80)}`)),
    (a) => a,
  );

/** A pipeline's name: a stream id (`pipelinedef-<name>`) and a CLI argument. */
export const PIPELINE_NAME = /^[a-z][a-z0-9-]{0,63}$/;
export const PipelineName = matching("PipelineName", PIPELINE_NAME, "a pipeline name: lower-case letters, digits and '-', starting with a letter, at most 64");
/** A step's id: unique in its pipeline, a JSON Pointer token without escapes. */
export const STEP_ID = /^[a-z][a-z0-9_-]{0,31}$/;
export const StepId = matching("StepId", STEP_ID, "a step id: lower-case letters, digits, '_' and '-', starting with a letter, at most 32");
/** A run id (`pipeline-<runId>`). */
export const RUN_ID = /^[A-Za-z0-9]{1,64}$/;
export const RunId = matching("RunId", RUN_ID, "a run id: letters and digits, at most 64");
/** A JSON Pointer into `{ params, steps: { <id>: { result } } }`: starts at `/params` or `/steps/<id>/result`. */
export const POINTER = /^\/(params|steps\/[a-z][a-z0-9_-]{0,31}\/result)(\/[^/]*)*$/;
export const Pointer = matching("Pointer", POINTER, 'a JSON Pointer starting "/params" or "/steps/<step id>/result" (RFC 6901, at most 512 characters)');
const BoundedPointer = t.refinement(Pointer, (s) => s.length <= 512, "Pointer");

/** Where one param comes from: a JSON Pointer (`from`), or a constant (`value`). */
export const ParamSource = t.union([closed("from", { from: BoundedPointer }, {}), closed("value", { value: t.unknown }, {})]);
export type ParamSource = t.TypeOf<typeof ParamSource>;

/** Top-level params of a step's task: name → source. Names are the task params schema's properties. */
export const ParamsMapping = t.record(t.string, ParamSource);
export type ParamsMapping = t.TypeOf<typeof ParamsMapping>;

const RetryCount = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1 && n <= 10, "an integer in 1..10");

/** A compensation: a task run when its step failed for good; the run then fails. */
export const Compensation = closed("compensate", { type: TaskType, params: withDefault(ParamsMapping, {}) }, { pluginId: PluginId });
export type Compensation = t.TypeOf<typeof Compensation>;

/**
 * What a step's failure (its task dead-lettered or cancelled) does to the run: `stop` (the run
 * fails; the default), `skip` (the step is skipped, its result absent, the run goes on),
 * `{ retry: N }` (up to N more tasks, each a new attempt, then stop), `{ compensate: {...} }`
 * (a compensation task runs, then the run fails).
 */
export const FailurePolicy = t.union([
  t.literal("stop"),
  t.literal("skip"),
  closed("retry", { retry: RetryCount }, {}),
  closed("compensate", { compensate: Compensation }, {}),
]);
export type FailurePolicy = t.TypeOf<typeof FailurePolicy>;

export const PipelineStep = closed(
  "steps[]",
  { id: StepId, type: TaskType, params: withDefault(ParamsMapping, {}), onFailure: withDefault(FailurePolicy, "stop" as FailurePolicy) },
  { pluginId: PluginId, description: t.string },
);
export type PipelineStep = t.TypeOf<typeof PipelineStep>;

/** Most steps a pipeline may have. */
export const MAX_STEPS = 64;
const StepArray = t.array(PipelineStep);
/** 1..MAX_STEPS steps; errors keep the array's paths (`steps[1].params`). */
const Steps = new t.Type<PipelineStep[], unknown, unknown>(
  "Steps",
  (u): u is PipelineStep[] => StepArray.is(u) && u.length >= 1 && u.length <= MAX_STEPS,
  (u, c) => {
    if (Array.isArray(u) && (u.length < 1 || u.length > MAX_STEPS)) return t.failure(u, c, `expected 1 to ${MAX_STEPS} steps, got ${u.length}`);
    return StepArray.validate(u, t.appendContext(c, "", StepArray, u));
  },
  (a) => StepArray.encode(a),
);

/** A pipeline definition, as written (YAML or JSON) and as recorded on `pipeline.defined`. */
export const PipelineDefinition = closed(
  "pipeline",
  { name: PipelineName, version: Semver, params: jsonSchemaCodec(), steps: Steps },
  { description: t.string },
);
export type PipelineDefinition = t.TypeOf<typeof PipelineDefinition>;

/** The task id of one step's attempt (or its compensation): derived, so a restart submits it under the same id. */
export type StepAttempt = number | "compensate";

// ---- JSON Pointer (RFC 6901) ------------------------------------------------------------------

/** The reference tokens of a pointer (`~1` → `/`, `~0` → `~`). */
export const pointerTokens = (p: string): string[] =>
  p === ""
    ? []
    : p
        .slice(1)
        .split("/")
        .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));

/**
 * The value at a pointer, or `{ found: false }`. Only own properties are followed (never
 * `__proto__` or a prototype's), array indexes are decimal without leading zeros.
 */
export const resolvePointer = (doc: unknown, p: string): { found: true; value: unknown } | { found: false } => {
  let cur = doc;
  for (const tok of pointerTokens(p)) {
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(tok) || Number(tok) >= cur.length) return { found: false };
      cur = cur[Number(tok)];
    } else if (cur !== null && typeof cur === "object" && Object.hasOwn(cur, tok)) {
      cur = (cur as Record<string, unknown>)[tok];
    } else return { found: false };
  }
  return { found: true, value: cur };
};

// ---- the wire of `pipeline.*` ------------------------------------------------------------------

export const RunStatus = t.keyof({ running: null, completed: null, failed: null, cancelled: null });
export type RunStatus = t.TypeOf<typeof RunStatus>;
export const StepStatus = t.keyof({ pending: null, running: null, completed: null, failed: null, skipped: null, compensating: null, compensated: null });
export type StepStatus = t.TypeOf<typeof StepStatus>;

/** `pipeline.define`: a definition as an object, or its YAML/JSON text. */
export const DefineRequest = t.union([t.type({ definition: t.UnknownRecord }), t.type({ definitionText: t.string })]);
export const PipelineDefined = t.type({ name: t.string, version: t.string, changed: t.boolean });
export type PipelineDefined = t.TypeOf<typeof PipelineDefined>;

export const RunRequest = t.intersection([t.type({ name: PipelineName, params: t.unknown }), t.partial({ waitMs: t.number })]);
export const RunIdRequest = t.intersection([t.type({ runId: RunId }), t.partial({ waitMs: t.number })]);
export const RunsRequest = t.partial({ name: PipelineName, status: RunStatus, limit: t.number });

export const StepView = t.intersection([
  t.type({ id: t.string, type: t.string, status: StepStatus, attempt: t.number }),
  t.partial({ taskId: t.string, result: t.unknown, error: t.string, compensationTaskId: t.string, endedAt: t.string }),
]);
export type StepView = t.TypeOf<typeof StepView>;

/** A run as `pipeline.get` and the `pipelines` view show it. */
export const RunView = t.intersection([
  t.type({ runId: t.string, name: t.string, version: t.string, status: RunStatus, params: t.unknown, steps: t.array(StepView), startedAt: t.string }),
  t.partial({ result: t.unknown, error: t.string, endedAt: t.string, startedBy: t.string }),
]);
export type RunView = t.TypeOf<typeof RunView>;

export const DefinitionRow = t.type({ name: t.string, version: t.string, steps: t.array(t.string), definedAt: t.string });
export type DefinitionRow = t.TypeOf<typeof DefinitionRow>;
