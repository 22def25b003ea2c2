import t from "tap";
import { harness, installed, manifest, settle } from "./fakes.js";
import { HEARTBEAT_TIMEOUT_CEILING_MS, HEARTBEAT_TIMEOUT_FLOOR_MS, timeoutOf } from "../../../src/tasks/runtime/liveness.js";

const plugins = installed(manifest("alpha", {}, { retry: { maxAttempts: 3 } }));
const hb = (instance: string, extra: Record<string, unknown> = {}) => ({ instance, version: "1.0.0", inFlight: 0, ...extra });

t.test("the first heartbeat records an instance online, once", async (t) => {
  const h = await harness({ plugins });
  t.teardown(h.stop);
  h.live.onHeartbeat("hb.alpha.i1", hb("i1"));
  h.live.onHeartbeat("hb.alpha.i1", hb("i1")); // before the first is recorded: not twice
  await settle();
  h.live.onHeartbeat("hb.alpha.i1", hb("i1")); // after: the fold says online
  await settle();
  t.same(h.store.types("worker-alpha"), ["worker.online"]);
  t.match(h.store.events("worker-alpha")[0], {
    data: { pluginId: "alpha", instance: "i1", version: "1.0.0", at: h.clock.iso() },
    metadata: { actor: "system:health" },
  });
  t.ok(h.state.workers.get("alpha")?.online.has("i1"));
  t.equal(h.state.pendingOnline.size, 0);
});

t.test("a malformed heartbeat, or one naming another instance than its subject, is dropped", async (t) => {
  const h = await harness({ plugins });
  t.teardown(h.stop);
  h.live.onHeartbeat("hb.alpha.i1", { instance: "i1" });
  h.live.onHeartbeat("hb.alpha.i1", hb("i2"));
  await settle();
  t.equal(h.store.streams.has("worker-alpha"), false);
  t.equal(h.log.messages().filter((m) => m === "malformed heartbeat dropped").length, 2);
});

t.test("a goodbye takes the instance offline at once, losing none of its attempts", async (t) => {
  const h = await harness({ plugins });
  t.teardown(h.stop);
  h.live.onHeartbeat("hb.alpha.i1", hb("i1"));
  await settle();
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  h.live.onHeartbeat("hb.alpha.i1", hb("i1", { state: "stopping" }));
  await settle();
  t.same(h.store.types("worker-alpha"), ["worker.online", "worker.offline"]);
  t.match(h.store.events("worker-alpha")[1], { data: { reason: "stopped" } });
  t.equal(h.state.open.get(id)?.status, "running", "a draining instance finishes or hands back its work");
});

t.test("silence past the timeout, on the runtime's clock: offline, and its running attempts lost", async (t) => {
  const h = await harness({ plugins, options: { heartbeatTimeoutMs: 3000 } });
  t.teardown(h.stop);
  const stopSweeper = h.live.startSweeper();
  t.teardown(stopSweeper);
  h.live.onHeartbeat("hb.alpha.i1", hb("i1"));
  h.live.onHeartbeat("hb.alpha.i2", hb("i2"));
  await settle();
  const mine = await h.submitted();
  const theirs = await h.submitted();
  await h.reportOn("alpha", { taskId: mine, attempt: 1, instance: "i1", status: "started" });
  await h.reportOn("alpha", { taskId: theirs, attempt: 1, instance: "i2", status: "started" });
  for (let i = 0; i < 4; i++) {
    await h.clock.advance(1000);
    h.live.onHeartbeat("hb.alpha.i2", hb("i2")); // i2 keeps beating, i1 fell silent
  }
  t.same(h.store.types("worker-alpha"), ["worker.online", "worker.online", "worker.offline"]);
  t.match(h.store.events("worker-alpha")[2], { data: { instance: "i1", reason: "silent" } });
  // Handed over at once and not charged: the next attempt is dispatched with no backoff.
  t.same(h.store.types(`task-${mine}`), ["task.submitted", "task.started", "task.failed", "task.retry_scheduled", "task.dispatched"]);
  t.match(h.store.events(`task-${mine}`)[3], { data: { attempt: 2, delayMs: 0, uncharged: true } });
  t.match(h.store.events(`task-${mine}`)[2], {
    data: { error: { kind: "lost", message: "worker instance i1 went silent" } },
    metadata: { actor: "system:health" },
  });
  t.match(h.io.notified, [{ payload: { taskId: mine, reason: "the worker instance holding it went silent" } }], "its message taken back");
  t.equal(h.state.open.get(theirs)?.status, "running", "the live instance's attempt is untouched");
  await h.clock.advance(10_000);
  t.equal(h.store.types("worker-alpha").filter((x) => x === "worker.offline").length, 2, "i2 went silent too, once");
});

t.test("an online instance never heard from by this core is silent from the core's start", async (t) => {
  const h = await harness({ plugins, options: { heartbeatTimeoutMs: 3000 } });
  t.teardown(h.stop);
  await h.store.store.appendToStream("worker-alpha", [
    { type: "worker.online", data: { pluginId: "alpha", instance: "old", version: "1.0.0", at: h.clock.iso() } },
  ]);
  await settle();
  h.live.sweep();
  await settle();
  t.same(h.store.types("worker-alpha"), ["worker.online"], "not yet");
  await h.clock.advance(3001);
  h.live.sweep();
  await settle();
  t.same(h.store.types("worker-alpha"), ["worker.online", "worker.offline"]);
});

t.test("a flood of made-up instance names stops at the plugin's cap; odd names are plain data", async (t) => {
  const h = await harness({ plugins, options: { maxInstancesPerPlugin: 3 } });
  t.teardown(h.stop);
  for (const name of ["__proto__", "constructor", "toString", "i4", "i5", "i6"]) {
    h.live.onHeartbeat(`hb.alpha.${name}`, hb(name));
    await settle();
  }
  t.same(h.store.types("worker-alpha"), ["worker.online", "worker.online", "worker.online"], "three online events, then nothing");
  t.same([...h.state.workers.get("alpha")!.online.keys()].sort(), ["__proto__", "constructor", "toString"]);
});

t.test("an instance's declared heartbeat period sets its own timeout: two periods, within the floor and the ceiling", async (t) => {
  t.equal(timeoutOf(undefined), undefined, "none declared: the core's configured timeout");
  t.equal(timeoutOf(5000), 10_000, "the SDK's default period: the core's default timeout");
  t.equal(timeoutOf(10), HEARTBEAT_TIMEOUT_FLOOR_MS, "a tiny period does not make a GC pause a death");
  t.equal(timeoutOf(3_600_000), HEARTBEAT_TIMEOUT_CEILING_MS, "a huge one still hands attempts over within the ceiling");
  for (const nonsense of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) t.equal(timeoutOf(nonsense), undefined, `${nonsense}: ignored`);

  const h = await harness({ plugins, options: { heartbeatTimeoutMs: 10_000 } });
  t.teardown(h.stop);
  const stopSweeper = h.live.startSweeper();
  t.teardown(stopSweeper);
  h.live.onHeartbeat("hb.alpha.fast", hb("fast", { intervalMs: 1000 })); // offline after 2 s of silence
  h.live.onHeartbeat("hb.alpha.slow", hb("slow", { intervalMs: 30_000 })); // after 60 s
  h.live.onHeartbeat("hb.alpha.plain", hb("plain")); // after the configured 10 s
  await settle();
  const offline = () =>
    h.store
      .events("worker-alpha")
      .filter((e) => e.type === "worker.offline")
      .map((e) => (e.data as { instance: string }).instance);
  for (let i = 0; i < 5; i++) await h.clock.advance(1000);
  t.same(offline(), ["fast"], "the fast instance is offline after two of its periods; the others are not");
  for (let i = 0; i < 10; i++) await h.clock.advance(1000);
  t.same(offline(), ["fast", "plain"], "the plain one after the configured timeout");
  for (let i = 0; i < 20; i++) await h.clock.advance(2000);
  t.same(offline(), ["fast", "plain"], "the slow one is still within its 60 s");
  for (let i = 0; i < 12; i++) await h.clock.advance(2000);
  t.same(offline(), ["fast", "plain", "slow"], "and offline after it");
});
