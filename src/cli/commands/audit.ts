import { createWriteStream } from "node:fs";
import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import { audit, AuditFilterError } from "../../projections/audit.js";
import type { AuditEntry, AuditFilter } from "../../projections/audit.js";
import { readerStore } from "../../projections/runner/source.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { parsePositiveInt } from "../options.js";
import type { EventStore } from "../../store/types.js";
import { drainOrClose } from "../../sdk/connection.js";

type AuditOpts = { plugin?: string; task?: string; type?: string; since?: string; until?: string; limit?: string; last?: number; follow?: boolean };

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
    .option("--since <time>", "from this time: ISO-8601, or a duration back from now (15m, 1h30m, 1.5h, 7d)")
    .option("--until <time>", "up to this time: ISO-8601, or a duration back from now");

const summary = (e: AuditEntry) => {
  const s = JSON.stringify(e.data);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
};

/** Reads the log directly (no core needed) and maps a bad filter to a usage error. */
const entries = async function* (
  ctx: CliContext,
  cmd: Command,
  f: AuditFilter,
  follow?: { onLive: () => void; onConnected: (nc: NatsConnection) => void },
): AsyncGenerator<AuditEntry> {
  const nc = await ctx.connect(cmd);
  follow?.onConnected(nc);
  try {
    const store = readerStore(nc, ctx.logger(cmd));
    yield* audit(follow ? tailing(store, follow.onLive) : store, f);
  } catch (err) {
    if (err instanceof AuditFilterError) throw new CliError(`--${err.path} ${err.message.slice(err.path.length + 2)}`, ExitCode.Usage);
    throw err;
  } finally {
    await drainOrClose(nc);
  }
};

/**
 * The store as `audit --follow` reads it: the log up to its head as it is now, then (after
 * `onLive`) every event appended later, without end. The audit filters run over both, so
 * `--plugin` keeps following the tasks submitted to the plugin.
 */
const tailing = <E extends { type: string; data: unknown }>(store: EventStore<E>, onLive: () => void): EventStore<E> => ({
  ...store,
  readAll: async function* () {
    const head = await store.headPosition();
    for await (const e of store.readAll()) {
      if (e.position > head) break;
      yield e;
    }
    onLive();
    yield* store.subscribeToAll({ fromPosition: head });
  },
  readStream: async function* (name: string) {
    const sub = store.subscribeToStream(name);
    void sub.caughtUp.then(onLive, () => undefined);
    yield* sub;
  },
});

/** Fixed-width columns for rows printed one by one (`--follow`), as the table prints them. */
const WIDTHS = [8, 24, 30, 28, 22];
const rowLine = (e: AuditEntry) =>
  [e.position, e.time, e.stream, e.type, e.actor]
    .map((v, i) => String(v).padEnd(WIDTHS[i]!))
    .join("  ")
    .concat("  ", summary(e)) + "\n";
const HEADER = ["POSITION", "TIME", "STREAM", "EVENT", "ACTOR"].map((v, i) => v.padEnd(WIDTHS[i]!)).join("  ") + "  DATA\n";

/** `ganglion audit` and `ganglion audit export`: the event log, filtered, from the start. */
export const register = (program: Command, ctx: CliContext) => {
  const cmdAudit = withFilters(
    program
      .command("audit")
      .summary("read the event log: who did what, when (filters: plugin, task, type, time)")
      .description(
        "Read the append-only event log, oldest first: every registration, grant, revocation and task step with its actor and time. Filters combine (AND).",
      )
      .option("--limit <n>", "at most this many events, the oldest first (default: all)")
      .option("--last <n>", "only the newest N events (still printed oldest first)", parsePositiveInt)
      .option("-f, --follow", "keep printing events as they are appended (the live tail; Ctrl-C stops); with --json, one JSON object per line", false),
  ).action(async (opts: AuditOpts, cmd: Command) => {
    if (opts.limit !== undefined && opts.last !== undefined) throw new CliError("--limit (the oldest) and --last (the newest) are exclusive", ExitCode.Usage);
    if (opts.follow) return follow(ctx, cmd, opts);
    const limit = opts.limit === undefined ? Number.POSITIVE_INFINITY : Number(opts.limit);
    if (opts.limit !== undefined && (!Number.isInteger(limit) || limit < 1))
      throw new CliError(`--limit ${opts.limit}: expected a whole number above 0`, ExitCode.Usage);
    const rows: AuditEntry[] = [];
    for await (const e of entries(ctx, cmd, filterOf(opts))) {
      rows.push(e);
      if (opts.last !== undefined && rows.length > opts.last) rows.shift();
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

/** `audit --follow [--last N]`: the history (or its last N events), then each new event as it comes. */
const follow = async (ctx: CliContext, cmd: Command, opts: AuditOpts) => {
  const json = ctx.output(cmd).json;
  const print = (e: AuditEntry) => ctx.io.stdout(json ? `${JSON.stringify(e)}\n` : rowLine(e));
  const held: AuditEntry[] = [];
  let live = false;
  const onLive = () => {
    live = true;
    for (const e of held.splice(0)) print(e);
  };
  if (!json) ctx.io.stdout(HEADER);
  const stop = new Promise<void>((r) => {
    process.once("SIGINT", r);
    process.once("SIGTERM", r);
  });
  let conn: NatsConnection | undefined;
  const it = entries(ctx, cmd, filterOf(opts), { onLive, onConnected: (nc) => (conn = nc) })[Symbol.asyncIterator]();
  for (;;) {
    const n = await Promise.race([it.next(), stop.then(() => undefined)]);
    if (n === undefined) {
      // Stopped while the tail waits for the next event: closing the connection ends it.
      await conn?.close();
      void it.return?.(undefined).catch(() => undefined);
      return;
    }
    if (n.done) break;
    const e = n.value;
    if (live || opts.last === undefined) print(e);
    else {
      held.push(e);
      if (held.length > opts.last) held.shift();
    }
  }
};
