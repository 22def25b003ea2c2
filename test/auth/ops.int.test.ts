import t from "tap";
import type { Test } from "tap";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, credsAuthenticator, Empty } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { decode } from "@nats-io/jwt";
import { pino } from "pino";
import { opsAccountKey } from "../../src/auth/accounts.js";
import { MAX_CONTROL_LINE } from "../../src/auth/ops.js";
import { createTestBus } from "../../src/testing/testBus.js";
import { runCli } from "../cli/cliProcess.js";
import { eventually } from "../support/ops.js";

// The OPS account under attack, with the real core (createTestBus) and the credentials
// `ganglion nats-context` really mints. Every attack must be refused or harmless, and leave the
// log (EVENTS), the views and the plugins exactly as they were.
const bus = await createTestBus({ logger: pino({ level: "silent" }) });
t.teardown(() => bus.stop());
const xdg = await mkdtemp(join(tmpdir(), "ganglion-ops-xdg-"));
t.teardown(() => rm(xdg, { recursive: true, force: true }));

const manifest = {
  id: "victim",
  version: "1.0.0",
  description: "the plugin the attacks aim at",
  provides: [{ type: "victim.run", description: "runs", params: { type: "object" }, result: { type: "object" }, timeout: "30s" }],
  capabilities: [],
};
await bus.install(manifest);
const admin = await jetstreamManager(bus.nc);
const adminKv = (bucket: string) => new Kvm(bus.nc).open(bucket);
const td = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `ganglion nats-context`, as an operator runs it: answers the minted creds (and the CLI's output). */
const natsContext = async (...extra: string[]) => {
  const r = await runCli(["--data-dir", bus.dataDir, "--nats", bus.url, "nats-context", "--name", "attacker", ...extra], { XDG_CONFIG_HOME: xdg });
  if (r.code !== 0) throw new Error(`nats-context exited ${r.code}: ${r.stderr}`);
  const context = JSON.parse(await readFile(join(xdg, "nats", "context", "attacker.json"), "utf8"));
  return { creds: await readFile(context.creds, "utf8"), stdout: r.stdout };
};
const connectOps = (creds: string) =>
  connect({ servers: bus.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), name: "ops-attacker", maxReconnectAttempts: 0 });
/** A connection's asynchronous permission errors (denied publishes never throw). */
const violations = (nc: NatsConnection) => {
  const out: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === "error") out.push(JSON.stringify(s));
  })();
  return out;
};

const VIEW_STREAMS = ["KV_plugins", "KV_workers", "KV_tasks", "KV_capabilities", "KV_totals", "KV_ganglion-projections"];
/** What no attack may change: the log, the views, the plugin, BUS's consumers on EVENTS. */
const snapshot = async () => {
  const ev = (await admin.streams.info("EVENTS")).state;
  const views: Record<string, number> = {};
  for (const s of VIEW_STREAMS) views[s] = (await admin.streams.info(s)).state.last_seq;
  const row = JSON.parse((await (await adminKv("plugins")).get("victim"))!.string());
  const consumers: string[] = [];
  for await (const c of admin.consumers.list("EVENTS")) consumers.push(`${c.name}:${c.config.deliver_subject ?? ""}`);
  return {
    events: { messages: ev.messages, last: ev.last_seq },
    views,
    plugin: { status: row.status, granted: row.granted, credentials: row.credentials },
    consumers: consumers.sort(),
  };
};
const unchanged = async (t: Test, before: Awaited<ReturnType<typeof snapshot>>, what: string) => {
  await sleep(1000); // time for anything the attack set in motion to land
  const after = await snapshot();
  t.same(after.events, before.events, `${what}: nothing appended to EVENTS`);
  t.same(after.views, before.views, `${what}: the views are unchanged`);
  t.same(after.plugin, before.plugin, `${what}: the plugin is still active, with its grants and credentials`);
  t.same(after.consumers, before.consumers, `${what}: BUS's consumers on EVENTS are unchanged`);
  const v = await bus.call("views.plugin", { pluginId: "victim" });
  t.match(v, { right: { status: "active" } }, `${what}: the core still says active`);
};

// The worst case for a delivery into the imported BUS API: a message of the log whose body *is* a
// valid consumer-create request (a consumer on BUS's EVENTS delivering into plugin.disable).
// The core never appends such a message; planting one here makes the attack its strongest.
const EVIL_REQUEST = {
  stream_name: "EVENTS",
  config: { deliver_subject: "ganglion.v1.plugin.disable", filter_subject: "ev.nothing.here", ack_policy: "none", deliver_policy: "all" },
};
await jetstream(bus.nc).publish("ev.planted.request", JSON.stringify(EVIL_REQUEST));
// A durable consumer of BUS the attacker will try to delete.
await admin.consumers.add("EVENTS", { durable_name: "victim-reader", ack_policy: AckPolicy.Explicit, filter_subject: "ev.plugin.>" });

const first = await natsContext();
const ro = await connectOps(first.creds);
const roErrors = violations(ro);
const roJsm = await jetstreamManager(ro);
// The OPS copies hold what BUS holds (the planted message included).
await eventually(
  "the OPS mirror of EVENTS to catch up",
  async () => (await roJsm.streams.info("EVENTS")).state.last_seq === (await admin.streams.info("EVENTS")).state.last_seq,
);
await eventually("the OPS copy of plugins to hold the victim", async () => (await (await new Kvm(ro).open("plugins")).get("victim")) !== null);

t.test("the minted credentials are an OPS user that fits a CONNECT line", async (t) => {
  const jwt = first.creds.split("\n").find((l) => l.startsWith("ey"))!;
  t.equal(decode(jwt).iss, opsAccountKey(bus.installation.authority).getPublicKey());
  t.ok(jwt.length + 512 < MAX_CONTROL_LINE, `${jwt.length} bytes`);
  // Sanity for (a): the planted body is a valid request when BUS itself sends it.
  const made = JSON.parse(td.decode((await bus.nc.request("$JS.API.CONSUMER.CREATE.EVENTS", JSON.stringify(EVIL_REQUEST), { timeout: 5000 })).data));
  t.equal(made.config?.deliver_subject, "ganglion.v1.plugin.disable", "the body creates that consumer when sent from inside BUS");
  await admin.consumers.delete("EVENTS", made.name);
});

t.test("(a) an OPS push consumer delivering into a command or into the imported BUS API reaches nothing", async (t) => {
  const before = await snapshot();
  // Watch, from inside BUS, what arrives on the real consumer-create subject of EVENTS.
  const arrived: { reply: string; acc: string; body: string }[] = [];
  const spy = bus.nc.subscribe("$JS.API.CONSUMER.CREATE.EVENTS", {
    callback: (_e, m) => {
      arrived.push({ reply: m.reply ?? "", acc: m.headers?.get("Nats-Request-Info") ?? "", body: m.string() });
    },
  });
  t.teardown(() => spy.unsubscribe());
  const made: [string, string, boolean][] = [];
  // `true`: a literal import of OPS, so the push consumer sees interest and its deliveries do
  // cross into BUS (with a `$JS.ACK.` reply). The others find no interest in OPS and never deliver.
  for (const [stream, deliver, crosses] of [
    ["EVENTS", "ganglion.v1.plugin.disable", false],
    ["KV_plugins", "ganglion.v1.plugin.disable", false],
    ["EVENTS", "$JS.BUS.API.CONSUMER.CREATE.EVENTS", true],
    ["KV_plugins", "$JS.BUS.API.CONSUMER.CREATE.EVENTS", true],
    ["EVENTS", "$JS.BUS.API.CONSUMER.CREATE.EVENTS.pwned", false],
    // An imported read endpoint: the service refuses a request whose reply is not an inbox.
    ["EVENTS", "ganglion.v1.views.plugins", true],
    // The mirror's own flow control and delivery subjects.
    ["EVENTS", "$JS.FC.EVENTS.victim-reader.x", false],
    ["EVENTS", "deliver.ops.EVENTS.M.guess", false],
    // Discovery, a wildcard import.
    ["EVENTS", "$SRV.PING", false],
  ] as const) {
    const ci = await roJsm.consumers.add(stream, { deliver_subject: deliver, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
    t.ok(ci.name, `OPS created a push consumer on its ${stream} delivering into ${deliver} (it lives in OPS)`);
    made.push([stream, ci.name, crosses]);
  }
  await unchanged(t, before, "push consumers into BUS subjects");
  for (const [stream, name, crosses] of made) {
    const ci = await roJsm.consumers.info(stream, name);
    if (crosses) t.ok(ci.delivered.consumer_seq > 0 && ci.num_pending === 0, `${stream} → ${ci.config.deliver_subject}: delivered all it had (the attack ran)`);
    else t.equal(ci.delivered.consumer_seq, 0, `${stream} → ${ci.config.deliver_subject}: no interest in OPS, nothing delivered`);
  }
  const ops = opsAccountKey(bus.installation.authority).getPublicKey();
  t.ok(
    arrived.some((m) => m.body === JSON.stringify(EVIL_REQUEST) && m.acc.includes(ops) && m.reply.startsWith("$JS.ACK.")),
    "the planted request did reach BUS's consumer API, from OPS, with a $JS.ACK. reply",
  );
  const evil = await snapshot();
  t.notOk(
    evil.consumers.some((c) => c.endsWith(":ganglion.v1.plugin.disable")),
    "no consumer of BUS delivers into plugin.disable",
  );
  t.equal((await roJsm.streams.info("EVENTS")).state.last_seq, evil.events.last, "the OPS mirror of EVENTS still follows");
});

t.test("(a') push consumers delivering into OPS's own JetStream API or bucket subjects change nothing in OPS either", async (t) => {
  const copy = async () => {
    const si = await roJsm.streams.info("KV_plugins");
    const streams: string[] = [];
    for await (const x of roJsm.streams.names()) streams.push(x);
    return {
      streams: streams.sort(),
      last: si.state.last_seq,
      messages: si.state.messages,
      victim: (await (await new Kvm(ro).open("plugins")).get("victim"))?.string(),
    };
  };
  const before = await copy();
  const busBefore = await snapshot();
  const made: [string, string][] = [];
  for (const deliver of [
    "$JS.API.STREAM.DELETE.KV_plugins",
    "$JS.API.STREAM.PURGE.KV_plugins",
    "$JS.API.STREAM.CREATE.EVIL",
    "$KV.plugins.victim",
    "$KV.plugins.planted",
  ]) {
    const ci = await roJsm.consumers.add("EVENTS", { deliver_subject: deliver, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
    made.push([deliver, ci.name]);
  }
  await sleep(1000);
  for (const [deliver, name] of made) {
    t.equal((await roJsm.consumers.info("EVENTS", name)).delivered.consumer_seq, 0, `${deliver}: no interest, nothing delivered`);
  }
  t.same(await copy(), before, "OPS's streams and its copy of plugins are as they were");
  await unchanged(t, busBefore, "deliveries into OPS's own API");
  for (const [, name] of made) await roJsm.consumers.delete("EVENTS", name);
});

t.test("(b) an OPS user cannot create or delete consumers on BUS's EVENTS", async (t) => {
  const before = await snapshot();
  await t.rejects(ro.request("$JS.BUS.API.CONSUMER.CREATE.EVENTS", JSON.stringify(EVIL_REQUEST), { timeout: 2000 }), "the imported consumer API is denied");
  await t.rejects(ro.request("$JS.BUS.API.CONSUMER.CREATE.EVENTS.pwned", JSON.stringify(EVIL_REQUEST), { timeout: 2000 }));
  await t.rejects(ro.request("$JS.BUS.API.CONSUMER.DELETE.EVENTS.victim-reader", Empty, { timeout: 2000 }), "deleting through the BUS API is denied");
  await t.rejects(ro.request("$JS.BUS.API.CONSUMER.DURABLE.CREATE.EVENTS.pwned", JSON.stringify(EVIL_REQUEST), { timeout: 2000 }));
  // OPS's own API acts on OPS's mirror, never on BUS.
  await t.rejects(roJsm.consumers.delete("EVENTS", "victim-reader"), "OPS has no such consumer");
  const own = await roJsm.consumers.add("EVENTS", { name: "victim-reader", ack_policy: AckPolicy.Explicit });
  t.equal(own.name, "victim-reader", "a same-named consumer is created in OPS");
  await roJsm.consumers.delete("EVENTS", "victim-reader");
  await unchanged(t, before, "consumer create/delete");
  t.ok((await admin.consumers.info("EVENTS", "victim-reader")).name, "BUS's durable is still there");
  t.ok(
    roErrors.some((e) => e.includes("$JS.BUS.API")),
    "the server reported the denied BUS API publishes",
  );
});

t.test("(c) a command endpoint is out of reach from OPS (not imported: no responders); reads answer", async (t) => {
  const before = await snapshot();
  await t.rejects(
    ro.request("ganglion.v1.plugin.disable", JSON.stringify({ pluginId: "victim", reason: "pwned" }), { timeout: 2000 }),
    "not imported into OPS",
  );
  await t.rejects(ro.request("ganglion.v1.plugin.remove", JSON.stringify({ pluginId: "victim" }), { timeout: 2000 }));
  await t.rejects(ro.request("ganglion.v1.task.submit", JSON.stringify({ taskType: "victim.run", params: {} }), { timeout: 2000 }));
  // The read endpoints answer; a read endpoint cannot be talked into acting.
  const ok = JSON.parse(td.decode((await ro.request("ganglion.v1.views.plugin", JSON.stringify({ pluginId: "victim" }), { timeout: 5000 })).data));
  t.match(ok, { ok: true, result: { pluginId: "victim", status: "active" } });
  await unchanged(t, before, "command requests");
});

t.test("(d) OPS publishes to $KV.<bucket>.<key> and ev.<category>.<id> land nowhere", async (t) => {
  const before = await snapshot();
  ro.publish("$KV.plugins.victim", JSON.stringify({ pluginId: "victim", status: "disabled" }));
  ro.publish("$KV.plugins.x", "{}");
  ro.publish("ev.plugin.x", JSON.stringify({ events: [{ type: "plugin.disabled" }] }));
  ro.publish("ev.plugin.victim", "{}");
  await t.rejects(jetstream(ro).publish("ev.plugin.victim", "{}", { timeout: 2000 }));
  await t.rejects((await new Kvm(ro).open("plugins")).put("victim", "{}", { timeout: 2000 } as never));
  await ro.flush();
  await unchanged(t, before, "KV and log publishes");
  t.equal(await (await adminKv("plugins")).get("x"), null, "no row x in BUS");
  t.equal(await (await new Kvm(ro).open("plugins")).get("x"), null, "nor in OPS's copy");
  t.ok(roErrors.some((e) => e.includes("$KV.plugins.victim")) && roErrors.some((e) => e.includes("ev.plugin.x")), "the server reported the violations");
});

t.test("(e) a re-mint revokes the previous OPS credentials; the new ones work and the copies still follow", async (t) => {
  t.equal(ro.isClosed(), false);
  const second = await natsContext();
  await Promise.race([ro.closed(), sleep(5000).then(() => Promise.reject(new Error("the old connection is still open")))]);
  t.ok(ro.isClosed(), "the live connection of the old credentials was closed");
  await t.rejects(connectOps(first.creds), "the old credentials are refused");
  const nc = await connectOps(second.creds);
  t.teardown(() => nc.close());
  t.match(JSON.parse((await (await new Kvm(nc).open("plugins")).get("victim"))!.string()), { pluginId: "victim" });
  // The core's own OPS user was revoked too: it reconnects and the copies follow BUS again.
  await bus.install({ ...manifest, id: "newcomer", provides: [{ ...manifest.provides[0]!, type: "newcomer.run" }] });
  await eventually(
    "the OPS copy to show a plugin installed after the re-mint",
    async () => (await (await new Kvm(nc).open("plugins")).get("newcomer")) !== null,
    15_000,
  );
  await eventually(
    "the OPS mirror of EVENTS to follow",
    async () => (await (await jetstreamManager(nc)).streams.info("EVENTS")).state.last_seq === (await admin.streams.info("EVENTS")).state.last_seq,
  );
});

t.test("(f) credentials minted with --ttl 2s are refused once expired", async (t) => {
  const short = await natsContext("--ttl", "2s");
  t.match(short.stdout, /expires:\s+\d{4}-/);
  const nc = await connectOps(short.creds);
  t.match(JSON.parse((await (await new Kvm(nc).open("plugins")).get("victim"))!.string()), { pluginId: "victim" }, "valid before expiry");
  const exp = decode(short.creds.split("\n").find((l) => l.startsWith("ey"))!).exp!;
  t.ok(exp - Date.now() / 1000 <= 3, "the JWT expires within the TTL");
  await Promise.race([nc.closed(), sleep(6000)]);
  t.ok(nc.isClosed(), "the server closed the live connection at expiry");
  // nats-server 2.9.10 still accepts a connect within the `exp` second itself: wait past it.
  while (Date.now() / 1000 < exp + 1) await sleep(100);
  await t.rejects(connectOps(short.creds), "expired credentials are refused");
});

t.test("(g) after a nats-server restart the mirror and the copies follow BUS again", async (t) => {
  const creds = (await natsContext()).creds;
  await bus.restartServer();
  await eventually("the core to have JetStream back", async () => (await admin.streams.info("EVENTS")).state.messages > 0, 20_000);
  await bus.install({ ...manifest, id: "after-restart", provides: [{ ...manifest.provides[0]!, type: "after-restart.run" }] });
  const nc = await connectOps(creds);
  t.teardown(() => nc.close());
  await eventually(
    "the OPS copy to show a plugin installed after the restart",
    async () => (await (await new Kvm(nc).open("plugins")).get("after-restart")) !== null,
    20_000,
  );
  await eventually(
    "the OPS mirror of EVENTS to follow",
    async () => (await (await jetstreamManager(nc)).streams.info("EVENTS")).state.last_seq === (await admin.streams.info("EVENTS")).state.last_seq,
    20_000,
  );
  t.pass("both follow");
});
