import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { failure } from "io-ts/lib/PathReporter.js";

/** Log levels pino understands, from the most to the least verbose. */
export const LogLevel = t.keyof({ trace: null, debug: null, info: null, warn: null, error: null, fatal: null, silent: null });
export type LogLevel = t.TypeOf<typeof LogLevel>;

/** A set, non-empty environment variable. Empty strings count as unset. */
const Setting = t.union([t.string, t.undefined]);

/**
 * The environment Ganglion reads, decoded once. This module is the only reader of `process.env`:
 * everything else receives a `Config`.
 */
export const Env = t.partial({
  /** URL of the bus for CLI commands and `ganglion serve` (like `--nats`). */
  GANGLION_NATS_URL: Setting,
  /** Credentials file for CLI commands and `ganglion serve` (like `--creds`). */
  GANGLION_CREDS: Setting,
  /** CA certificate (PEM file) a TLS bus's server certificate is checked against (like `--tls-ca`). */
  GANGLION_TLS_CA: Setting,
  /** Client certificate (PEM file) for a bus that verifies clients (like `--tls-cert`). */
  GANGLION_TLS_CERT: Setting,
  /** Private key (PEM file) of GANGLION_TLS_CERT (like `--tls-key`). */
  GANGLION_TLS_KEY: Setting,
  /** Data dir of an embedded installation (like `--data-dir`; default `./.ganglion`). */
  GANGLION_DATA_DIR: Setting,
  /** pino level for logs on stderr (default `info`). */
  GANGLION_LOG_LEVEL: t.union([LogLevel, t.undefined]),
  /** An explicit nats-server binary; otherwise PATH is searched. */
  NATS_SERVER_BIN: Setting,
  PATH: Setting,
  /** Base of per-user config files (`ganglion nats-context` writes `<it>/nats/context/`). */
  XDG_CONFIG_HOME: Setting,
  /** A nats CLI context to reach the bus with (like `--context`), as the nats CLI reads it. */
  NATS_CONTEXT: Setting,
});
export type Env = t.TypeOf<typeof Env>;

export type Config = {
  readonly natsUrl: string | undefined;
  readonly creds: string | undefined;
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  readonly natsServerBin: string | undefined;
  readonly path: string | undefined;
  readonly xdgConfigHome?: string | undefined;
  /** NATS_CONTEXT: a nats CLI context name. */
  readonly natsContext?: string | undefined;
  /** Client TLS files for CLI commands and `ganglion serve` (GANGLION_TLS_CA/CERT/KEY); absent when unset. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
};

export const DEFAULT_DATA_DIR = "./.ganglion";

export class ConfigError extends Error {
  override name = "ConfigError";
}

const nonEmpty = (s: string | undefined) => (s === undefined || s.trim() === "" ? undefined : s);

/** Decodes an environment; throws a `ConfigError` naming each bad variable. */
export const decodeConfig = (env: Record<string, string | undefined>): Config => {
  // A URL variable that is set but empty is a mistake (a template left blank), never "use the default".
  for (const k of ["GANGLION_NATS_URL"] as const) {
    const v = env[k];
    if (v !== undefined && v.trim() === "") {
      throw new ConfigError(`${k} is set but empty: unset it, or give the bus URL (such as nats://127.0.0.1:4222)`);
    }
  }
  const cleaned = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, nonEmpty(v)]));
  const e = pipe(
    Env.decode(cleaned),
    E.getOrElseW((errs) => {
      throw new ConfigError(`invalid environment: ${failure(errs).join("; ")}`);
    }),
  );
  return {
    natsUrl: e.GANGLION_NATS_URL,
    creds: e.GANGLION_CREDS,
    dataDir: e.GANGLION_DATA_DIR ?? DEFAULT_DATA_DIR,
    logLevel: e.GANGLION_LOG_LEVEL ?? "info",
    natsServerBin: e.NATS_SERVER_BIN,
    path: e.PATH,
    ...(e.XDG_CONFIG_HOME ? { xdgConfigHome: e.XDG_CONFIG_HOME } : {}),
    ...(e.NATS_CONTEXT ? { natsContext: e.NATS_CONTEXT } : {}),
    ...(e.GANGLION_TLS_CA || e.GANGLION_TLS_CERT || e.GANGLION_TLS_KEY
      ? {
          tls: {
            ...(e.GANGLION_TLS_CA ? { ca: e.GANGLION_TLS_CA } : {}),
            ...(e.GANGLION_TLS_CERT ? { cert: e.GANGLION_TLS_CERT } : {}),
            ...(e.GANGLION_TLS_KEY ? { key: e.GANGLION_TLS_KEY } : {}),
          },
        }
      : {}),
  };
};

/** The process's configuration. */
export const loadConfig = (): Config => decodeConfig(process.env);

/** One variable an operator named on the command line (`ganglion secret set --from-env VAR`); undefined when unset. */
export const namedEnvValue = (name: string): string | undefined => process.env[name];
