import t from "tap";
import { readFile, stat } from "node:fs/promises";
import * as E from "fp-ts/lib/Either.js";
import { pino } from "pino";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, errors } from "@nats-io/transport-node";
import type { NatsConnection, Status } from "@nats-io/transport-node";
import { devAccountKey, opsAccountKey } from "../../src/auth/accounts.js";
import { writeDevBootstrapCredentials } from "../../src/plugins/credentials.js";
import { pluginEndpoints } from "../../src/service/endpoints/plugins.js";
import { callService } from "../../src/service/client.js";
import { handleRequest, startService } from "../../src/service/service.js";
import { applyDefinitions, loadDefinitions, pluginStreamConfig } from "../../src/store/streamDefinitions.js";
import type { PluginStreamDefinition } from "../../src/store/streamDefinitions.js";
import { JS_BUS_API, Streams, taskConsumer, tasksStream, taskSubject, topicSubject } from "../../src/contract/subjects.js";
import { pluginParts } from "../support/core.js";
import { startTestServer } from "../support/natsServer.js";

const server = await startTestServer();
t.teardown(server.stop);
const log = pino({ level: "silent" });
const admin = await server.connectAdmin({ name: "core" });
t.teardown(() => admin.close());
const jsm = await jetstreamManager(admin);
const definitions = await loadDefinitions();
await applyDefinitions(admin, jsm, definitions);
const template = definitions.find((d): d is PluginStreamDefinition => d.kind === "stream-per-plugin")!;
await jsm.streams.add(pluginStreamConfig(template, "wordcount"));
await jsm.consumers.add(tasksStream("wordcount"), {
  durable_name: taskConsumer("wordcount", "text.wordcount"),
  filter_subject: "task.wordcount.text.wordcount",
  ack_policy: AckPolicy.Explicit,
});

const parts = await pluginParts(server, admin, (f) => t.teardown(f));
const deps = { app: parts.app, catalog: parts.catalog };
const authority = server.installation.authority;
const svc = await startService(
  { nc: admin, log, accounts: { ops: opsAccountKey(authority).getPublicKey(), dev: devAccountKey(authority).getPublicKey() } },
  pluginEndpoints(deps),
);
t.teardown(() => svc.stop());
const store = parts.store;

const manifestText = await readFile(new URL("../../examples/ts-worker/manifest.yaml", import.meta.url), "utf8");
type Res = { plugin: { status: string; granted: string[]; pending: string[]; liveCredentials: unknown[] }; events: string[] };
const call = <R = Res>(endpoint: string, req: unknown) => callService<R>(admin, endpoint, req);
const ok = async <R = Res>(endpoint: string, req: unknown): Promise<R> => {
  const r = await call<R>(endpoint, req);
  if (E.isLeft(r)) throw new Error(`${endpoint}: ${r.left.code}: ${r.left.message}`);
  return r.right;
};
const streamEvents = async (id: string) => {
  const out = [];
  for await (const e of store.readStream(`plugin-${id}`)) out.push(e);
  return out;
};

/** Connects as the plugin and records status events; `disconnected` resolves on the first disconnect. */
const connectPlugin = async (creds: string, id: string) => {
  const nc = await server.connectWith(creds, { name: id });
  const statuses: Status[] = [];
  const disconnected = new Promise<void>((resolve) => {
    void (async () => {
      for await (const s of nc.status()) {
        statuses.push(s);
        if (s.type === "disconnect") resolve();
      }
    })();
  });
  return { nc, statuses, disconnected };
};
const refused = async (creds: string) => {
  try {
    const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), reconnect: false });
    await nc.close();
    return false;
  } catch (err) {
    return err instanceof errors.AuthorizationError;
  }
};

t.test("a bad manifest is refused with every path, and nothing is appended", async (t) => {
  const bad = manifestText
    .replace("timeout: 30s", "timeout: 30")
    .replace("topic.publish:text.counted", "topic.pub:text.counted")
    .replace("id: wordcount", "id: badone");
  const r = await call("plugin.install", { manifestText: bad });
  t.ok(E.isLeft(r));
  if (E.isLeft(r)) {
    t.equal(r.left.code, "InvalidRequest");
    t.match(r.left.message, /provides\[0\]\.timeout: expected a duration like "30s"/);
    t.match(r.left.message, /capabilities\[0\]: unknown capability "topic\.pub:text\.counted"; known capabilities: task\.submit:<taskType>/);
    t.same(r.left.paths, ["manifest.provides[0].timeout", "manifest.capabilities[0]"]);
  }
  t.same(await streamEvents("badone"), []);
});

t.test("install → pending → approve → creds → connect: the operator's flow", async (t) => {
  const installed = await ok("plugin.install", { manifestText, actor: "operator:alice" });
  t.equal(installed.plugin.status, "pending");
  t.same(installed.events, ["plugin.registered"]);
  t.same((await ok("plugin.install", { manifestText })).events, [], "installing the same manifest again is a no-op");

  const early = await call("plugin.creds", { pluginId: "wordcount" });
  t.equal(E.isLeft(early) && early.left.code, "NotApproved", "no credentials before approval");

  const conflicting = await call("plugin.install", { manifestText: manifestText.replace("concurrency: 4", "concurrency: 8") });
  t.equal(E.isLeft(conflicting) && conflicting.left.code, "ManifestConflict");

  const notAsked = await call("plugin.approve", { pluginId: "wordcount", capabilities: ["provider.chat"] });
  t.equal(E.isLeft(notAsked) && notAsked.left.code, "NotRequested");

  const approved = await ok("plugin.approve", { pluginId: "wordcount", capabilities: "all", actor: "operator:alice" });
  t.equal(approved.plugin.status, "active");
  t.same(approved.plugin.granted, ["topic.publish:text.counted"]);

  const c = await ok<{ creds: string; publicKey: string; expiresAt: string | null }>("plugin.creds", { pluginId: "wordcount", ttl: "1h" });
  t.match(c.creds, /-----BEGIN NATS USER JWT-----/);
  t.ok(c.expiresAt && Date.parse(c.expiresAt) > Date.now());

  // The events record who did what, and only the public key of the credentials.
  const evs = await streamEvents("wordcount");
  t.same(
    evs.map((e) => e.type),
    ["plugin.registered", "plugin.capabilities.granted", "plugin.credentials.issued"],
  );
  t.equal(evs[0]!.metadata.actor, "operator:alice");
  t.equal(evs[1]!.metadata.actor, "operator:alice");
  const issued = evs[2]!;
  t.equal(issued.type === "plugin.credentials.issued" && issued.data.publicKey, c.publicKey);
  const raw = JSON.stringify(evs, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  const seed = c.creds.split("\n").find((l) => /^SU[A-Z2-7]{50,}$/.test(l.trim()));
  t.ok(seed, "the creds hold a user seed");
  t.notOk(raw.includes(seed!.trim()), "no user seed in the log");
  t.notOk(raw.includes(c.creds.split("\n")[1]!), "no JWT in the log");

  // The worker connects with them and pulls its own task.
  const p = await connectPlugin(c.creds, "wordcount");
  t.teardown(() => p.nc.close());
  await jetstream(admin).publish(taskSubject("wordcount", "text.wordcount"), JSON.stringify({ text: "one two" }));
  const m = await (
    await jetstream(p.nc, { apiPrefix: JS_BUS_API }).consumers.get(tasksStream("wordcount"), taskConsumer("wordcount", "text.wordcount"))
  ).next({ expires: 5000 });
  t.equal(m?.json<{ text: string }>().text, "one two");
  await m?.ackAck();

  const shown = await ok<{ capabilities: { capability: string; meaning: string; granted: boolean }[]; plugin: { liveCredentials: unknown[] } }>("plugin.show", {
    pluginId: "wordcount",
  });
  t.same(shown.capabilities, [
    {
      capability: "topic.publish:text.counted",
      meaning: "Publish messages on the topic text.counted; every plugin subscribed to it will read them.",
      granted: true,
    },
  ]);
  t.equal(shown.plugin.liveCredentials.length, 1);

  // Disable: the live connection is closed by the server and the credentials stay refused.
  const disabled = await ok("plugin.disable", { pluginId: "wordcount", reason: "maintenance" });
  t.same(disabled.events, ["plugin.credentials.revoked", "plugin.disabled"]);
  await p.disconnected;
  t.ok(await refused(c.creds), "disabled: reconnecting with the old credentials is refused");
  const whileDisabled = await call("plugin.creds", { pluginId: "wordcount" });
  t.equal(E.isLeft(whileDisabled) && whileDisabled.left.code, "Disabled");
  t.same((await ok("plugin.disable", { pluginId: "wordcount" })).events, [], "disabling twice is a no-op");

  // Enable: new credentials are needed, and work.
  t.same((await ok("plugin.enable", { pluginId: "wordcount" })).events, ["plugin.enabled"]);
  t.ok(await refused(c.creds), "enabling does not bring the old credentials back");
  const c2 = await ok<{ creds: string }>("plugin.creds", { pluginId: "wordcount" });
  const p2 = await connectPlugin(c2.creds, "wordcount");
  t.teardown(() => p2.nc.close());
  const topics = async () => (await jsm.streams.info(Streams.Topics)).state.messages;
  const before = await topics();
  await jetstream(p2.nc).publish(topicSubject("text.counted"), "granted");
  t.equal(await topics(), before + 1, "the granted topic is open: the message is stored");

  // Revoking a capability takes its import off the plugin's account: the live connection stays
  // up (no new credentials needed) and no longer reaches the topic.
  const revoked = await ok("plugin.revoke", { pluginId: "wordcount", capabilities: ["topic.publish:text.counted"] });
  t.same(revoked.events, ["plugin.capability.revoked"]);
  t.same(revoked.plugin.pending, ["topic.publish:text.counted"]);
  await t.rejects(jetstream(p2.nc).publish(topicSubject("text.counted"), "no longer granted", { timeout: 1000 }), "the revoked topic reaches nothing");
  t.equal(await topics(), before + 1, "nothing more was stored");
  t.notOk(
    p2.statuses.some((s) => s.type === "disconnect"),
    "the connection stayed up",
  );
  // Granting it again opens it on the same connection, with no reconnect.
  t.same((await ok("plugin.approve", { pluginId: "wordcount", capabilities: ["topic.publish:text.counted"] })).events, ["plugin.capabilities.granted"]);
  await jetstream(p2.nc).publish(topicSubject("text.counted"), "granted again");
  t.equal(await topics(), before + 2, "the grant reached the live connection");
  t.notOk(
    p2.statuses.some((s) => s.type === "disconnect" || s.type === "reconnect"),
    "without a reconnect",
  );
  await ok("plugin.revoke", { pluginId: "wordcount", capabilities: ["topic.publish:text.counted"] });
  const c3 = await ok<{ creds: string; capabilities: string[] }>("plugin.creds", { pluginId: "wordcount" });
  t.same(c3.capabilities, []);
  const p3 = p2;

  // Remove: revoked again, gone from the list, and installing again starts over.
  const removed = await ok("plugin.remove", { pluginId: "wordcount" });
  t.same(removed.events, ["plugin.credentials.revoked", "plugin.removed"]);
  await p3.disconnected;
  const list = await ok<{ plugins: { pluginId: string; status: string }[] }>("plugin.list", {});
  t.notOk(list.plugins.some((p) => p.pluginId === "wordcount"));
  const all = await ok<{ plugins: { pluginId: string; status: string }[] }>("plugin.list", { all: true });
  t.same(all.plugins.find((p) => p.pluginId === "wordcount")?.status, "removed");
  const gone = await call("plugin.show", { pluginId: "nothere" });
  t.equal(E.isLeft(gone) && gone.left.code, "NotFound");
});

t.test("install --yes grants everything at once; a bad plugin id in a request names its path", async (t) => {
  const text = manifestText.replace("id: wordcount", "id: counter");
  const r = await ok("plugin.install", { manifestText: text, grant: "all" });
  t.same(r.events, ["plugin.registered", "plugin.capabilities.granted"]);
  t.equal(r.plugin.status, "active");
  const bad = await call("plugin.show", { pluginId: "Not Valid" });
  t.equal(E.isLeft(bad) && bad.left.code, "InvalidRequest");
  t.same(E.isLeft(bad) && bad.left.paths, ["pluginId"]);
});

t.test("self-registration with the dev bootstrap credentials stays pending without dev mode", async (t) => {
  const bootFile = await writeDevBootstrapCredentials(parts.accounts);
  t.equal((await stat(bootFile)).mode & 0o777, 0o600);
  const nc = await server.connectWith(await readFile(bootFile, "utf8"), { name: "bootstrap" });
  t.teardown(() => nc.close());
  const text = manifestText.replace("id: wordcount", "id: selfreg");
  const r = await callService<{ approved: boolean; creds?: string; plugin: { status: string } }>(nc, "plugin.register", { manifestText: text });
  if (E.isLeft(r)) return t.fail(r.left.message);
  t.equal(r.right.approved, false);
  t.equal(r.right.plugin.status, "pending");
  t.equal(r.right.creds, undefined);
  const evs = await streamEvents("selfreg");
  t.equal(evs[0]!.metadata.actor, "plugin:selfreg");
  // The bootstrap credentials can do nothing else: DEV imports no other endpoint.
  const denied = await callService(nc, "plugin.approve", { pluginId: "selfreg", capabilities: "all" }, { timeoutMs: 2000 });
  t.equal(E.isLeft(denied) && denied.left.code, "Unavailable");
  // Nor take over a plugin an operator installed: same manifest, no credentials.
  await ok("plugin.install", { manifestText: manifestText.replace("id: wordcount", "id: owned"), grant: "all" });
  const takeover = await callService<{ creds?: string }>(nc, "plugin.register", { manifestText: manifestText.replace("id: wordcount", "id: owned") });
  t.equal(E.isLeft(takeover) && takeover.left.code, "Forbidden", "an operator's plugin cannot be registered over");
  t.same(
    (await streamEvents("owned")).map((e) => e.type),
    ["plugin.registered", "plugin.capabilities.granted"],
    "and nothing was appended to it",
  );
  t.equal((await streamEvents("selfreg")).length, 1, "nothing was approved");
});

t.test("in dev mode a self-registration is approved automatically, and the events say so", async (t) => {
  const dev = pluginEndpoints({ ...deps, dev: true });
  const register = dev.find((e) => e.name === "plugin.register")!;
  const text = manifestText.replace("id: wordcount", "id: devworker");
  const r = await handleRequest(register, new TextEncoder().encode(JSON.stringify({ manifestText: text })), { log, now: new Date(), correlationId: "c1" });
  if (E.isLeft(r)) return t.fail(r.left.message);
  const res = r.right as { approved: boolean; creds: string; plugin: { status: string; granted: string[] } };
  t.equal(res.approved, true);
  t.equal(res.plugin.status, "active");
  t.same(res.plugin.granted, ["topic.publish:text.counted"]);
  const evs = await streamEvents("devworker");
  t.same(
    evs.map((e) => e.type),
    ["plugin.registered", "plugin.capabilities.granted", "plugin.credentials.issued"],
  );
  const granted = evs[1]!;
  t.same(granted.type === "plugin.capabilities.granted" && granted.data.automatic, {
    automatic: true,
    reason: "dev mode: the worker self-registered with the dev bootstrap credentials",
  });
  t.ok(evs.every((e) => e.metadata.actor === "plugin:devworker"));
  // Its credentials work.
  const nc: NatsConnection = await server.connectWith(res.creds, { name: "devworker" });
  t.teardown(() => nc.close());
  t.ok((await nc.rtt()) >= 0);
});
