import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { pino } from "pino";
import type { Logger } from "pino";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AccountAuthority } from "../auth/accountAuthority.js";
import { loadConfig } from "../config.js";
import { startCore } from "../host/core.js";
import { prepareInstallation, runEmbeddedServer } from "../embedded/installation.js";
import type { Installation } from "../embedded/installation.js";
import { PluginEvent } from "../events/plugin.js";
import { pluginApp } from "../plugins/app.js";
import { defaultCatalog } from "../contract/catalog.js";
import { decodeManifest, decodeManifestValue } from "../plugins/manifest.js";
import { natsEventStore } from "../store/eventStore.js";
import { serviceClient } from "../contract/client.js";
import type { ServiceClient } from "../contract/client.js";
import type { TaskRuntime, TaskView, TasksOptions } from "../tasks/runtime.js";
import { tlsConnectOption, tlsDir } from "../contract/tls.js";
import type { ClientTls } from "../contract/tls.js";
import { mintClientCertificate } from "../tls/pki.js";
import { writeSecret } from "../auth/authority.js";
import { drainOrClose } from "../sdk/connection.js";

export type TestBusOptions = {
  /** Tasks runtime options; the defaults here are short so tests stay fast (ack wait 2 s, offline after 3 s). */
  readonly tasks?: TasksOptions;
  readonly logger?: Logger;
  /**
   * TLS on the server (as `ganglion up --tls`): a CA and certificates generated in the temp data
   * dir; `{ verify: true }` also makes clients present a certificate. Workers then connect with
   * `tls: bus.tls`.
   */
  readonly tls?: boolean | { readonly verify?: boolean };
  /** How often the core repeats `live.versions` (default 60 s): a test of another catch-up path sets it beyond its own length. */
  readonly liveAnnounceEveryMs?: number;
};

export type TestBus = {
  /** The server URL for `new Worker({ servers })` (`tls://` with the `tls` option). */
  readonly url: string;
  /** With the `tls` option: what a worker connects with (`new Worker({ tls: bus.tls })`): the CA, and under `verify` a client certificate. */
  readonly tls?: ClientTls;
  readonly dataDir: string;
  readonly installation: Installation;
  /** An admin (full BUS) connection. */
  readonly nc: NatsConnection;
  readonly tasks: TaskRuntime;
  /** The core's account authority (mints credentials, pushes account JWTs). */
  readonly accounts?: AccountAuthority;
  /**
   * Installs a plugin from its manifest (YAML/JSON text or an object), grants what it asks for
   * (or `grant`), and answers fresh credentials (`.creds` text) for its workers.
   */
  readonly install: (manifest: string | Record<string, unknown>, opts?: { grant?: readonly string[] | "all" }) => Promise<{ pluginId: string; creds: string }>;
  /** Submits a task as an operator would; with `waitMs`, waits for its end. Throws on a refusal. */
  readonly submit: (taskType: string, params: unknown, opts?: { pluginId?: string; waitMs?: number }) => Promise<TaskView>;
  /**
   * Calls an endpoint of the core's service (`plugin.disable`, `task.cancel`, ...) as
   * `operator:test`, typed by the contract's endpoint table: the reply is decoded with the
   * endpoint's response codec.
   */
  readonly call: ServiceClient["call"];
  /** A connection with some credentials (for checks of what a plugin may do). */
  readonly connectWith: (creds: string, inboxPrefix?: string) => Promise<NatsConnection>;
  /** Stops the nats-server and starts it again on the same port and store (clients reconnect). */
  readonly restartServer: () => Promise<void>;
  readonly stop: () => Promise<void>;
};

/**
 * A whole bus for a plugin's own tests: an embedded nats-server (operator mode, a temp data dir,
 * a free port) and the real core (streams, projections, plugins, tasks, the `ganglion` service).
 *
 * ```ts
 * const bus = await createTestBus();
 * const { creds } = await bus.install(manifestYaml);
 * const worker = new Worker({ plugin: "wordcount", creds, servers: bus.url });
 * worker.onTask("text.wordcount", async ({ text }) => ({ words: text.split(/\s+/).length }));
 * await worker.run();
 * const task = await bus.submit("text.wordcount", { text: "a b c" }, { waitMs: 5000 });
 * await worker.stop(); await bus.stop();
 * ```
 */
export const createTestBus = async (opts: TestBusOptions = {}): Promise<TestBus> => {
  const log = opts.logger ?? pino({ level: "warn" }, pino.destination({ fd: 2, sync: true }));
  const dataDir = await mkdtemp(join(tmpdir(), "ganglion-testbus-"));
  const tlsSetup = opts.tls ? { verify: typeof opts.tls === "object" && Boolean(opts.tls.verify) } : undefined;
  const installation = await prepareInstallation({ dataDir, host: "127.0.0.1", port: 0, ...(tlsSetup ? { tls: tlsSetup } : {}) });
  const adminTls = installation.tls?.client;
  const config = loadConfig();
  const env = { NATS_SERVER_BIN: config.natsServerBin, PATH: config.path };
  let server = await runEmbeddedServer(installation, { host: "127.0.0.1", port: 0, env });
  const connectWith = (creds: string, inboxPrefix?: string) =>
    connect({
      servers: server.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
      ...(inboxPrefix ? { inboxPrefix } : {}),
      ...tlsConnectOption(adminTls),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
  const nc = await connectWith(await readFile(installation.adminCreds, "utf8"));
  // Workers get a client certificate of their own when the server verifies clients.
  let workerTls: ClientTls | undefined = adminTls ? { ca: adminTls.ca } : undefined;
  if (adminTls && tlsSetup?.verify) {
    const made = await mintClientCertificate(dataDir, "test-worker");
    const files = { cert: join(tlsDir(dataDir), "test-worker-cert.pem"), key: join(tlsDir(dataDir), "test-worker-key.pem") };
    await writeSecret(files.key, made.key, 0o600);
    await writeSecret(files.cert, made.cert, 0o644);
    workerTls = { ca: adminTls.ca, ...files };
  }
  const sysCreds = await readFile(installation.sysCreds, "utf8");
  // The real core (streams, projections, plugins, tasks, the service), with short timeouts.
  const core = await startCore({
    nc,
    log,
    authority: installation.authority,
    sysCreds,
    tasks: { ackWaitMs: 2000, heartbeatTimeoutMs: 3000, progressThrottleMs: 200, ...opts.tasks },
    ...(opts.liveAnnounceEveryMs ? { liveAnnounceEveryMs: opts.liveAnnounceEveryMs } : {}),
    ...tlsConnectOption(adminTls),
  });
  const tasks = core.tasks;
  const catalog = defaultCatalog();
  const app = pluginApp({
    store: natsEventStore(nc, { codec: PluginEvent, defaultActor: "operator:test" }),
    catalog,
    ...(core.accounts ? { accounts: core.accounts } : {}),
  });
  const meta = () => ({ actor: "operator:test", time: new Date() });

  return {
    url: server.url,
    ...(workerTls ? { tls: workerTls } : {}),
    dataDir,
    installation,
    nc,
    tasks,
    ...(core.accounts ? { accounts: core.accounts } : {}),
    install: async (manifest, o = {}) => {
      const m = typeof manifest === "string" ? decodeManifest(manifest) : decodeManifestValue(manifest);
      if (E.isLeft(m)) throw new Error(`invalid manifest:\n  ${m.left.join("\n  ")}`);
      const r = await app.execute(m.right.id, { type: "install", manifest: m.right, grant: o.grant ?? "all" }, meta());
      if (E.isLeft(r)) throw new Error(`install refused: ${r.left.message}`);
      const c = await app.issueCredentials(m.right.id, {}, meta());
      if (E.isLeft(c)) throw new Error(`credentials refused: ${c.left.message}`);
      return { pluginId: m.right.id, creds: c.right.creds };
    },
    submit: async (taskType, params, o = {}) => {
      const r = await tasks.submit({ taskType, params, ...(o.pluginId ? { pluginId: o.pluginId } : {}) }, { actor: "operator:test" });
      if (E.isLeft(r)) throw Object.assign(new Error(`${r.left.code}: ${r.left.message}`), { code: r.left.code, error: r.left });
      const v = await tasks.get(r.right.taskId, o.waitMs ?? 0);
      if (E.isLeft(v)) throw new Error(v.left.message);
      return v.right;
    },
    call: serviceClient(nc).call,
    connectWith,
    restartServer: async () => {
      const port = server.port;
      await server.stop();
      const again = await prepareInstallation({ dataDir, host: "127.0.0.1", port, ...(tlsSetup ? { tls: tlsSetup } : {}) });
      server = await runEmbeddedServer(again, { host: "127.0.0.1", port, env });
    },
    stop: async () => {
      await core.stop().catch(() => undefined);
      await drainOrClose(nc);
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
};
