import * as t from "io-ts";

/**
 * Liveness of worker instances, on the stream `worker-<pluginId>` (subject `ev.worker.<pluginId>`).
 * Appended by the core's health monitor only on transitions, never once per heartbeat.
 */

/** The first heartbeat of an instance that was not online. */
export const WorkerOnline = t.type({
  type: t.literal("worker.online"),
  data: t.type({ pluginId: t.string, instance: t.string, version: t.string, at: t.string }),
});
export type WorkerOnline = t.TypeOf<typeof WorkerOnline>;

/** An online instance missed its heartbeats (`reason: "silent"`) or said goodbye (`"stopped"`). */
export const WorkerOffline = t.type({
  type: t.literal("worker.offline"),
  data: t.type({ pluginId: t.string, instance: t.string, reason: t.keyof({ silent: null, stopped: null }), at: t.string }),
});
export type WorkerOffline = t.TypeOf<typeof WorkerOffline>;

export const WorkerEvent = t.union([WorkerOnline, WorkerOffline]);
export type WorkerEvent = t.TypeOf<typeof WorkerEvent>;

/** Stream category of all plugins' worker instances (`ev.worker.>`). */
export const WORKER_CATEGORY = "worker";
/** Event-store stream of a plugin's worker instances. */
export const workerStreamName = (pluginId: string) => `${WORKER_CATEGORY}-${pluginId}`;
