import * as E from "fp-ts/lib/Either.js";
import { DOTTED } from "../../contract/subjects.js";
import { taskStreamName } from "../../events/task.js";
import type { ServiceError } from "../../service/endpoint.js";
import type { TaskCommand, TaskState } from "../decider.js";
import { validTaskId } from "./api.js";
import { take } from "../limits.js";
import { route } from "../providers.js";
import { isoAt } from "./clock.js";
import type { Execute } from "./commands.js";
import { schemaErrors, schemaPaths } from "./schemas.js";
import type { Schemas } from "./schemas.js";
import { limitsOf } from "./state.js";
import type { Ctx } from "./state.js";
import { rejectionToError } from "./types.js";
import type { SubmitRequest, TaskRuntime } from "./types.js";

/** A submission as admitted: the `submit` command for a new task id, and the plugin it goes to. */
export type Admitted = { readonly pluginId: string; readonly command: (taskId: string, correlationId?: string) => Extract<TaskCommand, { type: "submit" }> };

/**
 * Admission of a submission, in this order: the task type's shape, the params' size, routing
 * (the one active provider, or the named one), the params schema, then the plugin's rate limit
 * (a token taken from `state.buckets`, which this part owns). A refusal is the service error the
 * caller gets; nothing is appended for it.
 */
export const admit = (ctx: Ctx, schemas: Schemas, req: SubmitRequest): E.Either<ServiceError, Admitted> => {
  const { state, config, clock } = ctx;
  if (!DOTTED.test(req.taskType)) {
    return E.left({
      code: "InvalidRequest",
      message: `task type ${JSON.stringify(req.taskType)} is not valid: lower-case tokens joined by '.'`,
      paths: ["taskType"],
    });
  }
  const size = Buffer.byteLength(JSON.stringify(req.params ?? null));
  if (size > config.maxPayloadBytes) {
    return E.left({ code: "PayloadTooLarge", message: `params are ${size} bytes; the limit is ${config.maxPayloadBytes}`, paths: ["params"] });
  }
  const r = route(state.providers, req.taskType, req.pluginId);
  if (!r.ok)
    return E.left({ code: r.error._tag, message: r.error.message, ...("candidates" in r.error ? { details: { candidates: r.error.candidates } } : {}) });
  const { provider, spec } = r;
  const v = schemas.validator(provider, req.taskType, "params")!;
  if (!v(req.params)) {
    // The reasons in the message, the paths alone in `paths` (they held whole messages).
    const reasons = schemaErrors(v, "params");
    return E.left({
      code: "InvalidParams",
      message: `params do not match the params schema of ${req.taskType}: ${reasons.join("; ")}`,
      paths: schemaPaths(v, "params"),
    });
  }
  // SMELL -- the bucket lives in this core: with N replicas a plugin may get up to N times its
  // rate. A shared bucket (KV with CAS) would make it exact at a round trip per submission.
  const now = clock.now();
  const { rate } = limitsOf(state, config, provider);
  const lim = take(state.buckets.get(provider.pluginId), rate, now);
  state.buckets.set(provider.pluginId, lim.bucket);
  if (!lim.ok) {
    return E.left({
      code: "RateLimited",
      message: `plugin ${provider.pluginId} accepts ${rate.count} tasks per ${rate.perMs} ms; retry in ${lim.retryAfterMs} ms`,
      retryAfterMs: lim.retryAfterMs,
    });
  }
  const at = isoAt(now);
  return E.right({
    pluginId: provider.pluginId,
    command: (taskId, correlationId) => ({
      type: "submit",
      taskId,
      pluginId: provider.pluginId,
      pluginVersion: provider.version,
      taskType: req.taskType,
      params: req.params,
      retry: { maxAttempts: spec.retry.maxAttempts, backoffMs: spec.retry.backoff },
      timeouts: {
        startToCloseMs: spec.timeout,
        ...(spec.scheduleToStart !== undefined ? { scheduleToStartMs: spec.scheduleToStart } : {}),
        ...(spec.deadline !== undefined || req.deadlineMs !== undefined ? { deadlineMs: Math.min(spec.deadline ?? Infinity, req.deadlineMs ?? Infinity) } : {}),
      },
      at,
      ...(correlationId ? { correlationId } : {}),
      ...(req.idempotencyKey !== undefined ? { idempotencyKey: req.idempotencyKey } : {}),
    }),
  });
};

/**
 * `submit` of the runtime: admitted, then the `submit` command on a fresh task stream. With a
 * caller-derived `taskId` (an application's idempotency key), a task that exists under it is the
 * answer, before admission (a repeat costs no rate token and needs no provider); a race between two
 * submissions under one id appends once (the append expects no stream) and the loser answers the
 * winner's task.
 */
export const submitter =
  (
    ctx: Ctx,
    deps: { schemas: Schemas; execute: Execute; newId: () => string; load?: (taskId: string) => Promise<{ state: TaskState }> },
  ): TaskRuntime["submit"] =>
  async (req, meta) => {
    const existing = async (taskId: string) => {
      if (!deps.load) return undefined;
      // The head first (one direct get by last subject): a forward read of a stream that does not
      // exist walks the whole log on nats-server 2.9, and a new key is the common case.
      if ((await ctx.store.streamRevision(taskStreamName(taskId))) === "no_stream") {
        // The command handler's first guess, then: no stream. The append still expects none, so a
        // racing submission under the same id fails it and is answered from a fresh read.
        ctx.state.decided.set(taskId, { state: { status: "absent" }, revision: "no_stream" });
        return undefined;
      }
      const { state } = await deps.load(taskId);
      return state.status === "absent" ? undefined : { taskId, pluginId: state.pluginId, existing: true };
    };
    if (req.taskId !== undefined) {
      if (!validTaskId(req.taskId)) return E.left({ code: "InvalidRequest", message: `${JSON.stringify(req.taskId)} is not a task id`, paths: ["taskId"] });
      const found = await existing(req.taskId);
      if (found) return E.right(found);
    }
    const a = admit(ctx, deps.schemas, req);
    if (E.isLeft(a)) return a;
    const taskId = req.taskId ?? deps.newId();
    const res = await deps.execute(taskId, a.right.command(taskId, meta.correlationId), meta.actor, meta.correlationId);
    if (E.isLeft(res)) {
      const found = res.left._tag === "AlreadyExists" && req.taskId !== undefined ? await existing(taskId) : undefined;
      return found ? E.right(found) : E.left(rejectionToError(res.left, taskId));
    }
    return E.right({ taskId, pluginId: a.right.pluginId });
  };
