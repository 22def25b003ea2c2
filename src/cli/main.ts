import { readFileSync, realpathSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import tab from "@bomb.sh/tab/commander";
import { DEFAULT_DATA_DIR, loadConfig } from "../config.js";
import { findDataDir } from "./profile.js";
import type { Config } from "../config.js";
import { commandGroups } from "./commands/index.js";
import { createContext } from "./context.js";
import type { CliContext } from "./context.js";
import { describeError, errorAsJson, ExitCode } from "./errors.js";
import { processIo } from "./output.js";
import type { CliIo } from "./output.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  the command failed, or the bus rejected it
  2  usage error (unknown command or option, bad argument)
  3  cannot reach the bus (no server at the URL, bad credentials, no \`ganglion up\` running)
  4  local set-up problem (nats-server missing or too old, port taken, data dir not writable, corrupt keys)

With --json, an error is one line of JSON on stderr: {"code","message","paths","exitCode"}, where code is
the bus's error code (InvalidRequest, NotFound, RateLimited, ...) or the exit code's name (Failed, Usage,
Unreachable, Setup), and paths name the offending fields.

Environment: GANGLION_DATA_DIR, GANGLION_NATS_URL, GANGLION_CREDS, GANGLION_TLS_CA, GANGLION_TLS_CERT, GANGLION_TLS_KEY, GANGLION_LOG_LEVEL, NATS_CONTEXT, NATS_SERVER_BIN.`;

/** Builds the `ganglion` program with every command group registered. */
export const buildProgram = (ctx: CliContext, opts: { jsonErrors?: boolean } = {}): Command => {
  const program = new Command("ganglion")
    .description("Ganglion: an event-sourced plugin bus over NATS JetStream.")
    .version(pkg.version, "-V, --version")
    .option(
      "--data-dir <dir>",
      "data dir of the embedded bus: keys, credentials, JetStream store (env GANGLION_DATA_DIR; default: the nearest .ganglion here or above, like git)",
      ctx.config.dataDir === DEFAULT_DATA_DIR ? findDataDir() : ctx.config.dataDir,
    )
    .option("--context <name>", "reach the bus with a nats CLI context: its url, creds, inbox_prefix and TLS files (env NATS_CONTEXT)")
    .option("--nats <url>", "URL of a bus to reach instead of the data dir's (env GANGLION_NATS_URL)")
    .option("--creds <file>", "credentials file for --nats (env GANGLION_CREDS)")
    .option(
      "--tls-ca <file>",
      "CA certificate (PEM) the bus's TLS certificate is checked against (env GANGLION_TLS_CA; default <data-dir>/tls/ca-cert.pem for a tls:// URL); for `up`: the CA of --tls-cert",
    )
    .option("--tls-cert <file>", "client certificate (PEM) for a bus that verifies clients (env GANGLION_TLS_CERT); for `up`: the server certificate")
    .option("--tls-key <file>", "private key (PEM) of --tls-cert (env GANGLION_TLS_KEY)")
    .option("--json", "print results as JSON for scripts")
    .addOption(
      new Option("--log-level <level>", "log level on stderr (env GANGLION_LOG_LEVEL)")
        .choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"])
        .default(ctx.config.logLevel),
    )
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    // Under --json, errors are printed once, as data, by `run`.
    .configureOutput({ writeOut: ctx.io.stdout, writeErr: ctx.io.stderr, ...(opts.jsonErrors ? { outputError: () => {} } : {}) })
    .showHelpAfterError(opts.jsonErrors ? false : "(add --help for usage)")
    .exitOverride()
    .addHelpText("after", EXIT_CODES_HELP);
  for (const g of commandGroups) g.register(program, ctx);
  // Last, so that it sees every command: `ganglion complete bash|zsh|fish|powershell` prints the
  // script, and the script asks `ganglion complete -- <words>` for the candidates.
  tab(program);
  return program;
};

/**
 * Runs the CLI and resolves with the exit code; prints errors on `io.stderr` (a stack trace only
 * for unexpected errors). Never calls `process.exit`.
 */
export const run = async (argv: readonly string[], io: CliIo = processIo, config?: Config): Promise<number> => {
  // Known before parsing, so that even a usage error comes out as data.
  const jsonErrors = wantsJson(argv);
  const fail = (err: unknown): number => {
    if (jsonErrors) {
      const e = errorAsJson(err);
      io.stderr(JSON.stringify(e) + "\n");
      return e.exitCode;
    }
    const d = describeError(err);
    io.stderr(`ganglion: ${d.message}\n`);
    return d.exitCode;
  };
  let ctx: CliContext;
  try {
    ctx = createContext(config ?? loadConfig(), io);
  } catch (err) {
    return fail(err);
  }
  const program = buildProgram(ctx, { jsonErrors });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return ExitCode.Ok;
      // commander has already printed its message, unless --json asked for data.
      if (jsonErrors) return fail(err);
      return ExitCode.Usage;
    }
    return fail(err);
  }
};

/** True when `--json` is among the options (before a `--`). */
const wantsJson = (argv: readonly string[]): boolean => {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
};

/** The process entry: runs `process.argv`, sets the exit code, and makes sure the process ends. */
export const main = async (): Promise<void> => {
  const code = await run(process.argv.slice(2));
  process.exitCode = code;
  // A command that leaves a handle open must not keep the shell waiting.
  setTimeout(() => process.exit(code), 2000).unref();
};

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(resolve(process.argv[1])) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (invokedDirectly) await main();
