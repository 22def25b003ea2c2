import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { connect, credsAuthenticator, errors } from "@nats-io/transport-node";
import type { Authenticator, NatsConnection } from "@nats-io/transport-node";
import { tlsConnectOption } from "../contract/tls.js";
import type { ClientTls } from "../contract/tls.js";

/*
 * The worker's connection lifecycle: connect, tell a refusal of its credentials (permanent until
 * they change) from a transient disconnect (retried for ever), and say how the worker ended.
 * Kept apart from `./worker.ts`, which pulls and runs tasks.
 */

/**
 * Exit codes a worker process ends with (the examples in every language use the same):
 * `0` after a clean stop (SIGTERM/SIGINT); `77` (sysexits' EX_NOPERM) when the server refuses
 * the credentials: they were revoked, the plugin was disabled or removed, or they expired.
 * Restarting with the same `.creds` cannot help: enable the plugin and mint new ones.
 */
export const ExitCode = { Stopped: 0, Refused: 77 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** How a worker ended; `worker.closed` resolves with it. */
export type WorkerEnd =
  | { readonly reason: "stopped"; readonly exitCode: typeof ExitCode.Stopped }
  | { readonly reason: "refused"; readonly exitCode: typeof ExitCode.Refused; readonly message: string };

/**
 * The server refused this worker's credentials, at connect or on a live connection (revoked, the
 * plugin disabled or removed, expired). `run()` rejects with it; a live refusal ends the worker
 * and `worker.closed` resolves with `{ reason: "refused" }`.
 */
export class CredentialsRefused extends Error {
  override name = "CredentialsRefused";
  readonly exitCode = ExitCode.Refused;
  constructor(
    readonly plugin: string,
    readonly serverSaid: string,
  ) {
    super(refusalMessage(plugin, serverSaid));
  }
}

export const refusalMessage = (plugin: string, serverSaid: string) =>
  `the server refused the credentials of plugin ${plugin} (${serverSaid}): they were revoked, the plugin is disabled or removed, or they expired. ` +
  `Once the plugin is enabled, mint new ones (ganglion plugin creds ${plugin} -o FILE) and start the worker again.`;

/**
 * True when the server refused the credentials: `Authorization Violation`, `User Authentication
 * Revoked` (sent when a live user is revoked; nats.js reports it as a ProtocolError), or an
 * expired user or account. Anything else (a server restart, a network cut) is transient.
 */
export const isRefusal = (err: unknown): err is Error =>
  err instanceof errors.AuthorizationError ||
  err instanceof errors.UserAuthenticationExpiredError ||
  (err instanceof Error && /authorization violation|authentication (revoked|expired)/i.test(err.message));

/**
 * The authenticator for `creds` (a `.creds` path, or the text itself). A path is read again at
 * every connect and reconnect, so a replaced file (rotated credentials, a new mint) is used from
 * the next connection on without a restart.
 */
export const credsFrom = (creds: string): Authenticator => {
  if (creds.includes("-----BEGIN")) return credsAuthenticator(new TextEncoder().encode(creds));
  return credsAuthenticator(() => new TextEncoder().encode(readFileSync(creds, "utf8")));
};

/**
 * Reads a `.creds` path again and reconnects with it at once (`worker.reloadCredentials()`; the
 * example worker does it on SIGHUP), so re-minted credentials are used without waiting for a
 * disconnect or restarting. The file is checked first (it must hold a user JWT and a seed that
 * signs): a half-written or wrong file never drops a working connection.
 */
export const reloadCreds = async (nc: NatsConnection, creds: string | undefined, log: Logger): Promise<void> => {
  if (!creds || creds.includes("-----BEGIN")) throw new Error("this worker was given credentials as text, not a .creds path: there is nothing to read again");
  try {
    const auth = credsAuthenticator(new TextEncoder().encode(readFileSync(creds, "utf8")))("check") as { jwt?: string; sig?: unknown } | undefined;
    if (!auth?.jwt || !auth.sig) throw new Error("no user JWT or no seed");
  } catch (err) {
    throw new Error(`${creds} cannot be used: ${(err as Error).message}; the connection keeps the credentials it has`);
  }
  log.info({ creds }, "credentials read again: reconnecting with them");
  await nc.reconnect();
};

/**
 * Connects a worker: reconnects for ever after transient losses (nats.js gives up after the same
 * auth error twice in a row, which is how a refusal ends the connection). A refused first
 * connect rejects with `CredentialsRefused`.
 */
export const connectWorker = async (
  plugin: string,
  instance: string,
  o: { readonly creds?: string | undefined; readonly servers?: string | string[] | undefined; readonly tls?: ClientTls | undefined },
): Promise<NatsConnection> => {
  try {
    return await connect({
      servers: o.servers ?? "nats://127.0.0.1:4222",
      ...(o.creds ? { authenticator: credsFrom(o.creds) } : {}),
      ...tlsConnectOption(o.tls),
      name: `${plugin}:${instance}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
  } catch (err) {
    if (isRefusal(err)) throw new CredentialsRefused(plugin, err.message);
    throw err;
  }
};

/**
 * Logs the connection's status changes; if the connection closes because the server refused the
 * credentials (not when the worker closed it itself), logs why at error level and calls `onRefused`.
 */
export const watchConnection = (nc: NatsConnection, plugin: string, log: Logger, onRefused: (end: WorkerEnd & { reason: "refused" }) => void): void => {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") log.info({ status: s.type }, "connection");
      else if (s.type === "error") {
        log.warn({ status: s.type, error: String((s as { error?: unknown }).error ?? "") }, "connection error");
      }
    }
  })();
  void nc.closed().then((err) => {
    if (!isRefusal(err)) return;
    const message = refusalMessage(plugin, err.message);
    log.error({ exitCode: ExitCode.Refused }, message);
    onRefused({ reason: "refused", exitCode: ExitCode.Refused, message });
  });
};
