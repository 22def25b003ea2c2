/**
 * Benchmark 6: scale. The latency of commands on a task (`task.submit`, `task.cancel`) and a
 * query on a plugin (`plugin.show`), sent to a core process, with 1,000 events in the log and
 * again with N (1,000,000) events; the RSS of the core and of nats-server at N events.
 */
import * as E from "fp-ts/lib/Either.js";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { callService } from "../src/service/client.js";
import { readCheckpoint } from "../src/projections/runner/kv.js";
import { loadManifests } from "../src/projections/manifest.js";
import { Streams } from "../src/contract/subjects.js";
import type { BenchServer, ChildCore } from "./lib.js";
import { percentile, progress, round, rssMiB, sleep } from "./lib.js";
import { fillOtherLog } from "./projections.js";
import { BENCH_PLUGIN, installBenchPlugin } from "./tasks.js";

type Lat = { p50Ms: number; p99Ms: number };
export type ScaleRun = { events: number; submit: Lat; cancel: Lat; show: Lat };
export type ScaleResult = { small: ScaleRun; large: ScaleRun; rssAtLarge: { coreMiB?: number; natsServerMiB?: number } };

const stats = (a: number[]): Lat => {
  const s = [...a].sort((x, y) => x - y);
  return { p50Ms: round(percentile(s, 50), 2), p99Ms: round(percentile(s, 99), 2) };
};

const headOf = async (nc: NatsConnection) => (await (await jetstreamManager(nc)).streams.info(Streams.Events)).state.last_seq;

/** Waits until every view's checkpoint reached `head` (the core's projections caught up). */
const caughtUp = async (nc: NatsConnection, head: number) => {
  const buckets = (await loadManifests()).map((m) => m.bucket);
  for (let i = 0; ; i++) {
    const cps = await Promise.all(buckets.map((b) => readCheckpoint(nc, b).then((c) => c ?? 0)));
    if (Math.min(...cps) >= head) return;
    if (i % 10 === 0) progress(`core projections at ${Math.min(...cps)}/${head}`);
    await sleep(1000);
  }
};

const measure = async (nc: NatsConnection, samples: number): Promise<ScaleRun> => {
  const submit: number[] = [];
  const cancel: number[] = [];
  const show: number[] = [];
  for (let i = 0; i < samples; i++) {
    let t0 = performance.now();
    const s = await callService<{ taskId: string }>(nc, "task.submit", { taskType: "bench.echo", params: { n: i } });
    submit.push(performance.now() - t0);
    if (E.isLeft(s)) throw new Error(`task.submit: ${s.left.message}`);
    t0 = performance.now();
    const c = await callService(nc, "task.cancel", { taskId: s.right.taskId, reason: "bench" });
    cancel.push(performance.now() - t0);
    if (E.isLeft(c)) throw new Error(`task.cancel: ${c.left.message}`);
    t0 = performance.now();
    const p = await callService(nc, "plugin.show", { pluginId: BENCH_PLUGIN });
    show.push(performance.now() - t0);
    if (E.isLeft(p)) throw new Error(`plugin.show: ${p.left.message}`);
  }
  return { events: await headOf(nc), submit: stats(submit), cancel: stats(cancel), show: stats(show) };
};

export const benchScale = async (server: BenchServer, core: ChildCore, o: { events: number; samples: number }): Promise<ScaleResult> => {
  const nc = await server.connectAdmin("bench-scale");
  try {
    await installBenchPlugin(nc, server.dataDir);
    const small = Math.max(0, 1000 - (await headOf(nc)) - o.samples * 2);
    await fillOtherLog(nc, small);
    await caughtUp(nc, await headOf(nc));
    progress(`scale: ${o.samples} samples per command at ${await headOf(nc)} events`);
    await measure(nc, 20); // warm-up
    const a = await measure(nc, o.samples);
    progress(`scale: filling the log to ${o.events} events`);
    await fillOtherLog(nc, Math.max(0, o.events - (await headOf(nc))));
    await caughtUp(nc, await headOf(nc));
    progress(`scale: ${o.samples} samples per command at ${await headOf(nc)} events`);
    const b = await measure(nc, o.samples);
    const rssAtLarge = { coreMiB: await rssMiB(core.pid), natsServerMiB: await rssMiB(await server.serverPid()) };
    return { small: a, large: b, rssAtLarge };
  } finally {
    await nc.close();
  }
};
