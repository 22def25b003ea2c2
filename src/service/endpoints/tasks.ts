import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { defineEndpoint } from "../endpoint.js";
import { BoundedText, MAX_TEXT } from "../limits.js";
import type { Endpoint } from "../endpoint.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { Rate } from "../../plugins/manifest.js";
import type { TaskRuntime } from "../../tasks/runtime.js";

/** What the `task.*` endpoints need: the tasks runtime the core started (`startTasks`). */
export type TaskEndpointDeps = { readonly tasks: TaskRuntime };

const TaskId = t.type({ taskId: t.string });
const Wait = t.partial({ waitMs: t.number });

export const SubmitTaskRequest = t.intersection([t.type({ taskType: t.string, params: t.unknown }), t.partial({ pluginId: t.string }), Wait]);
export const GetTaskRequest = t.intersection([TaskId, Wait]);
export const CancelTaskRequest = t.intersection([TaskId, t.partial({ reason: BoundedText(MAX_TEXT, "Reason") })]);
export const RetryTaskRequest = TaskId;
export const LimitsRequest = t.intersection([
  t.type({ pluginId: t.string }),
  t.partial({ concurrency: t.number, rate: t.string, reset: t.boolean }),
]);

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
  defineEndpoint({
    name: "task.submit",
    description: "Submit a task: params are validated against the provider's schema; routed to the named plugin or the one that provides the type",
    request: SubmitTaskRequest,
    handle: async (req, ctx) => {
      const r = await deps.tasks.submit(
        { taskType: req.taskType, params: req.params, ...(req.pluginId !== undefined ? { pluginId: req.pluginId } : {}) },
        { actor: ctx.actor, correlationId: ctx.correlationId },
      );
      if (E.isLeft(r) || !req.waitMs) return r;
      return deps.tasks.get(r.right.taskId, waitOf(req.waitMs));
    },
  }),
  defineEndpoint({
    name: "task.get",
    description: "A task's state, attempts, progress, result or failures; waitMs waits for its end",
    request: GetTaskRequest,
    handle: (req) => deps.tasks.get(req.taskId, waitOf(req.waitMs)),
  }),
  defineEndpoint({
    name: "task.cancel",
    description: "Cancel an open task; its running handler receives an abort signal",
    request: CancelTaskRequest,
    handle: (req, ctx) => deps.tasks.cancel(req.taskId, req.reason ?? `cancelled by ${ctx.actor}`, ctx.actor),
  }),
  defineEndpoint({
    name: "task.limits",
    description: "A plugin's task limits (concurrency, submission rate); with concurrency / rate (\"10/s\") / reset, override its manifest's",
    request: LimitsRequest,
    handle: async (req, ctx) => {
      if (req.concurrency === undefined && req.rate === undefined && !req.reset) return deps.tasks.limits(req.pluginId);
      if (req.reset && (req.concurrency !== undefined || req.rate !== undefined)) {
        return E.left({ code: "InvalidRequest", message: "reset goes back to the manifest's limits: give it alone", paths: ["reset"] });
      }
      let rate;
      if (req.rate !== undefined) {
        const r = Rate.decode(req.rate);
        if (E.isLeft(r)) return E.left({ code: "InvalidRequest", message: failure(r.left).join("; "), paths: ["rate"] });
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
    },
  }),
  defineEndpoint({
    name: "task.retry",
    description: "Send a dead-lettered task again, with a fresh attempt budget",
    request: RetryTaskRequest,
    handle: (req, ctx) => deps.tasks.retry(req.taskId, ctx.actor),
  }),
];
