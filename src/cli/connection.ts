import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { adminCredsPath } from "../auth/authority.js";
import type { Config } from "../config.js";
import { urlFilePath } from "../embedded/installation.js";
import { resolveClientTls, tlsConnectOption } from "../contract/tls.js";
import type { ClientTls } from "../contract/tls.js";
import { contextConnectOptions, hasContextAuth } from "../client/contextAuth.js";
import type { ContextAuth } from "../client/contextAuth.js";
import { CliError, ExitCode } from "./errors.js";
import { readNatsContext } from "./profile.js";

/** The options every command accepts (declared once on the program). */
export type GlobalOptions = {
  readonly dataDir: string;
  readonly nats?: string | undefined;
  readonly creds?: string | undefined;
  readonly json?: boolean | undefined;
  readonly logLevel?: string | undefined;
  readonly tlsCa?: string | undefined;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  /** `--context NAME`: a nats CLI context. */
  readonly context?: string | undefined;
};

/** Where a client command reaches the bus, and how that was decided (for error messages). */
export type BusTarget = {
  readonly url: string;
  readonly urlSource: string;
  /** Path of the credentials file, or undefined to connect without credentials. */
  readonly credsPath: string | undefined;
  readonly credsSource: string | undefined;
  /** TLS files of the connection; absent for a plain one (see `clientTlsOf`). */
  readonly tls?: ClientTls;
  /** The inbox prefix the credentials allow (a nats CLI context's `inbox_prefix`). */
  readonly inboxPrefix?: string;
  /** When the credentials come from a nats CLI context: its other ways to authenticate (nkey, user and password, token). */
  readonly contextAuth?: Omit<ContextAuth, "creds">;
};

/**
 * The client TLS of a command: `--tls-ca/--tls-cert/--tls-key`, else GANGLION_TLS_CA/CERT/KEY
 * (each on its own), then for a `tls://` URL the data dir's `tls/ca-cert.pem` and, when present,
 * its admin client certificate. Undefined (plain) when nothing is set and the URL is not `tls://`.
 */
export const clientTlsOf = async (g: GlobalOptions, config: Config, url: string): Promise<ClientTls | undefined> => {
  const pick = (flag: string | undefined, env: string | undefined) => {
    const v = flag ?? env;
    return v ? resolve(v) : undefined;
  };
  const explicit = { ca: pick(g.tlsCa, config.tls?.ca), cert: pick(g.tlsCert, config.tls?.cert), key: pick(g.tlsKey, config.tls?.key) };
  if (Boolean(explicit.cert) !== Boolean(explicit.key)) {
    throw new CliError(
      "a TLS client certificate needs its key: give both --tls-cert and --tls-key (or GANGLION_TLS_CERT and GANGLION_TLS_KEY).",
      ExitCode.Usage,
    );
  }
  return resolveClientTls({ url, explicit, dataDir: resolve(g.dataDir) });
};

const readIfExists = async (p: string): Promise<string | undefined> => {
  try {
    return await readFile(p, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
};

/**
 * Resolves the bus a client command talks to. URL: `--nats`, else `GANGLION_NATS_URL`, else the
 * URL a running `ganglion up` wrote to `<dataDir>/nats/url`. Credentials: `--creds`, else
 * `GANGLION_CREDS`, else `<dataDir>/creds/admin.creds` when it exists.
 */
export const resolveTarget = async (g: GlobalOptions, config: Config): Promise<BusTarget> => {
  const dataDir = resolve(g.dataDir);
  const contextName = g.context ?? config.natsContext;
  const contextSource = g.context ? "--context" : "NATS_CONTEXT";
  const context = contextName ? readNatsContext(contextName, config.xdgConfigHome, contextSource) : undefined;
  let url: string | undefined;
  let urlSource: string;
  if (g.nats) {
    url = g.nats;
    urlSource = "--nats";
  } else if (config.natsUrl) {
    url = config.natsUrl;
    urlSource = "GANGLION_NATS_URL";
  } else if (context) {
    url = context.url;
    urlSource = `nats context "${contextName}" (${context.file})`;
  } else {
    const file = urlFilePath(dataDir);
    url = (await readIfExists(file))?.trim() || undefined;
    urlSource = file;
    if (!url) {
      throw new CliError(
        `no running bus found for data dir ${dataDir} (${file} is missing). Start one with \`ganglion up --data-dir ${g.dataDir}\`, or reach a remote bus with --nats URL --creds FILE (or GANGLION_NATS_URL and GANGLION_CREDS).`,
        ExitCode.Unreachable,
      );
    }
  }
  let credsPath: string | undefined;
  let credsSource: string | undefined;
  let contextAuth: BusTarget["contextAuth"];
  if (g.creds) {
    credsPath = resolve(g.creds);
    credsSource = "--creds";
  } else if (config.creds) {
    credsPath = resolve(config.creds);
    credsSource = "GANGLION_CREDS";
  } else if (context && hasContextAuth(context)) {
    credsPath = context.creds || undefined;
    credsSource = `nats context "${contextName}"`;
    contextAuth = { nkey: context.nkey, user: context.user, password: context.password, token: context.token };
  } else if ((await readIfExists(adminCredsPath(dataDir))) !== undefined) {
    credsPath = adminCredsPath(dataDir);
    credsSource = "data dir";
  }
  // The context's TLS files, unless given by flag or environment.
  const tls = await clientTlsOf(
    context
      ? {
          ...g,
          tlsCa: g.tlsCa ?? config.tls?.ca ?? context.ca,
          tlsCert: g.tlsCert ?? config.tls?.cert ?? context.cert,
          tlsKey: g.tlsKey ?? config.tls?.key ?? context.key,
        }
      : g,
    config,
    url,
  );
  const inboxPrefix = context?.inbox_prefix;
  return { url, urlSource, credsPath, credsSource, ...(tls ? { tls } : {}), ...(inboxPrefix ? { inboxPrefix } : {}), ...(contextAuth ? { contextAuth } : {}) };
};

/** Reads a credentials file, failing with a message that says which option named it. */
export const readCreds = async (path: string, source = "--creds"): Promise<string> => {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new CliError(
      `cannot read the credentials file ${path} (from ${source}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check the path.`,
      ExitCode.Unreachable,
    );
  }
};

/**
 * Connects a client command to the bus. Fails fast (no reconnect loop on the first connect) with
 * exit code 3 and a message naming the URL and where it came from.
 */
export const connectTarget = async (target: BusTarget, opts: { name?: string; timeoutMs?: number } = {}): Promise<NatsConnection> => {
  const creds = target.credsPath ? await readCreds(target.credsPath, target.credsSource) : undefined;
  let auth: Awaited<ReturnType<typeof contextConnectOptions>> = creds ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : {};
  if (target.contextAuth) {
    const ctxAuth = await contextConnectOptions(target.contextAuth).catch((err: Error) => {
      throw new CliError(`${target.credsSource}: ${err.message}`, ExitCode.Unreachable);
    });
    const both = [auth.authenticator, ctxAuth.authenticator].flat().filter((a) => a !== undefined);
    auth = { ...ctxAuth, ...(both.length > 0 ? { authenticator: both } : {}) };
  }
  const how = [
    target.credsPath ? `credentials ${target.credsPath}` : "",
    target.contextAuth?.nkey ? `nkey ${target.contextAuth.nkey}` : "",
    target.contextAuth?.user ? `user ${target.contextAuth.user}` : "",
    target.contextAuth?.token ? "a token" : "",
  ].filter((x) => x !== "");
  try {
    return await connect({
      servers: target.url,
      name: opts.name ?? "ganglion-cli",
      timeout: opts.timeoutMs ?? 5000,
      maxReconnectAttempts: 0,
      ...(target.inboxPrefix ? { inboxPrefix: target.inboxPrefix } : {}),
      ...auth,
      ...tlsConnectOption(target.tls),
    });
  } catch (err) {
    const hint = target.urlSource.endsWith("url")
      ? " Is `ganglion up` still running? Start it again, or pass --nats URL."
      : " Check the URL and that the server is running.";
    const t = target.tls;
    const tls = t ? `, TLS${t.ca ? ` CA ${t.ca}` : " with the system CAs"}${t.cert ? `, client certificate ${t.cert}` : ""}` : "";
    const tlsHint = tlsProblem(err)
      ? t
        ? " The bus refused the TLS handshake: check --tls-ca (the CA that signed the server's certificate) and, if the bus verifies clients, --tls-cert/--tls-key."
        : " The bus speaks TLS: use its tls:// URL, with --tls-ca (or GANGLION_TLS_CA) naming its CA."
      : "";
    throw new CliError(
      `cannot reach the bus at ${target.url} (from ${target.urlSource}${how.length > 0 ? `, ${how.join(", ")}` : ", no credentials"}${tls}): ${(err as Error).message}.${tlsHint || hint}`,
      ExitCode.Unreachable,
      { cause: err },
    );
  }
};

/** True when a connect error came from TLS (handshake, certificate, or a server that requires it). */
const tlsProblem = (err: unknown): boolean => {
  const text = `${(err as Error)?.message ?? ""} ${((err as Error)?.cause as Error | undefined)?.message ?? ""} ${(err as { cause?: { code?: string } })?.cause?.code ?? ""}`;
  return /tls|ssl|certificate|self.signed|handshake|CERT_|ERR_SSL/i.test(text);
};
