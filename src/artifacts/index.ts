import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { APP_ARTIFACT_GET_ALL, appOfTask, artifactRequests } from "../contract/subjects.js";
import { ArtifactGetRequest, ArtifactHeaders, artifactIdOf, artifactRefsIn, ArtifactPutRequest } from "../contract/artifacts.js";
import type { ArtifactPut } from "../contract/artifacts.js";
import type { ServiceError } from "../contract/errors.js";
import { ArtifactEvent, artifactStreamName } from "../events/artifact.js";
import { natsEventStore } from "../store/eventStore.js";
import type { TaskRuntime } from "../tasks/runtime/types.js";
import { REQUEST_INFO_HEADER, refuseCaller } from "../service/callers.js";
import { ArtifactError, openArtifactStore } from "./store.js";
import type { ArtifactMeta, ArtifactStore } from "./store.js";

/**
 * The core's side of artifacts (subjects.md, "Artifacts"). Plugins have no JetStream: every byte
 * they read or write passes here, one chunk per message, so the core never holds more than a
 * chunk of an artifact.
 *
 * - `art.get.<plugin>` (the plugin's `art.get`): one chunk per request, if the plugin may read the
 *   artifact: it created it (or put the same bytes), it was shared with it, or the request names a
 *   task of that plugin whose params reference it.
 * - `art.put.<plugin>` (the plugin's `art.put`): commit the chunks it published on
 *   `artup.<upload>` (stored by ARTIFACT_UPLOADS as `artup.<plugin>.<upload>`).
 *
 * Both are answered only when the reply is the server's `_R_.…` and `Nats-Request-Info` names the
 * subject's plugin account (the import wrote the plugin's id; no one else's account can send on
 * it); anything else is dropped unanswered and logged.
 */
/** What the operator endpoints (`src/service/endpoints/artifacts.ts`) do with artifacts. */
export type ArtifactOps = {
  readonly list: () => Promise<ArtifactMeta[]>;
  /** The artifact a reference or id names, or undefined. */
  readonly find: (ref: string) => Promise<ArtifactMeta | undefined>;
  /** Removes it, recorded as `artifact.removed` with the actor. */
  readonly remove: (meta: ArtifactMeta, actor: string, message?: string) => Promise<void>;
  /** Shares it with a plugin, recorded as `artifact.shared`; a second share changes nothing. */
  readonly share: (meta: ArtifactMeta, pluginId: string, actor: string) => Promise<ArtifactMeta>;
};

export const startArtifacts = async (deps: {
  nc: NatsConnection;
  log: Logger;
  tasks: TaskRuntime;
  pluginAccount?: (pluginId: string) => string;
  /** An application's account key: applications read the artifacts their own tasks' params or results reference. */
  appAccount?: (appId: string) => string;
  /** How often expired artifacts are removed (default 60 s). */
  sweepEveryMs?: number;
  /** The clock the retention sweep reads (tests move it on). */
  now?: () => Date;
}): Promise<{ readonly ops: ArtifactOps; readonly store: ArtifactStore; readonly sweep: () => Promise<number>; readonly stop: () => Promise<void> }> => {
  const { log } = deps;
  const store = await openArtifactStore(deps.nc);
  const events = natsEventStore(deps.nc, { codec: ArtifactEvent, defaultActor: "core" });
  const record = (id: string, e: ArtifactEvent, actor: string) =>
    events.appendToStream(artifactStreamName(id), { ...e, metadata: { actor, time: new Date().toISOString() } }, { streamState: "any" });

  /** (plugin, artifact) pairs allowed through a task's params, kept a minute (a task lookup per chunk would cost more than the chunk). */
  const viaTask = new Map<string, number>();
  type Reader = { readonly kind: "plugin" | "app"; readonly id: string };
  const mayRead = async (who: Reader, m: ArtifactMeta, taskId?: string): Promise<boolean> => {
    if (who.kind === "plugin" && (m.creator === `plugin:${who.id}` || m.sharedWith.includes(who.id))) return true;
    if (!taskId || (who.kind === "app" && appOfTask(taskId) !== who.id)) return false;
    const key = `${who.kind}:${who.id}/${m.id}/${taskId}`;
    if ((viaTask.get(key) ?? 0) > Date.now()) return true;
    const t = await deps.tasks.get(taskId, 0);
    if (E.isLeft(t)) return false;
    // A plugin: its own task's params. An application: its own task's params or result.
    const refs = who.kind === "plugin" ? (t.right.pluginId === who.id ? artifactRefsIn(t.right.params) : []) : artifactRefsIn([t.right.params, t.right.result]);
    if (!refs.includes(m.id)) return false;
    if (viaTask.size > 10_000) viaTask.clear();
    viaTask.set(key, Date.now() + 60_000);
    return true;
  };

  const refuse = (m: Msg, code: string, message: string, chunk?: number) => {
    const h = natsHeaders();
    h.set(ArtifactHeaders.Error, code);
    if (chunk !== undefined) h.set(ArtifactHeaders.Chunk, String(chunk));
    m.respond(JSON.stringify({ error: { code, message, ...(chunk !== undefined ? { chunk } : {}) } }), { headers: h });
  };

  const caller = (m: Msg, what: string, app = false): string | undefined => {
    const id = m.subject.split(".")[app ? 1 : 2] ?? "";
    const account = app ? deps.appAccount : deps.pluginAccount;
    const info = m.headers?.get(REQUEST_INFO_HEADER);
    const refusal = info === undefined || info === "" ? "not a request from another account" : refuseCaller(m.reply, info, account?.(id));
    if (refusal || !account) {
      log.warn({ subject: m.subject, reason: refusal ?? "the core has no keys" }, `artifact ${what} refused unanswered`);
      return undefined;
    }
    return id;
  };

  const json = (m: Msg): unknown => {
    try {
      return m.json();
    } catch {
      return undefined;
    }
  };

  const onGet = async (m: Msg, who: Reader) => {
    const d = ArtifactGetRequest.decode(json(m));
    if (E.isLeft(d)) return refuse(m, "InvalidRequest", `art.get wants {"id", "chunk", "cursor"?, "taskId"?}: ${failure(d.left).join("; ").slice(0, 500)}`);
    const req = d.right;
    const meta = await store.meta(req.id);
    // The same answer for "absent" and "not yours": a plugin learns nothing about others' artifacts.
    if (!meta || !(await mayRead(who, meta, req.taskId))) return refuse(m, "NotFound", `no artifact ${req.id} this plugin may read`);
    const c = await store.chunk(meta, req.chunk, req.cursor ?? 0);
    const h = natsHeaders();
    h.set(ArtifactHeaders.Chunk, String(req.chunk));
    h.set(ArtifactHeaders.ChunkSha256, c.sha256);
    h.set(ArtifactHeaders.Cursor, String(c.next));
    h.set(ArtifactHeaders.Chunks, String(meta.chunks));
    h.set(ArtifactHeaders.Size, String(meta.size));
    h.set(ArtifactHeaders.Sha256, meta.id);
    h.set(ArtifactHeaders.ContentType, meta.contentType);
    m.respond(c.data, { headers: h });
  };

  const answer = (m: Msg, r: E.Either<ServiceError & { chunk?: number }, ArtifactPut>) =>
    m.respond(JSON.stringify(E.isRight(r) ? { ok: true, result: r.right } : { ok: false, error: r.left }));

  const onPut = async (m: Msg, pluginId: string) => {
    const d = ArtifactPutRequest.decode(json(m));
    if (E.isLeft(d)) return answer(m, E.left({ code: "InvalidRequest", message: failure(d.left).join("; ").slice(0, 1000) }));
    const req = d.right;
    const actor = `plugin:${pluginId}`;
    const { meta, existing } = await store.commit(pluginId, req, actor);
    await record(
      meta.id,
      {
        type: "artifact.created",
        data: {
          id: meta.id,
          size: meta.size,
          chunks: meta.chunks,
          contentType: meta.contentType,
          expiresAt: meta.expiresAt,
          existing,
          ...(req.taskId ? { taskId: req.taskId } : {}),
        },
      },
      actor,
    );
    log.info({ plugin: pluginId, artifact: meta.id, size: meta.size, existing }, "artifact put");
    answer(m, E.right({ ref: meta.ref, id: meta.id, size: meta.size, existing, expiresAt: meta.expiresAt }));
  };

  const serve = (verb: "get" | "put", handle: (m: Msg, pluginId: string) => Promise<unknown>, app = false): Subscription =>
    deps.nc.subscribe(app ? APP_ARTIFACT_GET_ALL : artifactRequests(verb), {
      queue: "ganglion-core",
      callback: (err, m) => {
        if (err) return;
        const pluginId = caller(m, verb, app);
        if (pluginId === undefined) return;
        handle(m, pluginId).catch((e: unknown) => {
          if (e instanceof ArtifactError) {
            log.info({ plugin: pluginId, code: e.code, err: e.message }, `artifact ${verb} refused`);
            return verb === "get"
              ? refuse(m, e.code, e.message, e.chunk)
              : answer(m, E.left({ code: e.code, message: e.message, ...(e.chunk !== undefined ? { details: { chunk: e.chunk } } : {}) }));
          }
          log.error({ err: e, plugin: pluginId }, `artifact ${verb} failed`);
          return verb === "get"
            ? refuse(m, "Unavailable", "the core could not serve the artifact; try again")
            : answer(m, E.left({ code: "Unavailable", message: "the core could not store the artifact; try again" }));
        });
      },
    });
  // A service without the keys to check callers does not join the queue group: it would draw
  // requests and could only drop them (a core with keys beside it answers them instead).
  const subs = [
    ...(deps.pluginAccount ? [serve("get", (m, id) => onGet(m, { kind: "plugin", id })), serve("put", onPut)] : []),
    ...(deps.appAccount ? [serve("get", (m, id) => onGet(m, { kind: "app", id }), true)] : []),
  ];

  const removeOne = async (meta: ArtifactMeta, actor: string, reason: "removed" | "expired", message?: string) => {
    if (await store.remove(meta.id)) await record(meta.id, { type: "artifact.removed", data: { id: meta.id, reason, ...(message ? { message } : {}) } }, actor);
  };
  const sweep = async () => {
    let n = 0;
    const now = (deps.now?.() ?? new Date()).toISOString();
    for (const meta of await store.list())
      if (meta.expiresAt !== "" && meta.expiresAt <= now) {
        await removeOne(meta, "system:retention", "expired");
        n++;
      }
    return n;
  };
  const timer = setInterval(() => void sweep().catch((e: unknown) => log.warn({ err: e }, "artifact sweep failed")), deps.sweepEveryMs ?? 60_000);
  timer.unref();

  const share = async (meta: ArtifactMeta, pluginId: string, actor: string): Promise<ArtifactMeta> => {
    if (meta.sharedWith.includes(pluginId)) return meta;
    const next = await store.update(meta, { sharedWith: [...meta.sharedWith, pluginId] });
    await record(next.id, { type: "artifact.shared", data: { id: next.id, pluginId } }, actor);
    return next;
  };
  const ops: ArtifactOps = {
    list: () => store.list(),
    find: (ref) => store.meta(artifactIdOf(ref) ?? "", true),
    remove: (meta, actor, message) => removeOne(meta, actor, "removed", message),
    share,
  };

  return {
    ops,
    store,
    sweep,
    stop: async () => {
      clearInterval(timer);
      for (const s of subs) s.unsubscribe();
    },
  };
};
