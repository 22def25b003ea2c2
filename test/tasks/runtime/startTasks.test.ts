/**
 * `startTasks` wired over the fakes (no server): the parts start in order, talk to each other
 * through the state, and stop cleanly. The same paths run against a real server in test/tasks/*.int.
 */
import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { startTasks } from "../../../src/tasks/runtime/index.js";
import type { Inbound } from "../../../src/tasks/runtime/ports.js";
import { fakeClock, fakeIO, installed, manifest, memoryStore, recordingLog, report, settle } from "./fakes.js";

/** Account public keys as the server writes them in `Nats-Request-Info`. */
const ACCOUNT = { alpha: `A${"B".repeat(55)}`, mallory: `A${"C".repeat(55)}` };

const boot = async (t: { teardown: (f: () => unknown) => void }, before?: (s: ReturnType<typeof memoryStore>) => Promise<void>) => {
  const clock = fakeClock();
  const store = memoryStore();
  const io = fakeIO();
  const rec = recordingLog();
  for (const e of installed(manifest("alpha", { limits: { concurrency: 6 } }))) await store.store.appendToStream("plugin-alpha", [e]);
  await before?.(store);
  const disabled: string[] = [];
  const tasks = await startTasks({
    nc: {} as never,
    log: rec.log,
    store: store.store,
    io: io.io,
    clock: clock.clock,
    disablePlugin: async (id) => void disabled.push(id),
    taskStream: (id) => ({ name: `TASKS_${id}`, subjects: [`task.${id}.>`] }),
    pluginAccount: (id) => (id === "alpha" ? ACCOUNT.alpha : ACCOUNT.mallory),
  });
  t.teardown(() => tasks.stop());
  await settle();
  return { clock, store, io, rec, tasks, disabled };
};

const request = (subject: string, body: string, account?: string) => {
  const answers: unknown[] = [];
  const m: Inbound = {
    subject,
    reply: "_R_.abc.def",
    ...(account ? { headers: { get: (k: string) => (k === "Nats-Request-Info" ? JSON.stringify({ acc: account }) : "") } } : {}),
    data: new TextEncoder().encode(body),
    json: () => JSON.parse(body),
    respond: (s) => (answers.push(JSON.parse(s)), true),
  };
  return { m, answers };
};

t.test("starts in order: consumers for the plugins in the log, RESULTS, then serves", async (t) => {
  const { io, tasks, rec } = await boot(t);
  t.match(io.consumers.get("TASKS_alpha/task_alpha_work_ddo"), { max_ack_pending: 6 });
  t.match(io.consumers.get("RESULTS/core-results"), { filter_subject: "res.>", ack_wait: 5_000_000_000 });
  t.ok(rec.messages().includes("tasks runtime started"));
  t.match(tasks.limits("alpha"), E.right({ concurrency: 6, source: { concurrency: "manifest" } }));
});

t.test("a task end to end: submitted, queued, reported on RESULTS, completed, and a waiting get answered", async (t) => {
  const { io, tasks } = await boot(t);
  const sub = await tasks.submit({ taskType: "work.do", params: { n: 2 } }, { actor: "operator:ann" });
  t.ok(E.isRight(sub));
  const taskId = E.isRight(sub) ? sub.right.taskId : "";
  t.match(io.published("task.alpha.work.do"), [{ msgID: `${taskId}.1` }]);
  const waiting = tasks.get(taskId, 30_000);
  const started = report("alpha", { taskId, attempt: 1, instance: "i1", status: "started" });
  const done = report("alpha", { taskId, attempt: 1, instance: "i1", status: "completed", result: { ok: true } });
  io.results.push(started);
  io.results.push(done);
  await settle();
  t.ok(started.state.acked && done.state.acked);
  t.match(await waiting, E.right({ taskId, status: "completed", result: { ok: true }, attempt: 1 }));
});

t.test("a scheduled attempt a previous core never published is queued at start", async (t) => {
  const { io } = await boot(t, async (store) => {
    await store.store.appendToStream("task-old1", [
      {
        type: "task.submitted",
        data: {
          taskId: "old1",
          pluginId: "alpha",
          pluginVersion: "1.0.0",
          taskType: "work.do",
          params: { n: 1 },
          retry: { maxAttempts: 1, backoffMs: [] },
          timeouts: { startToCloseMs: 1000 },
          at: new Date(0).toISOString(),
        },
      },
    ]);
  });
  io.streams.set("TASKS_alpha", { name: "TASKS_alpha" });
  await settle();
  t.match(io.published("task.alpha."), [{ msgID: "old1.1" }]);
});

t.test("plugin submissions: served when the request info names the subject's plugin, else left unanswered", async (t) => {
  const { io } = await boot(t);
  const ok = request("submit.alpha.work.do", JSON.stringify({ params: { n: 1 } }), ACCOUNT.alpha);
  io.deliver("submit.*.>", ok.m);
  await settle();
  t.match(ok.answers, [{ ok: true, result: { pluginId: "alpha" } }]);
  const forged = request("submit.alpha.work.do", JSON.stringify({ params: { n: 1 } }), ACCOUNT.mallory);
  io.deliver("submit.*.>", forged.m);
  await settle();
  t.same(forged.answers, [], "another account's request is not answered at all");
  const bad = request("submit.alpha.work.do", "{", ACCOUNT.alpha);
  io.deliver("submit.*.>", bad.m);
  await settle();
  t.match(bad.answers, [{ ok: false, error: { code: "InvalidRequest", message: "the request is not JSON" } }]);
  const invalid = request("submit.alpha.work.do", JSON.stringify({ params: { n: "x" } }), ACCOUNT.alpha);
  io.deliver("submit.*.>", invalid.m);
  await settle();
  t.match(invalid.answers, [{ ok: false, error: { code: "InvalidParams", paths: ["params/n"] } }]);
  // Bounded before parsing, as the core's service: a 100,000-deep array, and a body over 2 MiB.
  const deep = request("submit.alpha.work.do", `{"params":${"[".repeat(100_000)}${"]".repeat(100_000)}}`, ACCOUNT.alpha);
  io.deliver("submit.*.>", deep.m);
  await settle();
  t.match(deep.answers, [{ ok: false, error: { code: "InvalidRequest", message: /nests more than 64 levels/, paths: ["$"] } }]);
  const huge = request("submit.alpha.work.do", JSON.stringify({ params: { s: "x".repeat(3 * 1024 * 1024) } }), ACCOUNT.alpha);
  io.deliver("submit.*.>", huge.m);
  await settle();
  t.match(huge.answers, [{ ok: false, error: { code: "InvalidRequest", message: /the limit is 2097152/ } }]);
});

t.test("a heartbeat over 4 KiB is dropped unread", async (t) => {
  const { io, store } = await boot(t);
  const body = JSON.stringify({ instance: "i1", version: "1.0.0", inFlight: 0, pad: "x".repeat(5000) });
  io.deliver("hb.*.*", {
    subject: "hb.alpha.i1",
    data: new TextEncoder().encode(body),
    json: () => t.fail("parsed") ?? JSON.parse(body),
    respond: () => true,
  });
  await settle();
  t.equal(store.types("worker-alpha").length, 0, "no worker.online");
});

t.test("heartbeats reach liveness; the sweeper runs on the clock; stop ends everything", async (t) => {
  const { io, store, clock, tasks } = await boot(t);
  io.deliver("hb.*.*", { subject: "hb.alpha.i1", json: () => ({ instance: "i1", version: "1.0.0", inFlight: 0 }), respond: () => true });
  await settle();
  t.same(store.types("worker-alpha"), ["worker.online"]);
  await clock.advance(20_000); // swept every 5 s: silent for more than 15 s at the fourth sweep
  t.same(store.types("worker-alpha"), ["worker.online", "worker.offline"], "silent past the default 15 s");
  await tasks.stop();
  t.equal(clock.pending(), 0, "no timer left behind");
  io.deliver("hb.*.*", { subject: "hb.alpha.i2", json: () => ({ instance: "i2", version: "1.0.0", inFlight: 0 }), respond: () => true });
  await settle();
  t.same(store.types("worker-alpha"), ["worker.online", "worker.offline"], "unsubscribed");
});
