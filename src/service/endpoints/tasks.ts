import * as E from "fp-ts/lib/Either.js";
import { reportErrors } from "../../contract/decodeErrors.js";
import { Endpoints } from "../../contract/endpoints.js";
import { Rate } from "../../plugins/manifest.js";
import type { LimitsView, TaskRuntime, TaskView } from "../../tasks/runtime.js";
import type * as C from "../../contract/responses.js";
import { defineEndpoint } from "../endpoint.js";
import type { Endpoint } from "../endpoint.js";

/** What the `task.*` endpoints need: the tasks runtime the core started (`startTasks`). */
export type TaskEndpointDeps = { readonly tasks: TaskRuntime };

export { CancelTaskRequest, GetTaskRequest, LimitsRequest, RetryTaskRequest, SubmitTaskRequest } from "../../contract/endpoints.js";

/**
 * The runtime's `TaskView` and `LimitsView` are the contract's: the handlers check one direction
 * (what the runtime answers fits the table), this the other.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const viewsAreTheContracts: [Same<TaskView, C.TaskView>, Same<LimitsView, C.LimitsView>] = [true, true];
void viewsAreTheContracts;

/** Longest wait an endpoint accepts: the caller's request timeout must exceed it. */
export const MAX_WAIT_MS = 10 * 60_000;
const waitOf = (w: number | undefined) => Math.max(0, Math.min(w ?? 0, MAX_WAIT_MS));

/**
 * The `task.*` endpoints: `submit` (→ `{ taskId, pluginId }`, or with `waitMs` the task once it
 * ended or the wait ran out), `get` (→ the task; `waitMs` waits for its end), `cancel`, `retry`
 * (a dead-lettered task, with a fresh attempt budget). Errors: `InvalidParams` (with schema
 * paths), `UnknownTaskType`, `NoProvider` / `Ambiguous` (`details.candidates`), `RateLimited`
 * (`retryAfterMs`), `PayloadTooLarge`, `NotFound`, `AlreadyEnded`, `NotDeadLettered`.
 */
export const taskEndpoints = (deps: TaskEndpointDeps): Endpoint[] => [
  defineEndpoint(Endpoints["task.submit"], async (req, ctx) => {
    const r = await deps.tasks.submit(
      { taskType: req.taskType, params: req.params, ...(req.pluginId !== undefined ? { pluginId: req.pluginId } : {}) },
      { actor: ctx.actor, correlationId: ctx.correlationId },
    );
    if (E.isLeft(r) || !req.waitMs) return r;
    return deps.tasks.get(r.right.taskId, waitOf(req.waitMs));
  }),
  defineEndpoint(Endpoints["task.get"], (req) => deps.tasks.get(req.taskId, waitOf(req.waitMs))),
  defineEndpoint(Endpoints["task.cancel"], (req, ctx) => deps.tasks.cancel(req.taskId, req.reason ?? `cancelled by ${ctx.actor}`, ctx.actor)),
  defineEndpoint(Endpoints["task.limits"], async (req, ctx) => {
    if (req.concurrency === undefined && req.rate === undefined && !req.reset) return deps.tasks.limits(req.pluginId);
    if (req.reset && (req.concurrency !== undefined || req.rate !== undefined)) {
      return E.left({ code: "InvalidRequest", message: "reset goes back to the manifest's limits: give it alone", paths: ["reset"] });
    }
    let rate;
    if (req.rate !== undefined) {
      const r = Rate.decode(req.rate);
      if (E.isLeft(r)) return E.left({ code: "InvalidRequest", message: reportErrors(r.left).join("; "), paths: ["rate"] });
      rate = r.right;
    }
    const current = deps.tasks.limits(req.pluginId);
    if (E.isLeft(current)) return current;
    // An override replaces the previous one whole: keep the other field's override.
    const keep = (k: "concurrency" | "rate") => (current.right.source[k] === "override" && !req.reset ? { [k]: current.right[k] } : {});
    return deps.tasks.setLimits(
      req.pluginId,
      req.reset
        ? {}
        : { ...keep("concurrency"), ...keep("rate"), ...(req.concurrency !== undefined ? { concurrency: req.concurrency } : {}), ...(rate ? { rate } : {}) },
      ctx.actor,
    );
  }),
  defineEndpoint(Endpoints["task.retry"], (req, ctx) => deps.tasks.retry(req.taskId, ctx.actor)),
];
