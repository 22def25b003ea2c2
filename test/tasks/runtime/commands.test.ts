import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import type { TaskCommand } from "../../../src/tasks/decider.js";
import { taskCommands, workerCommands } from "../../../src/tasks/runtime/commands.js";
import { decidedCache } from "../../../src/tasks/runtime/state.js";
import { T0, testCtx } from "./fakes.js";

const at = new Date(T0).toISOString();
const submit = (taskId: string): TaskCommand => ({
  type: "submit",
  taskId,
  pluginId: "alpha",
  pluginVersion: "1.0.0",
  taskType: "work.do",
  params: {},
  retry: { maxAttempts: 1, backoffMs: [] },
  timeouts: { startToCloseMs: 1000 },
  at,
});

const setup = () => {
  const h = testCtx();
  const effects: string[][] = [];
  const cmds = taskCommands(h.ctx, async (_b, events) => void effects.push(events.map((e) => e.type)));
  return { ...h, cmds, effects };
};

t.test("the cache: a task this core just appended needs no read; a stale entry costs one failed append", async (t) => {
  const h = setup();
  await h.cmds.execute("a", submit("a"), "operator:ann");
  t.same(h.effects, [["task.submitted"]], "effects follow the append");
  const reads = h.store.reads();
  t.match(
    await h.cmds.execute("a", { type: "start", attempt: 1, instance: "i1", delivery: 1, at }, "plugin:alpha"),
    E.right({ events: [{ type: "task.started" }] }),
  );
  t.equal(h.store.reads(), reads, "decided on the cached state: no read");
  await h.store.race("task-a", { type: "task.progress", data: { taskId: "a", attempt: 1, done: 1, total: 2, at } }); // another core
  t.match(
    await h.cmds.execute("a", { type: "complete", attempt: 1, instance: "i1", result: {}, at }, "plugin:alpha"),
    E.right({ before: { progress: { done: 1 } }, state: { status: "completed" } }),
  );
  t.equal(h.store.reads(), reads + 1, "the stale entry lost its append; one fresh read");
  t.same(h.store.types("task-a"), ["task.submitted", "task.started", "task.progress", "task.completed"]);
});

t.test("a rejection is only answered after a fresh read", async (t) => {
  const h = setup();
  await h.cmds.execute("b", submit("b"), "operator:ann");
  await h.store.race("task-b", { type: "task.started", data: { taskId: "b", attempt: 1, instance: "i2", delivery: 1, at } });
  // The cache says scheduled; a progress of i2 is NotHeld there, but i2 holds it in the log.
  const reads = h.store.reads();
  const r = await h.cmds.execute("b", { type: "progress", attempt: 1, instance: "i2", done: 1, total: 1, at }, "plugin:alpha");
  t.match(r, E.right({ events: [{ type: "task.progress" }] }));
  t.equal(h.store.reads(), reads + 1);
  const no = await h.cmds.execute("b", { type: "progress", attempt: 1, instance: "i9", done: 1, total: 1, at }, "plugin:alpha");
  t.match(no, E.left({ _tag: "NotHeld" }));
  t.equal(h.store.reads(), reads + 2, "a rejection on the cached state was checked on the log before it was answered");
});

t.test("metadata: actor, the clock's time, the correlation id", async (t) => {
  const h = setup();
  await h.clock.advance(1234);
  await h.cmds.execute("c", submit("c"), "operator:ann", "corr-9");
  t.same(h.store.events("task-c")[0]!.metadata, { actor: "operator:ann", time: new Date(T0 + 1234).toISOString(), correlationId: "corr-9" });
});

t.test("the cache is bounded, least recently set first out", async (t) => {
  const { state } = testCtx();
  const c = decidedCache(state, 2);
  const l = { state: { status: "absent" } as const, revision: "no_stream" as const };
  c.set("x", l);
  c.set("y", l);
  c.set("x", l);
  c.set("z", l);
  t.same([...state.decided.keys()], ["x", "z"]);
  c.drop("x");
  t.same([...state.decided.keys()], ["z"]);
});

t.test("worker commands: true only on a transition", async (t) => {
  const h = testCtx();
  const { executeWorker } = workerCommands(h.ctx);
  const hb = { type: "heartbeat", pluginId: "alpha", instance: "i1", version: "1", at } as const;
  t.equal(await executeWorker(hb), true);
  t.equal(await executeWorker(hb), false, "already online: nothing appended");
  t.equal(await executeWorker({ type: "lost", pluginId: "alpha", instance: "i1", reason: "silent", at }), true);
  t.equal(await executeWorker({ type: "lost", pluginId: "alpha", instance: "i1", reason: "silent", at }), false);
  t.same(h.store.types("worker-alpha"), ["worker.online", "worker.offline"]);
  t.match(h.store.events("worker-alpha")[0], { metadata: { actor: "system:health" } });
});
