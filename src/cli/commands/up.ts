import { resolve } from "node:path";
import type { Command } from "commander";
import { Option } from "commander";
import type { LogLevel } from "../../config.js";
import { createPrettyLogger } from "../../log.js";
import { startEmbeddedBus, runUntilSignal } from "../../host/main.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { parsePort, retentionOptions, taskRetentionOf } from "../options.js";
import { readFile } from "node:fs/promises";
import { loadExistingAuthority } from "../../host/main.js";
import { consoleLines, DEFAULT_CONSOLE_PORT, startConsoleOn } from "../../console/index.js";
import { withConsole } from "./serve.js";
import { EXAMPLE_TASK_TYPE, startExample, withExample } from "./example.js";

type UpOptions = {
  host: string;
  port: number;
  dev: boolean;
  tls: boolean;
  tlsVerify: boolean;
  console: boolean;
  consolePort?: number;
  example: boolean;
  runner: string;
  logFormat?: "pretty" | "json";
  keepFinishedTasks?: number;
  keepFinishedFor?: number;
};
import { rememberPort, stablePort } from "../stablePort.js";

export const register = (program: Command, ctx: CliContext) => {
  retentionOptions(program.command("up"))
    .summary("run the bus here: embedded nats-server and the core")
    .description(
      "Run the bus on this machine: an embedded nats-server (operator mode, JetStream) in the data dir, and the core. " +
        "Prints `ganglion ready nats://HOST:PORT` (`tls://` with --tls) and the admin credentials path once both are ready; Ctrl-C or SIGTERM stops both. " +
        "With --tls, a CA and a server certificate for --host are generated in <data-dir>/tls/ on first start and reused after; " +
        "--tls-cert, --tls-key and --tls-ca (all three) use your own instead.",
    )
    .option("--host <host>", "address nats-server listens on (loopback unless told otherwise)", "127.0.0.1")
    .option("--port <port>", "client port; 0 picks a free one on the first start and keeps it on later starts (unless it is taken)", parsePort, 4222)
    .option("--dev", "development mode: self-registering plugins are approved automatically", false)
    .option("--tls", "TLS on the client port (certificates in <data-dir>/tls/, generated once)", false)
    .option(
      "--console-port <port>",
      `port of the web console on 127.0.0.1 (default ${DEFAULT_CONSOLE_PORT}, or a free one when taken; 0 picks a free one)`,
      parsePort,
    )
    .option("--no-console", "do not serve the web console")
    .option("--example", "also install the example plugin (examples/ts-worker, wordcount) and run its worker, to try it from the console", false)
    .option(
      "--runner <backend>",
      "start the workers of active plugins whose manifest has run: with this backend (process, docker; none: the operator starts them)",
      "none",
    )
    .option("--tls-verify", "with --tls: clients must present a certificate signed by the CA (mint one with `ganglion tls client`)", false)
    .addOption(
      new Option("--log-format <format>", "logs for people (pino-pretty) or JSON lines; default: pretty on a terminal, JSON otherwise").choices([
        "pretty",
        "json",
      ]),
    )
    .action(async (opts: UpOptions, cmd: Command) => {
      const g = ctx.globals(cmd);
      const pretty = (opts.logFormat ?? (process.stdout.isTTY ? "pretty" : "json")) === "pretty";
      const log = pretty ? await createPrettyLogger((g.logLevel ?? ctx.config.logLevel) as LogLevel) : ctx.logger(cmd);
      // Only the flags: GANGLION_TLS_* name client files, never the server's.
      const given = [g.tlsCert, g.tlsKey, g.tlsCa];
      if (given.some(Boolean) && !given.every(Boolean)) {
        throw new CliError(
          "up with your own TLS certificate needs all three: --tls-cert FILE --tls-key FILE --tls-ca FILE (or none of them, to have them generated).",
          ExitCode.Usage,
        );
      }
      if (opts.runner !== "process" && opts.runner !== "docker" && opts.runner !== "none") {
        throw new CliError(`--runner must be process, docker or none (got ${JSON.stringify(opts.runner)})`, ExitCode.Usage);
      }
      const tlsOn = opts.tls || opts.tlsVerify || given.every(Boolean);
      if (opts.example && tlsOn) throw new CliError("--example runs the example worker over plain NATS: leave out --tls.", ExitCode.Usage);
      // --port 0: the port of the earlier start, when it is still free.
      const stable = opts.port === 0 ? await stablePort(g.dataDir, opts.host) : { port: opts.port };
      if (stable.note) log.warn(stable.note);
      const bus = await startEmbeddedBus({
        dataDir: g.dataDir,
        host: opts.host,
        port: stable.port,
        dev: opts.dev,
        runner: opts.runner,
        taskRetention: taskRetentionOf(opts),
        env: { NATS_SERVER_BIN: ctx.config.natsServerBin, PATH: ctx.config.path },
        log,
        ...(tlsOn
          ? {
              tls: {
                verify: opts.tlsVerify,
                ...(g.tlsCert && g.tlsKey && g.tlsCa ? { given: { cert: resolve(g.tlsCert), key: resolve(g.tlsKey), ca: resolve(g.tlsCa) } } : {}),
              },
            }
          : {}),
      });
      const web = opts.console
        ? await startConsoleOn(
            { url: bus.url, creds: await readFile(bus.adminCreds, "utf8"), tls: bus.tls, authority: await loadExistingAuthority(bus.dataDir, false), log },
            opts.consolePort,
          ).catch(async (err) => {
            await bus.stop();
            throw err;
          })
        : undefined;
      const example = opts.example
        ? await startExample({ url: bus.url, adminCreds: bus.adminCreds, dataDir: bus.dataDir, log }).catch(async (err) => {
            await web?.stop();
            await bus.stop();
            throw err;
          })
        : undefined;
      // One write: whoever waits for the ready line gets the lines after it in the same read.
      if (opts.port === 0) await rememberPort(g.dataDir, bus.url);
      // On a terminal the ready line stands out from the logs around it (bold green).
      const ready = `ganglion ready ${bus.url}`;
      ctx.io.stdout(
        [
          pretty ? `\x1b[1;32m${ready}\x1b[0m` : ready,
          `admin credentials: ${bus.adminCreds}`,
          ...(bus.tls ? [`tls ca: ${bus.tls.ca}`] : []),
          ...(bus.tls?.verify
            ? [`tls verify: clients need a certificate signed by that CA (admin: ${bus.tls.cert}; workers: \`ganglion tls client <name> -o DIR\`)`]
            : []),
          ...(bus.devBootstrapCreds
            ? [`dev mode: workers may self-register with ${bus.devBootstrapCreds} (inbox prefix _INBOX._bootstrap); their grants are approved automatically`]
            : []),
          ...(web ? consoleLines(web, example ? `#/try/${EXAMPLE_TASK_TYPE}` : "") : []),
          ...(example ? [`example: the wordcount plugin is installed and its worker runs (examples/ts-worker); try ${EXAMPLE_TASK_TYPE} in the console`] : []),
        ].join("\n") + "\n",
      );
      process.exitCode = await runUntilSignal(withExample(withConsole(bus, web), example), log);
    });
};
