import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { adminCredsPath } from "../auth/authority.js";
import type { Config } from "../config.js";
import { urlFilePath } from "../embedded/installation.js";
import { CliError, ExitCode } from "./errors.js";

/** The options every command accepts (declared once on the program). */
export type GlobalOptions = {
  readonly dataDir: string;
  readonly nats?: string | undefined;
  readonly creds?: string | undefined;
  readonly json?: boolean | undefined;
  readonly logLevel?: string | undefined;
};

/** Where a client command reaches the bus, and how that was decided (for error messages). */
export type BusTarget = {
  readonly url: string;
  readonly urlSource: string;
  /** Path of the credentials file, or undefined to connect without credentials. */
  readonly credsPath: string | undefined;
  readonly credsSource: string | undefined;
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
  let url: string | undefined;
  let urlSource: string;
  if (g.nats) {
    url = g.nats;
    urlSource = "--nats";
  } else if (config.natsUrl) {
    url = config.natsUrl;
    urlSource = "GANGLION_NATS_URL";
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
  if (g.creds) {
    credsPath = resolve(g.creds);
    credsSource = "--creds";
  } else if (config.creds) {
    credsPath = resolve(config.creds);
    credsSource = "GANGLION_CREDS";
  } else if ((await readIfExists(adminCredsPath(dataDir))) !== undefined) {
    credsPath = adminCredsPath(dataDir);
    credsSource = "data dir";
  }
  return { url, urlSource, credsPath, credsSource };
};

/** Reads a credentials file, failing with a message that says which option named it. */
export const readCreds = async (path: string, source = "--creds"): Promise<string> => {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new CliError(`cannot read the credentials file ${path} (from ${source}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check the path.`, ExitCode.Unreachable);
  }
};

/**
 * Connects a client command to the bus. Fails fast (no reconnect loop on the first connect) with
 * exit code 3 and a message naming the URL and where it came from.
 */
export const connectTarget = async (target: BusTarget, opts: { name?: string; timeoutMs?: number } = {}): Promise<NatsConnection> => {
  const creds = target.credsPath ? await readCreds(target.credsPath, target.credsSource) : undefined;
  try {
    return await connect({
      servers: target.url,
      name: opts.name ?? "ganglion-cli",
      timeout: opts.timeoutMs ?? 5000,
      maxReconnectAttempts: 0,
      ...(creds ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : {}),
    });
  } catch (err) {
    const hint =
      target.urlSource.endsWith("url")
        ? " Is `ganglion up` still running? Start it again, or pass --nats URL."
        : " Check the URL and that the server is running.";
    throw new CliError(
      `cannot reach the bus at ${target.url} (from ${target.urlSource}${target.credsPath ? `, credentials ${target.credsPath}` : ", no credentials"}): ${(err as Error).message}.${hint}`,
      ExitCode.Unreachable,
      { cause: err },
    );
  }
};
