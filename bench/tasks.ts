/**
 * Benchmark 2: tasks end to end (submit on `ganglion.v1.task.submit` → TypeScript worker
 * processes → result validated → `task.completed` in the log), with 1 and 4 worker instances,
 * and latency at a fixed offered load; against raw JetStream (publish → pull consume → ack) of
 * the same count, through consumer processes.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as E from "fp-ts/lib/Either.js";
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { callService } from "../src/service/client.js";
import { TYPE_HEADER } from "../src/store/eventStore.js";
import { Buckets, eventCategory, Streams, internalBucket } from "../src/contract/subjects.js";
import { readCheckpoint } from "../src/projections/runner/kv.js";
import { opsPerTask, serverCounters } from "./opsCount.js";
import type { OpsPerTask } from "./opsCount.js";
import type { BenchServer, ChildCore } from "./lib.js";
import { cpuMs, percentile, progress, round, sleep, windowed } from "./lib.js";

const HERE = new URL(".", import.meta.url).pathname;

export const BENCH_PLUGIN = "benchecho";
export const benchManifest = (id = BENCH_PLUGIN) => ({
  id,
  version: "1.0.0",
  description: "benchmark echo worker",
  provides: [
    {
      type: "bench.echo",
      description: "answers { n }",
      params: { type: "object", required: ["n"], properties: { n: { type: "integer" }, pad: { type: "string" } } },
      result: { type: "object", required: ["n"], properties: { n: { type: "integer" } } },
      timeout: "60s",
    },
  ],
  capabilities: [],
  limits: { concurrency: 1024, rate: "1000000/s" },
});

type Proc = { proc: ChildProcess; stop: () => Promise<void> };

export const spawnReady = async (script: string, env: Record<string, string>): Promise<Proc> => {
  const proc = spawn(process.execPath, ["--import", "tsx", join(HERE, script)], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((r) => proc.on("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on("line", (l) => l === "ready" && resolve());
    void exited.then(() => reject(new Error(`${script} exited before it was ready`)));
  });
  return {
    proc,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
};

const unwrap = <R>(r: E.Either<{ code: string; message: string }, R>, what: string): R => {
  if (E.isLeft(r)) throw new Error(`${what}: ${r.left.code}: ${r.left.message}`);
  return r.right;
};

/** Installs the bench plugin through the core's service and answers its credentials file. */
export const installBenchPlugin = async (nc: NatsConnection, dir: string, id = BENCH_PLUGIN): Promise<string> => {
  unwrap(await callService(nc, "plugin.install", { manifest: benchManifest(id), grant: "all" }), "plugin.install");
  const c = unwrap(await callService<{ creds: string }>(nc, "plugin.creds", { pluginId: id }), "plugin.creds");
  const file = join(dir, `${id}.creds`);
  await writeFile(file, c.creds, { mode: 0o600 });
  return file;
};

/** Completion times of tasks, observed on the log itself (`ev.task.>` commits of type `task.completed`). */
const completionWatcher = (nc: NatsConnection) => {
  const done = new Map<string, number>();
  let onDone: (() => void) | undefined;
  const sub = nc.subscribe(eventCategory("task"), {
    callback: (_err, m) => {
      if (!m.headers?.values(TYPE_HEADER).includes("task.completed")) return;
      done.set(m.subject.slice(m.subject.lastIndexOf(".") + 1), performance.now());
      onDone?.();
    },
  });
  const waitFor = async (ids: () => Iterable<string>, count: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      let n = 0;
      for (const id of ids()) if (done.has(id)) n++;
      if (n >= count) return n;
      await new Promise<void>((r) => {
        onDone = r;
        setTimeout(r, 200);
      });
    }
    let n = 0;
    for (const id of ids()) if (done.has(id)) n++;
    return n;
  };
  return { done, waitFor, stop: () => sub.unsubscribe() };
};

export type ThroughputRun = { instances: number; tasks: number; completed: number; perSec: number };
export type LatencyRun = {
  offeredPerSec: number;
  tasks: number;
  completed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Submissions the core refused (with the first reason). */
  refused?: number;
  firstRefusal?: string;
};

export type TasksResult = {
  concurrencyPerInstance: number;
  /** `belowCapacity`: the same latency measure at half the offered load. */
  ganglion: {
    throughput: ThroughputRun[];
    latency: LatencyRun;
    belowCapacity?: LatencyRun;
    ops?: OpsPerTask;
    viewBytesPer1000?: Record<string, number>;
    /** CPU ms per task of each process (1 worker process run, until every view reached the log's head). */
    cpuMsPerTask?: Record<string, number>;
  };
  raw: { throughput: ThroughputRun[]; latency: LatencyRun };
};

/** Bytes the view buckets hold per 1,000 tasks they know (all finished here), by bucket. */
const viewBytesPer1000 = async (nc: NatsConnection): Promise<Record<string, number>> => {
  const jsm = await jetstreamManager(nc);
  const tasks = (await jsm.streams.info(`KV_${Buckets.Tasks}`)).state.messages;
  const out: Record<string, number> = {};
  // The views' internal buckets too (index entries, the retention queue): absent on older code.
  const internal = [Buckets.Tasks, Buckets.Workers, Buckets.Totals].map(internalBucket);
  for (const b of [Buckets.Tasks, Buckets.Workers, Buckets.Totals, ...internal]) {
    const st = await jsm.streams.info(`KV_${b}`).then(
      (i) => i.state,
      () => undefined,
    );
    if (!st) continue;
    out[b] = round((st.bytes / Math.max(1, tasks)) * 1000, 0);
    out[`${b} keys`] = st.messages;
  }
  return out;
};

/** Submits at `rate` per second for `seconds`; answers per-task latencies. */
const offered = async (rate: number, seconds: number, send: (i: number) => Promise<void>) => {
  const n = Math.round(rate * seconds);
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    pending.push(send(i));
  }
  await Promise.all(pending);
  return n;
};

export const benchTasks = async (
  server: BenchServer,
  o: { tasks: number; window: number; concurrency: number; instanceCounts: number[]; latencyRate: number; latencySeconds: number },
  cores: readonly ChildCore[] = [],
): Promise<TasksResult> => {
  const nc = await server.connectAdmin("bench-tasks");
  const watcher = completionWatcher(nc);
  const result: TasksResult = {
    concurrencyPerInstance: o.concurrency,
    ganglion: { throughput: [], latency: { offeredPerSec: o.latencyRate, tasks: 0, completed: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN } },
    raw: { throughput: [], latency: { offeredPerSec: o.latencyRate, tasks: 0, completed: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN } },
  };
  try {
    // ---- Ganglion ----
    const creds = await installBenchPlugin(nc, server.dataDir);
    const submit = async (n: number): Promise<string> =>
      unwrap(
        await callService<{ taskId: string }>(nc, "task.submit", { taskType: "bench.echo", params: { n, pad: "p".repeat(64) } }, { timeoutMs: 120_000 }),
        "task.submit",
      ).taskId;

    /** CPU used so far by the core process(es), nats-server, the worker processes and this load generator. */
    let workerPids: number[] = [];
    const cpuSnapshot = async (): Promise<Record<string, number>> => {
      const sum = async (pids: (number | undefined)[]) => (await Promise.all(pids.map(cpuMs))).reduce<number>((a, b) => a + (b ?? 0), 0);
      const u = process.cpuUsage();
      return {
        core: await sum(cores.map((c) => c.pid)),
        natsServer: await sum([await server.serverPid()]),
        workers: await sum(workerPids),
        loadGenerator: (u.user + u.system) / 1000,
      };
    };
    const perTask = (a: Record<string, number>, b: Record<string, number>, n: number) =>
      Object.fromEntries(Object.keys(a).map((k) => [k, round((b[k]! - a[k]!) / n, 3)]));
    for (const instances of o.instanceCounts) {
      const workers = await Promise.all(
        Array.from({ length: instances }, (_, i) =>
          spawnReady("worker.ts", {
            PLUGIN: BENCH_PLUGIN,
            CREDS: creds,
            SERVERS: server.url,
            INSTANCE: `bench-${instances}-${i}`,
            CONCURRENCY: String(o.concurrency),
          }),
        ),
      );
      workerPids = workers.flatMap((w) => (w.proc.pid ? [w.proc.pid] : []));
      try {
        // Warm-up: compiles schemas, opens the consumers, wakes the workers.
        const warm: string[] = [];
        await windowed(200, 50, async (i) => void warm.push(await submit(i)));
        await watcher.waitFor(() => warm, warm.length, 60_000);
        progress(`tasks: ${o.tasks} tasks through Ganglion, ${instances} worker instance(s), ${o.window} submissions in flight`);
        const ids: string[] = [];
        const counted = instances === o.instanceCounts[0];
        const before = counted ? await serverCounters(server, nc) : undefined;
        const cpu = counted ? await cpuSnapshot() : undefined;
        const t0 = performance.now();
        await windowed(
          o.tasks,
          o.window,
          async (i) => void ids.push(await submit(i)),
          (d) => progress(`submitted ${d}/${o.tasks}`),
        );
        const completed = await watcher.waitFor(() => ids, o.tasks, 180_000);
        const last = Math.max(...ids.map((id) => watcher.done.get(id) ?? 0));
        const sec = (last - t0) / 1000;
        result.ganglion.throughput.push({ instances, tasks: o.tasks, completed, perSec: round(completed / sec, 0) });
        progress(`ganglion ${instances} instance(s): ${round(completed / sec, 0)} tasks/s (${completed}/${o.tasks} completed)`);
        if (before) {
          // The views finish after the last completion: read once every view's checkpoint is at
          // the log's head, and the server has then been quiet for a second.
          const head = (await jetstreamManager(nc)).streams.info(Streams.Events);
          const last = (await head).state.last_seq;
          for (let i = 0; i < 120; i++) {
            const cps = await Promise.all([Buckets.Tasks, Buckets.Workers, Buckets.Totals].map((b) => readCheckpoint(nc, b)));
            if (cps.every((c) => (c ?? 0) >= last)) break;
            await sleep(500);
          }
          if (cpu) result.ganglion.cpuMsPerTask = perTask(cpu, await cpuSnapshot(), o.tasks);
          let after = await serverCounters(server, nc);
          for (let i = 0; i < 30; i++) {
            await sleep(1000);
            const next = await serverCounters(server, nc);
            const quiet = Object.entries(next.stored).every(([k, v]) => after.stored[k] === v);
            after = next;
            if (quiet) break;
          }
          result.ganglion.ops = opsPerTask(before, after, o.tasks, round);
          result.ganglion.viewBytesPer1000 = await viewBytesPer1000(nc);
          progress(`per task: ${JSON.stringify(result.ganglion.ops)}; view bytes per 1,000 tasks: ${JSON.stringify(result.ganglion.viewBytesPer1000)}`);
        }

        if (instances === Math.max(...o.instanceCounts)) {
          const measure = async (rate: number): Promise<LatencyRun> => {
            progress(`tasks: latency at ${rate} tasks/s for ${o.latencySeconds} s through Ganglion`);
            const sent = new Map<string, number>();
            // A refused submission (the core's append timed out while it is over capacity) is
            // counted, not fatal: the run's other figures must not be lost with it.
            let refused = 0;
            let firstRefusal = "";
            const n = await offered(rate, o.latencySeconds, async (i) => {
              const at = performance.now();
              try {
                sent.set(await submit(i), at);
              } catch (err) {
                refused++;
                firstRefusal ||= (err as Error).message;
              }
            });
            if (refused) progress(`${refused} of ${n} submissions refused, the first: ${firstRefusal}`);
            const got = await watcher.waitFor(() => sent.keys(), n - refused, 120_000);
            const lat = [...sent].flatMap(([id, at]) => (watcher.done.has(id) ? [watcher.done.get(id)! - at] : [])).sort((a, b) => a - b);
            return {
              offeredPerSec: rate,
              tasks: n,
              completed: got,
              ...(refused ? { refused, firstRefusal } : {}),
              p50Ms: round(percentile(lat, 50)),
              p99Ms: round(percentile(lat, 99)),
              maxMs: round(lat.at(-1) ?? NaN),
            };
          };
          result.ganglion.latency = await measure(o.latencyRate);
          result.ganglion.belowCapacity = await measure(o.latencyRate / 2);
        }
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    }

    // ---- raw JetStream: publish → pull consume → ack, in consumer processes ----
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const stream = "BENCHRAW";
    await jsm.streams.add({ name: stream, subjects: ["benchraw.>"], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    await jsm.consumers.add(stream, { durable_name: "raw", ack_policy: AckPolicy.Explicit, max_ack_pending: 1024, filter_subject: "benchraw.>" });
    const doneSubject = "benchrawdone";
    const rawDone = new Map<number, number>();
    let rawWake: (() => void) | undefined;
    const doneSub = nc.subscribe(doneSubject, {
      callback: (_e, m) => {
        rawDone.set(JSON.parse(new TextDecoder().decode(m.data)).n, performance.now());
        rawWake?.();
      },
    });
    const waitRaw = async (from: number, count: number, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      const seen = () => {
        let c = 0;
        for (let i = from; i < from + count; i++) if (rawDone.has(i)) c++;
        return c;
      };
      while (seen() < count && Date.now() < deadline) await new Promise<void>((r) => ((rawWake = r), setTimeout(r, 200)));
      return seen();
    };
    let base = 0;
    const pad = "p".repeat(64);
    try {
      for (const instances of o.instanceCounts) {
        const consumers = await Promise.all(
          Array.from({ length: instances }, () =>
            spawnReady("rawConsumer.ts", {
              SERVERS: server.url,
              CREDS: server.installation.adminCreds,
              STREAM: stream,
              CONSUMER: "raw",
              DONE: doneSubject,
              CONCURRENCY: String(o.concurrency),
            }),
          ),
        );
        try {
          progress(`tasks: ${o.tasks} raw JetStream messages, ${instances} consumer process(es)`);
          const start = base;
          base += o.tasks;
          const t0 = performance.now();
          await windowed(o.tasks, o.window, (i) => js.publish(`benchraw.echo`, JSON.stringify({ n: start + i, pad })));
          const completed = await waitRaw(start, o.tasks, 120_000);
          let last = 0;
          for (let i = start; i < start + o.tasks; i++) last = Math.max(last, rawDone.get(i) ?? 0);
          const sec = (last - t0) / 1000;
          result.raw.throughput.push({ instances, tasks: o.tasks, completed, perSec: round(completed / sec, 0) });
          if (instances === Math.max(...o.instanceCounts)) {
            const lStart = base;
            const sent = new Map<number, number>();
            const n = await offered(o.latencyRate, o.latencySeconds, async (i) => {
              sent.set(lStart + i, performance.now());
              await js.publish(`benchraw.echo`, JSON.stringify({ n: lStart + i, pad }));
            });
            base += n;
            const got = await waitRaw(lStart, n, 60_000);
            const lat = [...sent].flatMap(([i, at]) => (rawDone.has(i) ? [rawDone.get(i)! - at] : [])).sort((a, b) => a - b);
            result.raw.latency = {
              offeredPerSec: o.latencyRate,
              tasks: n,
              completed: got,
              p50Ms: round(percentile(lat, 50)),
              p99Ms: round(percentile(lat, 99)),
              maxMs: round(lat.at(-1) ?? NaN),
            };
          }
        } finally {
          await Promise.all(consumers.map((c) => c.stop()));
        }
      }
    } finally {
      doneSub.unsubscribe();
    }
    return result;
  } finally {
    watcher.stop();
    await nc.close();
  }
};
