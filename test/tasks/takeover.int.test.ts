import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { createTestBus } from "../../src/testing/testBus.js";
import { fixtureManifest, spawnWorker, startRecorded, taskEventsOf } from "./support.js";

// A worker process is SIGKILLed mid-task. Its heartbeats stop; the core records it offline after
// heartbeatTimeoutMs, hands the attempt to another instance at once and does not charge it to the
// task's retries. ack_wait is long here (30 s), so the takeover cannot be JetStream's redelivery.

const bus = await createTestBus({ tasks: { ackWaitMs: 30_000, heartbeatTimeoutMs: 3000 } });
t.teardown(bus.stop);

t.test("kill -9 mid-task: the attempt is handed over from missed heartbeats and not charged", async (t) => {
  // One attempt allowed: a charged lost attempt would dead-letter the task.
  const { creds } = await bus.install(fixtureManifest("takeover", { timeout: "60s", limits: { concurrency: 2, rate: "100/s" } }));
  const doomed = await spawnWorker(bus, { plugin: "takeover", creds, instance: "doomed", concurrency: 1 });
  t.teardown(() => doomed.kill());
  const r = await bus.tasks.submit({ taskType: "work.sleep", params: { ms: 8000 }, pluginId: "takeover" }, { actor: "operator:test" });
  if (E.isLeft(r)) throw new Error(r.left.message);
  const id = r.right.taskId;
  await doomed.waitFor((l) => l.event === "started" && l.taskId === id, "the start on doomed");
  await startRecorded(bus, id, "doomed");
  t.equal(await doomed.kill("SIGKILL"), null, "doomed died by SIGKILL, mid-task");
  const heir = await spawnWorker(bus, { plugin: "takeover", creds, instance: "heir", concurrency: 1 });
  t.teardown(() => heir.kill());

  const v = await bus.tasks.get(id, 60_000);
  t.match(v, E.right({ status: "completed", instance: "heir", attempt: 2, maxAttempts: 2 }), "heir finished it in the next attempt, the budget grown by one");
  const events = await taskEventsOf(bus, id);
  t.same(
    events.map((e) => e.type).filter((x) => x !== "task.progress"),
    ["task.submitted", "task.started", "task.failed", "task.retry_scheduled", "task.dispatched", "task.started", "task.completed"],
  );
  t.match(
    events.find((e) => e.type === "task.failed"),
    { data: { attempt: 1, instance: "doomed", error: { kind: "lost" } } },
  );
  t.match(
    events.find((e) => e.type === "task.retry_scheduled"),
    { data: { attempt: 2, delayMs: 0, uncharged: true } },
    "no backoff, not charged",
  );
});
