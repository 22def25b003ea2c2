import type { Command } from "commander";
import { startEmbeddedBus, runUntilSignal } from "../../main.js";
import type { CliContext } from "../context.js";
import { parsePort } from "../options.js";

export const register = (program: Command, ctx: CliContext) => {
  program
    .command("up")
    .summary("run the bus here: embedded nats-server and the core")
    .description(
      "Run the bus on this machine: an embedded nats-server (operator mode, JetStream) in the data dir, and the core. " +
        "Prints `ganglion ready nats://HOST:PORT` and the admin credentials path once both are ready; Ctrl-C or SIGTERM stops both.",
    )
    .option("--host <host>", "address nats-server listens on (loopback unless told otherwise)", "127.0.0.1")
    .option("--port <port>", "client port; 0 picks a free one", parsePort, 4222)
    .option("--dev", "development mode: self-registering plugins are approved automatically", false)
    .action(async (opts: { host: string; port: number; dev: boolean }, cmd: Command) => {
      const g = ctx.globals(cmd);
      const log = ctx.logger(cmd);
      const bus = await startEmbeddedBus({
        dataDir: g.dataDir,
        host: opts.host,
        port: opts.port,
        dev: opts.dev,
        env: { NATS_SERVER_BIN: ctx.config.natsServerBin, PATH: ctx.config.path },
        log,
      });
      ctx.io.stdout(`ganglion ready ${bus.url}\nadmin credentials: ${bus.adminCreds}\n`);
      if (bus.devBootstrapCreds) {
        ctx.io.stdout(`dev mode: workers may self-register with ${bus.devBootstrapCreds} (inbox prefix _INBOX._bootstrap); their grants are approved automatically\n`);
      }
      process.exitCode = await runUntilSignal(bus, log);
    });
};
