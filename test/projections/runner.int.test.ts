import t from "tap";
import * as io from "io-ts";
import { Kvm } from "@nats-io/kv";
import pino from "pino";
import { PluginEvent } from "../../src/events/plugin.js";
import { loadManifests } from "../../src/projections/manifest.js";
import type { ViewManifest } from "../../src/projections/manifest.js";
import { readBucket, readCheckpoint, readPointer } from "../../src/projections/runner/kv.js";
import { startProjections } from "../../src/projections/runner/live.js";
import { rebuildProjections, verifyProjections } from "../../src/projections/runner/replay.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { startEventLog } from "../support/eventLog.js";
import { scenario } from "./fixtures.js";
import { pluginsView } from "../../src/projections/plugins.js";
import type { PluginRow } from "../../src/projections/plugins.js";
import type { Decoded } from "../../src/projections/view.js";
import type { Commit } from "./fixtures.js";

const log = pino({ level: "silent" });
const { server, nc, store } = await startEventLog(t);
const manifests = await loadManifests();

/** Appends commits in order per stream, streams in parallel (as many core requests would). */
const appendAll = async (commits: Commit[]) => {
  const byStream = new Map<string, Commit[]>();
  for (const c of commits) byStream.set(c.streamName, [...(byStream.get(c.streamName) ?? []), c]);
  const chains = [...byStream.values()];
  // Plugins and workers first so that tasks follow their plugin's registration, as in a real run.
  const first = chains.filter((c) => !c[0]!.streamName.startsWith("task-"));
  const rest = chains.filter((c) => c[0]!.streamName.startsWith("task-"));
  for (const chain of first) for (const c of chain) await store.appendToStream(c.streamName, c.events as never);
  for (let i = 0; i < rest.length; i += 64) {
    await Promise.all(
      rest.slice(i, i + 64).map(async (chain) => {
        for (const c of chain) await store.appendToStream(c.streamName, c.events as never);
      }),
    );
  }
};

const renamed = (suffix: string): ViewManifest[] => manifests.map((m) => ({ ...m, bucket: `${m.bucket}-${suffix}` }));

const bucketRows = async (bucket: string) => readBucket(await new Kvm(nc).open(bucket));

t.test("live fold during a run, replay into empty buckets gives the same views, verify is clean", async (t) => {
  const live = await startProjections({ nc, log, manifests, checkpointEvery: 200 });
  // Half of the run before the runner catches up, half while it folds live.
  const commits = scenario({ plugins: 6, tasks: 1000, seed: 11, pipelines: 4 });
  const half = Math.floor(commits.length / 2);
  let t0 = Date.now();
  await appendAll(commits.slice(0, half));
  await live.caughtUp;
  await appendAll(commits.slice(half));
  t.comment(`appended ${commits.length} commits in ${Date.now() - t0} ms`);
  t0 = Date.now();
  const head = Number(await store.headPosition());
  t.ok(head >= 3000, `a run of thousands of events (${head} commits)`);

  // Wait for the live runner to reach the head, then stop it (final checkpoint).
  while (live.status().some((s) => s.position < head)) await new Promise((r) => setTimeout(r, 100));
  await live.stop();
  t.comment(`live views at the head ${Date.now() - t0} ms later`);
  for (const m of manifests) t.equal(await readCheckpoint(nc, m.bucket), head, `${m.name}: checkpoint at the head`);

  const replay = await startProjections({ nc, log, manifests: renamed("replay") });
  await replay.caughtUp;
  await replay.stop();
  for (const m of manifests) {
    const a = await bucketRows(m.bucket);
    const b = await bucketRows(`${m.bucket}-replay`);
    t.ok(a.size > 0, `${m.name}: the live bucket has rows (${a.size})`);
    t.same(Object.fromEntries([...b].sort()), Object.fromEntries([...a].sort()), `${m.name}: replay equals the live view`);
  }
  const tasks = await bucketRows("tasks");
  t.equal([...tasks.keys()].length, 1000);
  const totals = (await bucketRows("totals")).get("tasks") as { total: number };
  t.equal(totals.total, 1000, "totals count every task once");

  const reports = await verifyProjections(nc, { log, manifests });
  for (const r of reports) t.same(r.differences, [], `${r.view}: verify finds no drift`);
});

t.test("verify reports drift; rebuild repairs it; a redelivered event changes nothing", async (t) => {
  const kv = await new Kvm(nc).open("plugins");
  const p0 = await kv.get("p0");
  await kv.put("p0", JSON.stringify({ ...JSON.parse(p0!.string()), status: "disabled" }));
  await kv.delete("p1");
  await kv.put("bogus", JSON.stringify({ x: 1 }));
  const [bad] = await verifyProjections(nc, { log, manifests, only: ["plugins"] });
  t.same(
    bad!.differences.map((d) => [d.kind, d.key]),
    [
      ["unexpected", "bogus"],
      ["different", "p0"],
      ["missing", "p1"],
    ],
    "each drifted row is named with what differs",
  );
  const [rebuilt] = await rebuildProjections(nc, { log, manifests, only: ["plugins"] });
  t.equal(rebuilt!.changed, 3);
  const [clean] = await verifyProjections(nc, { log, manifests, only: ["plugins"] });
  t.same(clean!.differences, []);

  // Restart the runner from an old checkpoint: every event is redelivered, and skipped per row.
  const cp = await new Kvm(nc).open("ganglion-checkpoints");
  await cp.put("plugins", JSON.stringify({ position: 0, updatedAt: new Date().toISOString() }));
  const before = await bucketRows("plugins");
  const revs = new Map<string, number>();
  for (const k of before.keys()) revs.set(k, (await kv.get(k))!.revision);
  const again = await startProjections({ nc, log, manifests: manifests.filter((m) => m.name === "plugins") });
  await again.caughtUp;
  await again.stop();
  for (const k of before.keys()) t.equal((await kv.get(k))!.revision, revs.get(k), `${k}: not rewritten on redelivery`);
});

t.test("an undecodable event is logged and skipped; the fold goes on", async (t) => {
  const lines: string[] = [];
  const capture = pino({ level: "warn" }, { write: (s: string) => void lines.push(s) });
  // A store without the plugin codec lets a malformed plugin event into the log.
  const loose = natsEventStore(nc, { codec: io.type({ type: io.string, data: io.unknown }) });
  await loose.appendToStream("plugin-broken", { type: "plugin.registered", data: { pluginId: 7 } });
  await store.appendToStream("plugin-after", { type: "plugin.enabled", data: { pluginId: "after" } });
  await store.appendToStream("worker-zz", {
    type: "worker.online",
    data: { pluginId: "zz", instance: "zz-1", version: "1.0.0", at: new Date().toISOString() },
  });
  const r = await startProjections({ nc, log: capture, manifests: manifests.filter((m) => m.name === "plugins" || m.name === "workers") });
  await r.caughtUp;
  await r.stop();
  t.ok(
    lines.some((l) => l.includes("undecodable event skipped") && l.includes("pluginId")),
    "the skip is logged with the failing path",
  );
  t.ok((await bucketRows("workers")).has("zz"), "later events are folded");
  t.notOk((await bucketRows("plugins")).has("broken"));
});

t.test("a new view version is built into a fresh bucket and switched to once caught up", async (t) => {
  const v1 = manifests.find((m) => m.name === "plugins")!;
  t.same((await readPointer(nc, "plugins"))?.bucket, "plugins", "v1 is live");
  const v2: ViewManifest = { ...v1, version: 2, bucket: "plugins-v2" };
  const r = await startProjections({ nc, log, manifests: [v2] });
  await r.caughtUp;
  const p = await readPointer(nc, "plugins");
  t.match(p, { view: "plugins", version: 2, bucket: "plugins-v2", previousBucket: "plugins" });
  const a = await bucketRows("plugins");
  const b = await bucketRows("plugins-v2");
  t.same(Object.fromEntries([...b].sort()), Object.fromEntries([...a].sort()), "v2 holds the same rows (same evolve here)");
  // An older replica still running v1 never moves the pointer back.
  const old = await startProjections({ nc, log, manifests: [v1] });
  await old.caughtUp;
  await old.stop();
  t.equal((await readPointer(nc, "plugins"))?.bucket, "plugins-v2");
  await r.stop();
});

t.test("a live fold of tasks, totals and workers from an old checkpoint over existing rows: nothing drifts", async (t) => {
  // Every event is redelivered to rows and index entries that already hold it (as after a kill -9
  // between the writes and the checkpoint): each is skipped by position, none is written twice.
  const names = ["tasks", "totals", "workers"];
  const ms = manifests.filter((m) => names.includes(m.name));
  const cp = await new Kvm(nc).open("ganglion-checkpoints");
  for (const m of ms) await cp.put(m.bucket, JSON.stringify({ position: 0, updatedAt: new Date().toISOString() }));
  const before = new Map(await Promise.all(ms.map(async (m) => [m.bucket, await bucketRows(m.bucket)] as const)));
  const again = await startProjections({ nc, log, manifests: ms });
  await again.caughtUp;
  await again.stop();
  for (const m of ms)
    t.same(Object.fromEntries([...(await bucketRows(m.bucket))].sort()), Object.fromEntries([...before.get(m.bucket)!].sort()), `${m.name}: rows unchanged`);
  const reports = await verifyProjections(nc, { log, manifests: ms });
  for (const r of reports) t.same(r.differences, [], `${r.view}: verify finds no drift`);
  t.equal(((await bucketRows("totals")).get("tasks") as { total: number }).total, 1000, "totals still count every task once");
});

t.test("two core replicas fold the same views concurrently: compare-and-set keeps them exact", async (t) => {
  const ms = renamed("pair");
  const a = await startProjections({ nc, log, manifests: ms });
  const nc2 = await server.connectAdmin();
  t.teardown(() => nc2.close());
  const b = await startProjections({ nc: nc2, log, manifests: ms });
  const extra = scenario({ plugins: 2, tasks: 100, seed: 99 }).map((c) => ({ ...c, streamName: c.streamName.replace(/-(p|t)(\d+)/, "-x$1$2") }));
  // Ids of the extra run must differ from the first run's: rename plugins and tasks.
  const renameIds = (v: unknown): unknown =>
    typeof v === "string"
      ? v.replace(/^(p|t)(\d+)$/, "x$1$2").replace(/^(p\d+)-a$/, "x$1-a")
      : Array.isArray(v)
        ? v.map(renameIds)
        : v && typeof v === "object"
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === "manifest" ? x : renameIds(x)]))
          : v;
  await appendAll(extra.map((c) => ({ ...c, events: c.events.map((e) => renameIds(e) as typeof e) })));
  await Promise.all([a.caughtUp, b.caughtUp]);
  const head = Number(await store.headPosition());
  while ([...a.status(), ...b.status()].some((s) => s.position < head)) await new Promise((r) => setTimeout(r, 100));
  await Promise.all([a.stop(), b.stop()]);
  const reports = await verifyProjections(nc, { log, manifests: ms });
  for (const r of reports) t.same(r.differences, [], `${r.view}: two writers, no drift`);
  t.ok((await bucketRows("tasks-pair")).has("xt5"), "the extra run is folded");
});

t.test("the fold survives a server restart and resumes where it stopped", async (t) => {
  const ms = manifests.filter((m) => m.name === "tasks" || m.name === "totals");
  const r = await startProjections({ nc, log, manifests: ms });
  await r.caughtUp;
  await server.kill();
  await server.restart();
  const more = scenario({ plugins: 1, tasks: 60, seed: 5 })
    .filter((c) => c.streamName.startsWith("task-"))
    .map((c) => ({ ...c, streamName: c.streamName.replace("task-t", "task-r") }))
    .map((c) => ({
      ...c,
      events: c.events.map((e) => ({ ...e, data: { ...e.data, taskId: (e.data as { taskId: string }).taskId.replace(/^t/, "r") } }) as typeof e),
    }));
  // The admin connection reconnects by itself; appends succeed once it has.
  for (;;) {
    try {
      await appendAll(more);
      break;
    } catch {
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  const head = Number(await store.headPosition());
  while (r.status().some((s) => s.position < head)) await new Promise((res) => setTimeout(res, 100));
  await r.stop();
  t.ok((await bucketRows("tasks")).has("r0"), "events appended after the restart are folded");
  const reports = await verifyProjections(nc, { log, manifests: ms });
  for (const x of reports) t.same(x.differences, [], `${x.view}: no drift after the restart`);
});

t.test("a view that throws on an event logs it and skips it; the fold goes on", async (t) => {
  const lines: string[] = [];
  const capture = pino({ level: "warn" }, { write: (s: string) => void lines.push(s) });
  const buggy = {
    ...pluginsView,
    evolve: (key: string, row: PluginRow | null, e: Decoded<PluginEvent>, ix: string | undefined) => {
      if (e.data.pluginId === "boom") throw new Error("bug in the view");
      return pluginsView.evolve(key, row, e, ix);
    },
  };
  await store.appendToStream("plugin-boom", { type: "plugin.enabled", data: { pluginId: "boom" } });
  await store.appendToStream("plugin-p0", { type: "plugin.disabled", data: { pluginId: "p0", reason: "after the bug" } });
  const m = { ...manifests.find((x) => x.name === "plugins")!, bucket: "plugins-buggy" };
  const r = await startProjections({ nc, log: capture, manifests: [m], views: { plugins: buggy } });
  await r.caughtUp;
  await r.stop();
  t.ok(lines.some((l) => l.includes("view failed on an event; skipped") && l.includes("bug in the view")));
  t.match((await bucketRows("plugins-buggy")).get("p0"), { status: "disabled", disabledReason: "after the bug" }, "later events are folded");
});

t.test("a stop while the views fold a backlog ends (the pump does not wait on a queue nobody drains)", async (t) => {
  const head = Number(await store.headPosition());
  t.ok(head > 1000, `a backlog of ${head} commits`);
  // Fresh buckets fold from the start; a small batch fills the queue (4 batches) at once.
  const p = await startProjections({ nc, log, manifests: renamed("backlog"), batchSize: 5 });
  await new Promise((r) => setTimeout(r, 300));
  t.ok(
    p.status().some((s) => s.position < head),
    "still folding when stopped",
  );
  const ended = await Promise.race([p.stop().then(() => "stopped"), new Promise((r) => setTimeout(() => r("still stopping after 60 s"), 60_000).unref())]);
  t.equal(ended, "stopped");
});
