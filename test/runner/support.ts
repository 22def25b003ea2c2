import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { pino } from "pino";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadConfig } from "../../src/config.js";
import { startCore } from "../../src/host/core.js";
import type { Core } from "../../src/host/core.js";
import { prepareInstallation, runEmbeddedServer } from "../../src/embedded/installation.js";
import { serviceClient } from "../../src/contract/client.js";
import type { EndpointName, RequestOf, ResponseOf } from "../../src/contract/endpoints.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { GanglionEvent } from "../../src/events/index.js";
import type { RunnerConfig } from "../../src/runner/factory.js";
import type { SecretResolver } from "../../src/runner/ports.js";

export const repoRoot = new URL("../../", import.meta.url).pathname;

/**
 * A nats-server and a core with a `process` runner, for the runner's tests. `startCore` may be
 * called again on the same server and runner state dir (a core restart); `core.runner.detach()`
 * first lets a core go without stopping its workers, as a core that dies would.
 */
export const runnerBus = async (opts: { secrets?: SecretResolver; logMaxBytes?: number } = {}) => {
  const log = pino({ level: process.env.RUNNER_TEST_LOG ?? "warn" }, pino.destination({ fd: 2, sync: true }));
  const dataDir = await mkdtemp(join(tmpdir(), "ganglion-runner-"));
  const installation = await prepareInstallation({ dataDir, host: "127.0.0.1", port: 0 });
  const config = loadConfig();
  const server = await runEmbeddedServer(installation, { host: "127.0.0.1", port: 0, env: { NATS_SERVER_BIN: config.natsServerBin, PATH: config.path } });
  const connectAdmin = async () =>
    connect({
      servers: server.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(await readFile(installation.adminCreds, "utf8"))),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
  const nc: NatsConnection = await connectAdmin();
  const sysCreds = await readFile(installation.sysCreds, "utf8");
  const runner: RunnerConfig = {
    backend: "process",
    stateDir: join(dataDir, "runner"),
    baseDir: repoRoot,
    natsUrl: server.url,
    ...(opts.logMaxBytes ? { logMaxBytes: opts.logMaxBytes } : {}),
  };
  const cores: { core: Core; nc: NatsConnection }[] = [];
  const newCore = async (): Promise<Core> => {
    const cnc = await connectAdmin();
    const core = await startCore({
      nc: cnc,
      log,
      authority: installation.authority,
      sysCreds,
      tasks: { ackWaitMs: 2000, heartbeatTimeoutMs: 3000, progressThrottleMs: 200 },
      runner,
      ...(opts.secrets ? { secrets: opts.secrets } : {}),
    });
    cores.push({ core, nc: cnc });
    return core;
  };
  const client = serviceClient(nc, { actor: "operator:test" });
  const call = async <N extends EndpointName>(endpoint: N, req: RequestOf<N>): Promise<ResponseOf<N>> => {
    const r = await client.call(endpoint, req, { timeoutMs: 60_000 } as never);
    if (E.isLeft(r)) throw Object.assign(new Error(`${endpoint}: ${r.left.code}: ${r.left.message}`), { code: r.left.code });
    return r.right;
  };
  const events = natsEventStore(nc, { codec: GanglionEvent, defaultActor: "test" });
  /** Every event of the log whose type starts with `prefix`, for one plugin. */
  const eventsOf = async (pluginId: string, prefix: string) => {
    const out: { type: string; data: Record<string, unknown> }[] = [];
    for await (const e of events.readAll({})) {
      if (e.type.startsWith(prefix) && (e.data as { pluginId?: string }).pluginId === pluginId) out.push(e as never);
    }
    return out;
  };
  const stopCores = async () => {
    for (const c of cores.splice(0)) {
      await c.core.stop().catch(() => undefined);
      await c.nc.drain().catch(() => undefined);
    }
  };
  return {
    url: server.url,
    dataDir,
    stateDir: runner.stateDir,
    nc,
    newCore,
    call,
    eventsOf,
    stopCores,
    stop: async () => {
      await stopCores();
      await nc.drain().catch(() => undefined);
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
};

/** Polls `probe` until it answers something other than undefined. The bound only keeps a broken run from hanging. */
export const until = async <A>(what: string, probe: () => Promise<A | undefined> | A | undefined, limitMs = 60_000): Promise<A> => {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
};

/** The sleeper fixture's manifest, with a run section (`run` overrides its fields). */
export const sleeperManifest = (id: string, run: Record<string, unknown> = {}) => ({
  id,
  version: "1.0.0",
  description: "sleeps on request (runner tests)",
  provides: [
    {
      type: "sleep.for",
      description: "sleep",
      params: { type: "object", required: ["ms"], properties: { ms: { type: "integer" } } },
      result: { type: "object" },
      timeout: "20s",
      retry: { maxAttempts: 3, backoff: ["500ms", "500ms"] },
    },
  ],
  capabilities: [],
  run: {
    command: "{node}",
    args: ["--import", "{app}/../../../node_modules/tsx/dist/loader.mjs", "{app}/sleeper.ts"],
    cwd: "test/runner/fixtures",
    instances: 1,
    stopGrace: "5s",
    restart: { mode: "always", backoff: ["200ms", "500ms"], crashLoop: { restarts: 4, window: "30s" } },
    ...run,
  },
});
