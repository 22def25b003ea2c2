import { CommanderError } from "commander";
import { errors as natsErrors } from "@nats-io/nats-core";
import { AuthorityError } from "../auth/authority.js";
import { ConfigError } from "../config.js";
import { NatsServerError } from "../embedded/natsServer.js";
import { DefinitionError } from "../store/streamDefinitions.js";
import { CoreStartError } from "../host/main.js";

/**
 * Exit codes of every `ganglion` command. Scripts may rely on them; add new ones at the end.
 *
 * | code | meaning |
 * | --- | --- |
 * | 0 | success |
 * | 1 | the command ran and failed, or the bus rejected it |
 * | 2 | usage error: unknown command or option, bad or missing argument |
 * | 3 | cannot reach the bus (no server at the URL, bad credentials, no `ganglion up` running, core not answering) |
 * | 4 | the local set-up prevents a start: nats-server missing or too old, port taken, data dir not writable, corrupt or foreign keys, invalid environment |
 */
export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 2,
  Unreachable: 3,
  Setup: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An expected failure with a message meant for people (it should say how to fix it) and an exit
 * code. Printed without a stack trace.
 */
export class CliError extends Error {
  override name = "CliError";
  /** A stable name for scripts (`--json` prints it): the bus's error code, or one of `EXIT_CODE_NAMES`. */
  readonly code: string | undefined;
  /** The offending fields or files, when known (`manifest.provides[0].timeout`, `--data`). */
  readonly paths: readonly string[] | undefined;
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.Failure,
    options?: { cause?: unknown; code?: string; paths?: readonly string[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = options?.code;
    this.paths = options?.paths;
  }
}

/** The `code` printed under `--json` when an error has none of its own, by exit code. */
export const EXIT_CODE_NAMES: Record<ExitCode, string> = {
  0: "Ok",
  1: "Failed",
  2: "Usage",
  3: "Unreachable",
  4: "Setup",
};

/**
 * An error as data, for `--json`: one line `{"code","message","paths","exitCode"}` on stderr.
 * `code` is the bus's error code (InvalidRequest, NotFound, RateLimited, ...) when the bus refused,
 * else the exit code's name.
 */
export const errorAsJson = (err: unknown): { code: string; message: string; paths: string[]; exitCode: ExitCode } => {
  const d = describeError(err);
  const own = err instanceof CliError ? err : undefined;
  return {
    code: own?.code ?? EXIT_CODE_NAMES[d.exitCode],
    message: d.expected ? d.message : err instanceof Error ? err.message : String(err),
    paths: [...(own?.paths ?? [])],
    exitCode: d.exitCode,
  };
};

/** Errors that reaching the bus can raise: connection refused, auth, timeouts, no core. */
export const isUnreachable = (err: unknown): boolean =>
  err instanceof natsErrors.ConnectionError ||
  err instanceof natsErrors.AuthorizationError ||
  err instanceof natsErrors.UserAuthenticationExpiredError ||
  err instanceof natsErrors.ClosedConnectionError ||
  err instanceof natsErrors.NoRespondersError ||
  err instanceof natsErrors.TimeoutError ||
  (err instanceof natsErrors.RequestError && err.isNoResponders());

/** Maps any error to what the CLI prints and its exit code; `expected` errors get no stack. */
export const describeError = (err: unknown): { message: string; exitCode: ExitCode; expected: boolean } => {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode, expected: true };
  if (err instanceof CommanderError) return { message: err.message, exitCode: ExitCode.Usage, expected: true };
  if (err instanceof AuthorityError || err instanceof NatsServerError || err instanceof ConfigError) {
    return { message: err.message, exitCode: ExitCode.Setup, expected: true };
  }
  if (err instanceof DefinitionError || err instanceof CoreStartError) return { message: err.message, exitCode: ExitCode.Failure, expected: true };
  if (isUnreachable(err)) {
    return { message: `cannot reach the bus: ${(err as Error).message}`, exitCode: ExitCode.Unreachable, expected: true };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return { message: e.stack ?? e.message, exitCode: ExitCode.Failure, expected: false };
};
