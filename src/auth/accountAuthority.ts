import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createUser, decode, encodeUser, fmtCreds } from "@nats-io/jwt";
import type { Account, ClaimsData, User } from "@nats-io/jwt";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import type { TlsOptions } from "@nats-io/nats-core";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { CLAIMS_UPDATE } from "../contract/subjects.js";
import { busJwtPath, keysDir, writeSecret } from "./authority.js";
import type { Authority, MintedUser } from "./authority.js";
import { devAccountKey, encodeBusAccountJwt, encodeDevAccount, encodePluginAccount, pluginAccountKey } from "./accounts.js";
import type { PluginAccess } from "./accounts.js";

/**
 * Pushes account JWTs to the server on `$SYS.REQ.CLAIMS.UPDATE` (full resolver: no restart, no
 * SIGHUP) and keeps the last one pushed of each account in `<dataDir>/keys/accounts/`. Every push
 * carries forward the revocations of the previous one: nats-server drops a revocation that a later
 * JWT of the same account does not list, which would admit a revoked user again.
 */
export class AccountPushError extends Error {
  override name = "AccountPushError";
}

/** The server's answer to a claims update. */
const ClaimsUpdateReply = t.union([
  t.type({ data: t.intersection([t.type({ code: t.number }), t.partial({ message: t.string, account: t.string })]) }),
  t.type({ error: t.intersection([t.type({ code: t.number }), t.partial({ description: t.string, account: t.string })]) }),
]);

/** The revocations of an account JWT (user public key, or `*`, → unix seconds). */
export const revocationsOf = (accountJwt: string): Record<string, number> => {
  const claims = decode<Account>(accountJwt) as ClaimsData<Account>;
  return { ...(claims.nats.revocations ?? {}) };
};

export const accountsDir = (dataDir: string) => join(keysDir(dataDir), "accounts");
const accountJwtPath = (dataDir: string, accountKey: string) => join(accountsDir(dataDir), `${accountKey}.jwt`);

const readJwt = async (path: string): Promise<string | undefined> => {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
};

/** Merges revocation lists, keeping the later time for a key present in both. */
export const mergeRevocations = (...lists: Record<string, number>[]): Record<string, number> => {
  const out: Record<string, number> = Object.create(null);
  for (const l of lists) for (const [k, v] of Object.entries(l)) out[k] = Math.max(out[k] ?? 0, v);
  return { ...out };
};

export type AccountAuthority = {
  readonly authority: Authority;
  /**
   * Makes a plugin's account say `access`, with `revoke` added to its revocations (and every
   * revocation it had kept). Resolves once the server accepted the JWT.
   */
  readonly applyPlugin: (pluginId: string, access: PluginAccess, revoke?: readonly string[]) => Promise<void>;
  /** The revocations in force on a plugin's account (from the last JWT pushed). */
  readonly pluginRevocations: (pluginId: string) => Promise<Record<string, number>>;
  /** Pushes the BUS account JWT (its exports and its revocations) and the DEV account's. */
  readonly applyInfrastructure: () => Promise<void>;
  /** Mints a user of the plugin's account. */
  readonly mintPluginUser: (pluginId: string, opts?: { ttlMs?: number; allowFrom?: readonly string[] }) => Promise<MintedUser & { expiresAt: string | null }>;
  /** Mints a user of the DEV account (the dev bootstrap credentials). */
  readonly mintDevUser: (opts?: { ttlMs?: number }) => Promise<MintedUser>;
  /** Pushes any account JWT (OPS uses it); the JWT is kept like the others. */
  readonly push: (accountKey: string, jwt: string) => Promise<void>;
  /** The last JWT pushed for an account, if any. */
  readonly lastPushed: (accountKey: string) => Promise<string | undefined>;
  /** Closes the SYS connection pushes use (opened again by the next push). */
  readonly close: () => Promise<void>;
};

/** Mints a user of an account signed by the account's own key. */
export const mintAccountUser = async (
  signer: Parameters<typeof encodeUser>[2],
  name: string,
  user: Partial<User>,
  opts: { ttlMs?: number } = {},
): Promise<MintedUser & { expiresAt: string | null }> => {
  const ukp = createUser();
  const exp = opts.ttlMs !== undefined ? Math.floor(Date.now() / 1000) + Math.max(1, Math.ceil(opts.ttlMs / 1000)) : undefined;
  const jwt = await encodeUser(name, ukp, signer, user, exp ? { exp } : {});
  return {
    publicKey: ukp.getPublicKey(),
    jwt,
    creds: new TextDecoder().decode(fmtCreds(jwt, ukp)),
    expiresAt: exp ? new Date(exp * 1000).toISOString() : null,
  };
};

/**
 * The account authority of a core: the installation's keys, SYS credentials to push with, and the
 * servers to push to. One per process (the host builds it); pushes of one account are serialised
 * so each reads the revocations the previous one wrote.
 */
export const accountAuthority = (opts: {
  authority: Authority;
  sysCreds: string;
  servers: string | string[];
  clock?: () => Date;
  timeoutMs?: number;
  /** TLS to the servers (a `ganglion up --tls` bus), as for the host's own connection. */
  tls?: TlsOptions;
}): AccountAuthority => {
  const a = opts.authority;
  const clock = opts.clock ?? (() => new Date());
  const chains = new Map<string, Promise<unknown>>();
  const serial = <T>(key: string, f: () => Promise<T>): Promise<T> => {
    const p = (chains.get(key) ?? Promise.resolve()).then(f, f);
    chains.set(
      key,
      p.catch(() => undefined),
    );
    return p;
  };

  // One SYS connection, opened on the first push and kept: connecting and authenticating took
  // about a third of a revocation's time (bench/README.md, revocation). A push that fails on it
  // drops it, and the next push connects again.
  let sysConn: Promise<NatsConnection> | undefined;
  const sys = () =>
    (sysConn ??= connect({
      servers: opts.servers,
      authenticator: credsAuthenticator(new TextEncoder().encode(opts.sysCreds)),
      name: "ganglion-accounts",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      noAsyncTraces: true,
      ...(opts.tls ? { tls: opts.tls } : {}),
    }));
  const dropSys = async () => {
    const c = sysConn;
    sysConn = undefined;
    await c?.then((nc) => nc.close()).catch(() => undefined);
  };

  const sendOnce = async (jwt: string) => {
    const nc = await sys();
    const m = await nc.request(CLAIMS_UPDATE, jwt, { timeout: opts.timeoutMs ?? 5000 });
    const d = ClaimsUpdateReply.decode(m.json());
    if (E.isLeft(d)) throw new AccountPushError(`unexpected reply to ${CLAIMS_UPDATE}: ${failure(d.left).join("; ")}`);
    if ("error" in d.right)
      throw new AccountPushError(`the server refused the account JWT of ${decode(jwt).name}: ${d.right.error.description ?? d.right.error.code}`);
  };

  /**
   * A push that fails on the kept connection (it may still be reconnecting after a server restart)
   * is tried once more on a fresh one: a claims update is idempotent.
   */
  const send = async (jwt: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await sendOnce(jwt);
      } catch (err) {
        if (err instanceof AccountPushError) throw err;
        await dropSys();
        if (attempt < 2) continue;
        throw new AccountPushError(`cannot push the account JWT of ${decode(jwt).name}: ${(err as Error).message}`, { cause: err });
      }
    }
  };

  const pathOf = (accountKey: string) => (accountKey === a.bus.getPublicKey() ? busJwtPath(a.dataDir) : accountJwtPath(a.dataDir, accountKey));
  const lastPushed = (accountKey: string) => readJwt(pathOf(accountKey));

  /** Kept before it is pushed: a crash between the two can only keep more revoked, never less. */
  const keepAndSend = async (accountKey: string, jwt: string) => {
    await mkdir(accountsDir(a.dataDir), { recursive: true, mode: 0o700 });
    await writeSecret(pathOf(accountKey), jwt);
    await send(jwt);
  };

  const previousRevocations = async (accountKey: string) => {
    const prev = await lastPushed(accountKey);
    return prev ? revocationsOf(prev) : {};
  };

  const now = () => Math.floor(clock().getTime() / 1000);

  return {
    authority: a,
    applyPlugin: (pluginId, access, revoke = []) => {
      const key = pluginAccountKey(a, pluginId).getPublicKey();
      return serial(key, async () => {
        const at = now();
        const revocations = mergeRevocations(await previousRevocations(key), Object.fromEntries(revoke.map((k) => [k, at])));
        await keepAndSend(key, await encodePluginAccount(a, pluginId, access, revocations));
      });
    },
    pluginRevocations: async (pluginId) => previousRevocations(pluginAccountKey(a, pluginId).getPublicKey()),
    applyInfrastructure: async () => {
      const bus = a.bus.getPublicKey();
      await serial(bus, async () => keepAndSend(bus, await encodeBusAccountJwt(a, await previousRevocations(bus))));
      const dev = devAccountKey(a).getPublicKey();
      await serial(dev, async () => keepAndSend(dev, await encodeDevAccount(a, await previousRevocations(dev))));
    },
    mintPluginUser: (pluginId, o = {}) =>
      mintAccountUser(
        pluginAccountKey(a, pluginId),
        `plugin:${pluginId}`,
        { tags: [`plugin:${pluginId}`], ...(o.allowFrom && o.allowFrom.length > 0 ? { src: [...o.allowFrom] } : {}) },
        o.ttlMs !== undefined ? { ttlMs: o.ttlMs } : {},
      ),
    mintDevUser: (o = {}) => mintAccountUser(devAccountKey(a), "dev-bootstrap", { tags: ["dev-bootstrap"] }, o.ttlMs !== undefined ? { ttlMs: o.ttlMs } : {}),
    push: (accountKey, jwt) => serial(accountKey, () => keepAndSend(accountKey, jwt)),
    lastPushed,
    close: dropSys,
  };
};
