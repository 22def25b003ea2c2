import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { createTestBus } from "../../src/testing/testBus.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { PluginEvent } from "../../src/events/plugin.js";
import { WorkerEvent } from "../../src/events/worker.js";
import { taskConsumer, tasksStream } from "../../src/contract/subjects.js";
import { fixtureManifest, spawnWorker } from "./support.js";

const bus = await createTestBus();
t.teardown(bus.stop);

const eventsOf = async <A extends { type: string; data: unknown }>(codec: import("io-ts").Type<A, unknown, unknown>, stream: string) => {
  const store = natsEventStore(bus.nc, { codec });
  const out: A[] = [];
  for await (const e of store.readStream(stream)) out.push({ type: e.type, data: e.data } as A);
  return out;
};
const until = async <T>(f: () => Promise<T | undefined>, what: string, ms = 20_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

t.test("input the worker refuses never counts: any number of bad requests leaves the plugin up", async (t) => {
  const { creds } = await bus.install(fixtureManifest("picky", { health: { maxConsecutiveFailures: 2, failureRatio: 0.5, window: "1m" } }));
  const w = await spawnWorker(bus, { plugin: "picky", creds, instance: "picky-1" });
  t.teardown(() => w.kill());
  await until(async () => (await eventsOf(WorkerEvent, "worker-picky")).find((e) => e.type === "worker.online"), "worker.online");
  for (let i = 0; i < 5; i++) {
    const r = await bus.tasks.submit({ taskType: "work.fail", params: { retryable: false }, pluginId: "picky" }, { actor: "operator:test" });
    if (E.isLeft(r)) throw new Error(r.left.message);
    const v = await bus.tasks.get(r.right.taskId, 10_000);
    t.ok(E.isRight(v) && v.right.status === "dead_lettered", "the task fails, as it should");
  }
  // A task that completes after them proves every failure before it was folded into health.
  const ok = await bus.tasks.submit({ taskType: "work.sleep", params: { ms: 1 }, pluginId: "picky" }, { actor: "operator:test" });
  if (E.isLeft(ok)) throw new Error(ok.left.message);
  t.match(await bus.tasks.get(ok.right.taskId, 10_000), E.right({ status: "completed" }));
  t.notOk(
    (await eventsOf(PluginEvent, "plugin-picky")).some((e) => e.type === "plugin.disabled"),
    "five refused inputs did not disable it",
  );
  // Out of the way of the tests below, which route work.fail without naming a plugin.
  await w.kill();
  t.match(await bus.call("plugin.remove", { pluginId: "picky" }), E.right({}));
  await until(async () => (E.isLeft(bus.tasks.limits("picky")) ? true : undefined), "picky no longer routed");
});

t.test("consecutive failures disable the plugin automatically and revoke its credentials; an operator enables it again", async (t) => {
  const { creds } = await bus.install(fixtureManifest("flaky", { health: { maxConsecutiveFailures: 3, failureRatio: 1, window: "1m" } }));
  const w = await spawnWorker(bus, { plugin: "flaky", creds, instance: "flaky-1" });
  t.teardown(() => w.kill());
  const online = await until(async () => (await eventsOf(WorkerEvent, "worker-flaky")).find((e) => e.type === "worker.online"), "worker.online");
  t.match(online, { data: { instance: "flaky-1" } });

  for (let i = 0; i < 3; i++) {
    const r = await bus.tasks.submit({ taskType: "work.fail", params: {} }, { actor: "operator:test" });
    if (E.isLeft(r)) throw new Error(r.left.message);
    const v = await bus.tasks.get(r.right.taskId, 10_000);
    t.ok(E.isRight(v) && v.right.status === "dead_lettered");
  }
  const disabled = await until(async () => (await eventsOf(PluginEvent, "plugin-flaky")).find((e) => e.type === "plugin.disabled"), "plugin.disabled");
  t.match(disabled, { data: { automatic: true, reason: /3 consecutive task failures .*counted: handler errors/ } });
  const events = await eventsOf(PluginEvent, "plugin-flaky");
  t.ok(
    events.some((e) => e.type === "plugin.credentials.revoked"),
    "its credentials were revoked",
  );
  await t.rejects(bus.connectWith(creds, "_INBOX.flaky"), "the revoked credentials no longer connect");

  const refused = await bus.tasks.submit({ taskType: "work.fail", params: {} }, { actor: "operator:test" });
  t.match(refused, E.left({ code: "NoProvider" }), "a disabled plugin gets no tasks");

  t.match(await bus.call("plugin.enable", { pluginId: "flaky" }), E.right({}));
  await until(
    async () => (E.isRight(await bus.tasks.submit({ taskType: "work.sleep", params: { ms: 1 } }, { actor: "operator:test" })) ? true : undefined),
    "routing again",
  );

  // The worker's connection was closed by the revocation: it went silent.
  const offline = await until(async () => (await eventsOf(WorkerEvent, "worker-flaky")).find((e) => e.type === "worker.offline"), "worker.offline");
  t.match(offline, { data: { instance: "flaky-1", reason: "silent" } });
  const wev = await eventsOf(WorkerEvent, "worker-flaky");
  t.equal(wev.filter((e) => e.type === "worker.online").length, 1, "one online event, not one per heartbeat");
});

t.test("submission rate and concurrency limits come from the manifest", async (t) => {
  await bus.install(fixtureManifest("limited", { limits: { concurrency: 2, rate: "2/m" } }));
  const submit = () => bus.tasks.submit({ taskType: "work.sleep", params: { ms: 1 }, pluginId: "limited" }, { actor: "operator:test" });
  t.ok(E.isRight(await submit()));
  t.ok(E.isRight(await submit()));
  const third = await submit();
  t.match(third, E.left({ code: "RateLimited" }));
  if (E.isLeft(third)) t.ok((third.left.retryAfterMs ?? 0) > 0, "with a retry-after");
  const viaService = await bus.call("task.submit", { taskType: "work.sleep", params: { ms: 1 }, pluginId: "limited" });
  t.match(viaService, E.left({ code: "RateLimited" }));
  const jsm = await jetstreamManager(bus.nc);
  const ci = await jsm.consumers.info(tasksStream("limited"), taskConsumer("limited", "work.sleep"));
  t.equal(ci.config.max_ack_pending, 2, "concurrency is the consumer's max_ack_pending");
});

t.test("an operator overrides a plugin's limits; reset goes back to the manifest's", async (t) => {
  await bus.install(fixtureManifest("tuned", { limits: { concurrency: 2, rate: "1/m" } }));
  const jsm = await jetstreamManager(bus.nc);
  const submit = () => bus.tasks.submit({ taskType: "work.sleep", params: { ms: 1 }, pluginId: "tuned" }, { actor: "operator:test" });
  t.ok(E.isRight(await submit()));
  t.match(await submit(), E.left({ code: "RateLimited" }));

  const set = await bus.call("task.limits", { pluginId: "tuned", concurrency: 7, rate: "100/s" });
  t.match(set, E.right({ concurrency: 7, rate: { count: 100, perMs: 1000 }, source: { concurrency: "override", rate: "override" } }));
  t.equal((await jsm.consumers.info(tasksStream("tuned"), taskConsumer("tuned", "work.sleep"))).config.max_ack_pending, 7, "the consumer follows the override");
  t.ok(E.isRight(await submit()), "the new rate applies at once");

  const partial = await bus.call("task.limits", { pluginId: "tuned", concurrency: 3 });
  t.match(partial, E.right({ concurrency: 3, rate: { count: 100 }, source: { rate: "override" } }), "one field at a time keeps the other");
  t.match(await bus.call("task.limits", { pluginId: "tuned", rate: "fast" }), E.left({ code: "InvalidRequest", paths: ["rate"] }));
  t.match(await bus.call("task.limits", { pluginId: "nobody" }), E.left({ code: "NotFound" }));

  const reset = await bus.call("task.limits", { pluginId: "tuned", reset: true });
  t.match(reset, E.right({ concurrency: 2, source: { concurrency: "manifest", rate: "manifest" } }));
  t.equal((await jsm.consumers.info(tasksStream("tuned"), taskConsumer("tuned", "work.sleep"))).config.max_ack_pending, 2);
});
