import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { api } from "../../../src/tasks/runtime/api.js";
import { harness, installed, manifest, settle } from "./fakes.js";

const plugins = installed(manifest("alpha", {}, { scheduleToStart: "5s" }));

t.test("the task fold keeps the open tasks only, and drops what it kept about one that ended", async (t) => {
  const h = await harness({ plugins });
  t.teardown(h.stop);
  const id = await h.submitted();
  t.match(h.state.open.get(id), { status: "scheduled", attempt: 1 });
  t.ok(h.state.timers.has(id));
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "progress" });
  t.ok(h.state.lastActive.has(id));
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "completed", result: { ok: 1 } });
  t.notOk(h.state.open.has(id));
  t.notOk(h.state.timers.has(id) || h.state.lastActive.has(id) || h.state.queued.has(id), "timer, keep-alive and queued message forgotten");
  // Whichever of the fold and the commit's effects ran first, the message is left to the sweep.
  t.same([...(h.state.retiring.get("alpha") ?? [])], [1], "the finished attempt's message is handed to the sweep");
  t.ok(h.state.decided.has(id), "the handler's cache ages out on its own");
});

t.test("a task the fold dropped comes back from the log (a manual retry of a dead letter)", async (t) => {
  const h = await harness({ plugins });
  t.teardown(h.stop);
  const id = await h.submitted();
  await h.clock.advance(6000); // schedule-to-start: dead-lettered
  t.notOk(h.state.open.has(id));
  h.state.decided.clear();
  // Another core resubmits it: this core's fold reads the stream to know the task again.
  await h.store.race(`task-${id}`, { type: "task.resubmitted", data: { taskId: id, attempt: 2, maxAttempts: 1, at: h.clock.iso() } });
  await settle();
  t.match(h.state.open.get(id), { status: "scheduled", attempt: 2, maxAttempt: 2 });
  t.ok(h.state.timers.has(id), "and armed its timer");
  // An audit on an unknown task is not a reason to load it.
  await h.store.race("task-elsewhere", {
    type: "task.report_refused",
    data: { taskId: "elsewhere", attempt: 1, instance: "x", pluginId: "alpha", status: "started", reason: "r", at: "" },
  });
  await settle();
  t.notOk(h.state.open.has("elsewhere"));
});

t.test("get with a wait is woken by the fold when the task ends, else answers after the wait (on the clock)", async (t) => {
  const h = await harness({ plugins });
  t.teardown(h.stop);
  const a = api(h.ctx, { execute: h.cmds.execute, load: h.cmds.load, consumers: h.cons });
  const id = await h.submitted();
  let answer: unknown;
  const waiting = a.get(id, 60_000).then((r) => (answer = r));
  await settle();
  t.equal(answer, undefined);
  t.equal(h.state.waiters.get(id)?.size, 1);
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "completed", result: { ok: 1 } });
  await waiting;
  t.match(answer, E.right({ status: "completed", result: { ok: 1 } }));
  t.notOk(h.state.waiters.has(id));

  const other = await h.submitted();
  const slow = a.get(other, 1000);
  await h.clock.advance(1000);
  t.match(await slow, E.right({ status: "scheduled" }), "the wait ran out on the runtime's clock");
  t.match(await a.get("-bad"), E.left({ code: "InvalidRequest", paths: ["taskId"] }));
  t.match(await a.get("nothere"), E.left({ code: "NotFound", message: "no task nothere" }));
  t.match(await a.cancel(other, "enough", "operator:ann"), E.right({ status: "cancelled", cancelReason: "enough" }));
  t.match(await a.retry(other, "operator:ann"), E.left({ code: "NotDeadLettered" }));
  t.match(await a.cancel(other, "again", "operator:ann"), E.left({ code: "AlreadyEnded", details: { status: "cancelled" } }));
});

t.test("plugin events change the directory and, once live, the consumers", async (t) => {
  const h = await harness({ plugins: [] });
  t.teardown(h.stop);
  const m = manifest("gamma");
  for (const e of installed(m)) await h.store.store.appendToStream("plugin-gamma", [e]);
  await settle();
  t.match(h.state.providers.get("gamma"), { status: "active", version: "1.0.0" });
  t.ok(h.io.consumers.has("TASKS_gamma/task_gamma_work_ddo"), "a newly approved plugin gets its consumer");
  await h.store.store.appendToStream("plugin-gamma", [{ type: "plugin.removed", data: { pluginId: "gamma" } }]);
  await settle();
  t.notOk(h.state.providers.has("gamma"));
});
