import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { createTestBus } from "../../src/testing/testBus.js";
import { fixtureManifest, spawnWorker, startRecorded, taskEventsOf } from "./support.js";

const bus = await createTestBus();
t.teardown(bus.stop);

t.test("tasks spread over two worker processes; one is SIGKILLed mid-task; every task completes exactly once", async (t) => {
  const { creds } = await bus.install(fixtureManifest("crashy", { retry: { maxAttempts: 3, backoff: ["100ms"] }, limits: { concurrency: 4, rate: "100/s" } }));
  const a = await spawnWorker(bus, { plugin: "crashy", creds, instance: "wa", concurrency: 2 });
  const b = await spawnWorker(bus, { plugin: "crashy", creds, instance: "wb", concurrency: 2 });
  t.teardown(() => Promise.all([a.kill(), b.kill()]));

  const ids: string[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await bus.tasks.submit({ taskType: "work.sleep", params: { ms: 1000 }, pluginId: "crashy" }, { actor: "operator:test" });
    if (E.isLeft(r)) throw new Error(r.left.message);
    ids.push(r.right.taskId);
  }
  const onA = await a.waitFor((l) => l.event === "started", "a task start");
  await b.waitFor((l) => l.event === "started", "a task start");
  // Mid-task for the core: wa's start is in the log (not only printed) when it dies.
  await startRecorded(bus, String(onA.taskId), "wa");
  t.equal(await a.kill("SIGKILL"), null, "wa died by a signal, mid-task");

  for (const id of ids) {
    const v = await bus.tasks.get(id, 60_000);
    t.ok(E.isRight(v) && v.right.status === "completed", `task ${id} completed`);
  }
  const starters = new Set<string>();
  for (const id of ids) {
    const events = await taskEventsOf(bus, id);
    t.equal(events.filter((e) => e.type === "task.completed").length, 1, `task ${id} has exactly one completion`);
    for (const e of events) if (e.type === "task.started") starters.add(e.data.instance);
  }
  t.same([...starters].sort(), ["wa", "wb"], "both instances took tasks");
  let takenOver = 0;
  for (const id of ids) {
    const events = await taskEventsOf(bus, id);
    const byA = events.some((e) => e.type === "task.started" && e.data.instance === "wa");
    const done = events.find((e) => e.type === "task.completed");
    if (byA && done?.type === "task.completed" && done.data.instance === "wb") takenOver++;
  }
  t.ok(takenOver >= 1, "what wa was running when it was killed, wb finished");
});

t.test("a worker stopped past its grace hands the running attempt back; another instance finishes it", async (t) => {
  const { creds } = await bus.install(fixtureManifest("handback", { limits: { concurrency: 2, rate: "100/s" } }));
  const one = await spawnWorker(bus, { plugin: "handback", creds, instance: "hb1", concurrency: 1 });
  const two = await spawnWorker(bus, { plugin: "handback", creds, instance: "hb2", concurrency: 1 });
  t.teardown(() => Promise.all([one.kill(), two.kill()]));
  const r = await bus.tasks.submit({ taskType: "work.sleep", params: { ms: 3000 }, pluginId: "handback" }, { actor: "operator:test" });
  if (E.isLeft(r)) throw new Error(r.left.message);
  const id = r.right.taskId;
  const first = await Promise.race([one, two].map((w) => w.waitFor((l) => l.event === "started" && l.taskId === id).then(() => w)));
  const other = first === one ? two : one;
  t.equal(await first.kill("SIGTERM"), 0, "the stopped worker exits cleanly after its grace");
  await other.waitFor((l) => l.event === "started" && l.taskId === id, "the takeover");
  const v = await bus.tasks.get(id, 20_000);
  t.ok(E.isRight(v) && v.right.status === "completed" && v.right.attempt === 1, "completed in the same attempt");
  const events = await taskEventsOf(bus, id);
  const starts = events.filter((e) => e.type === "task.started");
  t.equal(starts.length, 2);
  t.equal(events.filter((e) => e.type === "task.completed").length, 1);
});
