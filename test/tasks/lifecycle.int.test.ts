import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { createTestBus } from "../../src/testing/testBus.js";
import { deadLetterSubject, Streams, taskConsumer, tasksStream } from "../../src/contract/subjects.js";
import { DeadLetter } from "../../src/contract/wire.js";
import { fixtureManifest, spawnWorker, taskEventsOf } from "./support.js";
import type { WorkerProcess } from "./support.js";

const bus = await createTestBus();
t.teardown(bus.stop);

const submit = async (taskType: string, params: unknown, pluginId: string) => {
  const r = await bus.tasks.submit({ taskType, params, pluginId }, { actor: "operator:test" });
  if (E.isLeft(r)) throw new Error(`${r.left.code}: ${r.left.message}`);
  return r.right.taskId;
};
const view = async (id: string, waitMs: number) => {
  const v = await bus.tasks.get(id, waitMs);
  if (E.isLeft(v)) throw new Error(v.left.message);
  return v.right;
};
const types = async (id: string) => (await taskEventsOf(bus, id)).map((e) => e.type);

const { creds } = await bus.install(
  fixtureManifest("lifecycle", { retry: { maxAttempts: 3, backoff: ["50ms", "100ms"] }, timeout: "1500ms", health: { maxConsecutiveFailures: 100 } }),
);
const w: WorkerProcess = await spawnWorker(bus, { plugin: "lifecycle", creds, instance: "life-1" });
t.teardown(() => w.kill());

t.test("a failing task is retried per its policy, then dead-lettered with its failure chain; `retry` sends it again", async (t) => {
  const id = await submit("work.fail", {}, "lifecycle");
  const v = await view(id, 20_000);
  t.equal(v.status, "dead_lettered");
  t.same(
    v.failures.map((f) => f.error.message),
    ["failing attempt 1", "failing attempt 2", "failing attempt 3"],
  );
  t.same(await types(id), [
    "task.submitted",
    "task.started",
    "task.failed",
    "task.retry_scheduled",
    "task.dispatched",
    "task.started",
    "task.failed",
    "task.retry_scheduled",
    "task.dispatched",
    "task.started",
    "task.failed",
    "task.dead_lettered",
  ]);
  const jsm = await jetstreamManager(bus.nc);
  const letter = await jsm.streams.getMessage(Streams.DeadLetters, { last_by_subj: deadLetterSubject("lifecycle", id) });
  const d = DeadLetter.decode(letter?.json());
  t.ok(E.isRight(d) && d.right.failures.length === 3 && d.right.attempts === 3, "the dead letter holds the failure chain");

  const again = await bus.call("task.retry", { taskId: id });
  t.match(again, E.right({ status: "scheduled", attempt: 4 }));
  const v2 = await view(id, 20_000);
  t.equal(v2.status, "dead_lettered");
  t.equal(v2.failures.length, 6, "a fresh budget of three attempts ran");
  const letter2 = await jsm.streams.getMessage(Streams.DeadLetters, { last_by_subj: deadLetterSubject("lifecycle", id) });
  const d2 = DeadLetter.decode(letter2?.json());
  t.ok(E.isRight(d2) && d2.right.attempts === 6, "one dead letter per task: the latest");
  t.match(await bus.call("task.retry", { taskId: "unknown1" }), E.left({ code: "NotFound" }));
});

t.test("a non-retryable failure is dead-lettered after one attempt", async (t) => {
  const id = await submit("work.fail", { retryable: false }, "lifecycle");
  const v = await view(id, 20_000);
  t.equal(v.status, "dead_lettered");
  t.equal(v.failures.length, 1);
});

t.test("cancellation reaches the running handler as an abort signal", async (t) => {
  const id = await submit("work.wait", {}, "lifecycle");
  await w.waitFor((l) => l.event === "started" && l.taskId === id, "the start");
  const c = await bus.call("task.cancel", { taskId: id, reason: "changed my mind" });
  t.match(c, E.right({ status: "cancelled" }));
  const aborted = await w.waitFor((l) => l.event === "aborted" && l.taskId === id, "the abort");
  t.match(aborted.reason, /changed my mind/);
  t.match(await bus.call("task.cancel", { taskId: id }), E.left({ code: "AlreadyEnded" }));
  const ty = await types(id);
  t.equal(ty.at(-1), "task.cancelled");
  t.notOk(ty.includes("task.completed"));
});

t.test("start-to-close: a silent attempt times out, is aborted and retried, then dead-lettered", async (t) => {
  const id = await submit("work.wait", {}, "lifecycle");
  const v = await view(id, 30_000);
  t.equal(v.status, "dead_lettered");
  const events = await taskEventsOf(bus, id);
  const timeouts = events.filter((e) => e.type === "task.timed_out");
  t.equal(timeouts.length, 3);
  t.ok(timeouts.every((e) => e.type === "task.timed_out" && e.data.kind === "start_to_close"));
  await w.waitFor((l) => l.event === "aborted" && l.taskId === id && l.attempt === 3, "the abort of the last attempt");
});

t.test("schedule-to-start: nobody takes the task in time", async (t) => {
  await bus.install(fixtureManifest("idle", { scheduleToStart: "300ms" }));
  const id = await submit("work.sleep", { ms: 10 }, "idle");
  const v = await view(id, 20_000);
  t.equal(v.status, "dead_lettered");
  const events = await taskEventsOf(bus, id);
  t.match(
    events.find((e) => e.type === "task.timed_out"),
    { data: { kind: "schedule_to_start" } },
  );
  const jsm = await jetstreamManager(bus.nc);
  const ci = await jsm.consumers.info(tasksStream("idle"), taskConsumer("idle", "work.sleep"));
  t.equal(ci.num_pending, 0, "the withdrawn message is no longer queued");
});

t.test("deadline: the whole task must end in time, across attempts", async (t) => {
  // Progress every second keeps a 2 s start-to-close alive; the 3 s deadline ends it.
  const { creds: c2 } = await bus.install(fixtureManifest("late", { timeout: "2s", deadline: "3s", retry: { maxAttempts: 5, backoff: ["100ms"] } }));
  const w2 = await spawnWorker(bus, { plugin: "late", creds: c2, instance: "late-1" });
  t.teardown(() => w2.kill());
  const id = await submit("work.sleep", { ms: 5000 }, "late");
  const v = await view(id, 20_000);
  t.equal(v.status, "dead_lettered");
  const events = await taskEventsOf(bus, id);
  t.same(
    events.filter((e) => e.type === "task.timed_out").map((e) => e.type === "task.timed_out" && e.data.kind),
    ["deadline"],
    "progress kept start-to-close alive",
  );
  t.ok(
    events.some((e) => e.type === "task.progress"),
    "progress is in the log",
  );
  await w2.waitFor((l) => l.event === "aborted" && l.taskId === id, "the abort");
});

t.test("working() alone keeps start-to-close alive, and appends no progress event", async (t) => {
  const { creds: c3 } = await bus.install(fixtureManifest("quiet", { timeout: "1500ms" }));
  const w3 = await spawnWorker(bus, { plugin: "quiet", creds: c3, instance: "quiet-1" });
  t.teardown(() => w3.kill());
  // Five keep-alives 600 ms apart: the 3 s task outlives its 1.5 s start-to-close twice over.
  const id = await submit("work.sleep", { ms: 3000, quiet: true }, "quiet");
  const v = await view(id, 20_000);
  t.equal(v.status, "completed");
  const ty = await types(id);
  t.notOk(ty.includes("task.timed_out"), "not timed out");
  t.notOk(ty.includes("task.progress"), "keep-alives are not events");
});

t.test("a report for an attempt the worker does not hold is refused and audited", async (t) => {
  const id = await submit("work.sleep", { ms: 100 }, "lifecycle");
  await view(id, 20_000);
  const worker = await bus.connectWith(creds, "_INBOX.lifecycle");
  t.teardown(() => worker.close());
  const { jetstream } = await import("@nats-io/jetstream");
  await jetstream(worker).publish(`res.lifecycle.${id}`, JSON.stringify({ taskId: id, attempt: 1, instance: "intruder", status: "completed", result: {} }));
  const deadline = Date.now() + 10_000;
  let ty: string[] = [];
  while (Date.now() < deadline) {
    ty = await types(id);
    if (ty.includes("task.report_refused")) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(ty.includes("task.report_refused"), "the refusal is in the log");
  t.equal(ty.filter((x) => x === "task.completed").length, 1, "still one completion");
});

t.test("SIGTERM drains: the running task completes before the worker exits, which says goodbye", async (t) => {
  const id = await submit("work.sleep", { ms: 800 }, "lifecycle");
  await w.waitFor((l) => l.event === "started" && l.taskId === id, "the start");
  t.equal(await w.kill("SIGTERM"), 0, "a clean exit");
  const v = await view(id, 10_000);
  t.match(v, { status: "completed", instance: "life-1" });
  const { natsEventStore } = await import("../../src/store/eventStore.js");
  const { WorkerEvent } = await import("../../src/events/worker.js");
  const store = natsEventStore(bus.nc, { codec: WorkerEvent });
  const end = Date.now() + 10_000;
  let stopped = false;
  while (!stopped && Date.now() < end) {
    for await (const e of store.readStream("worker-lifecycle")) if (e.type === "worker.offline" && e.data.reason === "stopped") stopped = true;
    if (!stopped) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(stopped, "worker.offline with reason stopped");
});
