import { createHash } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Decider } from "../es/decider.js";
import { resolvePointer } from "../contract/pipeline.js";
import type { PipelineDefinition, PipelineStep, RunView, StepAttempt, StepView } from "../contract/pipeline.js";
import type { PipelineRunEvent } from "../events/pipeline.js";
import { assertNever } from "../events/exhaustive.js";

/**
 * The pure core of a pipeline run (stream `pipeline-<runId>`). The run's row (`RunView`, what
 * `pipeline.get` and the `pipelines` view show) is folded by `evolveRow`, shared by the decider
 * and the view; the decider keeps the definition the run started with beside it.
 *
 * Steps run one at a time, in order. A step's task ending is told to the decider
 * (`task_ended`), which records the step's outcome and what follows from the step's failure
 * policy in the same commit (`pipeline.step.skipped`, `pipeline.failed`, `pipeline.completed`);
 * what to do next is `nextAction`, a function of the state alone, so a restarted core resumes
 * from the log and nothing else.
 */

export type Run = { readonly row: RunView; readonly definition: PipelineDefinition } | null;

export type RunCommand =
  | { type: "start"; runId: string; definition: PipelineDefinition; params: unknown; at: string; startedBy?: string }
  | { type: "schedule"; stepId: string; attempt: StepAttempt; taskId: string; at: string }
  | { type: "task_ended"; stepId: string; taskId: string; outcome: { ok: true; result: unknown } | { ok: false; error: string }; at: string }
  | { type: "cancel"; reason: string; at: string };

export type RunRejection =
  | { _tag: "AlreadyExists"; message: string }
  | { _tag: "NotFound"; message: string }
  | { _tag: "AlreadyEnded"; message: string }
  | { _tag: "NotApplicable"; message: string };

/** The task id of a step's attempt (or its compensation): the same inputs, the same id, across restarts. */
export const stepTaskId = (runId: string, stepId: string, attempt: StepAttempt): string =>
  `pl-${createHash("sha256").update(`${runId}\0${stepId}\0${attempt}`, "utf8").digest("hex").slice(0, 40)}`;

const ENDED_STEP: readonly string[] = ["completed", "skipped", "compensated"];

const setStep = (row: RunView, stepId: string, f: (s: StepView) => StepView): RunView => ({
  ...row,
  steps: row.steps.map((s) => (s.id === stepId ? f(s) : s)),
});

/** Folds one run event into its row (`null`: no run yet). Total; shared with the `pipelines` view. */
export const evolveRow = (row: RunView | null, e: PipelineRunEvent): RunView | null => {
  const d = e.data;
  if (e.type === "pipeline.started") {
    return {
      runId: e.data.runId,
      name: e.data.name,
      version: e.data.version,
      status: "running",
      params: e.data.params,
      steps: e.data.definition.steps.map((s) => ({ id: s.id, type: s.type, status: "pending", attempt: 0 })),
      startedAt: e.data.at,
      ...(e.data.startedBy ? { startedBy: e.data.startedBy } : {}),
    };
  }
  if (!row) return row;
  switch (e.type) {
    case "pipeline.step.scheduled":
      return setStep(row, e.data.stepId, (s) =>
        e.data.compensation
          ? { ...s, status: "compensating", compensationTaskId: e.data.taskId }
          : { ...s, status: "running", attempt: e.data.attempt, taskId: e.data.taskId },
      );
    case "pipeline.step.completed":
      return setStep(row, e.data.stepId, (s) =>
        e.data.compensation ? { ...s, status: "compensated", endedAt: e.data.at } : { ...s, status: "completed", result: e.data.result, endedAt: e.data.at },
      );
    case "pipeline.step.failed":
      return setStep(row, e.data.stepId, (s) =>
        e.data.compensation
          ? { ...s, status: "compensated", error: `${s.error ?? ""}; compensation failed: ${e.data.error}`, endedAt: e.data.at }
          : { ...s, status: "failed", error: e.data.error, endedAt: e.data.at },
      );
    case "pipeline.step.skipped":
      return setStep(row, e.data.stepId, (s) => ({ ...s, status: "skipped", endedAt: e.data.at }));
    case "pipeline.completed":
      return { ...row, status: "completed", endedAt: e.data.at, ...("result" in e.data ? { result: e.data.result } : {}) };
    case "pipeline.failed":
      return { ...row, status: "failed", error: `${e.data.stepId}: ${e.data.error}`, endedAt: e.data.at };
    case "pipeline.cancelled":
      return { ...row, status: "cancelled", endedAt: e.data.at, ...(e.data.reason ? { error: e.data.reason } : {}) };
    default:
      return assertNever(e as never, `pipeline event ${JSON.stringify(d)}`);
  }
};

/** What the engine does next for a run. */
export type NextAction =
  | { type: "none" }
  | { type: "schedule"; step: PipelineStep; attempt: StepAttempt }
  | { type: "await"; step: PipelineStep; taskId: string; attempt: StepAttempt };

/** The first step not ended decides: pending → schedule; running or compensating → await its task; failed with retries left → the next attempt. */
export const nextAction = (run: Run): NextAction => {
  if (!run || run.row.status !== "running") return { type: "none" };
  const i = run.row.steps.findIndex((s) => !ENDED_STEP.includes(s.status));
  if (i < 0) return { type: "none" };
  const s = run.row.steps[i]!;
  const step = run.definition.steps[i]!;
  switch (s.status) {
    case "pending":
      return { type: "schedule", step, attempt: 1 };
    case "running":
      return { type: "await", step, taskId: s.taskId!, attempt: s.attempt };
    case "compensating":
      return { type: "await", step, taskId: s.compensationTaskId!, attempt: "compensate" };
    case "failed":
      if (typeof step.onFailure === "object" && "retry" in step.onFailure) return { type: "schedule", step, attempt: s.attempt + 1 };
      if (typeof step.onFailure === "object" && "compensate" in step.onFailure) return { type: "schedule", step, attempt: "compensate" };
      return { type: "none" };
    default:
      return { type: "none" };
  }
};

/** The document pointers resolve in: the run's params and the results of the steps that completed. */
export const mappingDoc = (row: RunView) => ({
  params: row.params,
  steps: Object.fromEntries(row.steps.filter((s) => s.status === "completed").map((s) => [s.id, { result: s.result }])),
});

/** A step's (or compensation's) task params from its mapping; a pointer that finds nothing leaves the param out. */
export const buildParams = (mapping: PipelineStep["params"], row: RunView): Record<string, unknown> => {
  const doc = mappingDoc(row);
  const out: Record<string, unknown> = {};
  for (const [k, src] of Object.entries(mapping)) {
    const v = "from" in src ? resolvePointer(doc, src.from) : { found: true as const, value: src.value };
    if (v.found) Object.defineProperty(out, k, { value: v.value, enumerable: true, writable: true, configurable: true });
  }
  return out;
};

const ev = <T extends PipelineRunEvent["type"]>(type: T, data: Extract<PipelineRunEvent, { type: T }>["data"]) => ({ type, data }) as PipelineRunEvent;

const decide = (cmd: RunCommand, run: Run): E.Either<RunRejection, PipelineRunEvent[]> => {
  if (cmd.type === "start") {
    if (run) return E.left({ _tag: "AlreadyExists", message: `run ${cmd.runId} exists` });
    const d = cmd.definition;
    return E.right([
      ev("pipeline.started", {
        runId: cmd.runId,
        name: d.name,
        version: d.version,
        definition: d,
        params: cmd.params,
        at: cmd.at,
        ...(cmd.startedBy ? { startedBy: cmd.startedBy } : {}),
      }),
    ]);
  }
  if (!run) return E.left({ _tag: "NotFound", message: "no such run" });
  const runId = run.row.runId;
  if (run.row.status !== "running") return E.left({ _tag: "AlreadyEnded", message: `run ${runId} is ${run.row.status}` });
  switch (cmd.type) {
    case "cancel":
      return E.right([ev("pipeline.cancelled", { runId, reason: cmd.reason, at: cmd.at })]);
    case "schedule": {
      const next = nextAction(run);
      // Already scheduled (a replica or an earlier try did it): nothing to record.
      if (next.type !== "schedule" || next.step.id !== cmd.stepId || next.attempt !== cmd.attempt) return E.right([]);
      const compensation = cmd.attempt === "compensate";
      return E.right([
        ev("pipeline.step.scheduled", {
          runId,
          stepId: cmd.stepId,
          attempt: compensation ? run.row.steps.find((s) => s.id === cmd.stepId)!.attempt : (cmd.attempt as number),
          taskId: cmd.taskId,
          at: cmd.at,
          ...(compensation ? { compensation: true } : {}),
        }),
      ]);
    }
    case "task_ended": {
      const next = nextAction(run);
      // A stale report (an earlier attempt, or recorded already): nothing to record.
      if (next.type !== "await" || next.step.id !== cmd.stepId || next.taskId !== cmd.taskId) return E.right([]);
      const { step, attempt } = next;
      const compensation = attempt === "compensate";
      const row = run.row.steps.find((s) => s.id === step.id)!;
      const out: PipelineRunEvent[] = [];
      if (cmd.outcome.ok) {
        out.push(
          ev("pipeline.step.completed", {
            runId,
            stepId: step.id,
            taskId: cmd.taskId,
            result: cmd.outcome.result,
            at: cmd.at,
            ...(compensation ? { compensation: true } : {}),
          }),
        );
      } else {
        out.push(
          ev("pipeline.step.failed", {
            runId,
            stepId: step.id,
            attempt: row.attempt,
            error: cmd.outcome.error,
            taskId: cmd.taskId,
            at: cmd.at,
            ...(compensation ? { compensation: true } : {}),
          }),
        );
      }
      if (compensation) {
        out.push(ev("pipeline.failed", { runId, stepId: step.id, error: `${row.error ?? "failed"} (compensated)`, at: cmd.at }));
        return E.right(out);
      }
      if (!cmd.outcome.ok) {
        const p = step.onFailure;
        if (p === "skip") out.push(ev("pipeline.step.skipped", { runId, stepId: step.id, reason: cmd.outcome.error, at: cmd.at }));
        else if (typeof p === "object" && "retry" in p && row.attempt <= p.retry) return E.right(out);
        else if (typeof p === "object" && "compensate" in p) return E.right(out);
        else {
          const why = typeof p === "object" && "retry" in p ? `${cmd.outcome.error} (after ${row.attempt} attempts)` : cmd.outcome.error;
          out.push(ev("pipeline.failed", { runId, stepId: step.id, error: why, at: cmd.at }));
          return E.right(out);
        }
      }
      const after = out.reduce<RunView | null>(evolveRow, run.row)!;
      if (after.steps.every((s) => ENDED_STEP.includes(s.status))) {
        const last = [...after.steps].reverse().find((s) => s.status === "completed");
        out.push(ev("pipeline.completed", { runId, at: cmd.at, ...(last ? { result: last.result } : {}) }));
      }
      return E.right(out);
    }
    default:
      return assertNever(cmd, "run command");
  }
};

const evolve = (run: Run, e: PipelineRunEvent): Run => {
  const row = evolveRow(run?.row ?? null, e);
  if (!row) return run;
  return { row, definition: e.type === "pipeline.started" ? e.data.definition : run!.definition };
};

export const runDecider: Decider<Run, RunCommand, PipelineRunEvent, RunRejection> = { decide, evolve, initialState: () => null };
