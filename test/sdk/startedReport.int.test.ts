/**
 * The SDK sends no `started` report for a handler that ends within `startedReportDelayMs`: its
 * final report starts the attempt, and the core appends the start and the end as one commit.
 * A slower handler, or a worker with the delay at 0, reports `started` while it runs.
 */
import t from "tap";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { createTestBus } from "../../src/testing/testBus.js";
import { Worker } from "../../src/sdk/worker.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { TYPE_HEADER } from "../../src/store/eventStore.js";
import { TaskEvent } from "../../src/events/task.js";
import { resultSubject, Streams, eventSubject } from "../../src/contract/subjects.js";

const bus = await createTestBus();
t.teardown(bus.stop);

const task = (type: string) => ({ type, description: type, params: { type: "object" }, result: { type: "object" }, timeout: "10s" });
const manifest = {
  id: "pace",
  version: "1.0.0",
  description: "fast and slow",
  provides: [task("pace.fast"), task("pace.slow"), task("pace.fail")],
  capabilities: [],
};
const { creds } = await bus.install(manifest);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const start = async (instance: string, startedReportDelayMs?: number) => {
  const w = new Worker({ plugin: "pace", creds, servers: bus.url, instance, ...(startedReportDelayMs !== undefined ? { startedReportDelayMs } : {}) });
  w.onTask("pace.fast", async () => ({ ok: true }));
  w.onTask("pace.slow", async () => {
    await sleep(400);
    return { ok: true };
  });
  w.onTask("pace.fail", async () => {
    throw new Error("no");
  });
  await w.run();
  return w;
};

const store = natsEventStore(bus.nc, { codec: TaskEvent });
/** The task's events as commits: each commit's event types, in order. */
const commitsOf = async (taskId: string) => {
  const by = new Map<bigint, string[]>();
  for await (const e of store.readStream(`task-${taskId}`)) by.set(e.position, [...(by.get(e.position) ?? []), e.type]);
  return [...by.values()];
};
/** The reports the worker stored on RESULTS for the task, as `status` (`status@delivery` when it names one). */
const reportsOf = async (taskId: string) => {
  const js = jetstream(bus.nc);
  const c = await js.consumers.get(Streams.Results, { filter_subjects: resultSubject("pace", taskId), deliver_policy: DeliverPolicy.All });
  const out: string[] = [];
  for (;;) {
    const m = await c.next({ expires: 1000 });
    if (!m) return out;
    const r = m.json<{ status: string; delivery?: number }>();
    out.push(r.delivery !== undefined ? `${r.status}@${r.delivery}` : r.status);
  }
};

t.test("default delay: a fast handler sends one report and the log gets one commit for start and end", async (t) => {
  const w = await start("fast-1");
  t.teardown(() => w.stop());
  const v = await bus.submit("pace.fast", {}, { waitMs: 10_000 });
  t.equal(v.status, "completed");
  t.same(await reportsOf(v.taskId), ["completed@1"], "no started report, the completion says which delivery it was");
  t.same(await commitsOf(v.taskId), [["task.submitted"], ["task.started", "task.completed"]]);
  // Tools reading the commit's type header see both types (the first one first).
  const js = jetstream(bus.nc);
  const c = await js.consumers.get(Streams.Events, { filter_subjects: eventSubject("task", v.taskId), deliver_policy: DeliverPolicy.Last });
  const m = await c.next({ expires: 2000 });
  t.same(m?.headers?.values(TYPE_HEADER), ["task.started", "task.completed"]);
  t.equal(m?.headers?.get(TYPE_HEADER), "task.started");

  const f = await bus.submit("pace.fail", {}, { waitMs: 10_000 });
  const commits = await commitsOf(f.taskId);
  // Started, failed and what the retry policy says next (here: no attempts left), in one commit.
  t.same(commits[1], ["task.started", "task.failed", "task.dead_lettered"], "a fast failure starts its attempt in the same commit");
  await w.stop();
});

t.test("a handler that runs longer than the delay reports started while it runs", async (t) => {
  const w = await start("slow-1");
  t.teardown(() => w.stop());
  const v = await bus.submit("pace.slow", {}, { waitMs: 10_000 });
  t.equal(v.status, "completed");
  t.same(await reportsOf(v.taskId), ["started@1", "completed"]);
  t.same(await commitsOf(v.taskId), [["task.submitted"], ["task.started"], ["task.completed"]]);
  await w.stop();
});

t.test("startedReportDelayMs 0: started is reported at once, even for a fast handler", async (t) => {
  const w = await start("eager-1", 0);
  t.teardown(() => w.stop());
  const v = await bus.submit("pace.fast", {}, { waitMs: 10_000 });
  t.equal(v.status, "completed");
  t.same(await reportsOf(v.taskId), ["started@1", "completed"]);
  t.same(await commitsOf(v.taskId), [["task.submitted"], ["task.started"], ["task.completed"]]);
  await w.stop();
});
