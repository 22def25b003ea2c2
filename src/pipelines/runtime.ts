import { nuid } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ValidateFunction } from "ajv";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Logger } from "pino";
import type { PipelineDefinition, RunView, StepAttempt } from "../contract/pipeline.js";
import type { ServiceError } from "../contract/errors.js";
import { commandHandler } from "../es/handleCommand.js";
import type { Decider } from "../es/decider.js";
import { PipelineEvent, PIPELINE_CATEGORY, PIPELINE_DEF_CATEGORY, pipelineDefStreamName, pipelineStreamName } from "../events/pipeline.js";
import type { PipelineRunEvent } from "../events/pipeline.js";
import { PluginEvent, PLUGIN_CATEGORY } from "../events/plugin.js";
import { createAjv } from "../plugins/schemas.js";
import { schemaErrors } from "../tasks/runtime/schemas.js";
import { natsEventStore } from "../store/eventStore.js";
import { StoreUnavailableError } from "../store/types.js";
import { evolveProviders } from "../tasks/providers.js";
import type { Providers } from "../tasks/providers.js";
import type { TaskRuntime } from "../tasks/runtime.js";
import { buildParams, evolveRow, nextAction, runDecider, stepTaskId } from "./decider.js";
import type { Run } from "./decider.js";
import { validateDefinition } from "./validate.js";

/** What the pipelines context reads from the log: its own events and the plugins' (providers). */
export const PipelinesStoreEvent = t.union([PipelineEvent, PluginEvent]);
export type PipelinesStoreEvent = t.TypeOf<typeof PipelinesStoreEvent>;

export type PipelinesDeps = {
  readonly nc: NatsConnection;
  readonly log: Logger;
  /** The tasks runtime: every step is one of its tasks, submitted under a derived id. */
  readonly tasks: TaskRuntime;
  /** How long one wait on a step's task lasts before the engine looks again (default 10 s). */
  readonly pollMs?: number;
};

type Defined = { readonly definition: PipelineDefinition; readonly definedAt: string };
type DefCommand = { type: "define"; definition: PipelineDefinition; at: string };
type DefEvent = Extract<PipelineEvent, { type: "pipeline.defined" }>;

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === "object" && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : val,
  );

const defDecider: Decider<Defined | null, DefCommand, DefEvent, never> = {
  initialState: () => null,
  evolve: (_s, e) => ({ definition: e.data.definition, definedAt: e.data.at }),
  decide: (cmd, s) =>
    E.right(
      s && canonical(s.definition) === canonical(cmd.definition)
        ? []
        : [{ type: "pipeline.defined", data: { name: cmd.definition.name, version: cmd.definition.version, definition: cmd.definition, at: cmd.at } }],
    ),
};

const ENDED_TASK = ["completed", "cancelled", "dead_lettered"];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The pipelines context of the core (README, "Pipelines"): definitions (validated against the
 * installed plugins, recorded on `pipelinedef-<name>`) and runs (`pipeline-<runId>`), each driven
 * by an engine loop that schedules a step (recorded first), submits its task under the id derived
 * from (runId, stepId, attempt), waits for the task to end and records the outcome. On start it
 * folds the log and resumes every run still running: a step recorded as scheduled is submitted
 * again under the same id, which the tasks context answers with the task that exists, so a step
 * runs exactly once however often the core restarts. Several replicas may drive the same run: each
 * decision appends with the run's revision, and a lost race changes nothing.
 */
export const startPipelines = async (deps: PipelinesDeps) => {
  const log = deps.log.child({ component: "pipelines" });
  const pollMs = deps.pollMs ?? 10_000;
  const store = natsEventStore(deps.nc, {
    codec: PipelinesStoreEvent,
    defaultActor: "system:pipelines",
    onSkipped: (s) => log.warn({ skipped: s }, "undecodable event skipped"),
  });
  const runStore = store as unknown as Parameters<typeof commandHandler<Run, never, PipelineRunEvent, never>>[0];
  const runs = commandHandler(runStore, runDecider, { streamName: pipelineStreamName });
  const defs = commandHandler(store as never, defDecider, { streamName: pipelineDefStreamName });
  let providers: Providers = new Map();
  const definitions = new Map<string, Defined>();
  // Each run's row and the revision of its stream it reflects: the fold and the engine both move
  // it forwards, never back (an event at or below the revision is already in the row).
  const rows = new Map<string, { row: RunView; revision: bigint }>();
  const advance = (runId: string, row: RunView | undefined | null, revision: bigint) => {
    const cur = rows.get(runId);
    if (row && (!cur || revision > cur.revision)) rows.set(runId, { row, revision });
  };
  const drivers = new Map<string, Promise<void>>();
  let stopped = false;

  // Folds of plugins, definitions and runs (one subscription per category: the store filters
  // several categories after decoding, and would log every other event as undecodable); caught up
  // before the context answers or resumes.
  const subs = [PLUGIN_CATEGORY, PIPELINE_DEF_CATEGORY, PIPELINE_CATEGORY].map((c) => store.subscribeToAll({ filter: { categories: [c] } }));
  const loops = subs.map((sub) =>
    (async () => {
      for await (const e of sub) {
        if (e.type.startsWith("plugin.")) providers = evolveProviders(providers, e as PluginEvent);
        else if (e.type === "pipeline.defined") {
          const d = e as DefEvent;
          definitions.set(d.data.name, { definition: d.data.definition, definedAt: d.data.at });
        } else {
          const re = e as PipelineRunEvent;
          const cur = rows.get(re.data.runId);
          if (!cur || e.revision > cur.revision) advance(re.data.runId, evolveRow(cur?.row ?? null, re), e.revision);
        }
      }
    })().catch((err) => (stopped ? undefined : log.error({ err }, "a pipelines fold ended"))),
  );
  await Promise.all(subs.map((s) => s.caughtUp));

  const meta = (runId: string) => ({ actor: `pipeline:${runId}`, time: new Date() });
  const nowIso = () => new Date().toISOString();

  /** Records a decision; a rejection means another driver decided first (the next look sees it). */
  const execute = async (runId: string, cmd: Parameters<typeof runDecider.decide>[0]) => {
    const r = await runs.handle(runId, cmd, meta(runId));
    if (E.isRight(r)) advance(runId, r.right.state?.row, r.right.revision);
    return r;
  };

  /** Submits a step's task (again: the derived id makes a repeat answer the task that exists). */
  const submitStep = async (run: NonNullable<Run>, stepId: string, attempt: StepAttempt, taskId: string): Promise<E.Either<ServiceError, void>> => {
    const step = run.definition.steps.find((s) => s.id === stepId)!;
    const spec = attempt === "compensate" && typeof step.onFailure === "object" && "compensate" in step.onFailure ? step.onFailure.compensate : step;
    for (;;) {
      const r = await deps.tasks.submit(
        { taskType: spec.type, params: buildParams(spec.params, run.row), taskId, ...(spec.pluginId ? { pluginId: spec.pluginId } : {}) },
        { actor: `pipeline:${run.row.runId}`, correlationId: run.row.runId },
      );
      if (E.isRight(r)) return E.right(undefined);
      if ((r.left.code === "RateLimited" || r.left.code === "Unavailable") && !stopped) {
        await sleep(Math.min(5_000, r.left.retryAfterMs ?? 500));
        continue;
      }
      return E.left(r.left);
    }
  };

  /** Drives one run until it ends (or the context stops). */
  const drive = async (runId: string) => {
    while (!stopped) {
      const { state: run, revision } = await runs.load(runId);
      if (revision !== "no_stream") advance(runId, run?.row, revision);
      const next = nextAction(run);
      if (!run || next.type === "none") return;
      if (next.type === "schedule") {
        const taskId = stepTaskId(runId, next.step.id, next.attempt);
        await execute(runId, { type: "schedule", stepId: next.step.id, attempt: next.attempt, taskId, at: nowIso() });
        continue;
      }
      // Await: make sure the task exists (a core killed between the record and the submission), then wait for its end.
      const { taskId } = next;
      const submitted = await submitStep(run, next.step.id, next.attempt, taskId);
      if (E.isLeft(submitted)) {
        await execute(runId, {
          type: "task_ended",
          stepId: next.step.id,
          taskId,
          outcome: { ok: false, error: `${submitted.left.code}: ${submitted.left.message}` },
          at: nowIso(),
        });
        continue;
      }
      const v = await deps.tasks.get(taskId, pollMs);
      if (E.isLeft(v) || !ENDED_TASK.includes(v.right.status)) continue;
      const task = v.right;
      const outcome =
        task.status === "completed"
          ? { ok: true as const, result: task.result }
          : {
              ok: false as const,
              error:
                task.status === "cancelled"
                  ? `task ${taskId} cancelled${task.cancelReason ? `: ${task.cancelReason}` : ""}`
                  : `task ${taskId} dead-lettered: ${task.failures.at(-1)?.error.message ?? "failed"}`,
            };
      await execute(runId, { type: "task_ended", stepId: next.step.id, taskId, outcome, at: nowIso() });
    }
  };

  const kick = (runId: string) => {
    if (drivers.has(runId) || stopped) return;
    const p = (async () => {
      for (let backoff = 500; !stopped; backoff = Math.min(backoff * 2, 10_000)) {
        try {
          await drive(runId);
          return;
        } catch (err) {
          // The log out of reach (a restart of the server, a timeout under load): look again later.
          log.warn({ err, runId, unavailable: err instanceof StoreUnavailableError }, "pipeline run stalled; retrying");
          await sleep(backoff);
        }
      }
    })().finally(() => drivers.delete(runId));
    drivers.set(runId, p);
  };

  // Resume every run the log says is running.
  const open = [...rows.values()].map((r) => r.row).filter((r) => r.status === "running");
  for (const r of open) kick(r.runId);
  log.info({ definitions: definitions.size, runs: rows.size, resumed: open.length }, "pipelines runtime started");

  const definitionOf = async (name: string): Promise<Defined | undefined> => definitions.get(name) ?? (await defs.load(name)).state ?? undefined;

  const validators = new Map<string, ValidateFunction>();
  const ajv = createAjv();

  const waitForEnd = async (runId: string, waitMs: number): Promise<RunView | undefined> => {
    const until = Date.now() + waitMs;
    for (;;) {
      const row = rows.get(runId)?.row;
      if (!row || row.status !== "running" || Date.now() >= until) return row;
      await sleep(Math.min(200, Math.max(1, until - Date.now())));
    }
  };

  return {
    /** Validates and records a definition; `changed: false` when it is the one in force. */
    define: async (definition: PipelineDefinition, actor: string): Promise<E.Either<ServiceError, { name: string; version: string; changed: boolean }>> => {
      const errs = validateDefinition(definition, providers);
      if (errs.length > 0)
        return E.left({
          code: "InvalidRequest",
          message: `pipeline ${definition.name} is not valid:\n${errs.join("\n")}`,
          paths: errs.map((e) => e.slice(0, e.indexOf(":"))),
        });
      const r = await defs.handle(definition.name, { type: "define", definition, at: nowIso() }, { actor, time: new Date() });
      if (E.isLeft(r)) return r;
      if (r.right.state) definitions.set(definition.name, r.right.state);
      return E.right({ name: definition.name, version: definition.version, changed: r.right.events.length > 0 });
    },
    /** Starts a run: params valid against the pipeline's schema, its steps still served. */
    run: async (name: string, params: unknown, actor: string, waitMs = 0): Promise<E.Either<ServiceError, RunView>> => {
      const d = await definitionOf(name);
      if (!d) return E.left({ code: "NotFound", message: `no pipeline ${name} is defined` });
      const { definition } = d;
      const key = `${name}@${canonical(definition.params)}`;
      let v = validators.get(key);
      if (!v) validators.set(key, (v = ajv.compile(definition.params)));
      if (!v(params)) {
        const paths = schemaErrors(v, "params");
        return E.left({ code: "InvalidParams", message: `params do not match the params schema of pipeline ${name}: ${paths.join("; ")}`, paths });
      }
      const errs = validateDefinition(definition, providers);
      if (errs.length > 0) return E.left({ code: "NoProvider", message: `pipeline ${name} cannot run on the plugins installed now:\n${errs.join("\n")}` });
      const runId = nuid.next();
      const r = await runs.handle(runId, { type: "start", runId, definition, params, at: nowIso(), startedBy: actor }, { actor, time: new Date() });
      if (E.isLeft(r)) return E.left({ code: "AlreadyExists", message: r.left.message });
      advance(runId, r.right.state!.row, r.right.revision);
      kick(runId);
      const row = waitMs > 0 ? await waitForEnd(runId, waitMs) : rows.get(runId)?.row;
      return E.right(row ?? r.right.state!.row);
    },
    get: async (runId: string, waitMs = 0): Promise<E.Either<ServiceError, RunView>> => {
      const row = waitMs > 0 ? await waitForEnd(runId, waitMs) : rows.get(runId)?.row;
      return row ? E.right(row) : E.left({ code: "NotFound", message: `no pipeline run ${runId}` });
    },
    list: (filter: { name?: string; status?: string; limit?: number }): RunView[] =>
      [...rows.values()]
        .map((r) => r.row)
        .filter((r) => (!filter.name || r.name === filter.name) && (!filter.status || r.status === filter.status))
        .sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0))
        .slice(0, filter.limit ?? 100),
    definitions: () =>
      [...definitions.values()].map((d) => ({
        name: d.definition.name,
        version: d.definition.version,
        steps: d.definition.steps.map((s) => s.id),
        definedAt: d.definedAt,
      })),
    definition: async (name: string) => (await definitionOf(name))?.definition,
    cancel: async (runId: string, reason: string, actor: string): Promise<E.Either<ServiceError, RunView>> => {
      const r = await runs.handle(runId, { type: "cancel", reason, at: nowIso() }, { actor, time: new Date() });
      if (E.isLeft(r)) return E.left({ code: r.left._tag === "NotFound" ? "NotFound" : "AlreadyEnded", message: r.left.message });
      const run = r.right.state!;
      advance(runId, run.row, r.right.revision);
      // The step running now: its task is cancelled too.
      for (const s of run.row.steps) {
        const id = s.status === "running" ? s.taskId : s.status === "compensating" ? s.compensationTaskId : undefined;
        if (id) await deps.tasks.cancel(id, `pipeline run ${runId} cancelled`, actor);
      }
      return E.right(run.row);
    },
    stop: async () => {
      stopped = true;
      await Promise.all(subs.map((s) => s.unsubscribe()));
      await Promise.allSettled(loops);
      // A driver may sit in a long poll of its step's task: it sees `stopped` when that returns;
      // the core's stop does not wait for it (nothing it would record is lost: the log resumes it).
      await Promise.race([Promise.allSettled([...drivers.values()]), sleep(1_000)]);
    },
  };
};

export type Pipelines = Awaited<ReturnType<typeof startPipelines>>;
