import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Authority } from "./auth/authority.js";
import { applyDefinitions, loadDefinitions } from "./store/streamDefinitions.js";
import { startProjections } from "./projections/runner.js";
import { startTasks } from "./tasks/runtime.js";
import type { TaskRuntime, TasksOptions } from "./tasks/runtime.js";
import { startPlugins } from "./plugins/runtime.js";
import { startService } from "./service/service.js";
import { pluginEndpoints } from "./service/endpoints/plugins.js";
import { taskEndpoints } from "./service/endpoints/tasks.js";
import { queryEndpoints } from "./service/endpoints/queries.js";
import { auditEndpoints } from "./service/endpoints/audit.js";

/** What the core needs from its host process (`ganglion up` or `ganglion serve`). */
export type CoreDeps = {
  readonly nc: NatsConnection;
  readonly log: Logger;
  /** Key material; absent when the core runs without the right to mint credentials. */
  readonly authority?: Authority;
  /** Credentials of a SYS-account user, used to push BUS account JWTs (revocations). */
  readonly sysCreds?: string;
  /** Stream replicas (1 on a single node, 3 on a cluster). */
  readonly replicas?: number;
  /** Development mode: self-registering plugins are approved automatically. */
  readonly dev?: boolean;
  /** Tasks runtime settings (ack wait, payload limit, heartbeat timeout, limit overrides). */
  readonly tasks?: TasksOptions;
};

export type Core = {
  /** The tasks runtime (submit, get, cancel, retry) for in-process callers such as the test bus. */
  readonly tasks: TaskRuntime;
  /** Stops every component, newest first. Idempotent. */
  readonly stop: () => Promise<void>;
};

/**
 * The composition of the core: applies `streams/`, then starts each component. Components are
 * stopped in reverse order of start.
 */
export const startCore = async (deps: CoreDeps): Promise<Core> => {
  const stops: (() => Promise<void>)[] = [];
  const jsm = await jetstreamManager(deps.nc);
  const report = await applyDefinitions(deps.nc, jsm, await loadDefinitions(), deps.replicas ? { replicas: deps.replicas } : {});
  deps.log.info(report, "streams applied");
  stops.push((await startProjections({ nc: deps.nc, log: deps.log.child({ component: "projections" }), ...(deps.replicas ? { replicas: deps.replicas } : {}) })).stop);
  stops.push((await startPlugins(deps)).stop);
  const tasks = await startTasks({ nc: deps.nc, log: deps.log, ...(deps.authority ? { authority: deps.authority } : {}), ...(deps.sysCreds ? { sysCreds: deps.sysCreds } : {}),
    ...(deps.tasks ? { options: deps.tasks } : {}),
  });
  stops.push(tasks.stop);
  // The service starts last: a command is answered only once everything it needs is running.
  const service = await startService({ nc: deps.nc, log: deps.log.child({ component: "service" }) }, [
    ...pluginEndpoints(deps),
    ...taskEndpoints({ tasks }),
    ...queryEndpoints({ nc: deps.nc, log: deps.log.child({ component: "queries" }) }),
    ...auditEndpoints({ nc: deps.nc, log: deps.log.child({ component: "audit" }) }),
  ]);
  stops.push(service.stop);
  let stopping: Promise<void> | undefined;
  return {
    tasks,
    stop: () =>
      (stopping ??= (async () => {
        for (const s of stops.reverse()) {
          try {
            await s();
          } catch (err) {
            deps.log.warn({ err }, "component stop failed");
          }
        }
      })()),
  };
};
