import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { nuid } from "@nats-io/transport-node";
import { hostname } from "node:os";
import type { TlsOptions } from "@nats-io/nats-core";
import * as E from "fp-ts/lib/Either.js";
import type { Logger } from "pino";
import type { Authority } from "../auth/authority.js";
import { accountAuthority } from "../auth/accountAuthority.js";
import type { AccountAuthority } from "../auth/accountAuthority.js";
import { devAccountKey, opsAccountKey, pluginAccountKey } from "../auth/accounts.js";
import { startOps } from "../auth/opsStreams.js";
import type { OpsDeps } from "../auth/opsStreams.js";
import { PluginEvent } from "../events/plugin.js";
import { pluginApp } from "../plugins/app.js";
import { defaultCatalog } from "../contract/catalog.js";
import { natsEventStore } from "../store/eventStore.js";
import { applyDefinitions, loadDefinitions, pluginStreamConfig } from "../store/streamDefinitions.js";
import type { PluginStreamDefinition } from "../store/streamDefinitions.js";
import { startProjections } from "../projections/runner/live.js";
import { leased } from "../projections/runner/lease.js";
import { prepareViews } from "../projections/runner/upgrade.js";
import { allViews } from "../projections/views.js";
import { trustedEventsOf } from "../projections/view.js";
import { tasksViewWith } from "../projections/tasks.js";
import type { TaskRetention } from "../projections/taskRetention.js";
import { startTasks } from "../tasks/runtime.js";
import type { TaskRuntime, TasksOptions } from "../tasks/runtime.js";
import { startPlugins } from "../plugins/runtime.js";
import { startService } from "../service/service.js";
import { pluginEndpoints } from "../service/endpoints/plugins.js";
import { taskEndpoints } from "../service/endpoints/tasks.js";
import { queryEndpoints } from "../service/endpoints/queries.js";
import { auditEndpoints } from "../service/endpoints/audit.js";
import { startSecrets } from "../secrets/index.js";
import { serveProviders } from "../providers/serve.js";
import { startPluginConfig } from "../pluginConfig/index.js";
import type { SecretResolver } from "../secrets/resolver.js";
import { runnerEndpoints } from "../service/endpoints/runner.js";
import { startRunner } from "../runner/component.js";
import type { RunnerConfig } from "../runner/factory.js";
import type { Supervisor } from "../runner/supervisor.js";
import { appEndpoints } from "../service/endpoints/apps.js";
import { appCommands } from "../apps/commands.js";
import { startApps } from "../apps/serve.js";
import { appAccountKey } from "../auth/appAccounts.js";
import { AppEvent } from "../events/app.js";
import { TaskEvent } from "../events/task.js";
import type * as t from "io-ts";
import { startLoopMonitor } from "./loopMonitor.js";
import { manifestChecker } from "../plugins/manifestCheck.js";
import { startPipelines } from "../pipelines/runtime.js";
import { pipelineEndpoints } from "../service/endpoints/pipelines.js";
import { startArtifacts } from "../artifacts/index.js";
import { artifactEndpoints } from "../service/endpoints/artifacts.js";

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
  /** TLS of the host's connection, for the core's own extra connections (account pushes). */
  readonly tls?: TlsOptions;
  /** The OPS account's disk bound and repair period (`src/auth/opsStreams.ts`). */
  readonly ops?: Pick<OpsDeps, "diskStorage" | "repairEveryMs">;
  /** The worker runner (`src/runner/`): which backend starts the plugins whose manifest has `run:`. Absent: none. */
  readonly runner?: RunnerConfig;
  /** Resolves `secret://` references in `run.env`; without it such plugins are refused at start. */
  readonly secrets?: SecretResolver;
  /** How often the core repeats `live.versions` on every plugin's `ctl` (default 60 s; it also does at start). */
  readonly liveAnnounceEveryMs?: number;
  /** Retention of finished tasks' rows in the `tasks` view (default `DEFAULT_TASK_RETENTION`). */
  readonly taskRetention?: TaskRetention;
};

export type Core = {
  /** The tasks runtime (submit, get, cancel, retry) for in-process callers such as the test bus. */
  readonly tasks: TaskRuntime;
  /** Account pushes and credential minting; absent on a core without keys or SYS credentials. */
  readonly accounts?: AccountAuthority;
  /** Resolves `secret://` references for a plugin (grant checked, read recorded); absent on a core without keys. */
  readonly secrets?: SecretResolver;
  /** The worker runner, when `deps.runner` configured one. */
  readonly runner?: Supervisor;
  /** Stops every component, newest first. Idempotent. */
  readonly stop: () => Promise<void>;
};

/** How long each component of the core may take to stop before the stop goes on without it. */
export const COMPONENT_STOP_MS = 10_000;

/**
 * The composition of the core: applies `streams/`, then starts each component. Components are
 * stopped in reverse order of start.
 */
export const startCore = async (deps: CoreDeps): Promise<Core> => {
  const stops: [name: string, stop: () => Promise<void>][] = [];
  // Issue 12: a stall of the loop is logged with its length (where it was blocked: a CPU profile).
  stops.push(["loop monitor", startLoopMonitor(deps.log.child({ component: "loop" })).stop]);
  const jsm = await jetstreamManager(deps.nc);
  const replicas = deps.replicas ? { replicas: deps.replicas } : {};
  const definitions = await loadDefinitions();
  const report = await applyDefinitions(deps.nc, jsm, definitions, replicas);
  deps.log.info(report, "streams applied");
  const tasksTemplate = definitions.find((d): d is PluginStreamDefinition => d.kind === "stream-per-plugin" && d.config.name.startsWith("TASKS_"));
  if (!tasksTemplate) throw new Error("streams/ has no per-plugin TASKS_{plugin} stream definition");

  // The infrastructure every component shares, built once: one account authority (one push
  // chain per account), one plugin event store, one catalog, one plugin command handler.
  const accounts =
    deps.authority && deps.sysCreds
      ? accountAuthority({ authority: deps.authority, sysCreds: deps.sysCreds, servers: deps.nc.getServer(), ...(deps.tls ? { tls: deps.tls } : {}) })
      : undefined;
  const catalog = defaultCatalog();
  const pluginStore = natsEventStore(deps.nc, {
    codec: PluginEvent,
    defaultActor: "core",
    onSkipped: (s) => deps.log.warn({ skipped: s }, "undecodable plugin event skipped"),
  });
  const plugins = pluginApp({ store: pluginStore, catalog, ...(accounts ? { accounts } : {}) });
  const disablePlugin = async (pluginId: string, reason: string) => {
    const r = await plugins.execute(pluginId, { type: "disable", pluginId, reason, automatic: true }, { actor: "system:health", time: new Date() });
    if (E.isLeft(r)) throw new Error(`disable of ${pluginId} refused: ${r.left.message}`);
  };

  if (accounts) stops.push(["accounts", accounts.close]);
  // Internal keys out of the operator buckets, and the retention in force, before the live fold.
  const views = deps.taskRetention ? { ...allViews, tasks: tasksViewWith(deps.taskRetention) } : allViews;
  const projLog = deps.log.child({ component: "projections" });
  await prepareViews({ nc: deps.nc, log: projLog, views, ...replicas });
  // One core replica at a time folds the live views (a lease); the others take over within its TTL.
  const viewsLease = await leased({
    nc: deps.nc,
    key: "projections",
    holder: `${hostname()}:${process.pid}:${nuid.next()}`,
    log: projLog,
    duty: () => startProjections({ nc: deps.nc, log: projLog, views, ...replicas }),
    ...replicas,
  });
  stops.push(["projections", viewsLease.stop]);
  stops.push(["plugins", (await startPlugins({ log: deps.log, store: pluginStore, ...(accounts ? { accounts } : {}) })).stop]);
  // The OPS account (read-only operators): its JWT, a mirror of the log, copies of the views.
  if (accounts && deps.sysCreds)
    stops.push([
      "ops",
      (await startOps({ nc: deps.nc, log: deps.log, accounts, sysCreds: deps.sysCreds, ...(deps.tls ? { tls: deps.tls } : {}), ...deps.ops })).stop,
    ]);
  const authority = deps.authority;
  const tasks = await startTasks({
    nc: deps.nc,
    log: deps.log,
    disablePlugin,
    taskStream: (pluginId) => pluginStreamConfig(tasksTemplate, pluginId, replicas),
    ...(authority ? { pluginAccount: (pluginId: string) => pluginAccountKey(authority, pluginId).getPublicKey() } : {}),
    ...(deps.tasks ? { options: deps.tasks } : {}),
  });
  stops.push(["tasks", tasks.stop]);
  // Secrets need the data dir's keys (the core's curve key lives in keys/secrets.xk).
  const secrets = authority ? await startSecrets({ nc: deps.nc, log: deps.log.child({ component: "secrets" }), authority, plugins, ...replicas }) : undefined;
  if (secrets) stops.push(["secrets", secrets.stop]);
  // provider.chat / provider.embedding: calls routed as tasks to the plugin that provides them.
  const pluginAccount = authority ? (pluginId: string) => pluginAccountKey(authority, pluginId).getPublicKey() : undefined;
  const config = startPluginConfig({
    nc: deps.nc,
    log: deps.log.child({ component: "config" }),
    plugins,
    ...(pluginAccount ? { pluginAccount } : {}),
    ...(secrets ? { secretVersions: secrets.versions } : {}),
    ...(deps.liveAnnounceEveryMs ? { announceEveryMs: deps.liveAnnounceEveryMs } : {}),
  });
  stops.push(["config", config.stop]);
  stops.push([
    "providers",
    serveProviders({ nc: deps.nc, log: deps.log.child({ component: "providers" }), tasks, ...(pluginAccount ? { pluginAccount } : {}) }).stop,
  ]);
  const runnerRef: { runner?: Supervisor } = {};
  // Pipelines: after the tasks runtime (every step is a task), before applications (they may run pipelines); resumes the runs the log left open.
  const pipelines = await startPipelines({ nc: deps.nc, log: deps.log, tasks });
  stops.push(["pipelines", pipelines.stop]);
  // Applications: their commands, and the core's side of their accounts' requests.
  const apps = appCommands({
    store: natsEventStore(deps.nc, { codec: AppEvent, defaultActor: "core", onSkipped: (s) => deps.log.warn({ skipped: s }, "undecodable app event skipped") }),
    ...(accounts ? { accounts } : {}),
  });
  if (accounts) deps.log.info({ applications: await apps.reconcile() }, "application accounts pushed");
  if (authority) {
    const served = await startApps({
      nc: deps.nc,
      log: deps.log.child({ component: "apps" }),
      store: natsEventStore(deps.nc, { codec: AppEvent, defaultActor: "core" }),
      // Reads every task commit for the applications' change feeds: trusted as the runtime's are.
      taskStore: natsEventStore(deps.nc, { codec: TaskEvent, defaultActor: "core", trustLog: trustedEventsOf(TaskEvent.types as t.Mixed[]) }),
      tasks,
      appAccount: (appId) => appAccountKey(authority, appId).getPublicKey(),
      load: apps.load,
      pipelines,
    });
    stops.push(["console", served.stop]);
  }
  // Manifests (untrusted schemas and patterns) are checked on a worker thread, bounded in time.
  const checker = manifestChecker();
  checker.warm();
  stops.push(["manifest checker", checker.stop]);
  // Artifacts: the object store, plugins' chunked reads and writes, retention.
  const artifacts = await startArtifacts({
    nc: deps.nc,
    log: deps.log.child({ component: "artifacts" }),
    tasks,
    ...(pluginAccount ? { pluginAccount } : {}),
    ...(authority ? { appAccount: (appId: string) => appAccountKey(authority, appId).getPublicKey() } : {}),
  });
  stops.push(["artifacts", artifacts.stop]);
  // The service starts last: a command is answered only once everything it needs is running.
  const service = await startService(
    {
      nc: deps.nc,
      log: deps.log.child({ component: "service" }),
      ...(authority ? { accounts: { ops: opsAccountKey(authority).getPublicKey(), dev: devAccountKey(authority).getPublicKey() } } : {}),
    },
    [
      ...pluginEndpoints({ app: plugins, catalog, checker, ...(deps.dev ? { dev: true } : {}) }),
      ...taskEndpoints({ tasks }),
      ...queryEndpoints({ nc: deps.nc, log: deps.log.child({ component: "queries" }) }),
      ...auditEndpoints({ nc: deps.nc, log: deps.log.child({ component: "audit" }) }),
      ...(secrets ? secrets.endpoints : []),
      ...config.endpoints,
      ...runnerEndpoints(runnerRef),
      ...appEndpoints({ apps }),
      ...pipelineEndpoints({ pipelines }),
      ...artifactEndpoints({ artifacts: artifacts.ops }),
    ],
  );
  stops.push(["service", service.stop]);
  // The runner starts once the core answers, and stops first (its workers go before the core does).
  if (deps.runner) {
    // secret:// in run.env: the host's resolver, else the core's own secret store.
    const resolver = deps.secrets ?? secrets?.resolver;
    const runner = await startRunner({
      nc: deps.nc,
      log: deps.log,
      config: deps.runner,
      pluginStore,
      plugins,
      ...(resolver ? { secrets: resolver } : {}),
      disable: async (pluginId, reason) => {
        const r = await plugins.execute(pluginId, { type: "disable", pluginId, reason, automatic: true }, { actor: "system:runner", time: new Date() });
        if (E.isLeft(r)) throw new Error(`disable of ${pluginId} refused: ${r.left.message}`);
      },
    });
    runnerRef.runner = runner;
    stops.push(["runner", runner.stop]);
  }
  let stopping: Promise<void> | undefined;
  return {
    tasks,
    ...(accounts ? { accounts } : {}),
    ...(secrets ? { secrets: secrets.resolver } : {}),
    ...(runnerRef.runner ? { runner: runnerRef.runner } : {}),
    stop: () =>
      (stopping ??= (async () => {
        // Each component gets COMPONENT_STOP_MS: one that never finishes (a subscription whose
        // loop waits on a reply that will not come) held the whole stop, so the process never exited.
        for (const [component, s] of stops.reverse()) {
          let timer: NodeJS.Timeout | undefined;
          const overran = new Promise<"overran">((r) => (timer = setTimeout(() => r("overran"), COMPONENT_STOP_MS)));
          try {
            if ((await Promise.race([s(), overran])) === "overran")
              deps.log.warn({ component, ms: COMPONENT_STOP_MS }, "a component did not stop in time; going on without it");
          } catch (err) {
            deps.log.warn({ err, component }, "component stop failed");
          } finally {
            clearTimeout(timer);
          }
        }
      })()),
  };
};
