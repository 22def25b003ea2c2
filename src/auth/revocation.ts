import { decode } from "@nats-io/jwt";
import type { Account, ClaimsData } from "@nats-io/jwt";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { currentBusJwt } from "../embedded/installation.js";
import { CLAIMS_UPDATE } from "../store/subjects.js";
import { busJwtPath, encodeBusAccount, writeSecret } from "./authority.js";
import type { Authority } from "./authority.js";

/**
 * Revokes user credentials of the BUS account at once: the account JWT is re-issued with the
 * users' public keys in `revocations` and pushed to the server on `$SYS.REQ.CLAIMS.UPDATE` (full
 * resolver, no restart). nats-server closes the live connections of those users and refuses them
 * on reconnect; a JWT issued after the revocation (new credentials) is accepted.
 */
export type Revoker = {
  /** Adds the keys to the revocation list and pushes it; resolves once the server accepted it. */
  readonly revoke: (publicKeys: readonly string[]) => Promise<void>;
  /** The revocation list in force (public key → unix seconds). */
  readonly revocations: () => Promise<Record<string, number>>;
};

export class RevocationError extends Error {
  override name = "RevocationError";
}

/** The server's answer to a claims update. */
const ClaimsUpdateReply = t.union([
  t.type({ data: t.intersection([t.type({ code: t.number }), t.partial({ message: t.string, account: t.string })]) }),
  t.type({ error: t.intersection([t.type({ code: t.number }), t.partial({ description: t.string, account: t.string })]) }),
]);

const chains = new Map<string, Promise<unknown>>();

/** The revocations of an account JWT. */
export const revocationsOf = (accountJwt: string): Record<string, number> => {
  const claims = decode<Account>(accountJwt) as ClaimsData<Account>;
  return { ...(claims.nats.revocations ?? {}) };
};

/**
 * A revoker over an installation's keys. `sysCreds` is the content of a SYS-account `.creds`
 * file; `servers` the server(s) to push to (take them from the core's connection). A connection
 * is opened per push: revocations are rare, and the core keeps no SYS connection lying around.
 *
 * The new account JWT is written to `<dataDir>/keys/bus.jwt` *before* it is pushed, so a crash
 * between the two can only keep more revoked, never less; a restart preloads it.
 */
export const busRevoker = (opts: {
  authority: Authority;
  sysCreds: string;
  servers: string | string[];
  clock?: () => Date;
  timeoutMs?: number;
}): Revoker => {
  const clock = opts.clock ?? (() => new Date());
  // One push at a time per data dir, across every revoker of this process (the plugin endpoints
  // and the health monitor each hold one): each reads the list the previous one wrote.
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const key = opts.authority.dataDir;
    const p = (chains.get(key) ?? Promise.resolve()).then(f, f);
    chains.set(key, p.catch(() => undefined));
    return p;
  };

  const push = async (jwt: string) => {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({
        servers: opts.servers,
        authenticator: credsAuthenticator(new TextEncoder().encode(opts.sysCreds)),
        name: "ganglion-revoker",
        maxReconnectAttempts: 0,
      });
      const m = await nc.request(CLAIMS_UPDATE, jwt, { timeout: opts.timeoutMs ?? 5000 });
      const d = ClaimsUpdateReply.decode(m.json());
      if (E.isLeft(d)) throw new RevocationError(`unexpected reply to ${CLAIMS_UPDATE}: ${failure(d.left).join("; ")}`);
      if ("error" in d.right) throw new RevocationError(`the server refused the BUS account update: ${d.right.error.description ?? d.right.error.code}`);
    } catch (err) {
      if (err instanceof RevocationError) throw err;
      throw new RevocationError(`cannot push the BUS account JWT (revocation): ${(err as Error).message}`, { cause: err });
    } finally {
      await nc?.close().catch(() => undefined);
    }
  };

  return {
    revocations: async () => revocationsOf(await currentBusJwt(opts.authority)),
    revoke: (publicKeys) =>
      serial(async () => {
        if (publicKeys.length === 0) return;
        const current = revocationsOf(await currentBusJwt(opts.authority));
        const at = Math.floor(clock().getTime() / 1000);
        for (const k of publicKeys) current[k] = Math.max(current[k] ?? 0, at);
        const jwt = await encodeBusAccount(opts.authority, current);
        await writeSecret(busJwtPath(opts.authority.dataDir), jwt);
        await push(jwt);
      }),
  };
};
