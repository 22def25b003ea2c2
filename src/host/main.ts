import { access, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  adminCredsPath,
  adminPermissions,
  loadOrCreateAuthority,
  mintBusUser,
  mintSysUser,
  sysCredsPath,
  writeSecret,
  AuthorityError,
} from "../auth/authority.js";
import type { Authority } from "../auth/authority.js";
import { renderServerConfig } from "../embedded/config.js";
import { natsDir, portsDirPath, preloadedAccounts, prepareInstallation, runEmbeddedServer, urlFilePath } from "../embedded/installation.js";
import type { TlsSetup } from "../embedded/installation.js";
import { tlsConnectOption } from "../contract/tls.js";
import { prepareServerTls } from "../tls/pki.js";
import type { ClientTls } from "../contract/tls.js";
import { findNatsServer, MIN_SERVER_VERSION, NatsServerError, natsServerVersion, portFree, versionAtLeast } from "../embedded/natsServer.js";
import { startCore } from "./core.js";
import type { TaskRetention } from "../projections/taskRetention.js";
import { writeDevBootstrapCredentials } from "../plugins/credentials.js";
import type { Core } from "./core.js";
import type { Logger } from "../log.js";
import type { RunnerConfig } from "../runner/factory.js";
import { drainOrClose } from "../sdk/connection.js";

/**
 * The composition roots of the two ways to run the core: `ganglion up` (an embedded nats-server
 * in a data dir) and `ganglion serve` (an existing server or cluster). The CLI parses argv and
 * calls these; nothing here parses argv or prints to stdout.
 */

/** A running core, embedded or not. */
export type RunningBus = {
  /** The client URL of the bus. */
  readonly url: string;
  /** Resolves when the bus ends by itself (nats-server died, connection closed): the reason. */
  readonly ended: Promise<string>;
  /** Stops the core, then the connection, then (embedded) nats-server. Idempotent. */
  readonly stop: () => Promise<void>;
};

export type EmbeddedBus = RunningBus & {
  readonly dataDir: string;
  readonly adminCreds: string;
  /** Dev mode only: credentials a worker presents to register its own manifest. */
  readonly devBootstrapCreds?: string;
  /** The watchdog process that owns nats-server (the ports file names the server's own pid). */
  readonly serverPid: number;
  /** With TLS: what local clients connect with (the CA; under `verify` the admin client certificate too). */
  readonly tls?: ClientTls & { readonly verify: boolean };
};

/** Thrown when the core fails to start; everything started before it has been stopped. */
export class CoreStartError extends Error {
  override name = "CoreStartError";
}

type ServerEnv = { NATS_SERVER_BIN?: string | undefined; PATH?: string | undefined };

const exists = async (p: string) => {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
};

const connectWithCreds = (url: string, creds: string, name: string, opts: { maxReconnectAttempts?: number; tls?: ClientTls | undefined } = {}) =>
  connect({
    servers: url,
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    ...tlsConnectOption(opts.tls),
    name,
    maxReconnectAttempts: opts.maxReconnectAttempts ?? -1,
    reconnectTimeWait: 250,
    // Every request otherwise builds an Error for its async stack: 15% of the core's CPU under
    // load (bench/README.md, tasks end to end).
    noAsyncTraces: true,
  });

/**
 * The pid of a nats-server already running on this data dir (its ports file names a live process
 * whose command line mentions the data dir), if any. Two servers on one JetStream store would
 * corrupt it.
 */
const serverRunningOn = async (dataDir: string): Promise<number | undefined> => {
  let files: string[];
  try {
    files = await readdir(portsDirPath(dataDir));
  } catch {
    return undefined;
  }
  for (const f of files) {
    const m = /^nats-server_(\d+)\.ports$/.exec(f);
    if (!m) continue;
    const pid = Number(m[1]);
    try {
      process.kill(pid, 0);
    } catch {
      continue;
    }
    try {
      if (!(await readFile(`/proc/${pid}/cmdline`, "utf8")).includes(natsDir(dataDir))) continue;
    } catch {
      /* no /proc here: a live pid is enough */
    }
    return pid;
  }
  return undefined;
};

/** The runner configuration of `ganglion up`: relative `run.cwd` resolve against the directory it runs in. */
const runnerOption = (backend: "process" | "docker" | "none", dataDir: string, natsUrl: string): { runner?: RunnerConfig } =>
  backend === "none"
    ? {}
    : backend === "docker"
      ? { runner: { backend, natsUrl } }
      : { runner: { backend, stateDir: join(dataDir, "runner"), baseDir: process.cwd(), natsUrl } };

/** Starts the core on `nc`; on failure runs `cleanup` and throws a `CoreStartError`. */
const startCoreOrCleanup = async (deps: Parameters<typeof startCore>[0], cleanup: () => Promise<void>): Promise<Core> => {
  try {
    return await startCore(deps);
  } catch (err) {
    await cleanup();
    throw new CoreStartError(`the core failed to start: ${(err as Error).message}`, { cause: err });
  }
};

/**
 * `ganglion up`: checks the nats-server binary and the port *before* writing anything, prepares
 * the data dir (keys reused after the first start), starts nats-server under its watchdog,
 * connects with the admin credentials, starts the core, and finally writes `<dataDir>/nats/url`
 * so CLI commands find the bus.
 */
export const startEmbeddedBus = async (opts: {
  dataDir: string;
  host: string;
  port: number;
  dev: boolean;
  env: ServerEnv;
  log: Logger;
  /** TLS on the client port: certificates generated in `<dataDir>/tls/` (or given), optionally verified clients. */
  tls?: TlsSetup;
  /** The worker runner's backend (`process`: state in `<dataDir>/runner`); `none` (the default): no runner. */
  runner?: "process" | "docker" | "none";
  /** Retention of finished tasks' rows in the `tasks` view (default: the core's). */
  taskRetention?: TaskRetention | undefined;
}): Promise<EmbeddedBus> => {
  const log = opts.log;
  const dataDir = resolve(opts.dataDir);
  // 1. Refuse early, before any file is written.
  const bin = await findNatsServer(opts.env);
  const version = await natsServerVersion(bin);
  if (!versionAtLeast(version, MIN_SERVER_VERSION)) {
    throw new NatsServerError(
      `${bin} is nats-server ${version}; Ganglion needs ${MIN_SERVER_VERSION} or newer. Upgrade it (\`sudo apt-get install nats-server\` on Debian bookworm or newer, or a release from github.com/nats-io/nats-server), or point NATS_SERVER_BIN at a newer binary.`,
    );
  }
  const running = await serverRunningOn(dataDir);
  if (running !== undefined) {
    throw new NatsServerError(
      `a nats-server (pid ${running}) already runs on the data dir ${dataDir}: is another \`ganglion up\` running? Stop it first, or use another --data-dir.`,
    );
  }
  if (opts.port > 0 && !(await portFree(opts.host, opts.port))) {
    throw new NatsServerError(
      `port ${opts.port} on ${opts.host} is already in use. Stop what listens there (another \`ganglion up\`?), or pick another with --port (--port 0 picks a free one).`,
    );
  }
  // 2. Keys, credentials and the server config.
  const inst = await prepareInstallation({ dataDir, host: opts.host, port: opts.port, ...(opts.tls ? { tls: opts.tls } : {}) });
  if (inst.tls?.issued.length) log.info({ issued: inst.tls.issued }, "TLS certificates issued");
  await rm(urlFilePath(dataDir), { force: true });
  // 3. nats-server, supervised by its watchdog.
  const server = await runEmbeddedServer(inst, { host: opts.host, port: opts.port, env: { ...opts.env, NATS_SERVER_BIN: bin }, detached: true });
  log.info({ url: server.url, version, bin }, "nats-server started");
  let nc: NatsConnection;
  try {
    nc = await connectWithCreds(server.url, await readFile(inst.adminCreds, "utf8"), "ganglion-core", { tls: inst.tls?.client });
  } catch (err) {
    await server.stop();
    throw new CoreStartError(
      `the core could not connect to its own nats-server at ${server.url}: ${(err as Error).message}. See ${join(dataDir, "nats", "nats.log")}.`,
      {
        cause: err,
      },
    );
  }
  // 4. The core.
  const core = await startCoreOrCleanup(
    {
      nc,
      log,
      authority: inst.authority,
      sysCreds: await readFile(inst.sysCreds, "utf8"),
      dev: opts.dev,
      ...(opts.taskRetention ? { taskRetention: opts.taskRetention } : {}),
      ...tlsConnectOption(inst.tls?.client),
      ...runnerOption(opts.runner ?? "none", dataDir, server.url),
    },
    async () => {
      await nc.close().catch(() => undefined);
      await server.stop();
    },
  );
  if (inst.upgraded) {
    log.warn(
      "this data dir was made by the one-account topology of Ganglion 0.1 and now runs one NATS account per plugin: every plugin credential, read-only context and dev bootstrap minted before is revoked. Mint them again: `ganglion plugin creds <id>` for each plugin, `ganglion nats-context` for read-only operators.",
    );
  }
  // 5. Dev mode: the credentials a worker presents to register its own manifest.
  const devBootstrapCreds = opts.dev && core.accounts ? await writeDevBootstrapCredentials(core.accounts) : undefined;
  // 6. Tell clients where the bus is, only now that it is ready.
  await writeSecret(urlFilePath(dataDir), `${server.url}\n`, 0o644);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await rm(urlFilePath(dataDir), { force: true }).catch(() => undefined);
      await core.stop().catch((err) => log.warn({ err }, "core stop failed"));
      await drainOrClose(nc);
      await server.stop();
      log.info("stopped");
    })());
  const ended = server.exited.then((code) => `nats-server exited unexpectedly (code ${code}); see ${join(dataDir, "nats", "nats.log")}`);
  const tls = inst.tls ? { ...inst.tls.client, verify: inst.tls.server.verify } : undefined;
  return {
    url: server.url,
    dataDir,
    adminCreds: inst.adminCreds,
    ...(devBootstrapCreds ? { devBootstrapCreds } : {}),
    ...(tls ? { tls } : {}),
    serverPid: server.pid,
    ended,
    stop,
  };
};

/**
 * `ganglion serve`: the core against an existing server or cluster. The key material in
 * `dataDir` is optional (without it the core cannot mint credentials); `sysCreds` lets the core
 * push account JWTs (revocations).
 */
export const startServedBus = async (opts: {
  url: string;
  creds: string | undefined;
  authority: Authority | undefined;
  sysCreds: string | undefined;
  replicas: number | undefined;
  dev: boolean;
  log: Logger;
  /** TLS to the server (`--tls-ca`, `--tls-cert`, `--tls-key`, or a `tls://` URL). */
  tls?: ClientTls | undefined;
  /** Retention of finished tasks' rows in the `tasks` view (default: the core's). */
  taskRetention?: TaskRetention | undefined;
}): Promise<RunningBus> => {
  const log = opts.log;
  const nc = opts.creds
    ? await connectWithCreds(opts.url, opts.creds, "ganglion-core", { maxReconnectAttempts: -1, tls: opts.tls })
    : await connect({
        servers: opts.url,
        name: "ganglion-core",
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        noAsyncTraces: true,
        ...tlsConnectOption(opts.tls),
      });
  log.info({ url: opts.url, server: nc.info?.server_name, version: nc.info?.version }, "connected");
  const core = await startCoreOrCleanup(
    {
      nc,
      log,
      ...(opts.authority ? { authority: opts.authority } : {}),
      ...(opts.sysCreds ? { sysCreds: opts.sysCreds } : {}),
      ...(opts.replicas ? { replicas: opts.replicas } : {}),
      dev: opts.dev,
      ...(opts.taskRetention ? { taskRetention: opts.taskRetention } : {}),
      ...tlsConnectOption(opts.tls),
    },
    async () => {
      await nc.close().catch(() => undefined);
    },
  );
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await core.stop().catch((err) => log.warn({ err }, "core stop failed"));
      await drainOrClose(nc);
      log.info("stopped");
    })());
  const ended = nc.closed().then((err) => (stopping ? "stopped" : `the connection to ${opts.url} closed${err ? `: ${err.message}` : ""}`));
  return { url: opts.url, ended, stop };
};

/**
 * Loads the key material of a data dir for `ganglion serve`, without creating any. Returns
 * `undefined` when the dir holds no keys and `required` is false.
 */
export const loadExistingAuthority = async (dataDir: string, required: boolean): Promise<Authority | undefined> => {
  try {
    return await loadOrCreateAuthority(resolve(dataDir), { create: false });
  } catch (err) {
    if (!required && err instanceof AuthorityError && /^no Ganglion keys/.test(err.message)) return undefined;
    throw err;
  }
};

/**
 * Runs `bus` until SIGINT/SIGTERM (→ clean stop, 0) or until it ends by itself (→ stop, 1).
 * Resolves with the exit code.
 */
export const runUntilSignal = async (bus: RunningBus, log: Logger): Promise<number> => {
  let onSignal: (sig: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const outcome = await Promise.race([signalled.then((sig) => ({ sig })), bus.ended.then((reason) => ({ reason }))]);
    if ("sig" in outcome) {
      log.info({ signal: outcome.sig }, "stopping");
      await bus.stop();
      return 0;
    }
    log.error(outcome.reason);
    await bus.stop();
    return 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
};

/** Paths inside the containers of docker-compose.yml; the compose test checks the file uses them. */
export const COMPOSE = {
  /** Where the nats service finds the generated config. */
  configInContainer: "/etc/nats/ganglion.conf",
  /** JetStream store (a named volume). */
  storeDir: "/data/jetstream",
  /** Full resolver directory: pushed account JWTs (a named volume). */
  resolverDir: "/data/resolver",
  /** The data dir (keys, creds) as the core container sees it. */
  dataDirInCore: "/ganglion",
  /** Relative path of the generated config inside the data dir on the host. */
  configInDataDir: join("compose", "nats-server.conf"),
  /** With `compose init --tls`: where the nats service finds `<data dir>/tls` (mount it read-only). */
  tlsDirInContainer: "/etc/nats/tls",
  /** The name the core reaches nats by, and the server certificate covers. */
  natsHost: "nats",
  natsUrl: "nats://nats:4222",
  port: 4222,
  httpPort: 8222,
} as const;

/**
 * `ganglion compose init`: the files docker-compose.yml mounts, in `dataDir` (default
 * `deploy/data`): keys and credentials (the same layout as `ganglion up`; reused when present)
 * and `compose/nats-server.conf`, rendered by the same `renderServerConfig` as `ganglion up`
 * with container paths.
 */
export const writeComposeFiles = async (
  dataDir: string,
  opts: { tls?: { verify: boolean } } = {},
): Promise<{ dataDir: string; configFile: string; adminCreds: string; created: boolean; tls?: ClientTls & { verify: boolean } }> => {
  const dir = resolve(dataDir);
  const created = !(await exists(join(dir, "keys")));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const authority = await loadOrCreateAuthority(dir);
  const adminCreds = adminCredsPath(dir);
  const sysCreds = sysCredsPath(dir);
  if (!(await exists(adminCreds))) await writeSecret(adminCreds, (await mintBusUser(authority, "ganglion-admin", adminPermissions)).creds);
  if (!(await exists(sysCreds))) await writeSecret(sysCreds, (await mintSysUser(authority)).creds);
  const configFile = join(dir, COMPOSE.configInDataDir);
  await mkdir(join(dir, "compose"), { recursive: true });
  // TLS: the same PKI as `ganglion up --tls`, the server certificate for the service name `nats`.
  const tls = opts.tls ? await prepareServerTls({ dataDir: dir, host: COMPOSE.natsHost, verify: opts.tls.verify }) : undefined;
  const inContainer = (p: string) => `${COMPOSE.tlsDirInContainer}/${basename(p)}`;
  await writeSecret(
    configFile,
    renderServerConfig({
      host: "0.0.0.0",
      port: COMPOSE.port,
      httpPort: COMPOSE.httpPort,
      serverName: "ganglion",
      operatorJwt: authority.operatorJwt,
      systemAccount: authority.sys.getPublicKey(),
      preload: await preloadedAccounts(authority),
      storeDir: COMPOSE.storeDir,
      resolverDir: COMPOSE.resolverDir,
      ...(tls
        ? {
            tls: {
              certFile: inContainer(tls.server.certFile),
              keyFile: inContainer(tls.server.keyFile),
              caFile: inContainer(tls.server.caFile),
              verify: tls.server.verify,
            },
          }
        : {}),
    }),
    // The nats image reads it as whatever user it runs as; it holds public JWTs only.
    0o644,
  );
  return { dataDir: dir, configFile, adminCreds, created, ...(tls ? { tls: { ...tls.client, verify: tls.server.verify } } : {}) };
};
