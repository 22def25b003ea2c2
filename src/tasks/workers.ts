import * as E from "fp-ts/lib/Either.js";
import type { WorkerEvent } from "../events/worker.js";

/**
 * Liveness of a plugin's worker instances, pure. Heartbeats become `worker.online` only when an
 * instance is not online yet, and `worker.offline` only when it is: transitions, never one event
 * per heartbeat.
 */
export type Workers = { readonly online: ReadonlyMap<string, { readonly version: string; readonly since: string }> };

export type WorkerCommand =
  | { readonly type: "heartbeat"; readonly pluginId: string; readonly instance: string; readonly version: string; readonly at: string }
  | { readonly type: "lost"; readonly pluginId: string; readonly instance: string; readonly reason: "silent" | "stopped"; readonly at: string };

export const initialWorkers = (): Workers => ({ online: new Map() });

export const decideWorker = (cmd: WorkerCommand, s: Workers): E.Either<{ _tag: "NoChange" }, WorkerEvent[]> => {
  const known = s.online.has(cmd.instance);
  if (cmd.type === "heartbeat") {
    return known ? E.left({ _tag: "NoChange" }) : E.right([{ type: "worker.online", data: { pluginId: cmd.pluginId, instance: cmd.instance, version: cmd.version, at: cmd.at } }]);
  }
  return known ? E.right([{ type: "worker.offline", data: { pluginId: cmd.pluginId, instance: cmd.instance, reason: cmd.reason, at: cmd.at } }]) : E.left({ _tag: "NoChange" });
};

export const evolveWorkers = (s: Workers, e: WorkerEvent): Workers => {
  const online = new Map(s.online);
  if (e.type === "worker.online") online.set(e.data.instance, { version: e.data.version, since: e.data.at });
  else online.delete(e.data.instance);
  return { online };
};
