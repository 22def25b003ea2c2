import type { Command } from "commander";
import cliProgress from "cli-progress";
import { rebuildProjections, UnknownViewError, verifyProjections } from "../../projections/runner/replay.js";
import type { Progress } from "../../projections/runner/replay.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { query } from "./views.js";

/** A progress bar on stderr, drawn only on a terminal and never with --json. */
const progressBar = (enabled: boolean) => {
  if (!enabled || !process.stderr.isTTY) return { update: (_p: Progress) => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: "{view} {phase} [{bar}] {value}/{total}", hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let key = "";
  return {
    update: (p: Progress) => {
      const k = `${p.view}/${p.phase}`;
      if (k !== key) {
        if (key) bar.stop();
        key = k;
        bar.start(Math.max(p.total, 1), 0, { view: p.view, phase: p.phase === "fold" ? "folding the log" : "writing rows" });
      }
      bar.setTotal(Math.max(p.total, 1));
      bar.update(p.done);
    },
    stop: () => (key ? bar.stop() : undefined),
  };
};

const brief = (v: unknown) => {
  const s = JSON.stringify(v);
  return s === undefined ? "-" : s.length > 160 ? `${s.slice(0, 157)}...` : s;
};

/** `ganglion projections status|rebuild|verify`. */
export const register = (program: Command, ctx: CliContext) => {
  const projections = program
    .command("projections")
    .summary("the views the core folds from the log: status, rebuild, verify")
    .description("The KV views the core folds from the event log (projections/*.json): where each lives, how far it is, and tools to rebuild and verify them.");

  projections
    .command("status")
    .summary("each view's live bucket, version, checkpoint and lag behind the log")
    .action(async (_opts: unknown, cmd: Command) => {
      type S = { view: string; version: number; bucket: string; liveBucket: string; liveVersion: number; checkpoint: number; head: number; behind: number };
      const rows = await ctx.withBus(cmd, (nc) => query(nc, "projections.status", {}));
      ctx.output(cmd).table(rows, [
        { header: "view", value: (r) => r.view },
        { header: "live bucket", value: (r) => `${r.liveBucket} (v${r.liveVersion})` },
        { header: "building", value: (r) => (r.bucket !== r.liveBucket ? `${r.bucket} (v${r.version})` : "-") },
        { header: "checkpoint", value: (r) => r.checkpoint },
        { header: "head", value: (r) => r.head },
        { header: "behind", value: (r) => r.behind },
      ]);
    });

  projections
    .command("rebuild")
    .argument("[name]", "one view (default: all)")
    .summary("fold the whole log again and make the view buckets match it")
    .description(
      "Fold the whole event log from scratch in memory, then write every row that differs (compare-and-set, so a running core can keep going) and move the checkpoint. Use after `projections verify` reports drift, or after restoring a bucket.",
    )
    .action(async (name: string | undefined, _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const bar = progressBar(!out.json);
      const res = await ctx.withBus(cmd, async (nc) => {
        try {
          return await rebuildProjections(nc, { log: ctx.logger(cmd), ...(name ? { only: [name] } : {}), onProgress: bar.update });
        } catch (err) {
          if (err instanceof UnknownViewError) throw new CliError(err.message, ExitCode.Usage);
          throw err;
        } finally {
          bar.stop();
        }
      });
      out.table(res, [
        { header: "view", value: (r) => r.view },
        { header: "bucket", value: (r) => r.bucket },
        { header: "log head", value: (r) => r.head },
        { header: "rows", value: (r) => r.rows },
        { header: "rewritten", value: (r) => r.changed },
      ]);
    });

  projections
    .command("verify")
    .argument("[name]", "one view (default: all)")
    .summary("fold the whole log from scratch and diff it against the buckets (exit 1 on drift)")
    .description(
      "Fold the whole event log from scratch in memory and compare it with each view's bucket. Prints every row that differs and exits 1 on any drift (repair with `ganglion projections rebuild`).",
    )
    .action(async (name: string | undefined, _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const bar = progressBar(!out.json);
      const reports = await ctx.withBus(cmd, async (nc) => {
        try {
          return await verifyProjections(nc, { log: ctx.logger(cmd), ...(name ? { only: [name] } : {}), onProgress: bar.update });
        } catch (err) {
          if (err instanceof UnknownViewError) throw new CliError(err.message, ExitCode.Usage);
          throw err;
        } finally {
          bar.stop();
        }
      });
      const drift = reports.filter((r) => r.differences.length > 0);
      if (out.json) {
        out.record({ clean: drift.length === 0, views: reports });
      } else {
        out.table(reports, [
          { header: "view", value: (r) => r.view },
          { header: "bucket", value: (r) => r.bucket },
          { header: "log head", value: (r) => r.head },
          { header: "rows", value: (r) => r.rows },
          { header: "differences", value: (r) => r.differences.length },
        ]);
        for (const r of drift) {
          ctx.io.stdout(`\n${r.view} (bucket ${r.bucket}):\n`);
          if (r.behindAt !== null) {
            ctx.io.stdout(
              `  note: the bucket's checkpoint (${r.behindAt}) is behind the log (${r.head}): a running core may still be folding; run verify again before repairing.\n`,
            );
          }
          for (const d of r.differences) {
            if (d.kind === "missing") ctx.io.stdout(`  missing     ${d.key}: the log says ${brief(d.expected)}\n`);
            else if (d.kind === "unexpected") ctx.io.stdout(`  unexpected  ${d.key}: the bucket holds ${brief(d.actual)}, the log has no such row\n`);
            else ctx.io.stdout(`  different   ${d.key}:\n    log:    ${brief(d.expected)}\n    bucket: ${brief(d.actual)}\n`);
          }
        }
      }
      if (drift.length > 0) {
        throw new CliError(
          `${drift.map((r) => `${r.view}: ${r.differences.length} row(s) differ`).join("; ")}. Repair with \`ganglion projections rebuild${name ? ` ${name}` : ""}\`.`,
          ExitCode.Failure,
        );
      }
    });
};
