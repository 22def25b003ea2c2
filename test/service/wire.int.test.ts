import t from "tap";
import * as io from "io-ts";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Svcm } from "@nats-io/services";
import { Empty } from "@nats-io/transport-node";
import pino from "pino";
import { MAX_CONTROL_LINE } from "../../src/auth/ops.js";
import { loadManifests } from "../../src/projections/manifest.js";
import { startProjections } from "../../src/projections/runner/live.js";
import { Endpoints } from "../../src/contract/endpoints.js";
import { defineEndpoint } from "../../src/service/endpoint.js";
import { auditEndpoints } from "../../src/service/endpoints/audit.js";
import { queryEndpoints } from "../../src/service/endpoints/queries.js";
import { startService } from "../../src/service/service.js";
import { startEventLog } from "../support/eventLog.js";
import { startTestOps } from "../support/ops.js";
import { scenario } from "../projections/fixtures.js";

const log = pino({ level: "silent" });
const { server, nc, store } = await startEventLog(t);
for (const c of scenario({ plugins: 5, tasks: 40, seed: 3 })) await store.appendToStream(c.streamName, c.events as never);

const manifests = await loadManifests();
const projections = await startProjections({ nc, log, manifests });
t.teardown(() => projections.stop());
await projections.caughtUp;

const boom = defineEndpoint({ name: "test.boom", access: "command", description: "throws", request: io.type({}), response: io.unknown }, async () => {
  throw new Error("kaput");
});
// The OPS account and its mirrors, as the core keeps them.
const { opsAccount, issue, caughtUp } = await startTestOps(t, server, nc, manifests);
const svc = await startService({ nc, log, version: "1.2.3", accounts: { ops: opsAccount }, table: { ...Endpoints, [boom.name]: boom.spec } }, [
  ...queryEndpoints({ nc, log, manifests }),
  ...auditEndpoints({ nc, log }),
  boom,
]);
t.teardown(() => svc.stop());

// The operators' read-only credentials (a user of the OPS account), exactly as `ganglion nats-context` mints them.
const user = await issue("ganglion-readonly");
const ro = await server.connectWith(user.creds, { name: "operator-ro" });
t.teardown(() => ro.close());
await caughtUp();
const errors: string[] = [];
void (async () => {
  for await (const s of ro.status()) if (s.type === "error") errors.push(String((s as { error?: unknown }).error ?? s.type));
})();

const td = new TextDecoder();
const json = (b: Uint8Array) => JSON.parse(td.decode(b));
const req = async (endpoint: string, body: string) => ro.request(`ganglion.v1.${endpoint}`, body, { timeout: 5000 });

t.test("KV views read as the nats CLI reads them (OPS mirrors): stream info, direct get of $KV.<bucket>.<key>, keys", async (t) => {
  t.ok(user.jwt.length + 512 < MAX_CONTROL_LINE, `the JWT fits a CONNECT line (${user.jwt.length} bytes)`);
  const jsm = await jetstreamManager(ro);
  const info = await jsm.streams.info("KV_plugins");
  t.same(info.config.subjects, ["$KV.plugins.>"], "OPS reads its own copy of BUS's bucket");
  t.match(info.config.description, /OPS copy of BUS bucket plugins/);
  t.equal(
    info.config.max_msgs_per_subject,
    (await (await jetstreamManager(nc)).streams.info("KV_plugins")).config.max_msgs_per_subject,
    "with the bucket's history",
  );
  const direct = await ro.request(`$JS.API.DIRECT.GET.KV_plugins.$KV.plugins.p0`, Empty, { timeout: 5000 });
  t.equal(direct.headers?.get("Nats-Subject"), "$KV.plugins.p0");
  t.match(json(direct.data), { pluginId: "p0", status: "active", granted: ["task.submit:p0.run", "topic.publish:news.p0"] });
  const kv = await new Kvm(ro).open("plugins");
  t.match(JSON.parse((await kv.get("p3"))!.string()), { version: "2.0.0" });
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(k);
  t.same(keys.sort(), ["p0", "p1", "p2", "p3", "p4"]);
  // nats kv history / kv watch: ordered consumers on OPS's copy.
  const history = [];
  for await (const e of await kv.history({ key: "p3" })) history.push(e);
  t.ok(history.length >= 1 && history.at(-1)!.operation === "PUT", "kv history");
  t.match(history.at(-1)!.json(), { pluginId: "p3" });
  const watched = new Set<string>();
  const w = await kv.watch();
  for await (const e of w) {
    watched.add(e.key);
    if (e.delta === 0) break;
  }
  w.stop();
  t.same([...watched].sort(), ["p0", "p1", "p2", "p3", "p4"], "kv watch replays every row");
  const tasks = await new Kvm(ro).open("tasks");
  t.match(JSON.parse((await tasks.get("t0"))!.string()), { taskId: "t0" });
  const pointer = await (await new Kvm(ro).open("ganglion-projections")).get("plugins");
  t.match(JSON.parse(pointer!.string()), { bucket: "plugins", version: 1 });
});

t.test("the EVENTS log reads with an ordered consumer (nats stream view)", async (t) => {
  const c = await jetstream(ro).consumers.get("EVENTS");
  const m = await c.next({ expires: 5000 });
  t.ok(m);
  t.match(json(m!.data), { events: [{ type: "plugin.registered" }] });
  t.equal(m!.subject, "ev.plugin.p0");
});

t.test("$SRV.PING, INFO and STATS answer as the micro spec says; metadata is {}", async (t) => {
  const ping = await ro.request("$SRV.PING.ganglion", Empty, { timeout: 5000 });
  t.match(json(ping.data), { type: "io.nats.micro.v1.ping_response", name: "ganglion", version: "1.2.3" });
  const info = await ro.request("$SRV.INFO.ganglion", Empty, { timeout: 5000 });
  t.match(td.decode(info.data), /"metadata":\{\}/, "empty metadata serializes as {}");
  const i = json(info.data);
  t.equal(i.type, "io.nats.micro.v1.info_response");
  t.ok(i.endpoints.some((e: { subject: string }) => e.subject === "ganglion.v1.views.plugins"));
  const client = new Svcm(ro).client();
  const found = [];
  for await (const s of await client.stats("ganglion")) found.push(s);
  t.equal(found.length, 1);
  t.ok(found[0]!.endpoints!.some((e) => e.name === "views_plugins"));
});

t.test("queries answer {ok:true,result}", async (t) => {
  const plugins = json((await req("views.plugins", "{}")).data);
  t.equal(plugins.ok, true);
  t.equal(plugins.result.length, 5);
  t.notOk("lastPosition" in plugins.result[0], "runner fields are not part of the answer");
  const active = json((await req("views.plugins", JSON.stringify({ status: "removed" }))).data);
  t.same(
    active.result.map((p: { pluginId: string }) => p.pluginId),
    ["p4"],
  );
  const task = json((await req("views.task", JSON.stringify({ taskId: "t1" }))).data);
  t.equal(task.result.task.taskId, "t1");
  t.equal(task.result.history[0].type, "task.submitted");
  const caps = json((await req("views.capabilities", "")).data);
  t.same(caps.result.byCapability["task.submit:p0.run"], ["p0"]);
  const totals = json((await req("views.totals", "{}")).data);
  t.equal(totals.result.tasks.total, 40);
  const workers = json((await req("views.workers", JSON.stringify({ pluginId: "p0" }))).data);
  t.equal(workers.result[0].online, 2);
  // Live heartbeats (not events) are merged in from the wire.
  nc.publish("hb.p0.p0-a", JSON.stringify({ instance: "p0-a", version: "1.0.0", inFlight: 3, state: "running" }));
  await nc.flush();
  let live: Record<string, { inFlight: number; lastHeartbeatAt: string }> = {};
  for (let i = 0; i < 50 && !live["p0-a"]; i++) {
    live = json((await req("views.workers", JSON.stringify({ pluginId: "p0" }))).data).result[0].live;
    if (!live["p0-a"]) await new Promise((r) => setTimeout(r, 100));
  }
  t.match(live["p0-a"], { inFlight: 3, lastHeartbeatAt: /^\d{4}-/ });
  const audit = json((await req("audit.query", JSON.stringify({ pluginId: "p1", type: "plugin." }))).data);
  t.ok(audit.result.events.length >= 3);
  t.ok(audit.result.events.every((e: { stream: string; type: string }) => e.stream === "plugin-p1" && e.type.startsWith("plugin.")));
  const status = json((await req("projections.status", "{}")).data);
  t.ok(status.result.every((s: { behind: number }) => s.behind >= 0));
});

t.test("a malformed request gets a structured error reply with the micro error headers", async (t) => {
  const notJson = await req("views.plugin", "{nope");
  t.match(json(notJson.data), { ok: false, error: { code: "InvalidRequest", paths: ["$"] } });
  t.equal(notJson.headers?.get("Nats-Service-Error-Code"), "400");
  const wrongType = await req("views.plugin", JSON.stringify({ pluginId: 5 }));
  t.match(json(wrongType.data), { ok: false, error: { code: "InvalidRequest", paths: ["pluginId"] } });
  const missing = await req("views.plugin", JSON.stringify({ pluginId: "nope" }));
  t.match(json(missing.data), { ok: false, error: { code: "NotFound" } });
  t.equal(missing.headers?.get("Nats-Service-Error-Code"), "404");
  const badLimit = await req("views.tasks", JSON.stringify({ limit: -1, status: "nonsense" }));
  t.same(json(badLimit.data).error.paths.sort(), ["limit", "status"]);
  const badSince = await req("audit.query", JSON.stringify({ since: "yesterday-ish" }));
  t.match(json(badSince.data), { ok: false, error: { code: "InvalidRequest", paths: ["since"] } });
  // A throwing handler is an Internal error reply, not a crash or a timeout (admin only: not a query).
  const thrown = await nc.request("ganglion.v1.test.boom", "{}", { timeout: 5000 });
  t.match(json(thrown.data), { ok: false, error: { code: "Internal", message: /kaput/ } });
  t.equal(thrown.headers?.get("Nats-Service-Error-Code"), "500");
  const stats = json((await ro.request("$SRV.STATS.ganglion", Empty, { timeout: 5000 })).data);
  const ep = stats.endpoints.find((e: { name: string }) => e.name === "views_plugin");
  t.ok(ep.num_errors >= 3, `STATS counts the errors (${ep.num_errors})`);
  t.match(ep.last_error, /NotFound|InvalidRequest/);
  t.equal(stats.endpoints.find((e: { name: string }) => e.name === "test_boom").num_errors, 1);
});

t.test("the read-only credentials write nothing", async (t) => {
  const kv = await new Kvm(ro).open("plugins");
  await t.rejects(kv.put("p0", JSON.stringify({ hacked: true }), { timeout: 2000 } as never), "KV put is denied");
  await t.rejects(jetstream(ro).publish("ev.plugin.p0", "{}", { timeout: 2000 }), "appending to the log is denied");
  await t.rejects(req("test.boom", "{}"), "command endpoints are denied (not imported: no responders)");
  const jsm = await jetstreamManager(ro);
  await t.rejects(jsm.streams.delete("KV_plugins"), "deleting a bucket is denied");
  await t.rejects(jsm.streams.add({ name: "EVIL", subjects: ["evil.>"] }), "creating a stream is denied");
  await t.rejects(jsm.streams.purge("EVENTS"), "purging the log is denied");
  await t.rejects(
    (async () => {
      const sub = ro.subscribe("deliver.ops.>");
      for await (const _ of sub) break;
    })(),
    "subscriptions outside _INBOX. are denied (the mirrors' deliveries above all)",
  );
  const admin = await new Kvm(nc).open("plugins");
  t.notMatch(JSON.parse((await admin.get("p0"))!.string()), { hacked: true }, "the row is unchanged");
  t.ok(
    errors.some((e) => /permission/i.test(e)),
    "the server reported the violations",
  );
});
