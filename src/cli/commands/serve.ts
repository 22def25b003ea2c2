import type { Command } from "commander";
import { loadExistingAuthority, runUntilSignal, startServedBus } from "../../host/main.js";
import { sysCredsPath } from "../../auth/authority.js";
import { clientTlsOf, readCreds } from "../connection.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { parsePort, parsePositiveInt, retentionOptions, taskRetentionOf } from "../options.js";
import type { RunningBus } from "../../host/main.js";
import { consoleLines, DEFAULT_CONSOLE_PORT, startConsoleOn } from "../../console/index.js";
import type { ConsoleServer } from "../../console/index.js";

/** `bus`, whose stop first stops the console (its connections), then the bus. */
export const withConsole = <B extends RunningBus>(bus: B, web: ConsoleServer | undefined): RunningBus =>
  web
    ? {
        url: bus.url,
        ended: bus.ended,
        stop: async () => {
          await web.stop().catch(() => undefined);
          await bus.stop();
        },
      }
    : bus;
import { access } from "node:fs/promises";
import { resolve } from "node:path";

type ServeOptions = { replicas?: number; sysCreds?: string; dev: boolean; console: boolean; consolePort?: number } & Parameters<typeof taskRetentionOf>[0];

export const register = (program: Command, ctx: CliContext) => {
  retentionOptions(program.command("serve"))
    .summary("run the core against an existing NATS server or cluster")
    .description(
      "Run the core against an existing nats-server or cluster (the production path): --nats URL --creds FILE, " +
        "or GANGLION_NATS_URL / GANGLION_CREDS. Keys in --data-dir are used when present (needed to mint plugin credentials). " +
        "A TLS server: a tls:// URL with --tls-ca (and --tls-cert/--tls-key when it verifies clients), or GANGLION_TLS_CA/CERT/KEY. " +
        "Prints `ganglion ready URL` once the core is ready; SIGTERM stops it.",
    )
    .option("--replicas <n>", "stream replicas (3 on a JetStream cluster)", parsePositiveInt)
    .option("--sys-creds <file>", "credentials of a SYS account user, to push account JWTs (default: <data-dir>/creds/sys.creds when present)")
    .option("--dev", "development mode: self-registering plugins are approved automatically", false)
    .option("--console", "also serve the web console on 127.0.0.1 (login URL printed after the ready line)", false)
    .option("--console-port <port>", `port of the web console (default ${DEFAULT_CONSOLE_PORT}, or a free one when taken; 0 picks a free one)`, parsePort)
    .action(async (opts: ServeOptions, cmd: Command) => {
      const g = ctx.globals(cmd);
      const log = ctx.logger(cmd);
      const url = g.nats ?? ctx.config.natsUrl;
      if (!url) throw new CliError("serve needs the bus URL: pass --nats URL (or set GANGLION_NATS_URL).", ExitCode.Usage);
      const credsPath = g.creds ?? ctx.config.creds;
      const creds = credsPath ? await readCreds(resolve(credsPath), g.creds ? "--creds" : "GANGLION_CREDS") : undefined;
      const explicitDataDir = cmd.getOptionValueSourceWithGlobals("dataDir") !== "default";
      const authority = await loadExistingAuthority(g.dataDir, explicitDataDir);
      let sysCreds: string | undefined;
      if (opts.sysCreds) sysCreds = await readCreds(resolve(opts.sysCreds), "--sys-creds");
      else if (
        authority &&
        (await access(sysCredsPath(authority.dataDir)).then(
          () => true,
          () => false,
        ))
      ) {
        sysCreds = await readCreds(sysCredsPath(authority.dataDir), "the data dir");
      }
      if (!authority) log.warn(`no keys in ${resolve(g.dataDir)}: the core runs without the right to mint credentials`);
      const tls = await clientTlsOf(g, ctx.config, url);
      const bus = await startServedBus({
        url,
        creds,
        authority,
        sysCreds,
        replicas: opts.replicas,
        dev: opts.dev,
        log,
        tls,
        taskRetention: taskRetentionOf(opts),
      });
      const web = opts.console
        ? await startConsoleOn({ url, creds, tls, authority, log }, opts.consolePort).catch(async (err) => {
            await bus.stop();
            throw err;
          })
        : undefined;
      ctx.io.stdout([`ganglion ready ${url}`, ...(web ? consoleLines(web) : [])].join("\n") + "\n");
      process.exitCode = await runUntilSignal(withConsole(bus, web), log);
    });
};
