import * as E from "fp-ts/lib/Either.js";
import type { Decider } from "../es/decider.js";
import type { WorkerEvent } from "../events/worker.js";
import { assertNever } from "../events/exhaustive.js";

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

/** The one rejection: the command changes nothing (no event is appended). */
export type WorkerRejection = { readonly _tag: "NoChange" };

export const decideWorker = (cmd: WorkerCommand, s: Workers): E.Either<WorkerRejection, WorkerEvent[]> => {
  const known = s.online.has(cmd.instance);
  switch (cmd.type) {
    case "heartbeat":
      return known
        ? E.left({ _tag: "NoChange" })
        : E.right([{ type: "worker.online", data: { pluginId: cmd.pluginId, instance: cmd.instance, version: cmd.version, at: cmd.at } }]);
    case "lost":
      return known
        ? E.right([{ type: "worker.offline", data: { pluginId: cmd.pluginId, instance: cmd.instance, reason: cmd.reason, at: cmd.at } }])
        : E.left({ _tag: "NoChange" });
    default:
      return assertNever(cmd, "worker command");
  }
};

export const evolveWorkers = (s: Workers, e: WorkerEvent): Workers => {
  const online = new Map(s.online);
  switch (e.type) {
    case "worker.online":
      online.set(e.data.instance, { version: e.data.version, since: e.data.at });
      break;
    case "worker.offline":
      online.delete(e.data.instance);
      break;
    default:
      return assertNever(e, "worker event");
  }
  return { online };
};

/** A plugin's worker instances as one value, for the command handler (`src/es/handleCommand.ts`). */
export const workerDecider: Decider<Workers, WorkerCommand, WorkerEvent, WorkerRejection> = {
  decide: decideWorker,
  evolve: evolveWorkers,
  initialState: initialWorkers,
};
