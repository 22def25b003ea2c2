import { createHash } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import { nuid } from "@nats-io/transport-node";
import type { Msg, NatsConnection, Subscription as NatsSub } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import type * as t from "io-ts";
import type { Logger } from "pino";
import { AppCancelRequest, AppGetRequest, AppListRequest, AppRunGetRequest, AppRunRequest, AppSubmitRequest } from "../contract/app.js";
import type { Pipelines } from "../pipelines/runtime.js";
import { PIPELINE_NAME } from "../contract/pipeline.js";
import type { AppInfo, AppSubmitted } from "../contract/app.js";
import { reportErrors } from "../contract/decodeErrors.js";
import type { ServiceError } from "../contract/errors.js";
import type { TaskRow } from "../contract/responses.js";
import { APP_CALL_ALL, APP_PIPELINE_ALL, APP_SUBMIT_ALL, appChangeSubject, appFeedResumeSubject, appOfTask, appTaskPrefix } from "../contract/subjects.js";
import { APP_CATEGORY } from "../events/app.js";
import type { AppEvent } from "../events/app.js";
import { TASK_CATEGORY } from "../events/task.js";
import type { TaskEvent } from "../events/task.js";
import { loadManifests } from "../projections/manifest.js";
import { isIndexKey, liveBucket, readBucket, stripRow } from "../projections/runner/kv.js";
import { REQUEST_INFO_HEADER, refuseCaller } from "../service/callers.js";
import { StoreUnavailableError } from "../store/types.js";
import type { EventStore } from "../store/types.js";
import type { TaskRuntime } from "../tasks/runtime.js";
import { evolve, initialApp } from "./decider.js";
import type { App } from "./decider.js";

/** The task id of an application's submission under an idempotency key: the same key, the same task, across core restarts. */
export const keyedTaskId = (appId: string, key: string) => `${appTaskPrefix(appId)}${createHash("sha256").update(key, "utf8").digest("hex").slice(0, 32)}`;

export type AppsDeps = {
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly store: EventStore<AppEvent>;
  readonly taskStore: EventStore<TaskEvent>;
  readonly tasks: TaskRuntime;
  /** An application's account key: its requests are served only when the server's request info names it. */
  readonly appAccount: (appId: string) => string;
  /** Reads an application's stream (a request that arrives before the fold saw the application). */
  readonly load: (appId: string) => Promise<{ state: App }>;
  /** Pipelines: runs of the pipelines an application is granted (`pipeline.run:<name>`). */
  readonly pipelines?: Pipelines;
};

/**
 * The core's side of applications (subjects.md, "Applications"): it serves `app.<app>.submit.<type>`
 * and `app.<app>.call.<verb>` (queue group `ganglion-core`), and publishes every event of an
 * application's tasks on `appev.<app>.<taskId>` (core NATS: at most once, live only; every replica
 * publishes it, and clients drop the repeats by revision), then `appev.<app>.resume` once live.
 *
 * The caller is the server's word twice over: the application id is the subject token its import
 * wrote, and the request info's account must be that application's account; a request without
 * it (from inside BUS) or from another account is left unanswered. Every event it causes names
 * `app:<id>` as the actor. The core also checks the grant (the account has no import for an
 * ungranted type, so such a request never gets here) and that a task read or cancelled is the
 * application's own (its id starts with `<app>_`).
 */
export const startApps = async (deps: AppsDeps) => {
  const { nc, log } = deps;
  const states = new Map<string, App>();
  const appsSub = deps.store.subscribeToAll({ filter: { categories: [APP_CATEGORY] } });
  const appsLoop = (async () => {
    for await (const e of appsSub) {
      const id = e.streamName.slice(APP_CATEGORY.length + 1);
      states.set(id, evolve(states.get(id) ?? initialApp(), e));
    }
  })().catch((err) => log.error({ err }, "the applications fold ended"));
  await appsSub.caughtUp;

  /** The application's state; read from its stream when the fold may lag (just added or granted). */
  const appState = async (appId: string, needs: (s: App) => boolean): Promise<App> => {
    const s = states.get(appId) ?? initialApp();
    if (needs(s)) return s;
    const loaded = (await deps.load(appId)).state;
    states.set(appId, loaded);
    return loaded;
  };

  const decode = <A>(codec: t.Type<A, any, unknown>, raw: unknown): E.Either<ServiceError, A> => {
    const d = codec.decode(raw);
    if (E.isRight(d)) return d;
    const lines = reportErrors(d.left);
    return E.left({ code: "InvalidRequest", message: lines.join("; "), paths: lines.map((l) => l.slice(0, l.indexOf(":"))) });
  };
  const notOwned = (taskId: string): E.Either<ServiceError, never> => E.left({ code: "NotFound", message: `no task ${taskId} of this application` });
  const owned = (appId: string, taskId: string) => typeof taskId === "string" && appOfTask(taskId) === appId;

  const submit = async (appId: string, taskType: string, raw: unknown): Promise<E.Either<ServiceError, unknown>> => {
    const d = decode(AppSubmitRequest, raw);
    if (E.isLeft(d)) return d;
    const req = d.right;
    const cap = `task.submit:${taskType}`;
    const s = await appState(appId, (x) => x.status === "active" && x.grants.includes(cap));
    if (s.status !== "active" || !s.grants.includes(cap)) return E.left({ code: "Forbidden", message: `application ${appId} is not granted ${cap}` });
    const taskId = req.idempotencyKey !== undefined ? keyedTaskId(appId, req.idempotencyKey) : `${appTaskPrefix(appId)}${nuid.next()}`;
    const r = await deps.tasks.submit(
      {
        taskType,
        params: req.params,
        taskId,
        ...(req.pluginId !== undefined ? { pluginId: req.pluginId } : {}),
        ...(req.idempotencyKey !== undefined ? { idempotencyKey: req.idempotencyKey } : {}),
        ...(req.deadlineMs !== undefined ? { deadlineMs: req.deadlineMs } : {}),
      },
      { actor: `app:${appId}` },
    );
    if (E.isLeft(r)) return r;
    if (req.waitMs) return deps.tasks.get(r.right.taskId, req.waitMs);
    return E.right({ taskId: r.right.taskId, pluginId: r.right.pluginId, existing: r.right.existing === true } satisfies AppSubmitted);
  };

  let manifestP: ReturnType<typeof loadManifests> | undefined;
  const list = async (appId: string, raw: unknown): Promise<E.Either<ServiceError, TaskRow[]>> => {
    const d = decode(AppListRequest, raw ?? {});
    if (E.isLeft(d)) return d;
    const m = (await (manifestP ??= loadManifests())).find((x) => x.name === "tasks");
    if (!m) return E.left({ code: "Internal", message: "no tasks view is declared in projections/" });
    const rows = await readBucket(await new Kvm(nc).open(await liveBucket(nc, m)));
    const prefix = appTaskPrefix(appId);
    const kept = [...rows]
      .filter(([k]) => !isIndexKey(k) && k.startsWith(prefix))
      .map(([, v]) => stripRow(v) as TaskRow)
      .filter((v) => (!d.right.status || v.status === d.right.status) && (!d.right.taskType || v.taskType === d.right.taskType));
    kept.sort((a, b) => (a.submittedAt < b.submittedAt ? 1 : a.submittedAt > b.submittedAt ? -1 : 0));
    return E.right(kept.slice(0, d.right.limit ?? 100));
  };

  const call = async (appId: string, verb: string, raw: unknown): Promise<E.Either<ServiceError, unknown>> => {
    switch (verb) {
      case "info": {
        const s = await appState(appId, (x) => x.status === "active");
        return s.status === "active"
          ? E.right({ appId, grants: [...s.grants] } satisfies AppInfo)
          : E.left({ code: "NotFound", message: `no application ${appId}` });
      }
      case "get": {
        const d = decode(AppGetRequest, raw);
        if (E.isLeft(d)) return d;
        return owned(appId, d.right.taskId) ? deps.tasks.get(d.right.taskId, d.right.waitMs) : notOwned(d.right.taskId);
      }
      case "cancel": {
        const d = decode(AppCancelRequest, raw);
        if (E.isLeft(d)) return d;
        if (!owned(appId, d.right.taskId)) return notOwned(d.right.taskId);
        return deps.tasks.cancel(d.right.taskId, d.right.reason ?? `cancelled by app:${appId}`, `app:${appId}`);
      }
      case "list":
        return list(appId, raw);
      case "run": {
        const d = decode(AppRunGetRequest, raw);
        if (E.isLeft(d) || !deps.pipelines) return E.isLeft(d) ? d : E.left({ code: "NotFound", message: "no pipelines here" });
        const r = await deps.pipelines.get(d.right.runId, d.right.waitMs);
        // Only the runs the application started are its own.
        return E.isRight(r) && r.right.startedBy !== `app:${appId}`
          ? E.left({ code: "NotFound", message: `no pipeline run ${d.right.runId} of this application` })
          : r;
      }
      default:
        return E.left({ code: "NotFound", message: `no verb ${verb}` });
    }
  };

  const runPipeline = async (appId: string, name: string, raw: unknown): Promise<E.Either<ServiceError, unknown>> => {
    const d = decode(AppRunRequest, raw);
    if (E.isLeft(d)) return d;
    if (!PIPELINE_NAME.test(name)) return E.left({ code: "NotFound", message: `no pipeline ${JSON.stringify(name)}` });
    const cap = `pipeline.run:${name}`;
    const s = await appState(appId, (x) => x.status === "active" && x.grants.includes(cap));
    if (s.status !== "active" || !s.grants.includes(cap) || !deps.pipelines)
      return E.left({ code: "Forbidden", message: `application ${appId} is not granted ${cap}` });
    return deps.pipelines.run(name, d.right.params, `app:${appId}`, d.right.waitMs ?? 0);
  };

  const serve = (m: Msg, kind: "submit" | "call" | "pipeline") => {
    const [, appId = "", , ...rest] = m.subject.split(".");
    const refusal = refuseCaller(m.reply, m.headers?.get(REQUEST_INFO_HEADER) || undefined, deps.appAccount(appId));
    // Inside BUS there is no request info: the admin uses `ganglion.v1.task.*`; here only applications speak.
    if (refusal || !m.headers?.get(REQUEST_INFO_HEADER)) {
      log.warn({ subject: m.subject, reason: refusal ?? "no request info (not from an application's account)" }, "application request refused unanswered");
      return;
    }
    void (async () => {
      let r: E.Either<ServiceError, unknown>;
      try {
        let raw: unknown;
        try {
          raw = m.data.length === 0 ? {} : m.json();
        } catch {
          raw = undefined;
        }
        r =
          raw === undefined
            ? E.left({ code: "InvalidRequest", message: "the request is not JSON" })
            : kind === "submit"
              ? await submit(appId, rest.join("."), raw)
              : kind === "pipeline"
                ? await runPipeline(appId, rest.join("."), raw)
                : await call(appId, rest.join("."), raw);
      } catch (err) {
        log.error({ err, subject: m.subject }, "application request failed");
        // The log out of reach (a timeout under load, a restart): the request may be sent again.
        r =
          err instanceof StoreUnavailableError
            ? E.left({ code: "Unavailable", message: (err as Error).message, retryAfterMs: 500 })
            : E.left({ code: "Internal", message: (err as Error).message });
      }
      m.respond(JSON.stringify(E.isLeft(r) ? { ok: false, error: r.left } : { ok: true, result: r.right }));
    })();
  };

  const subs: NatsSub[] = [
    nc.subscribe(APP_SUBMIT_ALL, { queue: "ganglion-core", callback: (err, m) => (err ? undefined : serve(m, "submit")) }),
    nc.subscribe(APP_CALL_ALL, { queue: "ganglion-core", callback: (err, m) => (err ? undefined : serve(m, "call")) }),
    nc.subscribe(APP_PIPELINE_ALL, { queue: "ganglion-core", callback: (err, m) => (err ? undefined : serve(m, "pipeline")) }),
  ];

  // Changes of applications' tasks, from the head of the log on.
  const changes = deps.taskStore.subscribeToAll({ fromPosition: "end", filter: { categories: [TASK_CATEGORY] } });
  const changesLoop = (async () => {
    for await (const e of changes) {
      const taskId = e.streamName.slice(TASK_CATEGORY.length + 1);
      const appId = appOfTask(taskId);
      if (appId)
        nc.publish(appChangeSubject(appId, taskId), JSON.stringify({ taskId, type: e.type, data: e.data, at: e.metadata.time, revision: Number(e.revision) }));
    }
  })().catch((err) => log.error({ err }, "the application changes feed ended"));
  // Live from here (the consumer exists once caughtUp resolves): what was recorded before, while no
  // feed ran (this core starting, its tasks runtime already at work), clients re-read.
  await changes.caughtUp;
  for (const [appId, s] of states) if (s.status === "active") nc.publish(appFeedResumeSubject(appId), JSON.stringify({ at: new Date().toISOString() }));

  log.info({ applications: [...states.values()].filter((s) => s.status === "active").length }, "applications served");
  return {
    stop: async () => {
      for (const s of subs) s.unsubscribe();
      await appsSub.unsubscribe();
      await changes.unsubscribe();
      await Promise.allSettled([appsLoop, changesLoop]);
    },
  };
};
