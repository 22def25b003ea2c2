import { userInfo } from "node:os";
import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { parseDuration } from "../../plugins/manifest.js";
import type { EndpointName, RequestOf, ResponseOf } from "../../contract/endpoints.js";
import type { TaskView } from "../../contract/responses.js";
import { serviceClient } from "../../service/client.js";
import type { CliContext } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { DURATION_HINT } from "../../contract/duration.js";
import { readData } from "../input.js";
import { parsePositiveInt } from "../options.js";
import { DEFAULT_BATCH_CONCURRENCY, parseBatch, progressLine, readBatch, submitBatch, summaryText, waitForEnd } from "./taskBatch.js";

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
    const retry = r.left.retryAfterMs !== undefined ? ` Retry in ${r.left.retryAfterMs} ms.` : "";
    throw new CliError(`${r.left.message} (${r.left.code})${retry}`, code, { code: r.left.code, ...(r.left.paths ? { paths: r.left.paths } : {}) });
  }
  return r.right;
};

const parseTimeout = (v: string): number => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) throw new CliError(`--timeout ${JSON.stringify(v)} is not ${DURATION_HINT}`, ExitCode.Usage, { paths: ["--timeout"] });
  return ms;
};

const ENDED = ["completed", "cancelled", "dead_lettered"];

/** Prints a task; an ended-without-result task makes the command fail (exit 1). */
const printTask = (ctx: CliContext, cmd: Command, v: TaskView, opts: { failOnError: boolean }) => {
  const out = ctx.output(cmd);
  if (out.json) out.record(v as unknown as Record<string, unknown>);
  else if (v.status === "completed") ctx.io.stdout(`${JSON.stringify(v.result, null, 2)}\n`);
  else {
    const last = v.failures.at(-1);
    out.record({
      task: v.taskId,
      type: v.taskType,
      plugin: v.pluginId,
      status: v.status,
      attempt: `${v.attempt} of ${v.maxAttempts}`,
      ...(v.progress ? { progress: `${v.progress.done}/${v.progress.total}${v.progress.message ? ` ${v.progress.message}` : ""}` } : {}),
      ...(last ? { "last failure": `attempt ${last.attempt}: ${last.error.message}` } : {}),
      ...(v.cancelReason ? { cancelled: v.cancelReason } : {}),
    });
  }
  if (opts.failOnError && ENDED.includes(v.status) && v.status !== "completed") {
    throw new CliError(`task ${v.taskId} ended ${v.status.replace("_", "-")}`, ExitCode.Failure);
  }
};

export const register = (program: Command, ctx: CliContext) => {
  const task = program
    .command("task")
    .summary("submit, inspect, cancel and retry tasks")
    .description("Tasks: submit one to the plugin that provides its type, follow it, cancel it, or send a dead-lettered one again.");

  task
    .command("submit")
    .argument("[taskType]", "the task type, such as text.wordcount (with --batch: the type of every line; without it, each line names its own)")
    .option("--data <json>", "params as JSON, @FILE to read them from a file, or - for stdin (checked against the provider's params schema)", "{}")
    .option("--batch <file>", "submit many: a JSON Lines file (or - for stdin), one task per line: its params, or {taskType, params, pluginId?}")
    .option("--concurrency <n>", "with --batch: submissions in flight at once on the connection", parsePositiveInt, DEFAULT_BATCH_CONCURRENCY)
    .option("--plugin <id>", "the plugin to send it to (needed when several provide the type)")
    .option("--wait", "wait for the end and print the result (or the failure); on a terminal, the progress shows as it comes", false)
    .option("--timeout <duration>", "how long --wait waits", "60s")
    .summary("submit a task (or a batch); prints its id, or with --wait its result")
    .action(
      async (
        taskType: string | undefined,
        opts: { data: string; batch?: string; concurrency: number; plugin?: string; wait: boolean; timeout: string },
        cmd: Command,
      ) => {
        const waitMs = opts.wait ? parseTimeout(opts.timeout) : 0;
        const out = ctx.output(cmd);
        if (opts.batch !== undefined) {
          if (opts.data !== "{}") throw new CliError("--batch and --data are exclusive: the batch file holds the params", ExitCode.Usage);
          const parsed = parseBatch(await readBatch(opts.batch), taskType, opts.plugin);
          const summary = await ctx.withBus(cmd, (nc) =>
            submitBatch(nc, parsed, { concurrency: opts.concurrency, ...(opts.wait ? { waitMs } : {}), bar: !out.json && Boolean(process.stderr.isTTY) }),
          );
          if (out.json) out.record(summary as unknown as Record<string, unknown>);
          else ctx.io.stdout(summaryText(summary));
          const bad = summary.refused.length + (summary.failed ?? 0) + (summary.notEnded ?? 0);
          if (bad > 0) throw new CliError(`${bad} of ${summary.lines} tasks were refused or did not complete`, ExitCode.Failure, { code: "BatchIncomplete" });
          return;
        }
        if (taskType === undefined) throw new CliError("missing the task type (or --batch FILE)", ExitCode.Usage);
        const params = await readData(opts.data);
        await ctx.withBus(cmd, async (nc) => {
          const r = await call(nc, "task.submit", { taskType, params, ...(opts.plugin ? { pluginId: opts.plugin } : {}) });
          if (!opts.wait) {
            if (out.json) out.record(r);
            else ctx.io.stdout(`${r.taskId}\n`);
            return;
          }
          const live = !out.json && Boolean(process.stderr.isTTY);
          if (!out.json) ctx.io.stderr(`task ${r.taskId} submitted to ${r.pluginId}; waiting\n`);
          let shown = "";
          const w = await waitForEnd(
            nc,
            r.taskId,
            waitMs,
            live
              ? (v) => {
                  const line = progressLine(v);
                  if (line !== shown) ctx.io.stderr(`\r\x1b[2K${(shown = line)}`);
                }
              : undefined,
          );
          if (shown) ctx.io.stderr("\r\x1b[2K");
          if (E.isLeft(w))
            throw new CliError(`${w.left.message} (${w.left.code})`, w.left.code === "Unavailable" ? ExitCode.Unreachable : ExitCode.Failure, {
              code: w.left.code,
            });
          const v = w.right;
          if (!ENDED.includes(v.status)) {
            printTask(ctx, cmd, v, { failOnError: false });
            throw new CliError(
              `task ${r.taskId} did not end within ${opts.timeout} (it is ${v.status}); follow it with: ganglion task get ${r.taskId}`,
              ExitCode.Failure,
            );
          }
          printTask(ctx, cmd, v, { failOnError: true });
        });
      },
    );

  task
    .command("get")
    .argument("<id>", "task id")
    .option("--wait", "wait for the end", false)
    .option("--timeout <duration>", "how long --wait waits", "60s")
    .summary("show a task: status, attempts, progress, result or failures")
    .action(async (id: string, opts: { wait: boolean; timeout: string }, cmd: Command) => {
      const waitMs = opts.wait ? parseTimeout(opts.timeout) : 0;
      const v = await ctx.withBus(cmd, (nc) => call(nc, "task.get", { taskId: id, waitMs }, waitMs + 10_000));
      printTask(ctx, cmd, v, { failOnError: false });
    });

  task
    .command("cancel")
    .argument("<id>", "task id")
    .option("--reason <text>", "recorded in the log and given to the handler")
    .summary("cancel an open task (its handler gets an abort signal)")
    .action(async (id: string, opts: { reason?: string }, cmd: Command) => {
      const v = await ctx.withBus(cmd, (nc) => call(nc, "task.cancel", { taskId: id, ...(opts.reason ? { reason: opts.reason } : {}) }));
      ctx.output(cmd).message(`task ${v.taskId} cancelled`, v);
    });

  task
    .command("limits")
    .argument("<plugin>", "plugin id")
    .option("--concurrency <n>", "tasks in flight across the plugin's instances", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new CliError(`--concurrency ${JSON.stringify(v)} is not a whole number above 0`, ExitCode.Usage);
      return n;
    })
    .option("--rate <rate>", 'submissions allowed, like "10/s", "100/m"')
    .option("--reset", "back to the manifest's limits", false)
    .summary("show or override a plugin's concurrency and submission rate")
    .action(async (pluginId: string, opts: { concurrency?: number; rate?: string; reset: boolean }, cmd: Command) => {
      const v = await ctx.withBus(cmd, (nc) =>
        call(nc, "task.limits", {
          pluginId,
          ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
          ...(opts.rate !== undefined ? { rate: opts.rate } : {}),
          ...(opts.reset ? { reset: true } : {}),
        }),
      );
      const out = ctx.output(cmd);
      if (out.json) return out.record(v as unknown as Record<string, unknown>);
      out.record({
        plugin: v.pluginId,
        concurrency: `${v.concurrency} (${v.source.concurrency})`,
        rate: `${v.rate.count} per ${v.rate.perMs} ms (${v.source.rate})`,
      });
    });

  task
    .command("retry")
    .argument("<id>", "task id of a dead-lettered task")
    .summary("send a dead-lettered task again, with a fresh attempt budget")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const v = await ctx.withBus(cmd, (nc) => call(nc, "task.retry", { taskId: id }));
      ctx.output(cmd).message(`task ${v.taskId} sent again (attempt ${v.attempt} of ${v.maxAttempts})`, v);
    });
};
