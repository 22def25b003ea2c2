import t from "tap";
import { COUNTED } from "../../../src/tasks/runtime/health.js";
import type { TaskEvent } from "../../../src/events/task.js";
import type { Task } from "../../../src/tasks/decider.js";
import { health, outcomeOf } from "../../../src/tasks/runtime/health.js";
import { harness, installed, manifest, settle, testCtx } from "./fakes.js";

const policy = { health: { maxConsecutiveFailures: 3, failureRatio: 0.5, window: "10s" } };
const task = { taskId: "t1", pluginId: "alpha" } as Task;
const failed: TaskEvent = { type: "task.failed", data: { taskId: "t1", attempt: 1, error: { message: "x", kind: "handler" }, at: "" } };
const lost: TaskEvent = { type: "task.failed", data: { taskId: "t1", attempt: 1, error: { message: "x", kind: "lost" }, at: "" } };
const completed: TaskEvent = { type: "task.completed", data: { taskId: "t1", attempt: 1, instance: "i", result: {}, at: "" } };
const timedOut = (kind: "start_to_close" | "schedule_to_start" | "deadline"): TaskEvent => ({
  type: "task.timed_out",
  data: { taskId: "t1", attempt: 1, kind, at: "" },
});

t.test("which events are outcomes", async (t) => {
  t.equal(outcomeOf(completed), "ok");
  t.equal(outcomeOf(failed), "failed");
  t.equal(outcomeOf(lost), undefined, "a lost worker is its host's failure, not the plugin's");
  t.equal(outcomeOf(timedOut("start_to_close")), "failed");
  t.equal(outcomeOf(timedOut("schedule_to_start")), undefined, "nobody took it: not the plugin's code");
  t.equal(outcomeOf(timedOut("deadline")), undefined);
  t.equal(outcomeOf({ type: "task.started", data: { taskId: "t1", attempt: 1, instance: "i", delivery: 1, at: "" } }), undefined);
});

const monitor = (p: Record<string, unknown> = policy) => {
  const h = testCtx({ plugins: installed(manifest("alpha", p)) });
  const calls: { pluginId: string; reason: string }[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const m = health(h.ctx, async (pluginId, reason) => {
    calls.push({ pluginId, reason });
    await gate;
  });
  return { ...h, m, calls, release };
};

t.test("consecutive failures: disabled once, with the reason, while the disable is in flight", async (t) => {
  const { m, calls, release, state, log } = monitor();
  m.observe(task, failed);
  m.observe(task, timedOut("start_to_close"));
  t.equal(calls.length, 0, "two failures: still healthy");
  m.observe(task, failed);
  t.same(calls, [{ pluginId: "alpha", reason: `automatic: 3 consecutive task failures (limit 3) (${COUNTED})` }]);
  m.observe(task, failed);
  t.equal(calls.length, 1, "no second disable while the first runs");
  t.ok(state.disabling.has("alpha"));
  release();
  await settle();
  t.notOk(state.disabling.has("alpha"));
  t.ok(log.messages().includes("plugin disabled automatically"));
  t.equal(state.pending.size, 0, "the background work settled");
});

t.test("a success resets the run; a ratio needs enough outcomes in the window (on the runtime's clock)", async (t) => {
  const ratio = { health: { maxConsecutiveFailures: 3, failureRatio: 0.75, window: "10s" } };
  const { m, calls } = monitor(ratio);
  m.observe(task, failed);
  m.observe(task, failed);
  t.equal(calls.length, 0, "2 of 2 failed, but 2 outcomes are too few for a ratio");
  m.observe(task, completed);
  t.equal(calls.length, 0, "2 of 3: below the ratio");
  m.observe(task, failed);
  t.match(calls, [{ reason: "automatic: 3 of the last 4 tasks failed within 10s (ratio 0.75 >= 0.75)" }], "one failure in a row, but 3 of 4");

  const later = monitor(ratio);
  later.m.observe(task, failed);
  later.m.observe(task, failed);
  await later.clock.advance(11_000);
  later.m.observe(task, completed);
  later.m.observe(task, failed);
  later.m.observe(task, failed);
  t.equal(later.calls.length, 0, "2 of the last 3 within the window (4 of 5 counting those that left it)");
});

t.test("lost attempts and queue timeouts never count; an inactive plugin is never disabled again", async (t) => {
  const { m, calls, state } = monitor();
  for (let i = 0; i < 5; i++) m.observe(task, lost);
  for (let i = 0; i < 5; i++) m.observe(task, timedOut("schedule_to_start"));
  t.equal(calls.length, 0);
  t.notOk(state.health.has("alpha"), "nothing was even recorded");
  state.providers = new Map([["alpha", { ...state.providers.get("alpha")!, status: "disabled" }]]);
  for (let i = 0; i < 5; i++) m.observe(task, failed);
  t.equal(calls.length, 0);
  m.observe({ ...task, pluginId: "ghost" }, failed);
  t.equal(calls.length, 0, "an unknown plugin is not disabled");
});

t.test("re-enabling starts from a clean record; replayed outcomes never count", async (t) => {
  const h = await harness({ plugins: installed(manifest("alpha", policy)), live: false });
  t.teardown(h.stop);
  for (let i = 0; i < 3; i++) {
    const id = await h.submitted();
    await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
    await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "failed", error: { message: "no" } });
  }
  t.same(h.disabled, [], "the task log was still catching up: history is not a verdict");
  h.state.tasksLive = true;
  for (let i = 0; i < 2; i++) {
    const id = await h.submitted();
    await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
    await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "failed", error: { message: "no" } });
  }
  t.equal(h.state.health.get("alpha")?.consecutive, 2);
  await h.store.store.appendToStream("plugin-alpha", [{ type: "plugin.enabled", data: { pluginId: "alpha" } }]);
  await settle();
  t.notOk(h.state.health.has("alpha"), "plugin.enabled cleared the record");
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "failed", error: { message: "no" } });
  t.same(h.disabled, [], "one failure after the reset is no verdict");
});

t.test("what counts against a plugin's health: its own faults only", async (t) => {
  const { outcomeOf } = await import("../../../src/tasks/runtime/health.js");
  const failed = (error: { message: string; kind: string; retryable?: boolean }) =>
    ({ type: "task.failed" as const, data: { taskId: "t", attempt: 1, at: "x", error } }) as never;
  t.equal(outcomeOf(failed({ message: "boom", kind: "handler" })), "failed", "a handler error");
  t.equal(outcomeOf(failed({ message: "boom", kind: "handler", retryable: true })), "failed");
  t.equal(outcomeOf(failed({ message: "bad params", kind: "handler", retryable: false })), undefined, "input the worker refused");
  t.equal(outcomeOf(failed({ message: "gone", kind: "lost" })), undefined, "a dead instance");
  t.equal(outcomeOf(failed({ message: "schema", kind: "invalid_result", retryable: false })), "failed", "a result breaking its own schema");
  t.equal(outcomeOf({ type: "task.timed_out", data: { taskId: "t", attempt: 1, kind: "start_to_close", at: "x" } } as never), "failed");
  t.equal(outcomeOf({ type: "task.timed_out", data: { taskId: "t", attempt: 1, kind: "schedule_to_start", at: "x" } } as never), undefined);
});
