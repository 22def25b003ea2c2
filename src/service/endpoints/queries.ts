import * as E from "fp-ts/lib/Either.js";
import { Endpoints } from "../../contract/endpoints.js";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { toAuditEntry } from "../../projections/audit.js";
import { trackHeartbeats } from "../../projections/heartbeats.js";
import type { HeartbeatTracker } from "../../projections/heartbeats.js";
import { BY_CAPABILITY } from "../../projections/capabilities.js";
import type { ByCapabilityRow, PluginCapabilitiesRow } from "../../projections/capabilities.js";
import type { PluginRow } from "../../projections/plugins.js";
import type { TaskRow } from "../../projections/tasks.js";
import type { TotalsRow } from "../../projections/totals.js";
import type { RunView } from "../../contract/pipeline.js";
import type { WorkerRow } from "../../projections/workers.js";
import type * as C from "../../contract/responses.js";
import { loadManifests } from "../../projections/manifest.js";
import type { ViewManifest } from "../../projections/manifest.js";
import { getEntry, liveBucket, readBucket, readCheckpoint, readPointer, stripRow } from "../../projections/runner/kv.js";
import { indexer, readerStore } from "../../projections/runner/source.js";
import type { AnyEvent } from "../../projections/runner/source.js";
import type { RecordedEvent } from "../../store/types.js";
import { foldAll, stripPosition } from "../../projections/fold.js";
import { taskKey, tasksViewWith } from "../../projections/tasks.js";
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

/** The row type of each view, from its codec in `src/projections/` (the rows these endpoints answer). */
type Rows = {
  plugins: PluginRow;
  workers: WorkerRow;
  tasks: TaskRow;
  totals: TotalsRow;
  capabilities: ByCapabilityRow | PluginCapabilitiesRow;
  pipelines: RunView;
};

/**
 * The views' rows are the contract's (`src/contract/responses.ts`): the handlers below answer the
 * projections' rows where the table says contract rows (one direction), and this says the other.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const rowsAreTheContracts: [Same<PluginRow, C.PluginRow>, Same<WorkerRow, C.WorkerRow>, Same<TaskRow, C.TaskRow>, Same<TotalsRow, C.TotalsRow>] = [
  true,
  true,
  true,
  true,
];
void rowsAreTheContracts;

/** The tasks view without retention: a task's row folded from its own history. */
const keepAll = tasksViewWith({ keepFinished: null, maxAgeMs: null });
const taskRowFromHistory = (taskId: string, events: RecordedEvent<AnyEvent>[]): TaskRow | null => {
  const row = foldAll(keepAll, events.map(indexer())).get(taskKey(taskId));
  return row ? (stripPosition(row) as TaskRow) : null;
};

const notFound = (what: string, id: string, hint: string): ServiceError => ({ code: "NotFound", message: `no ${what} ${JSON.stringify(id)}: ${hint}` });

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
  // A row of view V was written by V's fold, so it has V's row type (the KV buckets are the core's own).
  const rows = async <V extends keyof Rows>(view: V): Promise<[string, Rows[V]][]> => {
    const bucket = await bucketOf(view);
    try {
      const all = await readBucket(await new Kvm(deps.nc).open(bucket));
      return [...all]
        .filter(([k]) => !isIndexKey(k))
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, stripRow(v) as Rows[V]]);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return [];
      throw err;
    }
  };
  const row = async <V extends keyof Rows>(view: V, key: string): Promise<Rows[V] | undefined> => {
    const e = await getEntry(deps.nc, await bucketOf(view), key);
    return e ? (stripRow(JSON.parse(new TextDecoder().decode(e.value))) as Rows[V]) : undefined;
  };
  const store = readerStore(deps.nc, deps.log);
  // SMELL -- the default tracker lives as long as the connection (endpoint lists have no stop).
  const heartbeats = deps.heartbeats ?? trackHeartbeats(deps.nc);

  return [
    defineEndpoint(Endpoints["views.plugins"], async (req) =>
      E.right((await rows("plugins")).map(([, v]) => v).filter((v) => !req.status || v.status === req.status)),
    ),
    defineEndpoint(Endpoints["views.plugin"], async (req) => {
      const v = await row("plugins", kvKey(req.pluginId));
      return v ? E.right(v) : E.left(notFound("plugin", req.pluginId, "list them with `ganglion plugins`"));
    }),
    defineEndpoint(Endpoints["views.workers"], async (req) =>
      E.right(
        (await rows("workers"))
          .map(([, v]) => v)
          .filter((v) => !req.pluginId || v.pluginId === req.pluginId)
          .map((v) => ({ ...v, live: heartbeats.live(v.pluginId) })),
      ),
    ),
    defineEndpoint(Endpoints["views.tasks"], async (req) => {
      const all = (await rows("tasks")).map(([, v]) => v);
      const kept = all.filter((v) => (!req.status || v.status === req.status) && (!req.pluginId || v.pluginId === req.pluginId));
      kept.sort((a, b) => ((a.submittedAt ?? "") < (b.submittedAt ?? "") ? 1 : -1));
      return E.right(kept.slice(0, req.limit ?? 100));
    }),
    defineEndpoint(Endpoints["views.task"], async (req) => {
      const v = await row("tasks", kvKey(req.taskId));
      const history = [];
      const events = [];
      if (/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(req.taskId))
        for await (const e of store.readStream(`task-${req.taskId}`)) {
          history.push(toAuditEntry(e));
          if (!v) events.push(e);
        }
      if (!v && history.length === 0) return E.left(notFound("task", req.taskId, "list tasks with `ganglion tasks`"));
      // A finished task's row may have gone by the view's retention: its history still gives it.
      return E.right({ task: v ?? taskRowFromHistory(req.taskId, events), history });
    }),
    defineEndpoint(Endpoints["views.capabilities"], async () => {
      const all = await rows("capabilities");
      const by = all.find(([k]) => k === BY_CAPABILITY)?.[1] as ByCapabilityRow | undefined;
      const byPlugin: Record<string, string[]> = {};
      for (const [k, v] of all) {
        if (!k.startsWith("plugin.")) continue;
        const r = v as PluginCapabilitiesRow;
        byPlugin[r.pluginId] = r.capabilities;
      }
      return E.right({ byCapability: by?.capabilities ?? {}, byPlugin });
    }),
    defineEndpoint(Endpoints["views.totals"], async () => {
      const empty: TotalsRow = { byStatus: {}, total: 0 };
      return E.right({ tasks: (await row("totals", TOTALS_TASKS)) ?? empty, plugins: (await row("totals", TOTALS_PLUGINS)) ?? empty });
    }),
    defineEndpoint(Endpoints["views.pipelines"], async (req) => {
      const kept = (await rows("pipelines")).map(([, v]) => v).filter((v) => (!req.name || v.name === req.name) && (!req.status || v.status === req.status));
      kept.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.runId < b.runId ? 1 : -1));
      return E.right(kept.slice(0, req.limit ?? 100));
    }),
    defineEndpoint(Endpoints["views.pipeline"], async (req) => {
      const v = await row("pipelines", kvKey(req.runId));
      return v ? E.right(v) : E.left(notFound("pipeline run", req.runId, "list them with `ganglion pipeline runs`"));
    }),
    defineEndpoint(Endpoints["projections.status"], async () => {
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
    }),
  ];
};
