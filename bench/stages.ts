/**
 * Where a task's time goes (by hand, not in `npm run bench`): a fresh server, the core as a
 * process, one worker process; N tasks submitted with W in flight, then each task's stages read
 * from the server's own timestamps of the messages it stored: the submission's commit, the
 * worker's reports on RESULTS and the commits of its start and end. The stage where time piles up
 * at saturation is the bottleneck. Also the CPU each process used per task.
 *
 *   N=5000 W=256 node --import tsx bench/stages.ts
 */
import * as E from "fp-ts/lib/Either.js";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JsMsg } from "@nats-io/jetstream";
import { callService } from "../src/service/client.js";
import { TYPE_HEADER } from "../src/store/eventStore.js";
import { Streams } from "../src/contract/subjects.js";
import { cpuMs, percentile, round, sleep, startBenchServer, startChildCore, windowed } from "./lib.js";
import { BENCH_PLUGIN, installBenchPlugin, spawnReady } from "./tasks.js";

const N = Number(process.env.N ?? 5000);
const W = Number(process.env.W ?? 256);

const server = await startBenchServer();
const core = await startChildCore(server);
const nc = await server.connectAdmin("bench-stages");
const creds = await installBenchPlugin(nc, server.dataDir);
const worker = await spawnReady("worker.ts", { PLUGIN: BENCH_PLUGIN, CREDS: creds, SERVERS: server.url, INSTANCE: "stages-0", CONCURRENCY: "64" });
const submit = async (n: number) => {
  const r = await callService<{ taskId: string }>(nc, "task.submit", { taskType: "bench.echo", params: { n, pad: "p".repeat(64) } }, { timeoutMs: 120_000 });
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right.taskId;
};
const cpu = async () => ({
  core: (await cpuMs(core.pid)) ?? NaN,
  natsServer: (await cpuMs(await server.serverPid())) ?? NaN,
  worker: (await cpuMs(worker.proc.pid)) ?? NaN,
  loadGenerator: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
});

try {
  await windowed(300, 50, submit); // warm-up
  await sleep(2000);
  const sent = new Map<string, number>();
  const c0 = await cpu();
  const t0 = Date.now();
  await windowed(N, W, async (i) => {
    const at = Date.now();
    sent.set(await submit(i), at);
  });
  // Everything settles (the views included) before the CPU is read again.
  await sleep(Number(process.env.SETTLE_MS ?? 8000));
  const c1 = await cpu();

  /** Server timestamps (ms) of each task's messages on a stream, by task id and by `kind(m)`. */
  const stamps = async (stream: string, kinds: (m: JsMsg) => string[]) => {
    const out = new Map<string, Record<string, number>>();
    const total = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
    const c = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
    let n = 0;
    for await (const m of await c.fetch({ max_messages: total, expires: 30_000 })) {
      const id = m.subject.slice(m.subject.lastIndexOf(".") + 1);
      const o = out.get(id) ?? {};
      for (const k of kinds(m)) o[k] = m.info.timestampNanos / 1e6;
      out.set(id, o);
      if (++n >= total) break;
    }
    return out;
  };
  const events = await stamps(Streams.Events, (m) => m.headers?.values(TYPE_HEADER) ?? []);
  const reports = await stamps(Streams.Results, (m) => [`report.${(m.json() as { status: string }).status}`]);

  const stages: Record<string, number[]> = {};
  const add = (k: string, v: number | undefined) => void (v !== undefined && Number.isFinite(v) && (stages[k] ??= []).push(v));
  let done = 0;
  let last = 0;
  for (const [id, at] of sent) {
    const e = events.get(id) ?? {};
    const r = reports.get(id) ?? {};
    add("submit → task.submitted stored", e["task.submitted"]! - at);
    add("task.submitted → started report", r["report.started"]! - e["task.submitted"]!);
    add("task.submitted → final report", (r["report.completed"] ?? r["report.failed"])! - e["task.submitted"]!);
    add("started report → task.started", e["task.started"]! - r["report.started"]!);
    add("final report → task.completed", e["task.completed"]! - (r["report.completed"] ?? NaN));
    add("submit → task.completed", e["task.completed"]! - at);
    if (e["task.completed"] !== undefined) {
      done++;
      last = Math.max(last, e["task.completed"]);
    }
  }
  const report = {
    tasks: N,
    inFlight: W,
    completed: done,
    perSec: round(done / ((last - t0) / 1000), 0),
    withStartedReport: stages["started report → task.started"]?.length ?? 0,
    cpuMsPerTask: Object.fromEntries(Object.entries(c1).map(([k, v]) => [k, round((v - c0[k as keyof typeof c0]) / N, 3)])),
    stagesMs: Object.fromEntries(
      Object.entries(stages).map(([k, v]) => {
        v.sort((a, b) => a - b);
        return [k, { p50: round(percentile(v, 50)), p90: round(percentile(v, 90)), p99: round(percentile(v, 99)), n: v.length }];
      }),
    ),
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  await worker.stop();
  await nc.close();
  await core.stop();
  await server.stop();
}
