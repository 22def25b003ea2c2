import { createWriteStream } from "node:fs";
import type { Command } from "commander";
import { audit, AuditFilterError } from "../../projections/audit.js";
import type { AuditEntry, AuditFilter } from "../../projections/audit.js";
import { readerStore } from "../../projections/runner/source.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";

type AuditOpts = { plugin?: string; task?: string; type?: string; since?: string; until?: string; limit?: string };

const filterOf = (o: AuditOpts): AuditFilter => ({
  ...(o.plugin ? { pluginId: o.plugin } : {}),
  ...(o.task ? { taskId: o.task } : {}),
  ...(o.type ? { type: o.type } : {}),
  ...(o.since ? { since: o.since } : {}),
  ...(o.until ? { until: o.until } : {}),
});

const withFilters = (c: Command) =>
  c
    .option("--plugin <id>", "a plugin's own events, its workers' and those of the tasks submitted to it")
    .option("--task <id>", "one task's events")
    .option("--type <prefix>", "event types starting with this, e.g. plugin. or task.completed")
    .option("--since <time>", "from this time: ISO-8601, or a duration back from now (15m, 2h, 7d)")
    .option("--until <time>", "up to this time: ISO-8601, or a duration back from now");

const summary = (e: AuditEntry) => {
  const s = JSON.stringify(e.data);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
};

/** Reads the log directly (no core needed) and maps a bad filter to a usage error. */
const entries = async function* (ctx: CliContext, cmd: Command, f: AuditFilter): AsyncGenerator<AuditEntry> {
  const nc = await ctx.connect(cmd);
  try {
    yield* audit(readerStore(nc, ctx.logger(cmd)), f);
  } catch (err) {
    if (err instanceof AuditFilterError) throw new CliError(`--${err.path} ${err.message.slice(err.path.length + 2)}`, ExitCode.Usage);
    throw err;
  } finally {
    await nc.drain().catch(() => nc.close());
  }
};

/** `ganglion audit` and `ganglion audit export`: the event log, filtered, from the start. */
export const register = (program: Command, ctx: CliContext) => {
  const cmdAudit = withFilters(
    program
      .command("audit")
      .summary("read the event log: who did what, when (filters: plugin, task, type, time)")
      .description(
        "Read the append-only event log, oldest first: every registration, grant, revocation and task step with its actor and time. Filters combine (AND).",
      )
      .option("--limit <n>", "at most this many events (default: all)"),
  ).action(async (opts: AuditOpts, cmd: Command) => {
    const limit = opts.limit === undefined ? Number.POSITIVE_INFINITY : Number(opts.limit);
    if (opts.limit !== undefined && (!Number.isInteger(limit) || limit < 1))
      throw new CliError(`--limit ${opts.limit}: expected a whole number above 0`, ExitCode.Usage);
    const rows: AuditEntry[] = [];
    for await (const e of entries(ctx, cmd, filterOf(opts))) {
      rows.push(e);
      if (rows.length >= limit) break;
    }
    ctx.output(cmd).table(rows, [
      { header: "position", value: (e) => e.position },
      { header: "time", value: (e) => e.time },
      { header: "stream", value: (e) => e.stream },
      { header: "event", value: (e) => e.type },
      { header: "actor", value: (e) => e.actor },
      { header: "data", value: (e) => summary(e) },
    ]);
  });

  withFilters(
    cmdAudit
      .command("export")
      .summary("write the log as JSON lines (one event per line) to stdout or --out FILE")
      .option("--out <file>", "write to this file instead of stdout"),
  ).action(async (opts: AuditOpts & { out?: string }, cmd: Command) => {
    // Filters may be given before or after `export`.
    const f = filterOf({ ...cmd.parent!.opts<AuditOpts>(), ...opts });
    const file = opts.out ? createWriteStream(opts.out, { flags: "w", mode: 0o600 }) : undefined;
    const write = (s: string) => (file ? new Promise<void>((r, j) => file.write(s, (e) => (e ? j(e) : r()))) : Promise.resolve(ctx.io.stdout(s)));
    let n = 0;
    try {
      for await (const e of entries(ctx, cmd, f)) {
        await write(`${JSON.stringify(e)}\n`);
        n++;
      }
    } finally {
      if (file) await new Promise<void>((r) => file.end(r));
    }
    if (opts.out) ctx.io.stderr(`${n} events written to ${opts.out}\n`);
  });
};
