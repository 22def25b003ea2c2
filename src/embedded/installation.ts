import { access, constants, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  adminCredsPath,
  adminPermissions,
  busJwtPath,
  encodeBusAccount,
  loadOrCreateAuthority,
  mintBusUser,
  mintSysUser,
  sysCredsPath,
  writeSecret,
} from "../auth/authority.js";
import type { Authority } from "../auth/authority.js";
import { renderServerConfig } from "./config.js";
import { findNatsServer, MIN_SERVER_VERSION, NatsServerError, natsServerVersion, startNatsServer, versionAtLeast } from "./natsServer.js";
import type { RunningServer } from "./natsServer.js";

/**
 * The on-disk layout of a data dir (default `./.ganglion`):
 *
 * - `keys/`   operator, SYS, BUS and BUS signing-key seeds (0600), the last pushed BUS JWT
 * - `creds/`  admin.creds (BUS, full access: the core and the CLI), sys.creds (SYS: account pushes)
 * - `nats/`   nats-server.conf, jetstream/ (the store), resolver/ (full resolver), nats.log, ports
 */
export type Installation = {
  readonly dataDir: string;
  readonly authority: Authority;
  readonly configFile: string;
  readonly adminCreds: string;
  readonly sysCreds: string;
};

export const natsDir = (dataDir: string) => join(dataDir, "nats");
/** Written by `ganglion up` once the bus is ready (the client URL, one line); removed on stop. */
export const urlFilePath = (dataDir: string) => join(natsDir(dataDir), "url");
/** Where nats-server writes `nats-server_<pid>.ports` (the pid is the real server's). */
export const portsDirPath = (dataDir: string) => join(natsDir(dataDir), "ports");

const ensureWritable = async (dir: string) => {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
    const probe = join(dir, `.write-probe-${process.pid}`);
    await writeFile(probe, "");
    const { rm } = await import("node:fs/promises");
    await rm(probe);
  } catch (err) {
    throw new NatsServerError(
      `the data dir ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Fix its permissions or pick another with --data-dir.`,
    );
  }
};

/**
 * Prepares a data dir for an embedded nats-server: keys (created on first use, reused after),
 * credentials and an operator-mode config with the full resolver. Idempotent; every file is
 * written atomically so an interrupted first start leaves nothing half-written.
 */
export const prepareInstallation = async (opts: {
  dataDir: string;
  host: string;
  port: number;
  clientPort?: number;
}): Promise<Installation> => {
  const dataDir = resolve(opts.dataDir);
  await ensureWritable(dataDir);
  const authority = await loadOrCreateAuthority(dataDir);
  const nd = natsDir(dataDir);
  await mkdir(join(nd, "jetstream"), { recursive: true });
  await mkdir(join(nd, "resolver"), { recursive: true });
  const busJwt = await currentBusJwt(authority);
  const configFile = join(nd, "nats-server.conf");
  await writeSecret(
    configFile,
    renderServerConfig({
      host: opts.host,
      port: opts.port === 0 ? -1 : opts.port,
      operatorJwt: authority.operatorJwt,
      systemAccount: authority.sys.getPublicKey(),
      preload: { [authority.sys.getPublicKey()]: authority.sysJwt, [authority.bus.getPublicKey()]: busJwt },
      storeDir: join(nd, "jetstream"),
      resolverDir: join(nd, "resolver"),
    }),
  );
  const adminCreds = adminCredsPath(dataDir);
  const sysCreds = sysCredsPath(dataDir);
  if (!(await exists(adminCreds))) await writeSecret(adminCreds, (await mintBusUser(authority, "ganglion-admin", adminPermissions)).creds);
  if (!(await exists(sysCreds))) await writeSecret(sysCreds, (await mintSysUser(authority)).creds);
  return { dataDir, authority, configFile, adminCreds, sysCreds };
};

const exists = async (p: string) => {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
};

/**
 * The BUS account JWT in force: the last one pushed (it carries the revocation list), or a fresh
 * one on first start.
 */
export const currentBusJwt = async (a: Authority): Promise<string> => {
  try {
    return (await readFile(busJwtPath(a.dataDir), "utf8")).trim();
  } catch {
    const jwt = await encodeBusAccount(a);
    await writeSecret(busJwtPath(a.dataDir), jwt);
    return jwt;
  }
};

/** Finds, checks and starts the nats-server for a prepared installation. */
export const runEmbeddedServer = async (
  inst: Installation,
  opts: { host: string; port: number; env: { NATS_SERVER_BIN?: string | undefined; PATH?: string | undefined }; detached?: boolean },
): Promise<RunningServer> => {
  const bin = await findNatsServer(opts.env);
  const version = await natsServerVersion(bin);
  if (!versionAtLeast(version, MIN_SERVER_VERSION)) {
    throw new NatsServerError(`${bin} is nats-server ${version}; Ganglion needs ${MIN_SERVER_VERSION} or newer. Upgrade it, or point NATS_SERVER_BIN at a newer binary.`);
  }
  const nd = natsDir(inst.dataDir);
  return startNatsServer({
    bin,
    configFile: inst.configFile,
    portsDir: portsDirPath(inst.dataDir),
    host: opts.host,
    port: opts.port,
    logFile: join(nd, "nats.log"),
    ...(opts.detached ? { detached: true } : {}),
  });
};
