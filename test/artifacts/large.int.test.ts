import t from "tap";
import { createTestBus } from "../../src/testing/testBus.js";
import { artifactIdOf } from "../../src/contract/artifacts.js";
import { spawnWorker } from "../tasks/support.js";

/**
 * A 200 MiB result streams through the core without the core holding it: a worker process streams
 * it into `ctx.artifacts.put` (the core copies it chunk by chunk from the upload stream into the
 * object store), another worker process streams it back out (the core serves one chunk per
 * request). The core runs in this process (the test bus), so its memory is this process's: sampled
 * every 50 ms through both transfers. No timing is asserted; the numbers are printed.
 */
const SIZE = 200 * 1024 * 1024;
const MiB = 1024 * 1024;
const FIXTURE = new URL("./fixtures/artifactWorker.ts", import.meta.url).pathname;
const bus = await createTestBus();
t.teardown(bus.stop);

const manifest = (id: string) => ({
  id,
  version: "1.0.0",
  description: id,
  provides: ["blob.stream", "blob.digest"].map((type) => ({
    type: `${id}.${type}`,
    description: type,
    params: { type: "object" },
    result: { type: "object" },
    timeout: "20m",
  })),
  capabilities: [],
});
const maker = await bus.install(manifest("bigmaker"));
const reader = await bus.install(manifest("bigreader"));
const workers = await Promise.all(
  [maker, reader].map((p) => spawnWorker(bus, { plugin: p.pluginId, creds: p.creds, instance: `${p.pluginId}-1`, fixture: FIXTURE })),
);
t.teardown(() => Promise.all(workers.map((w) => w.kill())));

const sampled = async <T>(what: string, run: () => Promise<T>): Promise<{ value: T; base: number; peak: number; ms: number }> => {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const started = Date.now();
  try {
    const value = await run();
    return { value, base, peak, ms: Date.now() - started };
  } finally {
    clearInterval(timer);
    t.comment(`${what}: core process RSS ${Math.round(base / MiB)} MiB before, peak ${Math.round(peak / MiB)} MiB (+${Math.round((peak - base) / MiB)} MiB)`);
  }
};

t.test("a 200 MiB result goes in and out chunk by chunk; the core's memory stays far below its size", async (t) => {
  const put = await sampled("put 200 MiB", () => bus.submit("bigmaker.blob.stream", { size: SIZE, seed: "big" }, { waitMs: 20 * 60_000 }));
  t.equal(put.value.status, "completed", JSON.stringify(put.value.failures));
  const ref = (put.value.result as { data: string }).data;
  t.match(ref, /^artifact:\/\/[0-9a-f]{64}$/);
  t.comment(`put: ${(SIZE / MiB / (put.ms / 1000)).toFixed(1)} MiB/s (worker → upload stream → object store)`);
  const row = await bus.call("artifact.show", { id: ref });
  t.match(row, { right: { size: SIZE, chunks: SIZE / (128 * 1024) } });

  const get = await sampled("get 200 MiB", () => bus.submit("bigreader.blob.digest", { ref }, { waitMs: 20 * 60_000 }));
  t.equal(get.value.status, "completed", JSON.stringify(get.value.failures));
  const result = get.value.result as { sha256: string; size: number; startRss: number; peakRss: number };
  t.equal(result.sha256, artifactIdOf(ref));
  t.equal(result.size, SIZE);
  t.comment(
    `get: ${(SIZE / MiB / (get.ms / 1000)).toFixed(1)} MiB/s; the reading worker's RSS ${Math.round(result.startRss / MiB)} MiB before, peak ${Math.round(result.peakRss / MiB)} MiB`,
  );

  // Far below the size: a core that buffered the artifact would grow by 200 MiB or more.
  t.ok(put.peak - put.base < SIZE / 4, `the core grew ${Math.round((put.peak - put.base) / MiB)} MiB during the put (< 50 MiB)`);
  t.ok(get.peak - get.base < SIZE / 4, `the core grew ${Math.round((get.peak - get.base) / MiB)} MiB during the get (< 50 MiB)`);
  t.ok(result.peakRss - result.startRss < SIZE / 4, "the reading worker never held it either");
});
