import t from "tap";
import { readFile } from "node:fs/promises";
import * as E from "fp-ts/lib/Either.js";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { writeDevBootstrapCredentials } from "../../src/plugins/credentials.js";
import { createTestBus } from "../../src/testing/testBus.js";
import { callService } from "../../src/service/client.js";
import { Buckets, JS_BUS_API, serviceSubject, Streams, submitSubject, taskConsumer, tasksStream, taskSubject } from "../../src/contract/subjects.js";

/**
 * The attacks of the trust-boundary issue, each with the real minted credentials of a plugin (or
 * of the dev bootstrap) against a real server and the real core. Each proves two things: the
 * attack is denied or harmless, and EVENTS, the views, the work queues and every plugin's state
 * are what they were.
 */
const bus = await createTestBus({ tasks: { ackWaitMs: 30_000 } });
t.teardown(bus.stop);
const jsm: JetStreamManager = await jetstreamManager(bus.nc);

const provides = (type: string) => [{ type, description: type, params: { type: "object" }, result: { type: "object" }, timeout: "30s" }];
// alpha: no grants at all. beta: serves work.beta (nobody runs it, so its tasks stay queued).
// gamma: may submit work.beta (the confused-deputy attempts).
const alpha = await bus.install({ id: "alpha", version: "1.0.0", description: "attacker", provides: provides("work.alpha"), capabilities: [] });
const beta = await bus.install({ id: "beta", version: "1.0.0", description: "victim", provides: provides("work.beta"), capabilities: [] });
const gamma = await bus.install({ id: "gamma", version: "1.0.0", description: "submitter", capabilities: ["task.submit:work.beta"] });
void beta;

// Queued work of the victim, and of the attacker itself.
const betaTasks: string[] = [];
for (let i = 0; i < 5; i++) betaTasks.push((await bus.submit("work.beta", { i })).taskId);
const alphaTask = (await bus.submit("work.alpha", { mine: true })).taskId;

/** Everything an attack must not change: the log, every stream of BUS, the view rows, plugin states. */
const snapshot = async () => {
  const streams: Record<string, { messages: number; last: number }> = {};
  for await (const s of jsm.streams.list()) streams[s.config.name] = { messages: s.state.messages, last: s.state.last_seq };
  const kvm = new Kvm(bus.nc);
  // The views' lease is renewed every 2 s (a new message each time): what must not change is who holds it.
  delete streams[`KV_${Buckets.Leases}`];
  const lease = (await (await kvm.open(Buckets.Leases)).get("projections"))?.string() ?? "none";
  const rows: Record<string, number> = {};
  for (const bucket of ["plugins", "tasks"]) {
    const kv = await kvm.open(bucket);
    for await (const k of await kv.keys()) rows[`${bucket}/${k}`] = (await kv.get(k))?.revision ?? -1;
  }
  const plugins = await bus.call("plugin.list", {});
  return { streams, lease, rows, plugins: E.isRight(plugins) ? plugins.right.plugins.map((p) => `${p.pluginId}:${p.status}:${p.revision}`) : "unreadable" };
};

/** Waits until the views have folded everything in the log, so a snapshot is stable. */
const settled = async () => {
  for (let i = 0; i < 200; i++) {
    const r = await bus.call("projections.status", {});
    const views = E.isRight(r) ? r.right : undefined;
    if (views && views.every((v) => v.behind === 0)) return;
    await new Promise((res) => setTimeout(res, 50));
  }
};

await settled();

const connect = (creds: string) => bus.connectWith(creds);
const a = await connect(alpha.creds);
t.teardown(() => a.close());
const ajs = jetstream(a, { apiPrefix: JS_BUS_API });

/** A request whose effect we can wait for on the same connection: everything sent before it was processed. */
const barrier = async (nc: NatsConnection) => {
  await nc.flush();
  await jetstream(nc, { apiPrefix: JS_BUS_API })
    .consumers.get(tasksStream("alpha"), taskConsumer("alpha", "work.alpha"))
    .catch(() => undefined);
  await new Promise((r) => setTimeout(r, 200));
};

/** The distinct subjects of the events appended since `before`. */
const appendedSubjects = async (before: Awaited<ReturnType<typeof snapshot>>) => {
  const out = new Set<string>();
  const last = (await jsm.streams.info(Streams.Events)).state.last_seq;
  for (let seq = before.streams[Streams.Events]!.last + 1; seq <= last; seq++) out.add((await jsm.streams.getMessage(Streams.Events, { seq }))?.subject ?? "?");
  return [...out];
};

const unchanged = async (t: { same: (a: unknown, b: unknown, m: string) => unknown }, before: Awaited<ReturnType<typeof snapshot>>, what: string) => {
  await settled();
  t.same(await snapshot(), before, `${what}: EVENTS, every stream, the views and every plugin are unchanged`);
};

t.test("ack injection into the log: a report published with a reply of the log, a view row or a purge", async (t) => {
  const before = await snapshot();
  for (const reply of [
    "ev.plugin.beta",
    "$KV.plugins.beta",
    "$KV.tasks." + betaTasks[0],
    `$JS.API.STREAM.PURGE.${tasksStream("beta")}`,
    serviceSubject("plugin.disable"),
  ]) {
    a.publish(`res.alpha.${alphaTask}`, JSON.stringify({ bogus: true }), { reply });
  }
  await barrier(a);
  // The reports themselves land in RESULTS (the plugin's own subject) and are refused there by
  // the core (malformed): that is the allowed path. Nothing else may change.
  await settled();
  const after = await snapshot();
  t.same(await appendedSubjects(before), [`ev.task.${alphaTask}`], "the log only gained the core's refusals of alpha's malformed reports, on alpha's own task");
  const evs = await jsm.streams.getMessage(Streams.Events, { last_by_subj: "ev.plugin.beta" }).catch(() => null);
  t.ok(evs, "beta's stream has a head");
  t.notMatch(evs?.string() ?? "", /"stream":"RESULTS"/, "and it is not a JetStream ack");
  t.same(after.streams[tasksStream("beta")], before.streams[tasksStream("beta")], "beta's queue was not purged");
  t.same(after.plugins, before.plugins, "no plugin changed (beta is not wedged or disabled)");
  // beta's stream still takes expected-revision appends: a command on it works.
  const disabled = await bus.call("plugin.disable", { pluginId: "beta", reason: "probe" });
  t.ok(E.isRight(disabled), "commands on beta still work");
  const enabled = await bus.call("plugin.enable", { pluginId: "beta" });
  t.ok(E.isRight(enabled));
});

t.test("ack injection through a request and through a pull", async (t) => {
  await settled();
  const before = await snapshot();
  // A JetStream publish of its own report, its reply forged as the victim's event stream.
  a.publish(`res.alpha.${alphaTask}`, "{}", { reply: "ev.plugin.gamma" });
  // A pull of its own consumer whose reply is the log: the delivery of its own task goes there.
  a.publish(`${JS_BUS_API}.CONSUMER.MSG.NEXT.${tasksStream("alpha")}.${taskConsumer("alpha", "work.alpha")}`, JSON.stringify({ batch: 1, expires: 1e9 }), {
    reply: "ev.plugin.gamma",
  });
  await barrier(a);
  await settled();
  const after = await snapshot();
  // The empty report is refused as malformed, like those of the test above within the minute: the
  // refusal is rate-limited (one event per task and kind per window), so nothing is appended.
  t.same(await appendedSubjects(before), [], "nothing: not even a second refusal of a malformed report on alpha's task");
  const head = await jsm.streams.getMessage(Streams.Events, { last_by_subj: "ev.plugin.gamma" }).catch(() => null);
  t.notMatch(head?.string() ?? "", /"stream":"RESULTS"|"mine":true/, "neither an ack nor a task message reached gamma's stream");
  t.same(after.plugins, before.plugins);
  t.same(after.streams[tasksStream("beta")], before.streams[tasksStream("beta")]);
});

t.test("a pull whose reply is a command: the task message never reaches the core as a command", async (t) => {
  await settled();
  const before = await snapshot();
  for (const cmd of ["plugin.disable", "plugin.remove", "task.cancel"]) {
    a.publish(`${JS_BUS_API}.CONSUMER.MSG.NEXT.${tasksStream("alpha")}.${taskConsumer("alpha", "work.alpha")}`, JSON.stringify({ batch: 1, expires: 1e9 }), {
      reply: serviceSubject(cmd),
    });
  }
  await barrier(a);
  await unchanged(t, { ...before, streams: { ...before.streams } }, "pulls into commands");
});

t.test("forged acks on its own ack subject cannot delete another plugin's queued tasks", async (t) => {
  await settled();
  const before = await snapshot();
  const last = before.streams[tasksStream("beta")]!.last;
  for (let seq = 1; seq <= last + 5; seq++) {
    a.publish(`$JS.ACK.${tasksStream("alpha")}.${taskConsumer("alpha", "work.alpha")}.1.${seq}.1.0.0`, "+ACK");
    a.publish(`$JS.ACK.${tasksStream("beta")}.${taskConsumer("beta", "work.beta")}.1.${seq}.1.0.0`, "+ACK");
  }
  await barrier(a);
  const after = await snapshot();
  t.equal(after.streams[tasksStream("beta")]!.messages, betaTasks.length, "every one of beta's tasks is still queued");
  t.same(after.streams[tasksStream("beta")], before.streams[tasksStream("beta")]);
  for (const id of betaTasks) t.match(await bus.tasks.get(id), E.right({ status: "scheduled" }));
});

t.test("the core as a confused deputy: a submission's reply names the JetStream API, a view row or a command", async (t) => {
  const g = await connect(gamma.creds);
  t.teardown(() => g.close());
  await settled();
  const before = await snapshot();
  const replies = [
    `$JS.API.STREAM.PURGE.${tasksStream("beta")}`,
    `$KV.tasks.${betaTasks[1]}`,
    serviceSubject("plugin.disable"),
    "ev.plugin.beta",
    `$JS.API.STREAM.DELETE.${Streams.Events}`,
  ];
  for (const reply of replies) g.publish(submitSubject("work.beta"), JSON.stringify({ params: { via: reply } }), { reply });
  await g.flush();
  // The submissions were served (they are allowed) but their answers went back to gamma's own
  // account: so five tasks were added, and nothing else changed.
  let added = 0;
  for (let i = 0; i < 100 && added < replies.length; i++) {
    added = (await jsm.streams.info(tasksStream("beta"))).state.messages - before.streams[tasksStream("beta")]!.messages;
    if (added < replies.length) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(added, replies.length, "beta's queue was not purged: it holds the new tasks on top of the old");
  await settled();
  const after = await snapshot();
  t.same(after.plugins, before.plugins, "no plugin was disabled");
  const row = await (await new Kvm(bus.nc).open("tasks")).get(betaTasks[1]!);
  t.equal(row?.revision, before.rows[`tasks/${betaTasks[1]}`], "the view row was not overwritten");
});

t.test("a forged actor in the body is ignored: the log names the submitting plugin", async (t) => {
  const g = await connect(gamma.creds);
  t.teardown(() => g.close());
  const m = await g.request(submitSubject("work.beta"), JSON.stringify({ params: {}, actor: "operator:root" }), { timeout: 5000 });
  const r = m.json<{ ok: boolean; result: { taskId: string } }>();
  t.ok(r.ok);
  const view = await bus.call("views.task", { taskId: r.result.taskId });
  t.ok(E.isRight(view));
  if (E.isRight(view)) t.equal(view.right.history[0]!.actor, "plugin:gamma");
});

t.test("a plugin without the grant cannot submit, nor reach the service, the log or another plugin's subjects", async (t) => {
  await settled();
  const before = await snapshot();
  await t.rejects(a.request(submitSubject("work.beta"), JSON.stringify({ params: {} }), { timeout: 1000 }), "no submit import: no responders");
  await t.rejects(a.request(serviceSubject("plugin.list"), "{}", { timeout: 1000 }), "the service is not imported");
  await t.rejects(ajs.consumers.get(tasksStream("beta"), taskConsumer("beta", "work.beta")), "beta's consumer");
  await t.rejects(jetstream(a).publish("ev.plugin.alpha", "forged", { timeout: 1000 }), "the log");
  await t.rejects(jetstream(a).publish("res.beta.x", "{}", { timeout: 1000 }), "beta's reports");
  await t.rejects(jetstream(a).publish(taskSubject("beta", "work.beta"), "{}", { timeout: 1000 }), "beta's queue");
  await t.rejects(jetstreamManager(a), "JetStream administration");
  // Subscribing is allowed inside its own account, and receives nothing of BUS's.
  const sub = a.subscribe("ctl.beta");
  await a.flush();
  bus.nc.publish("ctl.beta", JSON.stringify({ type: "cancel", taskId: "x", attempt: 1, reason: "probe" }));
  const own = a.subscribe("ctl.alpha", { max: 1 });
  await a.flush();
  bus.nc.publish("ctl.alpha", JSON.stringify({ type: "cancel", taskId: "y", attempt: 1, reason: "probe" }));
  for await (const m of own) t.match(m.json(), { taskId: "y" }, "its own control stream arrives");
  t.equal(sub.getProcessed(), 0, "beta's control stream does not");
  sub.unsubscribe();
  await unchanged(t, before, "requests outside its imports");
});

t.test("the service refuses, unanswered, a request from inside BUS whose reply is not an inbox", async (t) => {
  await settled();
  const before = await snapshot();
  const statsOf = async () => {
    const m = await bus.nc.request("$SRV.STATS.ganglion", "", { timeout: 2000 });
    return m.json<{ endpoints: { name: string; num_errors: number }[] }>().endpoints.find((e) => e.name === "plugin_disable")!.num_errors;
  };
  const errors0 = await statsOf();
  const sink = bus.nc.subscribe(`$JS.API.STREAM.PURGE.${tasksStream("beta")}`);
  bus.nc.publish(serviceSubject("plugin.disable"), JSON.stringify({ pluginId: "beta" }), { reply: `$JS.API.STREAM.PURGE.${tasksStream("beta")}` });
  bus.nc.publish(serviceSubject("plugin.disable"), JSON.stringify({ pluginId: "beta" }));
  bus.nc.publish(serviceSubject("plugin.disable"), JSON.stringify({ pluginId: "beta" }), { reply: `$JS.ACK.${tasksStream("beta")}.x.1.1.1.0.0` });
  await bus.nc.flush();
  // A well-formed request after them is answered: the refused ones were processed before it.
  const ok = await callService(bus.nc, "plugin.show", { pluginId: "beta" });
  t.ok(E.isRight(ok));
  await new Promise((r) => setTimeout(r, 200));
  t.equal(sink.getProcessed(), 0, "no answer was sent to the forged reply");
  sink.unsubscribe();
  // The server itself drops a client's publish with a `$JS.ACK.` reply; the other two reach the
  // service, which refuses them and counts them.
  t.equal((await statsOf()) - errors0, 2, "each refusal counts in $SRV.STATS");
  await unchanged(t, before, "refused requests");
});

t.test("the dev bootstrap credentials reach only plugin.register, and cannot take over a plugin", async (t) => {
  const file = await writeDevBootstrapCredentials(bus.accounts!);
  const d = await connect(await readFile(file, "utf8"));
  t.teardown(() => d.close());
  await settled();
  const before = await snapshot();
  await t.rejects(d.request(serviceSubject("plugin.disable"), JSON.stringify({ pluginId: "beta" }), { timeout: 1000 }), "no command is imported into DEV");
  await t.rejects(d.request(serviceSubject("plugin.creds"), JSON.stringify({ pluginId: "beta" }), { timeout: 1000 }));
  const takeover = await callService(d, "plugin.register", {
    manifest: { id: "beta", version: "1.0.0", description: "victim", provides: provides("work.beta"), capabilities: [] },
  });
  t.equal(E.isLeft(takeover) && takeover.left.code, "Forbidden");
  const upgrade = await callService(d, "plugin.register", {
    manifest: { id: "beta", version: "9.0.0", description: "mine now", capabilities: ["task.submit:work.beta"] },
  });
  t.equal(E.isLeft(upgrade) && upgrade.left.code, "Forbidden", "nor upgrade it");
  await unchanged(t, before, "dev bootstrap attempts");
});
