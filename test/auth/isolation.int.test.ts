import t from "tap";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, errors } from "@nats-io/transport-node";
import type { Status } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { pluginAccountKey } from "../../src/auth/accounts.js";
import { revocationsOf } from "../../src/auth/accountAuthority.js";
import { mintPluginCredentials } from "../../src/plugins/credentials.js";
import { decodeManifest } from "../../src/plugins/manifest.js";
import { applyDefinitions, loadDefinitions, pluginStreamConfig } from "../../src/store/streamDefinitions.js";
import type { PluginStreamDefinition } from "../../src/store/streamDefinitions.js";
import {
  eventSubject,
  heartbeatSubject,
  JS_BUS_API,
  kvSubject,
  providerSubject,
  resultSubject,
  serviceSubject,
  Streams,
  taskConsumer,
  tasksStream,
  taskSubject,
  topicConsumer,
  topicSubject,
} from "../../src/contract/subjects.js";
import { pluginParts } from "../support/core.js";
import { jetStreamAnswers, startTestServer } from "../support/natsServer.js";

/**
 * The isolation matrix of the account topology: plugin A's real, minted credentials (a user of
 * A's own account) against a real nats-server in operator mode. What A reaches of BUS is exactly
 * what its account imports; everything else reaches nothing, and the checks below look at BUS
 * (an admin subscription on `>`, the streams) to prove it, not at client-side errors.
 */
const server = await startTestServer();
t.teardown(server.stop);
const admin = await server.connectAdmin({ name: "admin" });
t.teardown(() => admin.close());
const jsm = await jetstreamManager(admin);
const definitions = await loadDefinitions();
await applyDefinitions(admin, jsm, definitions);
const template = definitions.find((d): d is PluginStreamDefinition => d.kind === "stream-per-plugin")!;
const parts = await pluginParts(server, admin, (f) => t.teardown(f));

const GRANTS = ["topic.publish:news", "topic.subscribe:news", "provider.chat"];
// Each plugin's work queue, task consumer and topic consumer, as the core creates them.
for (const id of ["alpha", "beta"]) {
  await jsm.streams.add(pluginStreamConfig(template, id));
  await jsm.consumers.add(tasksStream(id), {
    durable_name: taskConsumer(id, "text.wordcount"),
    filter_subject: taskSubject(id, "text.wordcount"),
    ack_policy: AckPolicy.Explicit,
  });
  await jsm.consumers.add(Streams.Topics, { durable_name: topicConsumer(id, "news"), filter_subject: topicSubject("news"), ack_policy: AckPolicy.Explicit });
  await parts.accounts.applyPlugin(id, { active: true, granted: GRANTS });
}
const credsA = await mintPluginCredentials(parts.accounts, "alpha");
const credsB = await mintPluginCredentials(parts.accounts, "beta");

/** A plugin connection that records every status event. */
const connectPlugin = async (creds: string, name: string) => {
  const nc = await server.connectWith(creds, { name });
  const statuses: Status[] = [];
  const waiters: ((s: Status) => void)[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      statuses.push(s);
      for (const w of waiters.splice(0)) w(s);
    }
  })();
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

/** Everything that arrives anywhere in BUS while `f` runs (an admin subscription on `>`). */
const seenInBus = async (f: () => Promise<void>): Promise<string[]> => {
  const sub = admin.subscribe(">");
  await admin.flush();
  await f();
  await a.nc.flush();
  // A message A sends after the others, that BUS does receive: once it is here, the rest would be.
  const marker = `hb.alpha.marker-${Date.now()}`;
  a.nc.publish(marker, "{}");
  const got: string[] = [];
  for await (const m of sub) {
    if (m.subject === marker) break;
    got.push(m.subject);
  }
  sub.unsubscribe();
  return got.filter((s) => !s.startsWith("$JS.EVENT") && !s.startsWith("_INBOX."));
};

t.test("A's publishes outside its imports reach nothing in BUS", async (t) => {
  const targets = [
    ">",
    eventSubject("plugin", "alpha"),
    eventSubject("task", "t1"),
    taskSubject("beta", "text.wordcount"),
    taskSubject("alpha", "text.wordcount"),
    resultSubject("beta", "t1"),
    heartbeatSubject("beta", "i1"),
    kvSubject("plugins", "alpha"),
    "$KV.tasks.t1",
    "$JS.API.STREAM.CREATE.X",
    `$JS.API.STREAM.DELETE.${Streams.Events}`,
    `$JS.API.STREAM.PURGE.${tasksStream("beta")}`,
    `$JS.API.CONSUMER.MSG.NEXT.${tasksStream("beta")}.${taskConsumer("beta", "text.wordcount")}`,
    `${JS_BUS_API}.CONSUMER.MSG.NEXT.${tasksStream("beta")}.${taskConsumer("beta", "text.wordcount")}`,
    `$JS.ACK.${tasksStream("beta")}.${taskConsumer("beta", "text.wordcount")}.1.1.1.1.1`,
    `${JS_BUS_API}.CONSUMER.MSG.NEXT.${Streams.Topics}.${topicConsumer("beta", "news")}`,
    "$SYS.REQ.CLAIMS.UPDATE",
    serviceSubject("plugin.approve"),
    serviceSubject("plugin.register"),
    topicSubject("other"),
    "submit.anything",
    "secret.any",
    "ctl.beta",
  ];
  const seen = await seenInBus(async () => {
    for (const s of targets) a.nc.publish(s, "x");
  });
  t.same(seen, [], "BUS received none of them");
  t.equal((await jsm.streams.info(Streams.Events)).state.messages, 0, "the log is empty");
  t.ok(await jsm.streams.info(Streams.Events), "EVENTS still exists");
});

t.test("A's requests to what it may not reach fail, and JetStream administration is not there", async (t) => {
  await t.rejects(a.nc.request(serviceSubject("plugin.list"), "{}", { timeout: 2000 }), "the core's service");
  await t.rejects(jetstreamManager(a.nc), "a JetStream manager (the account has no JetStream)");
  const js = jetstream(a.nc, { apiPrefix: JS_BUS_API });
  await t.rejects(js.consumers.get(tasksStream("beta"), taskConsumer("beta", "text.wordcount")), "B's task consumer");
  await t.rejects(js.consumers.get(Streams.Topics, topicConsumer("beta", "news")), "B's topic consumer");
  await t.rejects(js.publish(eventSubject("plugin", "alpha"), "forged", { timeout: 2000 }), "a forged event through JetStream");
  t.equal((await jsm.streams.info(Streams.Events)).state.messages, 0);
});

t.test("A can do what its account imports", async (t) => {
  const ajs = jetstream(admin);
  await ajs.publish(taskSubject("alpha", "text.wordcount"), JSON.stringify({ text: "a b c" }));
  await ajs.publish(topicSubject("news"), "hello");
  const js = jetstream(a.nc, { apiPrefix: JS_BUS_API });
  const tasks = await js.consumers.get(tasksStream("alpha"), taskConsumer("alpha", "text.wordcount"));
  const got: string[] = [];
  for await (const m of await tasks.fetch({ max_messages: 1, expires: 5000 })) {
    got.push(m.string());
    m.working();
    await m.ackAck();
  }
  t.same(got, [JSON.stringify({ text: "a b c" })], "its own task, pulled and acked");
  t.equal((await jsm.streams.info(tasksStream("alpha"))).state.messages, 0, "the ack removed it from its work queue");

  const tm = await (await js.consumers.get(Streams.Topics, topicConsumer("alpha", "news"))).next({ expires: 5000 });
  t.equal(tm?.string(), "hello", "its topic consumer");
  await tm?.ackAck();

  const seen = await seenInBus(async () => {
    a.nc.publish(resultSubject("alpha", "t1"), JSON.stringify({ ok: true }));
    a.nc.publish(heartbeatSubject("alpha", "i1"), "{}");
    a.nc.publish(providerSubject("chat"), "{}");
  });
  t.same(
    seen.sort(),
    [heartbeatSubject("alpha", "i1"), "prov.alpha.chat", resultSubject("alpha", "t1")].sort(),
    "reports, heartbeats, and the provider under its own id",
  );
  const ack = await jetstream(a.nc).publish(resultSubject("alpha", "t2"), JSON.stringify({ ok: true }));
  t.equal(ack.stream, Streams.Results, "its report lands in RESULTS; the ack comes back");
  await jetstream(a.nc).publish(topicSubject("news"), "from alpha");
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

t.test("a revoked user is disconnected at once and refused on reconnect; B is untouched; it survives a restart", async (t) => {
  const b = await connectPlugin(credsB.creds, "beta");
  t.teardown(() => b.nc.close());
  const started = Date.now();
  await parts.accounts.applyPlugin("alpha", { active: true, granted: GRANTS }, [credsA.publicKey]);
  await a.waitFor((s) => s.type === "disconnect");
  t.comment(`revocation took ${Date.now() - started} ms from the push to the disconnect`);
  const err = await refused(credsA.creds);
  t.ok(err instanceof errors.AuthorizationError, `A's revoked credentials are refused (${err?.message})`);
  t.ok(!b.nc.isClosed() && (await b.nc.rtt()) >= 0, "B is untouched");
  t.ok((await parts.accounts.pluginRevocations("alpha"))[credsA.publicKey], "the revocation is in force");
  const kept = await parts.accounts.lastPushed(pluginAccountKey(server.installation.authority, "alpha").getPublicKey());
  t.ok(kept && revocationsOf(kept)[credsA.publicKey], "and kept in keys/accounts/");

  // A later push of the same account carries it forward (nats-server drops revocations a later JWT omits).
  await parts.accounts.applyPlugin("alpha", { active: true, granted: [] });
  t.ok(await refused(credsA.creds), "still refused after another push");

  const fresh = await mintPluginCredentials(parts.accounts, "alpha");
  t.equal(await refused(fresh.creds), undefined, "credentials minted after the revocation connect");

  await server.kill();
  await server.restart();
  await jetStreamAnswers(admin);
  t.ok((await refused(credsA.creds)) instanceof errors.AuthorizationError, "still refused after a server restart");
  t.equal(await refused(fresh.creds), undefined, "the new credentials still connect after the restart");
});

t.test("a disabled plugin is cut off and refused, through the plugin commands; its account imports nothing", async (t) => {
  const meta = { actor: "operator:test", time: new Date() };
  const m = decodeManifest("id: gamma\nversion: 1.0.0\ndescription: g\ncapabilities: [topic.publish:news]\n");
  if (E.isLeft(m)) return t.fail(m.left.join("; "));
  t.ok(E.isRight(await parts.app.execute("gamma", { type: "install", manifest: m.right, grant: "all" }, meta)));
  const c = await parts.app.issueCredentials("gamma", {}, meta);
  if (E.isLeft(c)) return t.fail(c.left.message);
  const g = await connectPlugin(c.right.creds, "gamma");
  t.teardown(() => g.nc.close());
  await jetstream(g.nc).publish(topicSubject("news"), "granted");

  const d = await parts.app.execute("gamma", { type: "disable", pluginId: "gamma", reason: "isolation test" }, meta);
  t.same(E.isRight(d) && d.right.events.map((e) => e.type), ["plugin.credentials.revoked", "plugin.disabled"]);
  await g.waitFor((s) => s.type === "disconnect");
  const err = await refused(c.right.creds);
  t.ok(err instanceof errors.AuthorizationError, `the disabled plugin's credentials are refused (${err?.message})`);
  const again = await parts.app.issueCredentials("gamma", {}, meta);
  t.equal(E.isLeft(again) && again.left._tag, "Disabled", "and no new ones are minted while it is disabled");
  const jwt = await parts.accounts.lastPushed(pluginAccountKey(server.installation.authority, "gamma").getPublicKey());
  const claims = JSON.parse(Buffer.from(jwt!.split(".")[1]!, "base64url").toString()) as { nats: { imports?: unknown[] } };
  t.same(claims.nats.imports ?? [], [], "the disabled plugin's account imports nothing");
});
