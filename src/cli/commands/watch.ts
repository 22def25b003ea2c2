import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import type { CliContext } from "../context.js";
import { renderTable } from "../output.js";
import type { Column } from "../output.js";
import { CliError, ExitCode } from "../errors.js";
import { parseDuration } from "../../contract/duration.js";

/** Parses `--interval` in the one duration grammar, at least 100 ms. */
export const parseInterval = (v: string): number => {
  const ms = parseDuration(v);
  if (ms === undefined || ms < 100) throw new CliError(`--interval ${JSON.stringify(v)}: expected a duration of 100ms or more, such as "2s"`, ExitCode.Usage);
  return ms;
};

/**
 * `--watch` for a view: asks again every `intervalMs` until Ctrl-C (or SIGTERM). On a terminal it
 * redraws the whole table; otherwise (a pipe, or --json) it prints each row that appeared or
 * changed since the last look, one line each (JSON lines with --json), so the output can be
 * followed by a script.
 */
export const watchRows = async <R>(
  ctx: CliContext,
  cmd: Command,
  opts: { intervalMs: number; title: string; key: (r: R) => string; columns: readonly Column<R>[] },
  fetch: (nc: NatsConnection) => Promise<readonly R[]>,
): Promise<void> => {
  const json = ctx.output(cmd).json;
  const tty = !json && Boolean(process.stdout.isTTY);
  let stopped = false;
  let wake: () => void = () => undefined;
  const stop = () => {
    stopped = true;
    wake();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const seen = new Map<string, string>();
  let headerShown = false;
  try {
    await ctx.withBus(cmd, async (nc) => {
      while (!stopped) {
        const rows = await fetch(nc);
        if (tty) {
          ctx.io.stdout(`\x1b[H\x1b[2J${opts.title}, every ${opts.intervalMs} ms (Ctrl-C stops)  ${new Date().toISOString()}\n\n`);
          ctx.io.stdout(rows.length === 0 ? "(none)\n" : renderTable(rows, opts.columns));
        } else {
          const changed = rows.filter((r) => {
            const v = JSON.stringify(r);
            const k = opts.key(r);
            if (seen.get(k) === v) return false;
            seen.set(k, v);
            return true;
          });
          if (json) for (const r of changed) ctx.io.stdout(`${JSON.stringify(r)}\n`);
          else if (changed.length > 0) {
            const lines = renderTable(changed, opts.columns).split("\n");
            ctx.io.stdout((headerShown ? lines.slice(1) : lines).filter(Boolean).join("\n") + "\n");
            headerShown = true;
          }
        }
        await new Promise<void>((r) => {
          const timer = setTimeout(r, opts.intervalMs);
          wake = () => {
            clearTimeout(timer);
            r();
          };
        });
      }
    });
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
};
