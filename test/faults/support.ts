/**
 * Shared parts of the fault tests: the core as a real process (`ganglion serve`), echo worker
 * processes on the SDK, submissions under load, and an audit of the log (every task completes
 * exactly once).
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { TaskEvent } from "../../src/events/task.js";
import { loadManifests } from "../../src/projections/manifest.js";
import { readCheckpoint } from "../../src/projections/runner/kv.js";
import { verifyProjections } from "../../src/projections/runner/replay.js";
import type { ViewReport } from "../../src/projections/runner/replay.js";
import { callService } from "../../src/service/client.js";
import { natsEventStore } from "../../src/store/eventStore.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export type Proc = {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Last lines of stderr, for failure messages. */
  readonly stderr: () => string;
  readonly kill: (signal?: NodeJS.Signals) => Promise<number | null>;
};

const track = (proc: ChildProcess, ready: (line: string) => boolean, what: string): Promise<Proc> => {
  let err = "";
  proc.stderr?.on("data", (d: Buffer) => {
    err = (err + d.toString()).slice(-6000);
  });
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
  const p: Proc = {
    proc,
    exited,
    stderr: () => err,
    kill: async (signal = "SIGTERM") => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
      return proc.exitCode;
    },
  };
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on("line", (l) => {
      if (ready(l)) resolve(p);
    });
    void exited.then((code) => reject(new Error(`${what} exited (${code}) before it was ready:\n${err}`)));
  });
};

/** `ganglion serve` as its own process; resolves once it printed its ready line. */
export const startCoreProcess = (o: { url: string; dataDir: string; adminCreds: string; replicas?: number; args?: readonly string[] }): Promise<Proc> =>
  track(
    spawn(
      process.execPath,
      [
        // Diagnosis: extra node flags for the core only (`--cpu-prof --cpu-prof-dir=/tmp/prof`; NODE_OPTIONS refuses them).
        ...(process.env.GANGLION_CORE_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
        "--import",
        "tsx",
        join(ROOT, "src/cli/main.ts"),
        "serve",
        "--nats",
        o.url,
        "--creds",
        o.adminCreds,
        "--data-dir",
        o.dataDir,
        "--log-level",
        "warn",
        ...(o.replicas ? ["--replicas", String(o.replicas)] : []),
        ...(o.args ?? []),
      ],
      { env: process.env, stdio: ["ignore", "pipe", "pipe"] },
    ),
    (l) => l.startsWith("ganglion ready"),
    "the core",
  );

/** The fault tests' plugin: one task type `fault.echo`, generous limits. */
export const echoManifest = (id: string) => ({
  id,
  version: "1.0.0",
  description: `fault-test plugin ${id}`,
  provides: [
    {
      type: "fault.echo",
      description: "answers { n }",
      params: { type: "object", required: ["n"], properties: { n: { type: "integer" }, ms: { type: "integer" } } },
      result: { type: "object", required: ["n"], properties: { n: { type: "integer" } } },
      timeout: "20s",
      retry: { maxAttempts: 5, backoff: ["200ms"] },
    },
  ],
  capabilities: [],
  limits: { concurrency: 256, rate: "100000/s" },
});

/** Installs the plugin through the core's service and writes its credentials to `dir`. */
export const installEcho = async (nc: NatsConnection, dir: string, id: string): Promise<string> => {
  // The core prints its ready line a moment before the server has its service subscriptions
  // (no responders): reported; give it a few tries.
  let i = await callService(nc, "plugin.install", { manifest: echoManifest(id), grant: "all" }, { timeoutMs: 30_000 });
  for (let n = 0; n < 20 && E.isLeft(i) && i.left.code === "Unavailable"; n++) {
    await sleep(250);
    i = await callService(nc, "plugin.install", { manifest: echoManifest(id), grant: "all" }, { timeoutMs: 30_000 });
  }
  if (E.isLeft(i)) throw new Error(`plugin.install: ${i.left.message}`);
  const c = await callService<{ creds: string }>(nc, "plugin.creds", { pluginId: id }, { timeoutMs: 30_000 });
  if (E.isLeft(c)) throw new Error(`plugin.creds: ${c.left.message}`);
  const file = join(dir, `${id}.creds`);
  await writeFile(file, c.right.creds, { mode: 0o600 });
  return file;
};

/** An echo worker process with the plugin's credentials. */
export const spawnEchoWorker = (o: { servers: string; creds: string; plugin: string; instance: string; concurrency?: number }): Promise<Proc> =>
  track(
    spawn(process.execPath, ["--import", "tsx", join(ROOT, "test/faults/fixtures/echoWorker.ts")], {
      env: { ...process.env, PLUGIN: o.plugin, CREDS: o.creds, SERVERS: o.servers, INSTANCE: o.instance, CONCURRENCY: String(o.concurrency ?? 32) },
      stdio: ["ignore", "pipe", "pipe"],
    }),
    (l) => l.includes('"ready"'),
    `worker ${o.instance}`,
  );

/**
 * Submits `count` tasks on `ganglion.v1.task.submit` with `window` in flight. A submission the
 * core did not acknowledge (unavailable, timed out, or one of `transient`) is retried after a pause: the answer is the
 * ids the core acknowledged, each exactly once, and how many attempts went unanswered.
 */
export const submitAll = async (
  nc: NatsConnection,
  count: number,
  window: number,
  opts: { ms?: number; onAck?: (acked: number) => void; transient?: readonly string[] } = {},
) => {
  const transient = opts.transient ?? ["Unavailable"];
  const acked: string[] = [];
  let unanswered = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      for (let i = next++; i < count; i = next++) {
        for (;;) {
          const r = await callService<{ taskId: string }>(
            nc,
            "task.submit",
            { taskType: "fault.echo", params: { n: i, ...(opts.ms ? { ms: opts.ms } : {}) } },
            { timeoutMs: 5000 },
          );
          if (E.isRight(r)) {
            acked.push(r.right.taskId);
            opts.onAck?.(acked.length);
            break;
          }
          if (!transient.includes(r.left.code)) throw new Error(`task.submit refused: ${r.left.code}: ${r.left.message}`);
          unanswered++;
          await sleep(200);
        }
      }
    }),
  );
  return { acked, unanswered };
};

export type TaskAudit = { tasks: Map<string, { submitted: number; completed: number; terminal: number; types: string[] }> };

/** Every task stream in the log, with its number of submissions, completions and terminal events. */
export const auditTasks = async (nc: NatsConnection): Promise<TaskAudit> => {
  const store = natsEventStore(nc, { codec: TaskEvent });
  const tasks: TaskAudit["tasks"] = new Map();
  for await (const e of store.readAll({ filter: { categories: ["task"] } })) {
    const id = e.data.taskId;
    const a = tasks.get(id) ?? { submitted: 0, completed: 0, terminal: 0, types: [] };
    a.types.push(e.type === "task.report_refused" || e.type === "task.dispatched" ? `${e.type} ${JSON.stringify(e.data)}` : e.type);
    if (e.type === "task.submitted") a.submitted++;
    if (e.type === "task.completed") a.completed++;
    if (e.type === "task.completed" || e.type === "task.cancelled" || e.type === "task.dead_lettered") a.terminal++;
    tasks.set(id, a);
  }
  return { tasks };
};

/** Waits until every task in the log has ended (or `timeoutMs`); answers the audit. */
export const waitAllEnded = async (nc: NatsConnection, ids: readonly string[], timeoutMs: number): Promise<TaskAudit> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let a: TaskAudit;
    try {
      a = await auditTasks(nc);
    } catch (err) {
      // A JetStream API request may time out while a cluster elects new leaders: read again.
      if (Date.now() > deadline) throw err;
      await sleep(500);
      continue;
    }
    const open = [...a.tasks.values()].filter((t) => t.terminal === 0).length;
    const missing = ids.filter((id) => !a.tasks.has(id)).length;
    if ((open === 0 && missing === 0) || Date.now() > deadline) return a;
    await sleep(500);
  }
};

/**
 * Waits until every view's checkpoint reached the log's head as it is now (the core's live
 * projections caught up); answers the checkpoints by bucket.
 */
export const waitProjections = async (nc: NatsConnection, timeoutMs: number): Promise<Record<string, number>> => {
  const buckets = (await loadManifests()).map((m) => m.bucket);
  const deadline = Date.now() + timeoutMs;
  let cps: Record<string, number> = {};
  for (;;) {
    try {
      const head = Number(await natsEventStore(nc, { codec: TaskEvent }).headPosition());
      cps = Object.fromEntries(await Promise.all(buckets.map(async (b) => [b, (await readCheckpoint(nc, b)) ?? 0] as const)));
      if (Object.values(cps).every((c) => c >= head) || Date.now() > deadline) return cps;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(500);
  }
};

/** `ganglion projections verify`: every view folded from scratch equals its bucket. */
export const verifyViews = (nc: NatsConnection): Promise<ViewReport[]> => verifyProjections(nc, { log: pino({ level: "silent" }) });
