import type { Command } from "commander";
import { Option } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import type { EndpointName, RequestOf, ResponseOf } from "../../contract/endpoints.js";
import { PluginStatus, TaskStatus } from "../../contract/responses.js";
import { serviceClient } from "../../service/client.js";
import type { TaskRow } from "../../contract/responses.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import type { Column } from "../output.js";
import { parseInterval, watchRows } from "./watch.js";

/** Calls a query endpoint; a missing core is exit 3, a rejection exit 1, both with the reason. */
export const query = async <N extends EndpointName>(nc: NatsConnection, endpoint: N, req: RequestOf<N>): Promise<ResponseOf<N>> => {
  const r = await serviceClient(nc).call(endpoint, req);
  if (E.isLeft(r)) {
    if (r.left.code === "Unavailable" && !r.left.message.includes("ganglion up")) {
      throw new CliError(
        `${r.left.message}: no Ganglion core answers ${endpoint}. Is the core running (\`ganglion up\` or \`ganglion serve\`)?`,
        ExitCode.Unreachable,
      );
    }
    throw new CliError(`${r.left.message} (${r.left.code})`, r.left.code === "Unavailable" ? ExitCode.Unreachable : ExitCode.Failure, {
      code: r.left.code,
      ...(r.left.paths ? { paths: r.left.paths } : {}),
    });
  }
  return r.right;
};

const list = (xs: readonly string[]) => (xs.length ? xs.join(" ") : "-");
const ago = (iso: string | null) => (iso ? iso.replace(/\.\d+Z$/, "Z") : "-");
const ms = (n: number | null) => (n === null ? "-" : n < 1000 ? `${n}ms` : `${(n / 1000).toFixed(1)}s`);

const PLUGIN_STATUSES = Object.keys(PluginStatus.keys);
const TASK_STATUSES = Object.keys(TaskStatus.keys);

/**
 * The operator views: `plugins`, `workers`, `tasks`, `task show`, `capabilities`, `totals`. Each
 * reads the projections through the core's query endpoints (`ganglion.v1.views.*`), the same
 * the `nats` CLI can call.
 */
export const register = (program: Command, ctx: CliContext) => {
  program
    .command("plugins")
    .summary("list plugins: status, version, granted and pending capabilities")
    .description("List plugins from the plugins view: status, version, granted and pending capabilities, live credentials.")
    .addOption(new Option("--status <status>", "only plugins in this status").choices(PLUGIN_STATUSES))
    .action(async (opts: { status?: PluginStatus }, cmd: Command) => {
      const rows = await ctx.withBus(cmd, (nc) => query(nc, "views.plugins", opts.status ? { status: opts.status } : {}));
      ctx.output(cmd).table(rows, [
        { header: "plugin", value: (p) => p.pluginId },
        { header: "status", value: (p) => p.status },
        { header: "version", value: (p) => p.version },
        { header: "granted", value: (p) => list(p.granted) },
        { header: "pending", value: (p) => list(p.pending) },
        { header: "creds", value: (p) => p.credentials.length },
      ]);
    });

  program
    .command("workers")
    .summary("list workers by plugin: instances online, in flight, recent failures")
    .description("Workers by plugin from the workers view: instances online and their last sign of life, tasks in flight, failures.")
    .option("--plugin <id>", "only this plugin")
    .action(async (opts: { plugin?: string }, cmd: Command) => {
      const rows = await ctx.withBus(cmd, (nc) => query(nc, "views.workers", opts.plugin ? { pluginId: opts.plugin } : {}));
      ctx.output(cmd).table(rows, [
        { header: "plugin", value: (w) => w.pluginId },
        { header: "online", value: (w) => w.online },
        { header: "instances", value: (w) => list(Object.entries(w.instances).map(([id, i]) => `${id}@${i.version}`)) },
        {
          header: "last heartbeat",
          value: (w) =>
            ago(
              Object.values(w.live ?? {})
                .map((i) => i.lastHeartbeatAt)
                .sort()
                .at(-1) ?? null,
            ),
        },
        { header: "in flight", value: (w) => w.inFlightCount },
        { header: "completed", value: (w) => w.completed },
        { header: "failed", value: (w) => w.failed },
        { header: "last failure", value: (w) => (w.recentFailures.at(-1) ? `${w.recentFailures.at(-1)!.taskId}: ${w.recentFailures.at(-1)!.message}` : "-") },
      ]);
    });

  program
    .command("tasks")
    .summary("list tasks, newest first")
    .description("Tasks from the tasks view, newest first: status, attempts, timings.")
    .addOption(new Option("--status <status>", "only tasks in this status").choices(TASK_STATUSES))
    .option("--plugin <id>", "only tasks of this plugin")
    .option("--limit <n>", "at most this many", "100")
    .option("-w, --watch", "keep watching: a terminal redraws the table; a pipe (or --json) gets each new or changed row as a line", false)
    .option("--interval <duration>", "with --watch: how often to look", parseInterval, 2000)
    .action(async (opts: { status?: TaskStatus; plugin?: string; limit: string; watch: boolean; interval: number }, cmd: Command) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
        throw new CliError(`--limit ${opts.limit}: expected a whole number from 1 to 10000`, ExitCode.Usage);
      const req = { limit, ...(opts.status ? { status: opts.status } : {}), ...(opts.plugin ? { pluginId: opts.plugin } : {}) };
      const columns: Column<TaskRow>[] = [
        { header: "task", value: (r) => r.taskId },
        { header: "plugin", value: (r) => r.pluginId },
        { header: "type", value: (r) => r.taskType },
        { header: "status", value: (r) => r.status },
        { header: "attempt", value: (r) => `${r.attempt}/${r.maxAttempts}` },
        { header: "submitted", value: (r) => ago(r.submittedAt) },
        { header: "duration", value: (r) => ms(r.durationMs) },
      ];
      if (opts.watch) {
        return watchRows(ctx, cmd, { intervalMs: opts.interval, title: "ganglion tasks", key: (r) => r.taskId, columns }, (nc) =>
          query(nc, "views.tasks", req),
        );
      }
      const rows = await ctx.withBus(cmd, (nc) => query(nc, "views.tasks", req));
      ctx.output(cmd).table(rows, columns);
    });

  // `task` belongs to the tasks command group; `show` (the full history) is added to it here.
  const task = program.commands.find((c) => c.name() === "task") ?? program.command("task").summary("work with tasks");
  task
    .command("show")
    .argument("<id>", "task id")
    .summary("show a task's row of the tasks view and its full event history")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const v = await ctx.withBus(cmd, (nc) => query(nc, "views.task", { taskId: id }));
      const out = ctx.output(cmd);
      if (out.json) {
        out.record(v as unknown as Record<string, unknown>);
        return;
      }
      if (v.task) {
        const r = v.task;
        out.record({
          task: r.taskId,
          plugin: `${r.pluginId}@${r.pluginVersion}`,
          type: r.taskType,
          status: r.status,
          attempt: `${r.attempt}/${r.maxAttempts}`,
          instance: r.instance,
          submitted: r.submittedAt,
          started: r.startedAt,
          finished: r.finishedAt,
          duration: ms(r.durationMs),
          ...(r.status === "completed" ? { result: r.result } : {}),
          ...(r.error ? { error: r.error.message } : {}),
        });
      } else {
        ctx.io.stdout(`task ${id} is not in the tasks view yet (the projection may be behind); its events:\n`);
      }
      ctx.io.stdout("\n");
      out.table(v.history, [
        { header: "position", value: (e) => e.position },
        { header: "time", value: (e) => e.time },
        { header: "event", value: (e) => e.type },
        { header: "actor", value: (e) => e.actor },
        { header: "data", value: (e) => JSON.stringify(e.data).slice(0, 100) },
      ]);
    });

  program
    .command("capabilities")
    .summary("who may do what: each granted capability and the plugins holding it")
    .description("Who may do what, from the capabilities view: each granted capability and the plugins holding it (--by-plugin: the other way round).")
    .option("--by-plugin", "one line per plugin instead", false)
    .action(async (opts: { byPlugin: boolean }, cmd: Command) => {
      const v = await ctx.withBus(cmd, (nc) => query(nc, "views.capabilities", {}));
      const out = ctx.output(cmd);
      if (opts.byPlugin) {
        const rows = Object.entries(v.byPlugin).map(([plugin, caps]) => ({ plugin, caps }));
        out.table(
          rows,
          [
            { header: "plugin", value: (r) => r.plugin },
            { header: "capabilities", value: (r) => list(r.caps) },
          ],
          v.byPlugin,
        );
        return;
      }
      const rows = Object.entries(v.byCapability).map(([capability, plugins]) => ({ capability, plugins }));
      out.table(
        rows,
        [
          { header: "capability", value: (r) => r.capability },
          { header: "plugins", value: (r) => list(r.plugins) },
        ],
        v.byCapability,
      );
    });

  program
    .command("totals")
    .summary("how many tasks and plugins are in each status")
    .action(async (_opts: unknown, cmd: Command) => {
      const v = await ctx.withBus(cmd, (nc) => query(nc, "views.totals", {}));
      const rows = [
        ...Object.entries(v.tasks.byStatus).map(([status, n]) => ({ of: "tasks", status, n })),
        ...Object.entries(v.plugins.byStatus).map(([status, n]) => ({ of: "plugins", status, n })),
      ];
      ctx.output(cmd).table(
        rows,
        [
          { header: "of", value: (r) => r.of },
          { header: "status", value: (r) => r.status },
          { header: "count", value: (r) => r.n },
        ],
        v,
      );
    });
};
