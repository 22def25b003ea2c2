import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { toAuditEntry } from "../../projections/audit.js";
import { trackHeartbeats } from "../../projections/heartbeats.js";
import type { HeartbeatTracker } from "../../projections/heartbeats.js";
import { BY_CAPABILITY } from "../../projections/capabilities.js";
import { loadManifests } from "../../projections/manifest.js";
import type { ViewManifest } from "../../projections/manifest.js";
import { getEntry, liveBucket, readBucket, readCheckpoint, readPointer, stripRow } from "../../projections/runner/kv.js";
import { readerStore } from "../../projections/runner/source.js";
import { TaskViewStatus } from "../../projections/tasks.js";
import { TOTALS_PLUGINS, TOTALS_TASKS } from "../../projections/totals.js";
import { isIndexKey, kvKey } from "../../projections/view.js";
import { defineEndpoint } from "../endpoint.js";
import type { Endpoint, ServiceError } from "../endpoint.js";

export type QueryDeps = {
  readonly nc: NatsConnection;
  readonly log: Logger;
  /** Default: `projections/*.json`. */
  readonly manifests?: readonly ViewManifest[];
  /** Live heartbeats merged into `views.workers` (default: a tracker on this connection). */
  readonly heartbeats?: HeartbeatTracker;
};

/** The subjects of the read-only endpoints (operators' read-only credentials may call exactly these). */
export const QUERY_ENDPOINTS = [
  "views.plugins",
  "views.plugin",
  "views.workers",
  "views.tasks",
  "views.task",
  "views.capabilities",
  "views.totals",
  "projections.status",
] as const;

const notFound = (what: string, id: string, hint: string): ServiceError => ({ code: "NotFound", message: `no ${what} ${JSON.stringify(id)}: ${hint}` });

const Limit = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0 && n <= 10_000, "an integer in 1..10000");
/** A row key from a request: an empty one is not a KV key (it failed as Internal). */
const Id = t.refinement(t.string, (s) => s.length > 0, "a non-empty string");

/**
 * The read side of the service: views read from their live bucket (the `ganglion-projections`
 * pointer), `views.task` adds the task's full event history from the log. Rows come back without
 * the runner's `lastPosition`/`lastIndex` fields.
 */
export const queryEndpoints = (deps: QueryDeps): Endpoint[] => {
  let manifestsP: Promise<readonly ViewManifest[]> | undefined;
  const manifest = async (name: string) => {
    const all = await (manifestsP ??= deps.manifests ? Promise.resolve(deps.manifests) : loadManifests());
    const m = all.find((x) => x.name === name);
    if (!m) throw new Error(`no view ${name} is declared in projections/`);
    return m;
  };
  const bucketOf = async (view: string) => liveBucket(deps.nc, await manifest(view));
  const rows = async (view: string): Promise<[string, unknown][]> => {
    const bucket = await bucketOf(view);
    try {
      const all = await readBucket(await new Kvm(deps.nc).open(bucket));
      return [...all].filter(([k]) => !isIndexKey(k)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, stripRow(v)]);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return [];
      throw err;
    }
  };
  const row = async (view: string, key: string) => {
    const e = await getEntry(deps.nc, await bucketOf(view), key);
    return e ? stripRow(JSON.parse(new TextDecoder().decode(e.value))) : undefined;
  };
  const store = readerStore(deps.nc, deps.log);
  // SMELL -- the default tracker lives as long as the connection (endpoint lists have no stop).
  const heartbeats = deps.heartbeats ?? trackHeartbeats(deps.nc);

  return [
    defineEndpoint({
      name: "views.plugins",
      access: "read",
      description: "Plugins from the plugins view: status, version, granted and pending capabilities. Request {status?}.",
      request: t.partial({ status: t.keyof({ pending: null, active: null, disabled: null, removed: null }) }),
      handle: async (req) => E.right((await rows("plugins")).map(([, v]) => v).filter((v) => !req.status || (v as { status?: string }).status === req.status)),
    }),
    defineEndpoint({
      name: "views.plugin",
      access: "read",
      description: "One plugin's row of the plugins view. Request {pluginId}.",
      request: t.type({ pluginId: Id }),
      handle: async (req) => {
        const v = await row("plugins", kvKey(req.pluginId));
        return v ? E.right(v) : E.left(notFound("plugin", req.pluginId, "list them with `ganglion plugins`"));
      },
    }),
    defineEndpoint({
      name: "views.workers",
      access: "read",
      description: "Workers by plugin: instances online, last heartbeat, tasks in flight, recent failures. Request {pluginId?}.",
      request: t.partial({ pluginId: t.string }),
      handle: async (req) =>
        E.right(
          (await rows("workers"))
            .map(([, v]) => v as { pluginId: string })
            .filter((v) => !req.pluginId || v.pluginId === req.pluginId)
            .map((v) => ({ ...v, live: heartbeats.live(v.pluginId) })),
        ),
    }),
    defineEndpoint({
      name: "views.tasks",
      access: "read",
      description: "Tasks from the tasks view, newest first. Request {status?, pluginId?, limit? (default 100)}.",
      request: t.partial({ status: TaskViewStatus, pluginId: t.string, limit: Limit }),
      handle: async (req) => {
        type R = { status?: string; pluginId?: string; submittedAt?: string };
        const all = (await rows("tasks")).map(([, v]) => v as R);
        const kept = all.filter((v) => (!req.status || v.status === req.status) && (!req.pluginId || v.pluginId === req.pluginId));
        kept.sort((a, b) => ((a.submittedAt ?? "") < (b.submittedAt ?? "") ? 1 : -1));
        return E.right(kept.slice(0, req.limit ?? 100));
      },
    }),
    defineEndpoint({
      name: "views.task",
      access: "read",
      description: "One task: its row of the tasks view and its full event history. Request {taskId}.",
      request: t.type({ taskId: Id }),
      handle: async (req) => {
        const v = await row("tasks", kvKey(req.taskId));
        const history = [];
        if (/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(req.taskId)) for await (const e of store.readStream(`task-${req.taskId}`)) history.push(toAuditEntry(e));
        if (!v && history.length === 0) return E.left(notFound("task", req.taskId, "list tasks with `ganglion tasks`"));
        return E.right({ task: v ?? null, history });
      },
    }),
    defineEndpoint({
      name: "views.capabilities",
      access: "read",
      description: "Who may do what: capability → plugins and plugin → capabilities. Request {}.",
      request: t.type({}),
      handle: async () => {
        const all = await rows("capabilities");
        const by = all.find(([k]) => k === BY_CAPABILITY)?.[1] as { capabilities?: Record<string, string[]> } | undefined;
        const byPlugin: Record<string, string[]> = {};
        for (const [k, v] of all) {
          if (!k.startsWith("plugin.")) continue;
          const r = v as { pluginId: string; capabilities: string[] };
          byPlugin[r.pluginId] = r.capabilities;
        }
        return E.right({ byCapability: by?.capabilities ?? {}, byPlugin });
      },
    }),
    defineEndpoint({
      name: "views.totals",
      access: "read",
      description: "Counts by status of tasks and plugins. Request {}.",
      request: t.type({}),
      handle: async () => {
        const empty = { byStatus: {}, total: 0 };
        return E.right({ tasks: (await row("totals", TOTALS_TASKS)) ?? empty, plugins: (await row("totals", TOTALS_PLUGINS)) ?? empty });
      },
    }),
    defineEndpoint({
      name: "projections.status",
      access: "read",
      description: "Each view: its live bucket and version, checkpoint, and the head of the log. Request {}.",
      request: t.type({}),
      handle: async () => {
        const head = Number(await store.headPosition());
        const all = await (manifestsP ??= deps.manifests ? Promise.resolve(deps.manifests) : loadManifests());
        const out = [];
        for (const m of all) {
          const p = await readPointer(deps.nc, m.name);
          const cp = (await readCheckpoint(deps.nc, m.bucket)) ?? 0;
          out.push({
            view: m.name,
            version: m.version,
            bucket: m.bucket,
            liveBucket: p?.bucket ?? m.bucket,
            liveVersion: p?.version ?? m.version,
            checkpoint: cp,
            head,
            behind: Math.max(0, head - cp),
          });
        }
        return E.right(out);
      },
    }),
  ];
};
