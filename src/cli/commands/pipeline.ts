import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { parseDuration } from "../../plugins/manifest.js";
import type { EndpointName, RequestOf, ResponseOf } from "../../contract/endpoints.js";
import type { RunView } from "../../contract/pipeline.js";
import { DURATION_HINT } from "../../contract/duration.js";
import { serviceClient } from "../../service/client.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { readData } from "../input.js";

/** `ganglion pipeline …` (README, "Pipelines"): define, run, follow and list pipelines. */

const actor = () => {
  try {
    return `operator:${userInfo().username}`;
  } catch {
    return "operator";
  }
};

const call = async <N extends EndpointName>(nc: NatsConnection, endpoint: N, req: RequestOf<N>, timeoutMs?: number): Promise<ResponseOf<N>> => {
  const r = await serviceClient(nc, { actor: actor() }).call(endpoint, req, timeoutMs ? { timeoutMs } : {});
  if (E.isLeft(r)) {
    const code = r.left.code === "Unavailable" ? ExitCode.Unreachable : ExitCode.Failure;
    throw new CliError(`${r.left.message} (${r.left.code})`, code, { code: r.left.code, ...(r.left.paths ? { paths: r.left.paths } : {}) });
  }
  return r.right;
};

const parseTimeout = (v: string): number => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) throw new CliError(`--timeout ${JSON.stringify(v)} is not ${DURATION_HINT}`, ExitCode.Usage, { paths: ["--timeout"] });
  return ms;
};

const stepLine = (s: RunView["steps"][number]) =>
  `${s.id} (${s.type}): ${s.status}${s.attempt > 1 ? ` attempt ${s.attempt}` : ""}${s.taskId ? ` task ${s.taskId}` : ""}${s.error ? ` — ${s.error}` : ""}`;

const printRun = (ctx: CliContext, cmd: Command, v: RunView) => {
  const out = ctx.output(cmd);
  if (out.json) return out.record(v as unknown as Record<string, unknown>);
  out.record({
    run: v.runId,
    pipeline: `${v.name} ${v.version}`,
    status: v.status,
    started: v.startedAt,
    ...(v.endedAt ? { ended: v.endedAt } : {}),
    ...(v.error ? { error: v.error } : {}),
  });
  out.table(v.steps, [
    { header: "step", value: (s) => s.id },
    { header: "type", value: (s) => s.type },
    { header: "status", value: (s) => s.status },
    { header: "attempt", value: (s) => s.attempt },
    { header: "task", value: (s) => s.taskId },
    { header: "error", value: (s) => s.error },
  ]);
};

export const register = (program: Command, ctx: CliContext) => {
  const pipeline = program
    .command("pipeline")
    .summary("define and run pipelines of tasks")
    .description("Pipelines: steps that are tasks, each step's params mapped from the run's params and earlier results (JSON Pointer).");

  pipeline
    .command("define")
    .argument("<file>", "the definition, YAML or JSON")
    .summary("define (or change) a pipeline; it is checked against the installed plugins first")
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
        throw new CliError(`cannot read ${file}: ${err.code ?? err.message}`, ExitCode.Usage, { paths: ["file"] });
      });
      const r = await ctx.withBus(cmd, (nc) => call(nc, "pipeline.define", { definitionText: text }));
      ctx.output(cmd).message(r.changed ? `pipeline ${r.name} ${r.version} defined` : `pipeline ${r.name} ${r.version} unchanged`, r);
    });

  pipeline
    .command("run")
    .argument("<name>", "the pipeline")
    .option("--data <json>", "params as JSON, @FILE, or - for stdin (checked against the pipeline's params schema)", "{}")
    .option("--wait", "wait for the end, showing each step as it goes; prints the result", false)
    .option("--timeout <duration>", "how long --wait waits", "5m")
    .summary("start a run; prints its id, or with --wait its result")
    .action(async (name: string, opts: { data: string; wait: boolean; timeout: string }, cmd: Command) => {
      const waitMs = opts.wait ? parseTimeout(opts.timeout) : 0;
      const params = await readData(opts.data);
      const out = ctx.output(cmd);
      await ctx.withBus(cmd, async (nc) => {
        let v = await call(nc, "pipeline.run", { name, params });
        if (!opts.wait) return out.json ? out.record(v as unknown as Record<string, unknown>) : ctx.io.stdout(`${v.runId}\n`);
        if (!out.json) ctx.io.stderr(`run ${v.runId} of ${name} started\n`);
        const shown = new Map<string, string>();
        const until = Date.now() + waitMs;
        for (;;) {
          if (!out.json) {
            for (const s of v.steps) {
              const line = stepLine(s);
              if (s.status === "pending" || shown.get(s.id) === line) continue;
              ctx.io.stderr(`  ${line}\n`);
              shown.set(s.id, line);
            }
          }
          if (v.status !== "running" || Date.now() >= until) break;
          v = await call(nc, "pipeline.get", { runId: v.runId, waitMs: 1_000 }, 30_000);
        }
        if (v.status === "running")
          throw new CliError(`run ${v.runId} did not end within ${opts.timeout}; follow it with: ganglion pipeline show ${v.runId}`, ExitCode.Failure);
        if (out.json) out.record(v as unknown as Record<string, unknown>);
        else if (v.status === "completed") ctx.io.stdout(`${JSON.stringify(v.result ?? null, null, 2)}\n`);
        if (v.status !== "completed") throw new CliError(`run ${v.runId} ${v.status}${v.error ? `: ${v.error}` : ""}`, ExitCode.Failure);
      });
    });

  pipeline
    .command("runs")
    .option("--name <pipeline>", "only this pipeline's runs")
    .option("--status <status>", "running, completed, failed or cancelled")
    .summary("list runs, newest first")
    .action(async (opts: { name?: string; status?: string }, cmd: Command) => {
      const rows = await ctx.withBus(cmd, (nc) =>
        call(nc, "pipeline.runs", { ...(opts.name ? { name: opts.name } : {}), ...(opts.status ? { status: opts.status as RunView["status"] } : {}) }),
      );
      ctx.output(cmd).table(rows, [
        { header: "run", value: (r) => r.runId },
        { header: "pipeline", value: (r) => r.name },
        { header: "status", value: (r) => r.status },
        { header: "steps", value: (r) => r.steps.map((s) => `${s.id}:${s.status}`).join(" ") },
        { header: "started", value: (r) => r.startedAt },
      ]);
    });

  pipeline
    .command("show")
    .argument("<run>", "run id")
    .summary("show a run: its status and each step's status, task and error")
    .action(async (runId: string, _opts: unknown, cmd: Command) => {
      printRun(ctx, cmd, await ctx.withBus(cmd, (nc) => call(nc, "pipeline.get", { runId })));
    });

  pipeline
    .command("list")
    .summary("list the defined pipelines")
    .action(async (_opts: unknown, cmd: Command) => {
      const rows = await ctx.withBus(cmd, (nc) => call(nc, "pipeline.list", {}));
      ctx.output(cmd).table(rows, [
        { header: "name", value: (r) => r.name },
        { header: "version", value: (r) => r.version },
        { header: "steps", value: (r) => r.steps.join(" → ") },
        { header: "defined", value: (r) => r.definedAt },
      ]);
    });

  pipeline
    .command("cancel")
    .argument("<run>", "run id")
    .option("--reason <text>", "recorded in the log")
    .summary("cancel a running run (its running step's task too)")
    .action(async (runId: string, opts: { reason?: string }, cmd: Command) => {
      const v = await ctx.withBus(cmd, (nc) => call(nc, "pipeline.cancel", { runId, ...(opts.reason ? { reason: opts.reason } : {}) }));
      ctx.output(cmd).message(`run ${v.runId} cancelled`, v);
    });
};
