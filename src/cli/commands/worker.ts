import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EndpointName, RequestOf } from "../../contract/endpoints.js";
import type { RunnerPluginState } from "../../contract/runner.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { callOrThrow } from "../call.js";

// Scaling down waits for instances to stop (their grace period): allow for it.
const call = <N extends EndpointName>(nc: NatsConnection, endpoint: N, req: RequestOf<N>) => callOrThrow(nc, endpoint, req, { timeoutMs: 120_000 });

const count = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 64) throw new CliError(`instances must be a whole number from 0 to 64, got ${JSON.stringify(v)}`, ExitCode.Usage);
  return n;
};

const uptime = (startedAt: string, now: number) => {
  if (!startedAt) return "";
  const s = Math.max(0, Math.round((now - Date.parse(startedAt)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
};

/** `ganglion worker ps|start|stop|scale|logs`: the core's runner (`src/runner/`), through the `worker.*` endpoints. */
export const register = (program: Command, ctx: CliContext) => {
  const worker = program.command("worker").summary("start, stop, scale and watch plugin workers run by the core");
  worker.description(
    "The core's runner starts the workers of active plugins whose manifest has a run: section, restarts them when they exit (with backoff; a crash loop disables the plugin) and stops them when the plugin is disabled or removed, or the core stops.",
  );

  const printState = (cmd: Command, s: RunnerPluginState) =>
    ctx.output(cmd).message(`${s.pluginId}: ${s.running} running, ${s.desired} wanted${s.problem ? ` (${s.problem})` : ""}`, s);

  worker
    .command("ps")
    .argument("[plugin]", "only this plugin")
    .summary("instances the runner supervises")
    .description("Every instance the runner supervises: plugin, instance, pid or container, uptime, restarts, last exit.")
    .action(async (pluginId: string | undefined, _o: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      await ctx.withBus(cmd, async (nc) => {
        const r = await call(nc, "worker.ps", pluginId ? { pluginId } : {});
        const now = Date.now();
        const rows = r.plugins.flatMap((p) => p.instances.map((i) => ({ plugin: p.pluginId, ...i })));
        if (!out.json && !r.healthy) ctx.io.stderr(`backend ${r.backend}: ${r.detail}\n`);
        out.table(
          rows,
          [
            { header: "plugin", value: (x) => x.plugin },
            { header: "instance", value: (x) => x.instance },
            { header: r.backend === "docker" ? "container" : "pid", value: (x) => (x.running ? x.ref : "") },
            { header: "version", value: (x) => x.version },
            { header: "uptime", value: (x) => (x.running ? uptime(x.startedAt, now) : "stopped") },
            { header: "restarts", value: (x) => x.restarts },
            { header: "last exit", value: (x) => (x.lastExit ? (x.lastExit.signal ?? `code ${x.lastExit.code ?? "?"}`) : "") },
          ],
          r,
        );
      });
    });

  worker
    .command("start")
    .argument("<plugin>", "plugin id")
    .option("--instances <n>", "how many (default: the manifest's run.instances)", count)
    .summary("start a plugin's workers")
    .action(async (pluginId: string, opts: { instances?: number }, cmd: Command) => {
      await ctx.withBus(cmd, async (nc) =>
        printState(cmd, await call(nc, "worker.start", { pluginId, ...(opts.instances !== undefined ? { instances: opts.instances } : {}) })),
      );
    });

  worker
    .command("stop")
    .argument("<plugin>", "plugin id")
    .summary("stop every worker of a plugin (SIGTERM, SIGKILL after its grace period)")
    .action(async (pluginId: string, _o: unknown, cmd: Command) => {
      await ctx.withBus(cmd, async (nc) => printState(cmd, await call(nc, "worker.stop", { pluginId })));
    });

  worker
    .command("scale")
    .argument("<plugin>", "plugin id")
    .argument("<n>", "instances", count)
    .summary("run exactly N workers of a plugin")
    .action(async (pluginId: string, n: number, _o: unknown, cmd: Command) => {
      await ctx.withBus(cmd, async (nc) => printState(cmd, await call(nc, "worker.scale", { pluginId, instances: n })));
    });

  worker
    .command("logs")
    .argument("<plugin>", "plugin id")
    .option("--instance <name>", "which instance (default: the first)")
    .option("--follow", "keep printing what it writes (Ctrl-C to stop)", false)
    .summary("an instance's stdout and stderr")
    .action(async (pluginId: string, opts: { instance?: string; follow: boolean }, cmd: Command) => {
      await ctx.withBus(cmd, async (nc) => {
        let r = await call(nc, "worker.logs", { pluginId, ...(opts.instance ? { instance: opts.instance } : {}) });
        ctx.io.stdout(r.text);
        while (opts.follow) {
          await new Promise((ok) => setTimeout(ok, 500));
          r = await call(nc, "worker.logs", { pluginId, instance: r.instance, from: r.next });
          if (r.text) ctx.io.stdout(r.text);
        }
      });
    });
};
