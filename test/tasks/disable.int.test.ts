import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { createTestBus } from "../../src/testing/testBus.js";
import type { TaskView } from "../../src/tasks/runtime/index.js";
import { fixtureManifest, spawnWorker, taskEventsOf } from "./support.js";

// Disabling a plugin with a running and a queued task: the running attempt is handed back at once
// (failed as `withdrawn`, not charged, not counted against health), both wait on the plugin's
// stream, and both run once the plugin is enabled again. Nothing hangs in `running` with a
// worker that can no longer report.

const bus = await createTestBus({ tasks: { ackWaitMs: 30_000 } });
t.teardown(bus.stop);

const view = async (id: string, waitMs = 0): Promise<TaskView> => {
  const v = await bus.tasks.get(id, waitMs);
  if (E.isLeft(v)) throw new Error(v.left.message);
  return v.right;
};
const until = async <T>(what: string, f: () => Promise<T | undefined>): Promise<T> => {
  for (let i = 0; i < 400; i++) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

t.test("disable with a running and a queued task: the running one is handed back, both run after the enable", async (t) => {
  // One attempt, a 60 s start-to-close: neither a retry nor a timeout can explain what follows.
  const { creds } = await bus.install(fixtureManifest("toggle", { timeout: "60s", limits: { concurrency: 4, rate: "100/s" } }));
  const w1 = await spawnWorker(bus, { plugin: "toggle", creds, instance: "w1", concurrency: 1 });
  t.teardown(() => w1.kill("SIGKILL"));
  const submit = async (ms: number) => {
    const r = await bus.tasks.submit({ taskType: "work.sleep", params: { ms }, pluginId: "toggle" }, { actor: "operator:test" });
    if (E.isLeft(r)) throw new Error(r.left.message);
    return r.right.taskId;
  };
  const running = await submit(30_000);
  await w1.waitFor((l) => l.event === "started" && l.taskId === running, "the start on w1");
  const queued = await submit(100);
  t.equal((await view(queued)).status, "scheduled", "the second waits: w1 runs one at a time");

  const d = await bus.call("plugin.disable", { pluginId: "toggle", reason: "maintenance" });
  t.ok(E.isRight(d), "disabled");
  const handedBack = await until("the running attempt handed back", async () => {
    const v = await view(running);
    return v.status === "scheduled" && v.attempt === 2 ? v : undefined;
  });
  t.match(handedBack, { maxAttempts: 2, failures: [{ attempt: 1, instance: "w1", error: { kind: "withdrawn" } }] }, "failed as withdrawn, not charged");
  const events = await taskEventsOf(bus, running);
  t.match(
    events.find((e) => e.type === "task.retry_scheduled"),
    { data: { attempt: 2, delayMs: 0, uncharged: true } },
  );
  await new Promise((r) => setTimeout(r, 1500));
  t.match(await view(queued), { status: "scheduled", attempt: 1 }, "the queued one still waits, untouched");
  t.match(await view(running), { status: "scheduled", attempt: 2 }, "so does the handed-back one");

  const en = await bus.call("plugin.enable", { pluginId: "toggle" });
  t.ok(E.isRight(en), "enabled");
  const c = await bus.call("plugin.creds", { pluginId: "toggle" });
  if (E.isLeft(c)) throw new Error(c.left.message);
  const w2 = await spawnWorker(bus, { plugin: "toggle", creds: c.right.creds, instance: "w2", concurrency: 2 });
  t.teardown(() => w2.kill());
  t.match(await view(queued, 60_000), { status: "completed", instance: "w2" }, "the queued task ran after the enable");
  t.match(await view(running, 60_000), { status: "completed", instance: "w2", attempt: 2 }, "and so did the handed-back one");
  const plugin = await bus.call("plugin.show", { pluginId: "toggle" });
  t.ok(E.isRight(plugin) && plugin.right.plugin.status === "active");
});
