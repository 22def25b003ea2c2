import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Config, LogLevel } from "../config.js";
import { createLogger } from "../log.js";
import type { Logger } from "../log.js";
import { connectTarget, resolveTarget } from "./connection.js";
import type { BusTarget, GlobalOptions } from "./connection.js";
import { createOutput } from "./output.js";
import type { CliIo, Output } from "./output.js";
import { drainOrClose } from "../sdk/connection.js";

/**
 * What every command group gets in `register(program, ctx)`. Commands receive their commander
 * `Command` as the last argument of `.action(...)`; pass it to these helpers so the global
 * options (`--data-dir`, `--nats`, `--creds`, `--json`, `--log-level`) apply wherever the user
 * wrote them. Throw `CliError` for expected failures; the runner prints it and exits with its code.
 */
export type CliContext = {
  /** The decoded environment (see src/config.ts); commands never read `process.env`. */
  readonly config: Config;
  readonly io: CliIo;
  /** The global options merged over the command's own. */
  readonly globals: (cmd: Command) => GlobalOptions;
  /** Table / record / message printing that honours `--json`. */
  readonly output: (cmd: Command) => Output;
  /** A pino logger on stderr at `--log-level`. */
  readonly logger: (cmd: Command) => Logger;
  /** Where the bus is (`--nats`/`--creds`, the env, or the data dir of `ganglion up`). */
  readonly target: (cmd: Command) => Promise<BusTarget>;
  /** A client connection to the bus; the caller closes it. Fails with exit code 3. */
  readonly connect: (cmd: Command, opts?: { name?: string }) => Promise<NatsConnection>;
  /** Runs `fn` with a connection, then drains it, whatever happens. */
  readonly withBus: <T>(cmd: Command, fn: (nc: NatsConnection) => Promise<T>) => Promise<T>;
};

export const createContext = (config: Config, io: CliIo): CliContext => {
  const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();
  const target = (cmd: Command) => resolveTarget(globals(cmd), config);
  const connect = async (cmd: Command, opts: { name?: string } = {}) => connectTarget(await target(cmd), opts);
  return {
    config,
    io,
    globals,
    output: (cmd) => createOutput(io, Boolean(globals(cmd).json)),
    logger: (cmd) => createLogger((globals(cmd).logLevel ?? config.logLevel) as LogLevel),
    target,
    connect,
    withBus: async (cmd, fn) => {
      const nc = await connect(cmd);
      try {
        return await fn(nc);
      } finally {
        await drainOrClose(nc);
      }
    },
  };
};
