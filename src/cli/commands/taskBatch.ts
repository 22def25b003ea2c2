import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import cliProgress from "cli-progress";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ServiceError } from "../../contract/errors.js";
import type { TaskView } from "../../contract/responses.js";
import { serviceClient } from "../../service/client.js";
import { reportErrors } from "../../contract/decodeErrors.js";
import { operatorActor } from "../actor.js";
import { CliError, ExitCode } from "../errors.js";
import { readStdin } from "../input.js";

const ENDED = ["completed", "cancelled", "dead_lettered"];

/** One line of a batch file without a task type argument: the task, its params and optionally its plugin. */
const BatchLine = t.intersection([t.type({ taskType: t.string, params: t.unknown }), t.partial({ pluginId: t.string })]);

/** Largest batch file read: the lines are held in memory (a million small tasks fit). */
export const MAX_BATCH_BYTES = 256 * 1024 * 1024;
/** Submissions in flight at once on the one connection. */
export const DEFAULT_BATCH_CONCURRENCY = 64;
/** How often one submission is tried again after `RateLimited` before it counts as refused. */
const MAX_RATE_LIMITED_RETRIES = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type BatchRefusal = { readonly line: number; readonly code: string; readonly message: string; readonly paths?: readonly string[] };
export type BatchTask = { readonly line: number; readonly taskId: string; readonly pluginId: string; status?: string; error?: string };
export type BatchSummary = {
  readonly lines: number;
  readonly submitted: number;
  readonly refused: BatchRefusal[];
  readonly tasks: BatchTask[];
  /** With --wait: tasks that completed, ended otherwise, and did not end in time. */
  readonly completed?: number;
  readonly failed?: number;
  readonly notEnded?: number;
};

/**
 * Waits for a task's end. With `onProgress` (a terminal), it asks in short waits and reports the
 * progress between them; otherwise one `task.get` waits for the end.
 */
export const waitForEnd = async (
  nc: NatsConnection,
  taskId: string,
  waitMs: number,
  onProgress?: (v: TaskView) => void,
): Promise<E.Either<ServiceError, TaskView>> => {
  const client = serviceClient(nc, { actor: operatorActor() });
  const until = Date.now() + waitMs;
  for (;;) {
    const left = Math.max(0, until - Date.now());
    const step = onProgress ? Math.min(left, 500) : left;
    const r = await client.call("task.get", { taskId, waitMs: step }, { timeoutMs: step + 10_000 });
    if (E.isLeft(r) || ENDED.includes(r.right.status) || left <= step) return r;
    onProgress?.(r.right);
  }
};

/** A progress line for a task, as `--wait` draws it on a terminal. */
export const progressLine = (v: TaskView): string => {
  const p = v.progress;
  const done = p ? `${p.done}/${p.total}${p.total > 0 ? ` (${Math.round((100 * p.done) / p.total)}%)` : ""}${p.message ? ` ${p.message}` : ""}` : "";
  return `task ${v.taskId} ${v.status}${v.attempt > 1 ? ` (attempt ${v.attempt} of ${v.maxAttempts})` : ""}${done ? `: ${done}` : ""}`;
};

type Item = { line: number; taskType: string; params: unknown; pluginId?: string };

/** Parses a batch file: one JSON document per line (params, or `{taskType, params, pluginId?}` without a task type). */
export const parseBatch = (text: string, taskType: string | undefined, pluginId: string | undefined): { items: Item[]; refused: BatchRefusal[] } => {
  const items: Item[] = [];
  const refused: BatchRefusal[] = [];
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (err) {
      refused.push({ line, code: "InvalidJson", message: `not JSON: ${(err as Error).message}` });
      return;
    }
    if (taskType !== undefined) {
      items.push({ line, taskType, params: v, ...(pluginId ? { pluginId } : {}) });
      return;
    }
    const d = BatchLine.decode(v);
    if (E.isLeft(d)) {
      const errs = reportErrors(d.left);
      refused.push({ line, code: "InvalidRequest", message: errs.join("; "), paths: errs.map((e) => e.slice(0, e.indexOf(":"))) });
      return;
    }
    const p = d.right.pluginId ?? pluginId;
    items.push({ line, taskType: d.right.taskType, params: d.right.params, ...(p ? { pluginId: p } : {}) });
  });
  return { items, refused };
};

/** Reads a batch from a file or `-` (stdin), bounded. */
export const readBatch = async (file: string): Promise<string> => {
  if (file === "-") return readStdin(process.stdin, MAX_BATCH_BYTES);
  try {
    const b = await readFile(resolve(file));
    if (b.length > MAX_BATCH_BYTES) throw new CliError(`--batch ${file}: ${b.length} bytes; the limit is ${MAX_BATCH_BYTES}`, ExitCode.Usage);
    return b.toString("utf8");
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`--batch ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ExitCode.Usage, {
      paths: ["--batch"],
    });
  }
};

/**
 * Submits every item over one connection with `concurrency` requests in flight, honouring
 * `RateLimited` (waits its `retryAfterMs` and tries again), and with `waitMs` waits for each end.
 * A core that does not answer stops the batch (exit 3): what was submitted is in the summary.
 */
export const submitBatch = async (
  nc: NatsConnection,
  parsed: { items: Item[]; refused: BatchRefusal[] },
  opts: { concurrency: number; waitMs?: number; bar: boolean },
): Promise<BatchSummary> => {
  const client = serviceClient(nc, { actor: operatorActor() });
  const { items } = parsed;
  const refused = [...parsed.refused];
  const tasks: BatchTask[] = [];
  const wait = opts.waitMs !== undefined;
  const bar = opts.bar
    ? new cliProgress.SingleBar(
        { stream: process.stderr, format: "{phase} [{bar}] {value}/{total} {note}", hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(Math.max(items.length * (wait ? 2 : 1), 1), 0, { phase: wait ? "submitted + ended" : "submitted", note: "" });
  let unreachable: ServiceError | undefined;
  let next = 0;
  const until = opts.waitMs !== undefined ? Date.now() + opts.waitMs : 0;
  const one = async (it: Item) => {
    let r: E.Either<ServiceError, { taskId: string; pluginId: string }>;
    for (let tries = 0; ; tries++) {
      r = await client.call("task.submit", { taskType: it.taskType, params: it.params, ...(it.pluginId ? { pluginId: it.pluginId } : {}) });
      if (E.isRight(r) || r.left.code !== "RateLimited" || tries >= MAX_RATE_LIMITED_RETRIES) break;
      await sleep(Math.min(Math.max(r.left.retryAfterMs ?? 100, 10), 60_000));
    }
    if (E.isLeft(r)) {
      if (r.left.code === "Unavailable") unreachable = r.left;
      else refused.push({ line: it.line, code: r.left.code, message: r.left.message, ...(r.left.paths ? { paths: r.left.paths } : {}) });
      bar?.increment(wait ? 2 : 1, { note: `${refused.length} refused` });
      return;
    }
    const task: BatchTask = { line: it.line, taskId: r.right.taskId, pluginId: r.right.pluginId };
    tasks.push(task);
    bar?.increment(1, { note: refused.length ? `${refused.length} refused` : "" });
    if (!wait) return;
    const v = await waitForEnd(nc, task.taskId, Math.max(0, until - Date.now()));
    if (E.isLeft(v)) task.error = `${v.left.message} (${v.left.code})`;
    else {
      task.status = v.right.status;
      if (v.right.status !== "completed" && ENDED.includes(v.right.status)) task.error = v.right.failures.at(-1)?.error.message ?? v.right.cancelReason;
    }
    bar?.increment(1);
  };
  const lanes = Array.from({ length: Math.max(1, Math.min(opts.concurrency, items.length)) }, async () => {
    while (next < items.length && !unreachable) await one(items[next++]!);
  });
  await Promise.all(lanes);
  bar?.stop();
  tasks.sort((a, b) => a.line - b.line);
  refused.sort((a, b) => a.line - b.line);
  const summary: BatchSummary = {
    lines: items.length + parsed.refused.length,
    submitted: tasks.length,
    refused,
    tasks,
    ...(wait
      ? {
          completed: tasks.filter((x) => x.status === "completed").length,
          failed: tasks.filter((x) => x.status !== undefined && x.status !== "completed" && ENDED.includes(x.status)).length,
          notEnded: tasks.filter((x) => x.status === undefined || !ENDED.includes(x.status)).length,
        }
      : {}),
  };
  if (unreachable) {
    throw new CliError(`${unreachable.message}; the batch stopped after ${tasks.length} submitted and ${refused.length} refused`, ExitCode.Unreachable, {
      code: "Unavailable",
    });
  }
  return summary;
};

/** The summary for people: counts, then each refusal and failure with its line. */
export const summaryText = (s: BatchSummary): string => {
  const lines = [
    `${s.lines} tasks: ${s.submitted} submitted, ${s.refused.length} refused` +
      (s.completed !== undefined ? `; ${s.completed} completed, ${s.failed} failed, ${s.notEnded} not ended in time` : ""),
  ];
  if (s.refused.length > 0) lines.push("refused:", ...s.refused.map((r) => `  line ${r.line}: ${r.message} (${r.code})`));
  const failed = s.tasks.filter((x) => x.error !== undefined || (s.completed !== undefined && x.status !== "completed"));
  if (failed.length > 0)
    lines.push("not completed:", ...failed.map((x) => `  line ${x.line}: task ${x.taskId} ${x.status ?? "not ended"}${x.error ? `: ${x.error}` : ""}`));
  return lines.join("\n") + "\n";
};
