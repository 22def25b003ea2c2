import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { defineEndpoint } from "../endpoint.js";
import type { Endpoint } from "../endpoint.js";
import type { TaskRuntime } from "../../tasks/runtime.js";

/** What the `task.*` endpoints need: the tasks runtime the core started (`startTasks`). */
export type TaskEndpointDeps = { readonly tasks: TaskRuntime };

const TaskId = t.type({ taskId: t.string });
const Wait = t.partial({ waitMs: t.number });

export const SubmitTaskRequest = t.intersection([t.type({ taskType: t.string, params: t.unknown }), t.partial({ pluginId: t.string }), Wait]);
export const GetTaskRequest = t.intersection([TaskId, Wait]);
export const CancelTaskRequest = t.intersection([TaskId, t.partial({ reason: t.string })]);
export const RetryTaskRequest = TaskId;

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
    name: "task.retry",
    description: "Send a dead-lettered task again, with a fresh attempt budget",
    request: RetryTaskRequest,
    handle: (req, ctx) => deps.tasks.retry(req.taskId, ctx.actor),
  }),
];
