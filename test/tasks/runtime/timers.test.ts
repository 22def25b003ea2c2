import t from "tap";
import { TIMER_RETRY_MS, TIMER_SLACK_MS } from "../../../src/tasks/runtime/timers.js";
import { harness, installed, manifest } from "./fakes.js";
import { longTimeout } from "../../../src/tasks/runtime/clock.js";

const plugin = (spec: Record<string, unknown>) => installed(manifest("alpha", {}, spec));

t.test("schedule-to-start fires on the fake clock at its due time, not before", async (t) => {
  const h = await harness({ plugins: plugin({ scheduleToStart: "2s" }) });
  t.teardown(h.stop);
  const id = await h.submitted();
  t.equal(h.state.timers.size, 1, "one timer armed for the open task");
  await h.clock.advance(2000 + TIMER_SLACK_MS - 1);
  t.same(h.store.types(`task-${id}`), ["task.submitted"], "nothing before it is due");
  await h.clock.advance(1);
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.timed_out", "task.dead_lettered"], "not retried: a queue nobody serves will not get better");
  t.match(h.store.events(`task-${id}`)[1], {
    data: { kind: "schedule_to_start", at: new Date(h.clock.clock.now()).toISOString() },
    metadata: { actor: "system:tasks" },
  });
  t.notOk(h.state.open.has(id), "the ended task left the open set");
  t.equal(h.state.timers.size, 0, "and its timer with it");
  t.match(h.io.published("dlq.alpha."), [{ msgID: `${id}.dlq.1` }], "dead-lettered on DEADLETTERS");
});

t.test("start-to-close counts from the last keep-alive, which only this core's memory holds", async (t) => {
  const h = await harness({ plugins: plugin({ timeout: "1s", retry: { maxAttempts: 2, backoff: ["3s"] } }) });
  t.teardown(h.stop);
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  t.equal(h.state.open.get(id)?.status, "running");
  await h.clock.advance(800);
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "progress" }); // a keep-alive: not appended
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.started"]);
  await h.clock.advance(400); // the first timer fires at 1 s: re-armed, not due
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.started"], "the keep-alive pushed start-to-close out");
  await h.clock.advance(599); // due at 800 + 1000 (+ the slack)
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.started"]);
  await h.clock.advance(TIMER_SLACK_MS + 1);
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.started", "task.timed_out", "task.retry_scheduled"]);
  t.match(
    h.io.notified,
    [{ subject: "ctl.alpha", payload: { type: "cancel", taskId: id, attempt: 1, reason: "timed out (start_to_close)" } }],
    "the holder is told to stop",
  );
  t.same(h.io.deleted, [{ stream: "TASKS_alpha", seq: 1 }], "and its message is taken back");

  // The retry delay is a timer too: the next attempt is dispatched (and queued) when it is due.
  t.equal(h.state.open.get(id)?.status, "retry_wait");
  await h.clock.advance(3000 - 1);
  t.equal(h.io.published("task.alpha.").length, 1, "attempt 2 not queued before its delay");
  await h.clock.advance(TIMER_SLACK_MS + 1);
  t.same(h.store.types(`task-${id}`).slice(-1), ["task.dispatched"]);
  t.match(h.io.published("task.alpha."), [{ msgID: `${id}.1` }, { msgID: `${id}.2`, headers: { "Ganglion-Attempt": "2" } }]);
});

t.test("a timer whose command fails is tried again on the clock", async (t) => {
  const h = await harness({ plugins: plugin({ scheduleToStart: "1s" }) });
  t.teardown(h.stop);
  const id = await h.submitted();
  h.store.failNextAppends(1);
  await h.clock.advance(1000 + TIMER_SLACK_MS);
  t.same(h.store.types(`task-${id}`), ["task.submitted"], "the store refused the append");
  t.ok(h.log.messages().includes("timer action failed; retrying shortly"));
  await h.clock.advance(TIMER_RETRY_MS);
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.timed_out", "task.dead_lettered"]);
});

t.test("a stopped runtime arms nothing; disarmAll cancels what was armed", async (t) => {
  const h = await harness({ plugins: plugin({ scheduleToStart: "1s" }) });
  t.teardown(h.stop);
  const id = await h.submitted();
  t.equal(h.clock.pending() > 0, true);
  h.tm.disarmAll();
  t.equal(h.state.timers.size, 0);
  await h.clock.advance(5000);
  t.same(h.store.types(`task-${id}`), ["task.submitted"], "a cancelled timer never fires");
  h.state.stopped = true;
  h.tm.arm(h.state.open.get(id)!);
  t.equal(h.state.timers.size, 0, "nothing armed once stopped");
});

t.test("a fired timer that no longer applies (another core moved the task on) changes nothing", async (t) => {
  const h = await harness({ plugins: plugin({ scheduleToStart: "1s" }) });
  t.teardown(h.stop);
  const id = await h.submitted();
  const stale = h.state.open.get(id)!;
  h.tm.disarm(id);
  await h.clock.advance(2000);
  // Another core started the attempt; this core's fold and its cache have not seen it when the timer fires.
  await h.store.race(`task-${id}`, { type: "task.started", data: { taskId: id, attempt: 1, instance: "elsewhere", delivery: 1, at: h.clock.iso() } });
  h.state.open.set(id, stale);
  t.equal(h.state.decided.get(id)?.revision, 0n, "the cache still holds the submitted state");
  await h.tm.fire(id);
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.started"], "the append on the cached state lost, the fresh state says not due");
  t.ok(h.log.lines.some((l) => l.msg === "timer no longer applies"));
});

t.test("a timer that fires before its due time (Node caps delays at ~24.8 days) is armed again, not dropped", async (t) => {
  const h = await harness({ plugins: plugin({ scheduleToStart: "40d" }) });
  t.teardown(h.stop);
  const id = await h.submitted();
  // As a capped setTimeout would: the timer fires 24.8 days in, 15 days early.
  await h.clock.advance(2 ** 31 - 1);
  await h.tm.fire(id);
  t.same(h.store.types(`task-${id}`), ["task.submitted"], "not timed out early");
  t.equal(h.state.timers.size, 1, "and armed again for the rest");
  await h.clock.advance(40 * 86_400_000 - (2 ** 31 - 1) + TIMER_SLACK_MS);
  t.same(h.store.types(`task-${id}`), ["task.submitted", "task.timed_out", "task.dead_lettered"], "then fires when due");
});

t.test("the real clock waits out delays over its setTimeout cap in legs", async (t) => {
  const after = longTimeout(30);
  const started = Date.now();
  const fired = await new Promise<number>((r) => after(100, () => r(Date.now())));
  t.ok(fired - started >= 100, `not before the delay (${fired - started} ms; legs of 30 ms)`);
  let called = false;
  const cancel = after(100, () => (called = true));
  await new Promise((r) => setTimeout(r, 50)); // into the second leg
  cancel();
  await new Promise((r) => setTimeout(r, 150));
  t.notOk(called, "a cancel in a later leg holds");
});
