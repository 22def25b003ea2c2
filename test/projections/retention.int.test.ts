import t from "tap";
import type { Test } from "tap";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { accountAuthority } from "../../src/auth/accountAuthority.js";
import { issueOpsCredentials } from "../../src/auth/ops.js";
import { internalBucket } from "../../src/contract/subjects.js";
import { callService } from "../../src/service/client.js";
import { TaskEvent } from "../../src/events/task.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { startTestServer } from "../support/natsServer.js";
import { eventually } from "../support/ops.js";
import { auditTasks, echoManifest, spawnEchoWorker, startCoreProcess, submitAll, verifyViews, waitProjections } from "../faults/support.js";

// The views' buckets stay proportional to what they must hold: internal bookkeeping lives in
// internal buckets (never in the operator-facing ones, nor in their OPS copies), the tasks view
// keeps finished rows by its retention rule and every open row, `projections verify` stays clean,
// and an older data dir with `_idx.*` keys in the operator buckets is cleaned on start.

const FINISHED = 100;
const IDLE = 5;
const KEEP = 25;
const PLUGIN = "keeper";

const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin({ name: "retention" });
t.teardown(() => nc.close());
const coreOpts = (args: string[]) => ({ url: server.url, dataDir: server.dataDir, adminCreds: server.installation.adminCreds, args });

const keysOf = async (conn: NatsConnection, bucket: string): Promise<string[]> => {
  const out: string[] = [];
  for await (const k of await (await new Kvm(conn).open(bucket)).keys()) out.push(k);
  return out.sort();
};
const rowsOf = async (bucket: string) => {
  const kv = await new Kvm(nc).open(bucket);
  const out: { key: string; status: string }[] = [];
  for (const key of await keysOf(nc, bucket)) out.push({ key, status: ((await kv.get(key))?.json() as { status: string }).status });
  return out;
};
/** Task ids in the order their `task.completed` is in the log. */
const completionOrder = async () => {
  const out: string[] = [];
  for await (const e of natsEventStore(nc, { codec: TaskEvent }).readAll({ filter: { categories: ["task"] } }))
    if (e.type === "task.completed") out.push(e.data.taskId);
  return out;
};
const internalOf = (keys: string[]) => keys.filter((k) => k.startsWith("_"));

/** The echo plugin, plus a type no worker serves: its tasks stay scheduled (open) for good. */
const install = async () => {
  const manifest = echoManifest(PLUGIN);
  manifest.provides.push({ ...manifest.provides[0]!, type: "keeper.idle", description: "served by no one" });
  let i = await callService(nc, "plugin.install", { manifest, grant: "all" }, { timeoutMs: 30_000 });
  for (let n = 0; n < 40 && E.isLeft(i) && i.left.code === "Unavailable"; n++) {
    await new Promise((r) => setTimeout(r, 250));
    i = await callService(nc, "plugin.install", { manifest, grant: "all" }, { timeoutMs: 30_000 });
  }
  if (E.isLeft(i)) throw new Error(`plugin.install: ${i.left.message}`);
  const c = await callService<{ creds: string }>(nc, "plugin.creds", { pluginId: PLUGIN }, { timeoutMs: 30_000 });
  if (E.isLeft(c)) throw new Error(`plugin.creds: ${c.left.message}`);
  const file = join(server.dataDir, `${PLUGIN}.creds`);
  await writeFile(file, c.right.creds, { mode: 0o600 });
  return file;
};

const verifyClean = async (t: Test, when: string) => {
  await waitProjections(nc, 120_000);
  for (const r of await verifyViews(nc)) t.same(r.differences, [], `${when}: ${r.view} verifies clean (head ${r.head})`);
};

let core = await startCoreProcess(coreOpts(["--keep-finished-tasks", String(KEEP)]));
t.teardown(() => core.kill());
const idle: string[] = [];
let finished: string[] = [];

t.test(`${FINISHED} finished tasks, ${IDLE} open: rows by the rule, bookkeeping only in internal buckets`, async (t) => {
  const creds = await install();
  for (let i = 0; i < IDLE; i++) {
    const r = await callService<{ taskId: string }>(nc, "task.submit", { taskType: "keeper.idle", params: { n: i } }, { timeoutMs: 10_000 });
    if (E.isLeft(r)) throw new Error(r.left.message);
    idle.push(r.right.taskId);
  }
  const worker = await spawnEchoWorker({ servers: server.url, creds, plugin: PLUGIN, instance: "w1" });
  t.teardown(() => worker.kill());
  finished = (await submitAll(nc, FINISHED, 16)).acked;
  await eventually(
    "every echo task to complete",
    async () => {
      const a = await auditTasks(nc);
      return finished.every((id) => (a.tasks.get(id)?.completed ?? 0) === 1);
    },
    180_000,
  );
  await verifyClean(t, "after the run");

  for (const b of ["tasks", "workers", "totals", "plugins", "capabilities"])
    t.same(internalOf(await keysOf(nc, b)), [], `operator bucket ${b}: no internal keys`);
  const rows = await rowsOf("tasks");
  t.equal(rows.filter((r) => r.status === "completed").length, KEEP, `the tasks view keeps the last ${KEEP} completed rows`);
  t.same(
    rows
      .filter((r) => r.status === "scheduled")
      .map((r) => r.key)
      .sort(),
    [...idle].sort(),
    "every open task keeps its row",
  );
  t.equal(rows.length, KEEP + IDLE, "and nothing else");
  t.same(
    rows
      .filter((r) => r.status === "completed")
      .map((r) => r.key)
      .sort(),
    (await completionOrder()).slice(-KEEP).sort(),
    "the kept rows are the last tasks to complete, in the log's order",
  );

  // The bookkeeping: open tasks in the indexes, the retention queue as long as the rule.
  const wi = await keysOf(nc, internalBucket("workers"));
  t.same(wi.sort(), idle.map((id) => `_idx.${id}`).sort(), "workers index: the open tasks only");
  const ti = (await keysOf(nc, internalBucket("totals"))).filter((k) => k.startsWith("_idx.task."));
  t.same(ti.sort(), idle.map((id) => `_idx.task.${id}`).sort(), "totals index: the open tasks only");
  const ri = (await keysOf(nc, internalBucket("tasks"))).filter((k) => k.startsWith("_ret.n."));
  t.equal(ri.length, KEEP, "retention queue: one entry per kept finished row");
  const totals = (await (await new Kvm(nc).open("totals")).get("tasks"))?.json() as { byStatus: Record<string, number> };
  t.same(totals.byStatus, { completed: FINISHED, scheduled: IDLE }, "the totals still count every task of the log");

  // A task whose row went: its history (and its row, folded from it) still answer.
  const gone = finished.find((id) => !rows.some((r) => r.key === id))!;
  const shown = await callService<{ task: { status: string } | null; history: unknown[] }>(nc, "views.task", { taskId: gone }, { timeoutMs: 10_000 });
  t.ok(E.isRight(shown) && shown.right.task?.status === "completed" && shown.right.history.length >= 3, "views.task answers a retired task from the log");
  const listed = await callService<{ taskId: string }[]>(nc, "views.tasks", { limit: 1000 }, { timeoutMs: 10_000 });
  t.equal(E.isRight(listed) ? listed.right.length : -1, KEEP + IDLE, "views.tasks lists the rows kept");
});

t.test("the OPS copies hold no internal keys", async (t) => {
  const sysCreds = await readFile(server.installation.sysCreds, "utf8");
  const accounts = accountAuthority({ authority: server.installation.authority, sysCreds, servers: server.url });
  t.teardown(() => accounts.close());
  const ro = await server.connectWith((await issueOpsCredentials({ accounts, sysCreds, servers: server.url, name: "retention" })).creds, { name: "ro" });
  t.teardown(() => ro.close());
  for (const b of ["tasks", "workers", "totals"]) {
    const bus = await keysOf(nc, b);
    await eventually(`the OPS copy of ${b} to hold what BUS holds`, async () => (await keysOf(ro, b).catch(() => [])).join() === bus.join(), 60_000);
    t.same(internalOf(await keysOf(ro, b)), [], `OPS ${b}: no internal keys`);
  }
});

t.test("an older data dir (internal keys in the operator buckets) is cleaned on start", async (t) => {
  await core.kill();
  for (const b of ["workers", "totals", "tasks"]) {
    const kv = await new Kvm(nc).open(b);
    await kv.put("_idx.legacy-1", JSON.stringify({ value: "x", lastPosition: 1, lastIndex: 0 }));
    await kv.put("_idx.task.legacy-2", JSON.stringify({ value: "completed", lastPosition: 1, lastIndex: 0 }));
  }
  const dirty = await verifyViews(nc);
  t.ok(
    dirty.some((r) => r.differences.some((d) => d.key.startsWith("legacy:_idx."))),
    "verify reports the internal keys left in an operator bucket",
  );
  core = await startCoreProcess(coreOpts(["--keep-finished-tasks", String(KEEP)]));
  for (const b of ["workers", "totals", "tasks"]) t.same(internalOf(await keysOf(nc, b)), [], `${b}: the old internal keys are gone once the core is ready`);
  await verifyClean(t, "after the upgrade");
  t.equal((await rowsOf("tasks")).length, KEEP + IDLE, "the rows are as before");
});

t.test("changing the rule rebuilds the tasks view by the new rule, from the log", async (t) => {
  await core.kill();
  core = await startCoreProcess(coreOpts(["--keep-finished-tasks", "10"]));
  t.equal((await rowsOf("tasks")).filter((r) => r.status === "completed").length, 10, "a smaller cap drops more rows");
  await verifyClean(t, "keep 10");
  await core.kill();
  core = await startCoreProcess(coreOpts(["--keep-finished-tasks", "all", "--keep-finished-for", "forever"]));
  t.equal((await rowsOf("tasks")).filter((r) => r.status === "completed").length, FINISHED, "no rule: every finished row is back from the log");
  await verifyClean(t, "keep all");
});

t.test("kill -9 of the core while tasks finish and rows retire: verify is clean after the restart", async (t) => {
  const args = ["--keep-finished-tasks", "10", "--keep-finished-for", "forever"];
  await core.kill();
  core = await startCoreProcess(coreOpts(args));
  const worker = await spawnEchoWorker({ servers: server.url, creds: join(server.dataDir, `${PLUGIN}.creds`), plugin: PLUGIN, instance: "w2" });
  t.teardown(() => worker.kill());
  let killed: Promise<void> | undefined;
  const { acked } = await submitAll(nc, 200, 16, {
    onAck: (n) => {
      if (n === 80 && !killed)
        killed = (async () => {
          await core.kill("SIGKILL");
          core = await startCoreProcess(coreOpts(args));
        })();
    },
  });
  await killed;
  t.ok(killed, "the core was killed mid-load");
  await eventually(
    "every task of the load to complete",
    async () => {
      const a = await auditTasks(nc);
      return acked.every((id) => (a.tasks.get(id)?.completed ?? 0) >= 1);
    },
    240_000,
  );
  await verifyClean(t, "after kill -9");
  const rows = await rowsOf("tasks");
  t.equal(rows.filter((r) => r.status === "completed").length, 10, "10 completed rows kept");
  t.equal(rows.filter((r) => r.status === "scheduled").length, IDLE, "the open tasks kept theirs");
  for (const b of ["tasks", "workers", "totals"]) t.same(internalOf(await keysOf(nc, b)), [], `${b}: no internal keys`);
});
