import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { reportErrors, reportPaths } from "../contract/decodeErrors.js";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { ServiceError } from "../contract/errors.js";
import { REQUEST_INFO_HEADER, refuseCaller } from "../service/callers.js";
import { take } from "../tasks/limits.js";
import type { Bucket, Rate } from "../tasks/limits.js";
import type { TaskRuntime } from "../tasks/runtime.js";

/** Every plugin's model-provider calls as they arrive in BUS: `prov.<caller>.<kind>` (the import put the caller's id there). */
export const PROVIDER_CALLS = "prov.*.*";
/** The kinds of model provider the catalog offers (`provider.chat`, `provider.embedding`). */
export const PROVIDER_KINDS = ["chat", "embedding"] as const;
/** The task type a provider plugin serves for `kind`: it declares it in `provides` like any task. */
export const providerTaskType = (kind: string) => `provider.${kind}`;
/** Calls one plugin may make of one kind: 60 a minute (the provider's own task rate applies too). */
export const DEFAULT_CALL_RATE: Rate = { count: 60, perMs: 60_000 };
/** Longest a call waits for the provider's answer. */
export const MAX_CALL_WAIT_MS = 120_000;

/** A call on `prov.<kind>`: the provider's params, how long to wait (default 30 s), optionally which provider plugin. */
export const ProviderCall = t.intersection([t.type({ params: t.unknown }), t.partial({ waitMs: t.number, pluginId: t.string })]);

/**
 * Model providers as plugins. A plugin *provides* `provider.chat` (or `provider.embedding`) by
 * serving the task type `provider.chat` like any task (its manifest's `provides`, with its params
 * and result schemas); a plugin *granted* `provider.chat` calls it with a request on `prov.chat`.
 * The core routes the call as a task (the one active provider, or the named `pluginId`; params
 * checked against the provider's schema; the provider's concurrency and rate limits), limits the
 * caller's rate, waits for the result and answers `{ok, result: <task>}` like a submission. The
 * audit trail is the task's stream: `task.submitted` with actor `plugin:<caller>`, then the
 * provider's attempts and result. Without the grant the caller's account has no route.
 */
export const serveProviders = (deps: {
  nc: NatsConnection;
  log: Logger;
  tasks: Pick<TaskRuntime, "submit" | "get">;
  pluginAccount?: (pluginId: string) => string;
  callRate?: Rate;
  now?: () => number;
}): { readonly stop: () => Promise<void> } => {
  const rate = deps.callRate ?? DEFAULT_CALL_RATE;
  const now = deps.now ?? Date.now;
  const buckets = new Map<string, Bucket>();
  const serve = async (caller: string, kind: string, raw: unknown): Promise<E.Either<ServiceError, unknown>> => {
    if (!(PROVIDER_KINDS as readonly string[]).includes(kind)) return E.left({ code: "NotFound", message: `no model provider kind ${kind}` });
    const d = ProviderCall.decode(raw);
    if (E.isLeft(d)) return E.left({ code: "InvalidRequest", message: reportErrors(d.left).join("; "), paths: reportPaths(d.left) });
    const k = `${caller}\u0000${kind}`;
    const lim = take(buckets.get(k), rate, now());
    buckets.set(k, lim.bucket);
    if (!lim.ok)
      return E.left({
        code: "RateLimited",
        message: `plugin ${caller} may call provider.${kind} ${rate.count} times per ${rate.perMs} ms`,
        retryAfterMs: lim.retryAfterMs,
      });
    const waitMs = Math.min(Math.max(0, d.right.waitMs ?? 30_000), MAX_CALL_WAIT_MS);
    const r = await deps.tasks.submit(
      { taskType: providerTaskType(kind), params: d.right.params, ...(d.right.pluginId ? { pluginId: d.right.pluginId } : {}) },
      { actor: `plugin:${caller}` },
    );
    if (E.isLeft(r)) return r;
    return deps.tasks.get(r.right.taskId, waitMs);
  };
  const sub: Subscription = deps.nc.subscribe(PROVIDER_CALLS, {
    queue: "ganglion-core",
    callback: (err, m) => {
      if (err) return;
      const [, caller = "", kind = ""] = m.subject.split(".");
      const info = m.headers?.get(REQUEST_INFO_HEADER);
      const refusal = info === undefined || info === "" ? "not a request from a plugin account" : refuseCaller(m.reply, info, deps.pluginAccount?.(caller));
      if (refusal) {
        deps.log.warn({ subject: m.subject, reason: refusal }, "provider call refused unanswered");
        return;
      }
      const reply = (r: E.Either<ServiceError, unknown>) =>
        m.respond(JSON.stringify(E.isLeft(r) ? { ok: false, error: r.left } : { ok: true, result: r.right }));
      let raw: unknown;
      try {
        raw = m.json();
      } catch {
        reply(E.left({ code: "InvalidRequest", message: "the request is not JSON" }));
        return;
      }
      serve(caller, kind, raw).then(reply, (e: unknown) => {
        deps.log.error({ err: e, caller, kind }, "provider call failed");
        reply(E.left({ code: "Internal", message: (e as Error).message }));
      });
    },
  });
  return {
    stop: async () => {
      sub.unsubscribe();
    },
  };
};
