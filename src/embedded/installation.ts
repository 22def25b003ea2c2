import { access, constants, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  adminCredsPath,
  adminPermissions,
  busJwtPath,
  keysDir,
  loadOrCreateAuthority,
  mintBusUser,
  mintSysUser,
  sysCredsPath,
  writeSecret,
} from "../auth/authority.js";
import type { Authority } from "../auth/authority.js";
import { devAccountKey, encodeBusAccountJwt, encodeDevAccount } from "../auth/accounts.js";
import { revocationsOf } from "../auth/accountAuthority.js";
import { renderServerConfig } from "./config.js";
import { findNatsServer, MIN_SERVER_VERSION, NatsServerError, natsServerVersion, startNatsServer, versionAtLeast } from "./natsServer.js";
import type { RunningServer } from "./natsServer.js";
import { prepareServerTls } from "../tls/pki.js";
import type { GivenTls, PreparedTls } from "../tls/pki.js";

/**
 * The on-disk layout of a data dir (default `./.ganglion`):
 *
 * - `keys/`   operator, SYS, BUS and BUS signing-key seeds (0600), the last pushed BUS JWT,
 *             `accounts/` (the last pushed JWT of every other account), `topology` (its version)
 * - `creds/`  admin.creds (BUS, full access: the core and the CLI), sys.creds (SYS: account pushes)
 * - `nats/`   nats-server.conf, jetstream/ (the store), resolver/ (full resolver), nats.log, ports
 * - `tls/`    with `--tls`: ca-cert.pem, ca-key.pem (0600), server-cert.pem, server-key.pem (0600),
 *             and with `--tls-verify` admin-cert.pem, admin-key.pem (0600)
 */
export type Installation = {
  readonly dataDir: string;
  readonly authority: Authority;
  readonly configFile: string;
  readonly adminCreds: string;
  readonly sysCreds: string;
  /**
   * True when this start moved a data dir of the one-account topology (before 0.2) to accounts:
   * every credential minted before it (plugins, read-only operators, dev bootstrap) is revoked,
   * and the admin credentials were minted again.
   */
  readonly upgraded: boolean;
  /** Present when the client port speaks TLS: the server's files and what local clients connect with. */
  readonly tls?: PreparedTls;
};

/** TLS for an embedded server: generated in `<dataDir>/tls/` unless `given`; `verify` asks clients for certificates. */
export type TlsSetup = { readonly verify?: boolean; readonly given?: GivenTls };

/** The account topology a data dir is on; absent: the one-account topology of 0.1. */
export const TOPOLOGY_VERSION = "2";
export const topologyPath = (dataDir: string) => join(keysDir(dataDir), "topology");

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
  tls?: TlsSetup;
}): Promise<Installation> => {
  const dataDir = resolve(opts.dataDir);
  await ensureWritable(dataDir);
  // TLS first: given certificates that do not fit are refused before any key is created.
  const tls = opts.tls
    ? await prepareServerTls({ dataDir, host: opts.host, verify: opts.tls.verify ?? false, ...(opts.tls.given ? { given: opts.tls.given } : {}) })
    : undefined;
  const authority = await loadOrCreateAuthority(dataDir);
  const nd = natsDir(dataDir);
  await mkdir(join(nd, "jetstream"), { recursive: true });
  await mkdir(join(nd, "resolver"), { recursive: true });
  const adminCreds = adminCredsPath(dataDir);
  const sysCreds = sysCredsPath(dataDir);
  const upgraded = await upgradeTopology(authority);
  const configFile = join(nd, "nats-server.conf");
  await writeSecret(
    configFile,
    renderServerConfig({
      host: opts.host,
      port: opts.port === 0 ? -1 : opts.port,
      operatorJwt: authority.operatorJwt,
      systemAccount: authority.sys.getPublicKey(),
      preload: await preloadedAccounts(authority),
      storeDir: join(nd, "jetstream"),
      resolverDir: join(nd, "resolver"),
      ...(tls ? { tls: tls.server } : {}),
    }),
  );
  if (!(await exists(adminCreds))) await writeSecret(adminCreds, (await mintBusUser(authority, "ganglion-admin", adminPermissions)).creds);
  if (!(await exists(sysCreds))) await writeSecret(sysCreds, (await mintSysUser(authority)).creds);
  return { dataDir, authority, configFile, adminCreds, sysCreds, upgraded, ...(tls ? { tls } : {}) };
};

/**
 * The accounts the server config preloads: SYS, BUS (re-encoded with the exports of this
 * version and the revocations it had) and DEV. Plugin and OPS accounts live in the full
 * resolver's directory and are pushed again by the core at every start.
 */
export const preloadedAccounts = async (a: Authority): Promise<Record<string, string>> => {
  const busJwt = await encodeBusAccountJwt(a, revocationsOf(await currentBusJwt(a)));
  await writeSecret(busJwtPath(a.dataDir), busJwt);
  return {
    [a.sys.getPublicKey()]: a.sysJwt,
    [a.bus.getPublicKey()]: busJwt,
    [devAccountKey(a).getPublicKey()]: await encodeDevAccount(a),
  };
};

/**
 * Moves a data dir of the one-account topology to accounts, once. Every user of BUS issued so far
 * is revoked (`revocations: {"*": now}` is carried forward in every later BUS JWT): plugin
 * credentials, read-only operator contexts and the dev bootstrap all lived there. The admin
 * credentials are minted again in a later second (a user JWT issued in the revocation's second is
 * still refused). A fresh data dir just records the version.
 */
const upgradeTopology = async (a: Authority): Promise<boolean> => {
  const marker = topologyPath(a.dataDir);
  if (await exists(marker)) return false;
  const old = await exists(adminCredsPath(a.dataDir));
  if (old) {
    const at = Math.floor(Date.now() / 1000);
    const revocations = { ...revocationsOf(await currentBusJwt(a)), "*": at };
    await writeSecret(busJwtPath(a.dataDir), await encodeBusAccountJwt(a, revocations));
    while (Math.floor(Date.now() / 1000) <= at) await new Promise((r) => setTimeout(r, 50));
    await writeSecret(adminCredsPath(a.dataDir), (await mintBusUser(a, "ganglion-admin", adminPermissions)).creds);
    await rm(join(a.dataDir, "creds", "dev-bootstrap.creds"), { force: true });
  }
  await writeSecret(marker, `${TOPOLOGY_VERSION}\n`, 0o644);
  return old;
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
    const jwt = await encodeBusAccountJwt(a, {});
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
    throw new NatsServerError(
      `${bin} is nats-server ${version}; Ganglion needs ${MIN_SERVER_VERSION} or newer. Upgrade it, or point NATS_SERVER_BIN at a newer binary.`,
    );
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
    ...(inst.tls ? { tls: true } : {}),
  });
};
