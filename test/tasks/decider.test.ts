import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { decide, dueTimer, evolve, fold, initialState } from "../../src/tasks/decider.js";
import type { TaskCommand, TaskState } from "../../src/tasks/decider.js";
import type { TaskEvent } from "../../src/events/task.js";

const T0 = "2026-01-01T00:00:00.000Z";
const at = (ms: number) => new Date(Date.parse(T0) + ms).toISOString();

const submit: TaskCommand = {
  type: "submit",
  taskId: "t1",
  pluginId: "p",
  pluginVersion: "1.0.0",
  taskType: "x.do",
  params: { n: 1 },
  retry: { maxAttempts: 2, backoffMs: [100] },
  timeouts: { startToCloseMs: 1000, scheduleToStartMs: 500, deadlineMs: 10_000 },
  at: T0,
};

/** Runs commands in order, each against the state folded so far; returns all events. */
const run = (cmds: TaskCommand[]): { events: TaskEvent[]; state: TaskState; last: E.Either<unknown, TaskEvent[]> } => {
  let state = initialState();
  const events: TaskEvent[] = [];
  let last: E.Either<unknown, TaskEvent[]> = E.right([]);
  for (const c of cmds) {
    last = decide(c, state);
    if (E.isRight(last)) {
      events.push(...last.right);
      state = last.right.reduce(evolve, state);
    }
  }
  return { events, state, last };
};
const types = (es: TaskEvent[]) => es.map((e) => e.type);
const start = (attempt: number, instance: string, ms = 10): TaskCommand => ({ type: "start", attempt, instance, delivery: 1, at: at(ms) });

t.test("a task completes exactly once: a second result is refused", async (t) => {
  const r = run([submit, start(1, "a"), { type: "complete", attempt: 1, instance: "a", result: 1, at: at(20) }]);
  t.same(types(r.events), ["task.submitted", "task.started", "task.completed"]);
  const again = decide({ type: "complete", attempt: 1, instance: "a", result: 2, at: at(30) }, r.state);
  t.match(again, E.left({ _tag: "AlreadyEnded" }));
});

t.test("a final report that starts its attempt: the start and the end are one decision", async (t) => {
  const done: TaskCommand = { type: "complete", attempt: 1, instance: "a", result: 1, at: at(20), startsAttempt: { delivery: 2 } };
  const r = run([submit, done]);
  t.same(types(r.events), ["task.submitted", "task.started", "task.completed"]);
  t.match(r.events[1], { type: "task.started", data: { attempt: 1, instance: "a", delivery: 2, at: at(20) } });
  t.equal(r.state.status, "completed");
  // A failure too: started, failed, and what the policy says next, together.
  const failed = run([submit, { type: "fail", attempt: 1, instance: "a", error: { message: "boom" }, at: at(20), startsAttempt: { delivery: 1 } }]);
  t.same(types(failed.events), ["task.submitted", "task.started", "task.failed", "task.retry_scheduled"]);
  // Already started by the same instance (its `started` came first): only the end.
  t.same(types(run([submit, start(1, "a"), done]).events), ["task.submitted", "task.started", "task.completed"]);
  // Started by another instance (a redelivery): the late holder's end is refused, nothing started.
  t.match(run([submit, start(1, "b"), done]).last, E.left({ _tag: "NotHeld" }));
  // Not the current attempt, or the task ended: refused as a plain end would be.
  t.match(run([submit, { ...done, attempt: 2 }]).last, E.left({ _tag: "NotHeld" }));
  t.match(run([submit, { type: "cancel", at: at(5) }, done]).last, E.left({ _tag: "AlreadyEnded" }));
});

t.test("after a redelivery only the new holder may report", async (t) => {
  const r = run([submit, start(1, "a"), start(1, "b", 50)]);
  t.equal(r.state.status === "running" && r.state.instance, "b");
  t.match(decide({ type: "complete", attempt: 1, instance: "a", result: 1, at: at(60) }, r.state), E.left({ _tag: "NotHeld" }));
  t.match(decide({ type: "progress", attempt: 1, instance: "a", done: 1, total: 2, at: at(60) }, r.state), E.left({ _tag: "NotHeld" }));
  t.ok(E.isRight(decide({ type: "complete", attempt: 1, instance: "b", result: 1, at: at(60) }, r.state)));
});

t.test("failure retries per policy, then dead-letters with the whole chain", async (t) => {
  const r = run([submit, start(1, "a"), { type: "fail", attempt: 1, instance: "a", error: { message: "boom" }, at: at(20) }]);
  t.same(types(r.events).slice(-2), ["task.failed", "task.retry_scheduled"]);
  t.same(dueTimer(r.state), { at: at(120), kind: "dispatch" });
  const r2 = run([
    submit,
    start(1, "a"),
    { type: "fail", attempt: 1, instance: "a", error: { message: "boom" }, at: at(20) },
    { type: "dispatch", at: at(120) },
    start(2, "b", 130),
    { type: "fail", attempt: 2, instance: "b", error: { message: "bang" }, at: at(140) },
  ]);
  t.same(types(r2.events).slice(-2), ["task.failed", "task.dead_lettered"]);
  const dl = r2.events.at(-1)!;
  t.ok(dl.type === "task.dead_lettered" && dl.data.failures.map((f) => f.error.message).join(",") === "boom,bang");
  // a manual retry gives a fresh budget
  const re = decide({ type: "resubmit", at: at(200) }, r2.state);
  t.ok(E.isRight(re));
  const s = fold([...r2.events, ...(E.isRight(re) ? re.right : [])]);
  t.match(s, { status: "scheduled", attempt: 3, maxAttempt: 4 });
});

t.test("a non-retryable failure dead-letters at once", async (t) => {
  const r = run([submit, start(1, "a"), { type: "fail", attempt: 1, instance: "a", error: { message: "no", retryable: false }, at: at(20) }]);
  t.same(types(r.events).slice(-1), ["task.dead_lettered"]);
});

t.test("timers: schedule-to-start, start-to-close kept alive by progress, deadline", async (t) => {
  const s0 = run([submit]).state;
  t.same(dueTimer(s0), { at: at(500), kind: "schedule_to_start" });
  t.match(decide({ type: "timeout", kind: "schedule_to_start", attempt: 1, at: at(400) }, s0), E.left({ _tag: "NotApplicable" }));
  const sts = run([submit, { type: "timeout", kind: "schedule_to_start", attempt: 1, at: at(500) }]);
  t.same(types(sts.events), ["task.submitted", "task.timed_out", "task.dead_lettered"], "schedule-to-start is not retried");

  const running = run([submit, start(1, "a", 100), { type: "progress", attempt: 1, instance: "a", done: 1, total: 3, at: at(900) }]);
  t.same(dueTimer(running.state), { at: at(1900), kind: "start_to_close" }, "progress restarts start-to-close");
  const stc = run([submit, start(1, "a", 100), { type: "timeout", kind: "start_to_close", attempt: 1, at: at(1100) }]);
  t.same(types(stc.events).slice(-2), ["task.timed_out", "task.retry_scheduled"], "start-to-close is retried");

  const late = { ...submit, timeouts: { startToCloseMs: 60_000, deadlineMs: 2000 } };
  const dl = run([late, start(1, "a", 100), { type: "timeout", kind: "deadline", attempt: 1, at: at(2000) }]);
  t.same(types(dl.events).slice(-2), ["task.timed_out", "task.dead_lettered"]);
});

t.test("cancel ends an open task once; the holder is named", async (t) => {
  const r = run([submit, start(1, "a"), { type: "cancel", reason: "operator", at: at(30) }]);
  const c = r.events.at(-1)!;
  t.match(c, { type: "task.cancelled", data: { instance: "a", attempt: 1 } });
  t.match(decide({ type: "cancel", at: at(40) }, r.state), E.left({ _tag: "AlreadyEnded" }));
  t.match(decide({ type: "start", attempt: 1, instance: "b", delivery: 2, at: at(40) }, r.state), E.left({ _tag: "NotHeld" }));
});

t.test("a stale attempt cannot start after a retry was dispatched", async (t) => {
  const r = run([submit, start(1, "a"), { type: "timeout", kind: "start_to_close", attempt: 1, at: at(1010) }, { type: "dispatch", at: at(1110) }]);
  t.match(r.state, { status: "scheduled", attempt: 2 });
  t.match(decide(start(1, "a", 1200), r.state), E.left({ _tag: "NotHeld" }));
});

t.test("a deadline reached while waiting for a retry dead-letters without a new failure; a retry past the deadline is not scheduled", async (t) => {
  const slow = { ...submit, retry: { maxAttempts: 3, backoffMs: [5000] }, timeouts: { startToCloseMs: 1000, deadlineMs: 3000 } };
  const r = run([slow, start(1, "a"), { type: "fail", attempt: 1, instance: "a", error: { message: "x" }, at: at(100) }]);
  t.same(types(r.events).slice(-2), ["task.failed", "task.dead_lettered"], "a 5 s backoff cannot fit a 3 s deadline");
  const fits = { ...slow, retry: { maxAttempts: 3, backoffMs: [2000] } };
  const w = run([fits, start(1, "a"), { type: "fail", attempt: 1, instance: "a", error: { message: "x" }, at: at(100) }]);
  t.match(w.state, { status: "retry_wait" });
  t.same(dueTimer(w.state), { at: at(2100), kind: "dispatch" });
  const dl = run([
    fits,
    start(1, "a"),
    { type: "fail", attempt: 1, instance: "a", error: { message: "x" }, at: at(100) },
    { type: "timeout", kind: "deadline", attempt: 1, at: at(3000) },
  ]);
  t.match(dl.last, E.left({ _tag: "NotApplicable" }), "the dispatch is due first");
  t.match(decide({ type: "dispatch", at: at(10) }, run([submit]).state), E.left({ _tag: "NotApplicable" }));
  t.match(decide({ type: "resubmit", at: at(10) }, run([submit]).state), E.left({ _tag: "NotApplicable" }));
  t.match(decide({ type: "start", attempt: 1, instance: "a", delivery: 1, at: T0 }, initialState()), E.left({ _tag: "NotFound" }));
  t.match(decide(submit, run([submit]).state), E.left({ _tag: "AlreadyExists" }));
});

t.test("an attempt lost to a dead instance is not charged: the next goes out at once and the budget grows", async (t) => {
  const lost = (attempt: number, ms: number): TaskCommand => ({
    type: "fail",
    attempt,
    at: at(ms),
    error: { message: "worker instance a went silent", kind: "lost" },
  });
  const dispatch = (ms: number): TaskCommand => ({ type: "dispatch", at: at(ms) });
  // maxAttempts 2: three lost attempts go free, then a lost one counts like any failure.
  const r = run([
    submit,
    start(1, "a", 10),
    lost(1, 20),
    dispatch(20),
    start(2, "b", 30),
    lost(2, 40),
    dispatch(40),
    start(3, "c", 50),
    lost(3, 60),
    dispatch(60),
    start(4, "d", 70),
  ]);
  const retries = r.events.filter((e) => e.type === "task.retry_scheduled");
  t.same(
    retries.map((e) => e.type === "task.retry_scheduled" && [e.data.attempt, e.data.delayMs, e.data.uncharged]),
    [
      [2, 0, true],
      [3, 0, true],
      [4, 0, true],
    ],
    "no backoff, not charged",
  );
  t.match(r.state, { status: "running", attempt: 4, maxAttempt: 5 }, "the budget grew by one per lost attempt");
  // The fourth lost attempt is charged (poison pill bound): one attempt is left of the policy's 2.
  const r2 = run([
    ...[
      submit,
      start(1, "a", 10),
      lost(1, 20),
      dispatch(20),
      start(2, "b", 30),
      lost(2, 40),
      dispatch(40),
      start(3, "c", 50),
      lost(3, 60),
      dispatch(60),
      start(4, "d", 70),
    ],
    lost(4, 80),
  ]);
  t.match(r2.events.at(-1), { type: "task.retry_scheduled", data: { attempt: 5, delayMs: 100 } });
  const last = r2.events.at(-1);
  t.notOk(last?.type === "task.retry_scheduled" && last.data.uncharged, "charged");
  const r3 = run([submit, start(1, "a", 10), { type: "fail", attempt: 1, instance: "a", at: at(20), error: { message: "boom", kind: "handler" } }]);
  t.match(r3.events.at(-1), { type: "task.retry_scheduled", data: { delayMs: 100 } }, "a handler failure is charged as before");
  t.match(r3.state, { status: "retry_wait", maxAttempt: 2 });
});
