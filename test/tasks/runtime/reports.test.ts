import t from "tap";
import type { Test } from "tap";
import { REPORT_CONCURRENCY } from "../../../src/tasks/runtime/reports.js";
import { harness, installed, manifest, report, settle } from "./fakes.js";

const plugins = [...installed(manifest("alpha", {}, { retry: { maxAttempts: 2 } })), ...installed(manifest("beta"))];
/** Two plugins provide `work.do`: tasks go to alpha, named. */
const setup = async (t: Test, options = {}) => {
  const h = await harness({ plugins, options });
  t.teardown(h.stop);
  return { ...h, submitted: () => h.submitted({ n: 1 }, "alpha") };
};

const refusals = (h: { store: Awaited<ReturnType<typeof harness>>["store"] }, id: string) =>
  h.store
    .events(`task-${id}`)
    .filter((e) => e.type === "task.report_refused")
    .map((e) => e.data as { reason: string; instance: string; status: string });

t.test("the holder's reports drive the attempt: started, progress, a valid result completes it", async (t) => {
  const h = await setup(t, { progressThrottleMs: 0 });
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started", delivery: 1 });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "progress", progress: { done: 1, total: 2, message: "half" } });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "completed", result: { ok: true } });
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.started", "task.progress", "task.completed"]);
  t.match(h.store.events(`task-${id}`)[2], { data: { done: 1, total: 2, message: "half" }, metadata: { actor: "plugin:alpha" } });
  t.notOk(h.state.open.has(id));
});

t.test("a result that fails its schema fails the attempt (retried per policy), naming the paths", async (t) => {
  const h = await setup(t);
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "completed", result: { nope: 1 } });
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.started", "task.failed", "task.retry_scheduled"]);
  t.match(h.store.events(`task-${id}`)[2], { data: { error: { kind: "invalid_result", paths: ["result/ok: must have required property 'ok'"] } } });
});

t.test("a minimal worker may skip `started`: its first report starts the attempt", async (t) => {
  const h = await setup(t);
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "c1", status: "completed", result: { ok: 1 } });
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.started", "task.completed"]);
});

t.test("reports that do not count are refused, audited on the task, and a would-be holder told to stop", async (t) => {
  const h = await setup(t, { refusalWindowMs: 0 });
  const id = await h.submitted();
  await h.reportOn("beta", { taskId: id, attempt: 1, instance: "b1", status: "started" });
  t.match(refusals(h, id), [{ reason: "the task belongs to plugin alpha", instance: "b1" }]);
  t.match(h.io.notified, [{ subject: "ctl.beta", payload: { taskId: id, reason: "refused: the task belongs to plugin alpha" } }]);
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i2", status: "failed", error: { message: "not mine" } });
  t.match(refusals(h, id).at(-1), { reason: /instance i2 does not hold attempt 1/, status: "failed" });
  await h.reportOn("alpha", { taskId: id, attempt: 7, instance: "i1", status: "started" });
  t.match(refusals(h, id).at(-1), { reason: /attempt 7 of task .* is not current/ });
  t.equal(h.state.open.get(id)?.status, "running", "none of them changed the task");
});

t.test("on an ended task: the holder's duplicate is ignored, anyone else's refused", async (t) => {
  const h = await setup(t);
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "completed", result: { ok: 1 } });
  const before = h.store.events(`task-${id}`).length;
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "completed", result: { ok: 1 } });
  t.equal(h.store.events(`task-${id}`).length, before, "a redelivered report of the holder: nothing appended");
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i9", status: "completed", result: { ok: 1 } });
  t.match(refusals(h, id), [{ instance: "i9", reason: /already completed/ }]);
});

t.test("on an ended task: the holder's own late `started` or `progress` (redelivered past RESULTS' ack wait) is ignored, a stranger's refused", async (t) => {
  const h = await setup(t, { progressThrottleMs: 0 });
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started", delivery: 1 });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "completed", result: { ok: 1 } });
  const before = h.store.events(`task-${id}`).length;
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started", delivery: 1 });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "progress", progress: { done: 1, total: 2 } });
  t.equal(h.store.events(`task-${id}`).length, before, "nothing appended for the holder's late duplicates");
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i9", status: "started", delivery: 1 });
  t.match(refusals(h, id), [{ instance: "i9" }], "a stranger's report is still refused");
});

t.test("progress: a body-less report is a keep-alive; bodies are throttled to one event per interval", async (t) => {
  const h = await setup(t, { progressThrottleMs: 1000 });
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  await h.clock.advance(300);
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "progress" });
  t.equal(h.state.lastActive.get(id), h.clock.clock.now(), "kept alive in memory");
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "progress", progress: { done: 1, total: 3 } });
  await h.clock.advance(500);
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "progress", progress: { done: 2, total: 3 } });
  await h.clock.advance(600);
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "progress", progress: { done: 3, total: 3 } });
  t.same(
    h.store
      .events(`task-${id}`)
      .filter((e) => e.type === "task.progress")
      .map((e) => (e.data as { done: number }).done),
    [1, 3],
    "the second came within a second of the first: only kept alive",
  );
});

t.test("malformed reports are dropped; audited on the task their subject names", async (t) => {
  const h = await setup(t);
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: "one", instance: "i1", status: "started" });
  t.match(refusals(h, id), [{ instance: "i1", status: "started", reason: /^malformed report: / }]);
  await h.rep.handle({ subject: `res.alpha.${id}`, json: () => JSON.parse("{not json") });
  t.ok(h.log.messages().includes("a worker report is not JSON; dropped"));
  await h.rep.handle({ subject: `res.alpha.other`, json: () => ({ taskId: id, attempt: 1, instance: "i1", status: "started" }) });
  t.ok(h.log.messages().includes("a worker report names another task than its subject; dropped"));
  await h.reportOn("alpha", { taskId: "ghost", attempt: 1, instance: "i1", status: "started" });
  t.ok(h.log.messages().includes("a worker reported on an unknown task; dropped"));
  t.equal(h.store.streams.has("task-ghost"), false, "nothing is written for a task that does not exist");
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.report_refused"]);
});

t.test("the RESULTS loop acks handled reports, naks the ones whose handling threw, keeps one task's order", async (t) => {
  const h = await setup(t);
  const a = await h.submitted();
  const b = await h.submitted();
  const running = h.rep.run(h.io.results);
  const r1 = report("alpha", { taskId: a, attempt: 1, instance: "i1", status: "started" });
  const r2 = report("alpha", { taskId: a, attempt: 1, instance: "i1", status: "completed", result: { ok: 1 } });
  h.io.results.push(r1);
  h.io.results.push(r2);
  await settle();
  t.ok(r1.state.acked && r2.state.acked);
  t.same(h.store.types(`task-${a}`), ["task.submitted", "task.started", "task.completed"], "in order: started, then completed");
  h.store.failNextAppends(1);
  const r3 = report("alpha", { taskId: b, attempt: 1, instance: "i1", status: "started" });
  h.io.results.push(r3);
  await settle();
  t.ok(r3.state.naked && !r3.state.acked, "the store was unavailable: redelivered later");
  t.same(h.store.types(`task-${b}`), ["task.submitted"]);
  h.io.results.stop();
  await running;
  t.ok(REPORT_CONCURRENCY > 1);
});

t.test("refusals are rate-limited per task and kind: one event and one cancel per window, the next one counting the rest", async (t) => {
  const h = await setup(t, { refusalWindowMs: 1000 });
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  const stale = (i: number) => h.reportOn("alpha", { taskId: id, attempt: 1, instance: `ghost${i}`, status: "progress", progress: { done: i, total: 100 } });
  for (let i = 0; i < 100; i++) await stale(i);
  t.equal(refusals(h, id).length, 1, "100 stale reports (each naming another instance): one event");
  t.equal(h.io.notified.length, 1, "and one cancel");
  await h.reportOn("beta", { taskId: id, attempt: 1, instance: "b1", status: "progress" });
  t.equal(refusals(h, id).length, 2, "another kind of refusal has its own window");
  await h.clock.advance(1001);
  await stale(100);
  t.match(refusals(h, id).at(-1), { instance: "ghost100", suppressed: 99 }, "after the window: recorded, with the count of those that were not");
  t.equal(h.io.notified.length, 3);
});

t.test("stale reports on ended tasks and on past attempts are refused from cached state, without a log read", async (t) => {
  const h = await setup(t, { refusalWindowMs: 0 });
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "completed", result: { ok: 1 } });
  const reads = h.store.reads();
  const events = h.store.events(`task-${id}`).length;
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "completed", result: { ok: 1 } });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "progress", progress: { done: 1, total: 2 } });
  t.equal(h.store.events(`task-${id}`).length, events, "the holder's duplicates: nothing appended");
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i9", status: "completed", result: { ok: 1 } });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i9", status: "progress" });
  await h.reportOn("beta", { taskId: id, attempt: 1, instance: "b1", status: "started" });
  t.match(refusals(h, id), [
    { instance: "i9", status: "completed", reason: /already completed/ },
    { instance: "i9", status: "progress", reason: /is completed/ },
    { instance: "b1", reason: "the task belongs to plugin alpha" },
  ]);
  t.equal(h.store.reads(), reads, "no task stream was read for any of them");

  // A past attempt of an open task: attempt 1 failed, attempt 2 is current.
  const open = await h.submitted();
  await h.reportOn("alpha", { taskId: open, attempt: 1, instance: "i1", status: "started" });
  await h.reportOn("alpha", { taskId: open, attempt: 1, instance: "i1", status: "failed", error: { message: "boom", retryable: true } });
  await h.clock.advance(60_000);
  await settle();
  t.equal(h.state.open.get(open)?.attempt, 2, "the second attempt is current");
  const reads2 = h.store.reads();
  await h.reportOn("alpha", { taskId: open, attempt: 1, instance: "i1", status: "progress" });
  t.match(refusals(h, open).at(-1), { reason: /attempt 1 of task .* is not current \(current: 2 or later\)/ });
  t.equal(h.store.reads(), reads2, "refused without reading the log");
});
