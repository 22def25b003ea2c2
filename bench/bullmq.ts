/**
 * Benchmark 5: what a user would pick instead. BullMQ on the local Redis, the same round trip
 * (add → worker process → completed), the same payloads, worker processes and concurrency as the
 * Ganglion run of benchmark 2. Skipped, with a clear message, where no Redis answers.
 */
import { Socket } from "node:net";
import { Queue, QueueEvents } from "bullmq";
import type { ThroughputRun, LatencyRun } from "./tasks.js";
import { spawnReady } from "./tasks.js";
import { percentile, progress, round, sleep, windowed } from "./lib.js";

export type BullResult = { skipped: string } | { concurrencyPerInstance: number; throughput: ThroughputRun[]; latency: LatencyRun };

const redisAnswers = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once("error", () => done(false));
    s.connect(port, host, () => s.write("PING\r\n"));
    s.once("data", (d) => done(d.toString().startsWith("+PONG")));
  });

export const benchBullmq = async (o: {
  host: string;
  port: number;
  tasks: number;
  window: number;
  concurrency: number;
  instanceCounts: number[];
  latencyRate: number;
  latencySeconds: number;
}): Promise<BullResult> => {
  if (!(await redisAnswers(o.host, o.port))) return { skipped: `no Redis answers PING on ${o.host}:${o.port}; BullMQ was not measured` };
  const connection = { host: o.host, port: o.port };
  const name = `ganglion-bench-${process.pid}-${Date.now()}`;
  const queue = new Queue(name, { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
  const events = new QueueEvents(name, { connection });
  await events.waitUntilReady();
  const done = new Map<string, number>();
  let wake: (() => void) | undefined;
  events.on("completed", ({ jobId }) => {
    done.set(jobId, performance.now());
    wake?.();
  });
  const waitFor = async (ids: string[], timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    const count = () => ids.filter((id) => done.has(id)).length;
    while (count() < ids.length && Date.now() < deadline) await new Promise<void>((r) => ((wake = r), setTimeout(r, 200)));
    return count();
  };
  const pad = "p".repeat(64);
  const add = async (n: number) => (await queue.add("bench.echo", { n, pad })).id!;
  const out: BullResult = {
    concurrencyPerInstance: o.concurrency,
    throughput: [],
    latency: { offeredPerSec: o.latencyRate, tasks: 0, completed: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN },
  };
  try {
    for (const instances of o.instanceCounts) {
      const workers = await Promise.all(
        Array.from({ length: instances }, () =>
          spawnReady("bullWorker.ts", { QUEUE: name, REDIS_HOST: o.host, REDIS_PORT: String(o.port), CONCURRENCY: String(o.concurrency) }),
        ),
      );
      try {
        const warm: string[] = [];
        await windowed(200, 50, async (i) => void warm.push(await add(i)));
        await waitFor(warm, 60_000);
        progress(`bullmq: ${o.tasks} jobs, ${instances} worker process(es), ${o.window} adds in flight`);
        const ids: string[] = [];
        const t0 = performance.now();
        await windowed(o.tasks, o.window, async (i) => void ids.push(await add(i)));
        const completed = await waitFor(ids, 180_000);
        const last = Math.max(...ids.map((id) => done.get(id) ?? 0));
        out.throughput.push({ instances, tasks: o.tasks, completed, perSec: round(completed / ((last - t0) / 1000), 0) });
        if (instances === Math.max(...o.instanceCounts)) {
          progress(`bullmq: latency at ${o.latencyRate} jobs/s for ${o.latencySeconds} s`);
          const sent = new Map<string, number>();
          const n = Math.round(o.latencyRate * o.latencySeconds);
          const t1 = performance.now();
          const pending: Promise<void>[] = [];
          for (let i = 0; i < n; i++) {
            const wait = t1 + (i * 1000) / o.latencyRate - performance.now();
            if (wait > 1) await sleep(wait);
            pending.push(
              (async () => {
                const at = performance.now();
                sent.set(await add(i), at);
              })(),
            );
          }
          await Promise.all(pending);
          const got = await waitFor([...sent.keys()], 60_000);
          const lat = [...sent].flatMap(([id, at]) => (done.has(id) ? [done.get(id)! - at] : [])).sort((a, b) => a - b);
          out.latency = {
            offeredPerSec: o.latencyRate,
            tasks: n,
            completed: got,
            p50Ms: round(percentile(lat, 50)),
            p99Ms: round(percentile(lat, 99)),
            maxMs: round(lat.at(-1) ?? NaN),
          };
        }
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    }
    return out;
  } finally {
    await events.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
};
