import t from "tap";
import { readFile } from "node:fs/promises";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, errors } from "@nats-io/transport-node";
import type { NatsConnection, Status } from "@nats-io/transport-node";
import { busRevoker, revocationsOf } from "../../src/auth/revocation.js";
import { currentBusJwt } from "../../src/embedded/installation.js";
import { defaultCatalog } from "../../src/plugins/catalog.js";
import { mintPluginCredentials } from "../../src/plugins/credentials.js";
import { pluginApp } from "../../src/plugins/app.js";
import { decodeManifest } from "../../src/plugins/manifest.js";
import { PluginEvent } from "../../src/events/plugin.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import * as E from "fp-ts/lib/Either.js";
import { applyDefinitions, loadDefinitions } from "../../src/store/streamDefinitions.js";
import {
  eventSubject,
  heartbeatSubject,
  kvSubject,
  pluginInboxPrefix,
  providerSubject,
  resultSubject,
  serviceSubject,
  Streams,
  taskConsumer,
  taskSubject,
  topicConsumer,
  topicSubject,
} from "../../src/store/subjects.js";
import { jetStreamAnswers, startTestServer } from "../support/natsServer.js";

/**
 * The isolation matrix: plugin A's real, minted credentials against a real nats-server in
 * operator mode. Every denial below is the server's, not the client's.
 */
const server = await startTestServer();
t.teardown(server.stop);
const catalog = defaultCatalog();

const admin = await server.connectAdmin({ name: "admin" });
t.teardown(() => admin.close());
const jsm = await jetstreamManager(admin);
await applyDefinitions(admin, jsm, await loadDefinitions());

// Each plugin's durable task consumer and its topic consumer for `news`, as the core creates them.
for (const id of ["alpha", "beta"]) {
  await jsm.consumers.add(Streams.Tasks, { durable_name: taskConsumer(id), filter_subject: `task.${id}.>`, ack_policy: AckPolicy.Explicit });
  await jsm.consumers.add(Streams.Topics, { durable_name: topicConsumer(id, "news"), filter_subject: topicSubject("news"), ack_policy: AckPolicy.Explicit });
}

const GRANTS = ["topic.publish:news", "topic.subscribe:news", "provider.chat"];
const credsA = await mintPluginCredentials(server.installation.authority, catalog, "alpha", GRANTS);
const credsB = await mintPluginCredentials(server.installation.authority, catalog, "beta", GRANTS);

/** A plugin connection that records every status event (denied publishes show up there). */
const connectPlugin = async (creds: string, id: string, opts: { maxReconnectAttempts?: number } = {}) => {
  const nc = await server.connectWith(creds, { inboxPrefix: pluginInboxPrefix(id), name: id, maxReconnectAttempts: opts.maxReconnectAttempts ?? -1 });
  const statuses: Status[] = [];
  const waiters: ((s: Status) => void)[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      statuses.push(s);
      for (const w of waiters.splice(0)) w(s);
    }
  })();
  /** Resolves with the first status event (past or future) matching `p`. */
  const waitFor = (p: (s: Status) => boolean): Promise<Status> =>
    new Promise((resolve) => {
      const found = statuses.find(p);
      if (found) return resolve(found);
      const w = (s: Status) => (p(s) ? resolve(s) : waiters.push(w));
      waiters.push(w);
    });
  return { nc, statuses, waitFor };
};

const a = await connectPlugin(credsA.creds, "alpha");
t.teardown(() => a.nc.close());

const isPermission = (op: "publish" | "subscription", subject: string) => (s: Status) =>
  s.type === "error" && s.error instanceof errors.PermissionViolationError && s.error.operation === op && s.error.subject === subject;

/** Subscribes and waits for the server's answer: a denied subscription is closed with PermissionViolationError. */
const trySubscribe = async (nc: NatsConnection, subject: string) => {
  const sub = nc.subscribe(subject);
  await nc.flush();
  // The server answers the SUB before the PONG of the flush, so a denial has arrived by now.
  const closed = sub.isClosed() ? await sub.closed : undefined;
  if (!sub.isClosed()) sub.unsubscribe();
  return closed;
};

t.test("A may not subscribe outside its inbox", async (t) => {
  for (const subject of [
    ">",
    "ev.>",
    eventSubject("plugin", "beta"),
    "task.beta.>",
    taskSubject("beta", "text.wordcount"),
    "res.beta.>",
    `${pluginInboxPrefix("beta")}.>`,
    "_INBOX.>",
    topicSubject("news"),
    "$SYS.>",
    "$KV.plugins.>",
    "hb.*.*",
    serviceSubject("plugin.install"),
  ]) {
    const closed = await trySubscribe(a.nc, subject);
    t.ok(closed instanceof errors.PermissionViolationError, `subscribe ${subject} is denied`);
    if (closed instanceof errors.PermissionViolationError) t.equal(closed.operation, "subscription");
  }
  t.equal(await trySubscribe(a.nc, `${pluginInboxPrefix("alpha")}.x`), undefined, "its own inbox is allowed");
});

t.test("A may not publish into the log, B's subjects, KV, JetStream administration or the core's service", async (t) => {
  const denied = [
    eventSubject("plugin", "alpha"),
    eventSubject("task", "t1"),
    taskSubject("beta", "text.wordcount"),
    taskSubject("alpha", "text.wordcount"),
    resultSubject("beta", "t1"),
    heartbeatSubject("beta", "i1"),
    kvSubject("plugins", "alpha"),
    "$KV.tasks.t1",
    "$JS.API.STREAM.CREATE.X",
    "$JS.API.STREAM.DELETE.EVENTS",
    "$JS.API.STREAM.PURGE.TASKS",
    "$JS.API.CONSUMER.DURABLE.CREATE.TASKS.x",
    "$JS.API.INFO",
    `$JS.API.CONSUMER.MSG.NEXT.${Streams.Tasks}.${taskConsumer("beta")}`,
    `$JS.ACK.${Streams.Tasks}.${taskConsumer("beta")}.1.1.1.1.1`,
    `$JS.API.CONSUMER.MSG.NEXT.${Streams.Topics}.${topicConsumer("beta", "news")}`,
    "$SYS.REQ.CLAIMS.UPDATE",
    serviceSubject("plugin.approve"),
    topicSubject("other"),
    `${pluginInboxPrefix("beta")}.reply`,
  ];
  for (const subject of denied) {
    a.nc.publish(subject, "x");
    await a.nc.flush();
    // A guard, not a timing assertion: without a denial the test fails instead of hanging.
    const s = await Promise.race([a.waitFor(isPermission("publish", subject)), new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000).unref())]);
    t.ok(s, `publish ${subject} is denied by the server`);
  }
});

t.test("A's requests to what it may not reach are rejected", async (t) => {
  await t.rejects(a.nc.request(serviceSubject("plugin.list"), "{}", { timeout: 2000 }), "the core's service");
  await t.rejects(a.nc.request("$JS.API.INFO", "", { timeout: 2000 }), "JetStream account info");
  await t.rejects(jetstreamManager(a.nc), "a JetStream manager");
  const js = jetstream(a.nc);
  await t.rejects(js.consumers.get(Streams.Tasks, taskConsumer("beta")), "B's task consumer");
  await t.rejects(js.consumers.get(Streams.Topics, topicConsumer("beta", "news")), "B's topic consumer");
  await t.rejects(js.publish(eventSubject("plugin", "alpha"), "forged"), "a forged event through JetStream");
  // Nothing A tried reached the log.
  const events = await jsm.streams.info(Streams.Events);
  t.equal(events.state.messages, 0);
  const tasks = await jsm.streams.info(Streams.Tasks);
  t.equal(tasks.state.messages, 0);
});

t.test("A can do what its grants allow", async (t) => {
  const ajs = jetstream(admin);
  await ajs.publish(taskSubject("alpha", "text.wordcount"), JSON.stringify({ text: "a b c" }));
  await ajs.publish(topicSubject("news"), "hello");

  // Its own task consumer, pulled with the standard JetStream API.
  const js = jetstream(a.nc);
  const tasks = await js.consumers.get(Streams.Tasks, taskConsumer("alpha"));
  const iter = await tasks.fetch({ max_messages: 1, expires: 5000 });
  const got: string[] = [];
  for await (const m of iter) {
    got.push(m.string());
    m.working();
    await m.ackAck();
  }
  t.same(got, [JSON.stringify({ text: "a b c" })]);

  // Its topic consumer for the granted topic.
  const topic = await js.consumers.get(Streams.Topics, topicConsumer("alpha", "news"));
  const tm = await topic.next({ expires: 5000 });
  t.equal(tm?.string(), "hello");
  await tm?.ackAck();

  // Results, heartbeats, granted topics and the provider it was granted: seen by the core.
  const seen = admin.subscribe(">", { max: 3 });
  await admin.flush();
  a.nc.publish(resultSubject("alpha", "t1"), JSON.stringify({ ok: true }));
  a.nc.publish(heartbeatSubject("alpha", "i1"), "{}");
  a.nc.publish(providerSubject("chat"), "{}");
  const subjects: string[] = [];
  for await (const m of seen) subjects.push(m.subject);
  t.same(subjects.sort(), [heartbeatSubject("alpha", "i1"), providerSubject("chat"), resultSubject("alpha", "t1")].sort());
  // Through JetStream too: its result lands in RESULTS (the ack comes back on its own inbox).
  const ack = await js.publish(resultSubject("alpha", "t2"), JSON.stringify({ ok: true }));
  t.equal(ack.stream, Streams.Results);
  await js.publish(topicSubject("news"), "from alpha");
  t.notOk(a.statuses.some(isPermission("publish", resultSubject("alpha", "t1"))), "no permission error for allowed subjects");
});

t.test("without the inbox prefix every request fails: the prefix is part of the contract", async (t) => {
  const nc = await server.connectWith(credsA.creds, { name: "no-prefix" });
  t.teardown(() => nc.close());
  await t.rejects(jetstream(nc).consumers.get(Streams.Tasks, taskConsumer("alpha")));
});

const refused = async (creds: string) => {
  try {
    const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), reconnect: false, timeout: 5000 });
    await nc.close();
    return undefined;
  } catch (err) {
    return err as Error;
  }
};

t.test("a revoked plugin is disconnected at once and refused on reconnect; new credentials work", async (t) => {
  const sysCreds = await readFile(server.installation.sysCreds, "utf8");
  const revoker = busRevoker({ authority: server.installation.authority, sysCreds, servers: server.url });
  const b = await connectPlugin(credsB.creds, "beta");
  t.teardown(() => b.nc.close());
  // Revoke A only: B keeps working.
  const started = Date.now();
  await revoker.revoke([credsA.publicKey]);
  await a.waitFor((s) => s.type === "disconnect");
  t.comment(`revocation took ${Date.now() - started} ms from the push to the disconnect`);
  const err = await refused(credsA.creds);
  t.ok(err instanceof errors.AuthorizationError, `a new connection with A's revoked credentials is refused (${err?.message})`);
  t.ok(b.nc.isClosed() === false && (await b.nc.rtt()) >= 0, "B is untouched");
  t.ok((await revoker.revocations())[credsA.publicKey], "the revocation is in force");
  t.equal(revocationsOf(await currentBusJwt(server.installation.authority))[credsA.publicKey] !== undefined, true, "and kept in keys/bus.jwt");

  // Enabling again means new credentials: a JWT minted after the revocation is accepted.
  const fresh = await mintPluginCredentials(server.installation.authority, catalog, "alpha", GRANTS);
  const a2 = await connectPlugin(fresh.creds, "alpha");
  t.teardown(() => a2.nc.close());
  const c = await jetstream(a2.nc).consumers.get(Streams.Tasks, taskConsumer("alpha"));
  t.equal((await c.info()).name, taskConsumer("alpha"));

  // A restart keeps the revocation (the last pushed account JWT is preloaded).
  await server.kill();
  await server.restart();
  await jetStreamAnswers(admin); // the next test uses this connection; let it finish reconnecting
  const again = await refused(credsA.creds);
  t.ok(again instanceof errors.AuthorizationError, `still refused after a server restart (${again?.message})`);
  t.equal(await refused(fresh.creds), undefined, "the new credentials still connect after the restart");
});

t.test("a disabled plugin is disconnected and refused, through the plugin commands", async (t) => {
  const sysCreds = await readFile(server.installation.sysCreds, "utf8");
  const app = pluginApp({
    store: natsEventStore(admin, { codec: PluginEvent }),
    catalog,
    authority: server.installation.authority,
    revoker: busRevoker({ authority: server.installation.authority, sysCreds, servers: server.url }),
  });
  const meta = { actor: "operator:test", time: new Date() };
  const m = decodeManifest("id: gamma\nversion: 1.0.0\ndescription: g\ncapabilities: [topic.publish:news]\n");
  if (E.isLeft(m)) return t.fail(m.left.join("; "));
  t.ok(E.isRight(await app.execute("gamma", { type: "install", manifest: m.right, grant: "all" }, meta)));
  const c = await app.issueCredentials("gamma", {}, meta);
  if (E.isLeft(c)) return t.fail(c.left.message);
  const g = await connectPlugin(c.right.creds, "gamma");
  t.teardown(() => g.nc.close());
  g.nc.publish(topicSubject("news"), "granted");
  await g.nc.flush();

  const d = await app.execute("gamma", { type: "disable", pluginId: "gamma", reason: "isolation test" }, meta);
  t.same(E.isRight(d) && d.right.events.map((e) => e.type), ["plugin.credentials.revoked", "plugin.disabled"]);
  await g.waitFor((s) => s.type === "disconnect");
  const err = await refused(c.right.creds);
  t.ok(err instanceof errors.AuthorizationError, `the disabled plugin's credentials are refused (${err?.message})`);
  const again = await app.issueCredentials("gamma", {}, meta);
  t.equal(E.isLeft(again) && again.left._tag, "Disabled", "and no new ones are minted while it is disabled");
});
