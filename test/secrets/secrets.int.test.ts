import t from "tap";
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { createCurve } from "@nats-io/nkeys";
import { jetstreamManager } from "@nats-io/jetstream";
import { createTestBus } from "../../src/testing/testBus.js";
import { serviceClient } from "../../src/service/client.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { SecretEvent, secretStreamName } from "../../src/events/secret.js";
import { SecretReply } from "../../src/contract/secrets.js";
import { runCli } from "../cli/cliProcess.js";
import { spawnWorker } from "../tasks/support.js";

/**
 * Secrets end to end: the CLI stores a value sealed, a granted plugin's worker (a real child
 * process) reads it and hears its rotation live, a plugin without the grant gets nothing (the
 * server has no route), every read is an event, reads are rate-limited, and afterwards the value
 * is nowhere in clear: not in any stream or bucket, not in the core's trace-level log, not in any
 * file of the data dir.
 */
const FIXTURE = new URL("./fixtures/secretWorker.ts", import.meta.url).pathname;
const logFile = join((await import("node:os")).tmpdir(), `ganglion-secrets-${process.pid}-${Date.now()}.log`);
const bus = await createTestBus({ logger: pino({ level: "trace" }, pino.destination({ dest: logFile, sync: true })) });
t.teardown(bus.stop);

const VALUE = `pw-${randomBytes(12).toString("hex")}`;
const ROTATED = `pw2-${randomBytes(12).toString("hex")}`;
const sha = (v: string) => createHash("sha256").update(v).digest("hex");
const cli = (args: string[], env: Record<string, string> = {}) => runCli([...args, "--nats", bus.url, "--creds", bus.installation.adminCreds], env);
const plugin = (id: string, capabilities: string[]) => ({ id, version: "1.0.0", description: id, provides: [], capabilities });

const reader = await bus.install(plugin("reader", ["secret.read:db.password"]));
const outsider = await bus.install(plugin("outsider", ["secret.read:other.thing"]));

t.test("the CLI stores a secret sealed; set twice is refused; list shows versions and readers, never the value", async (t) => {
  const set = await cli(["secret", "set", "db.password", "--from-env", "H15_SECRET"], { H15_SECRET: VALUE });
  t.equal(set.code, 0, set.stderr);
  t.match(set.stdout, /stored secret db\.password version 1 \(hmac-sha256:[0-9a-f]{32}\); readers: reader/);
  const admin = serviceClient(bus.nc);
  const key = await admin.call("secret.key", {});
  if (key._tag === "Left") throw new Error(key.left.message);
  const kp = createCurve();
  const sealed = Buffer.from(kp.seal(new TextEncoder().encode("x"), key.right.publicKey)).toString("base64");
  const again = await admin.call("secret.set", { name: "db.password", sealed, sender: kp.getPublicKey() });
  t.match(again, { left: { code: "AlreadyExists", message: /rotate/ } }, "set on an existing secret is refused");
  const forged = await admin.call("secret.set", { name: "db.other", sealed, sender: createCurve().getPublicKey() });
  t.match(forged, { left: { code: "InvalidRequest" } }, "a value that does not open with the core's key is refused");
  const list = await admin.call("secret.list", {});
  if (list._tag === "Left") throw new Error(list.left.message);
  const rows = list.right;
  t.match(rows, [{ name: "db.password", version: 1, readers: ["reader"] }]);
  t.notOk(JSON.stringify(rows).includes(VALUE) || set.stdout.includes(VALUE) || set.stderr.includes(VALUE));
  t.notOk(rows.some((r) => r.name === "db.other"));
});

t.test("a granted plugin's worker reads it and hears the rotation live; another plugin cannot read it", async (t) => {
  const w = await spawnWorker(bus, { plugin: "reader", creds: reader.creds, instance: "r1", fixture: FIXTURE, env: { SECRET: "db.password" } });
  t.teardown(() => w.kill());
  const got = await w.waitFor((l) => l.event === "secret" || l.event === "secret-error", "the secret");
  t.same(got, { event: "secret", version: 1, sha256: sha(VALUE) });

  // The outsider: its account has no import of secret.db.password, so no route, through the SDK
  // or raw on every subject it could try.
  const nc = await bus.connectWith(outsider.creds);
  t.teardown(() => nc.close());
  const { secretsClient } = await import("../../src/sdk/secrets.js");
  const sdk = secretsClient(nc, "outsider", pino({ level: "silent" }), { timeoutMs: 1000 });
  t.teardown(sdk.close);
  await t.rejects(sdk.get("db.password"), { name: "SecretError" }, "the SDK gets nothing");
  const body = JSON.stringify({ publicKey: createCurve().getPublicKey() });
  for (const s of ["secret.db.password", "secret.reader.db.password", "secret.outsider.db.password", "secret.*.db.password"]) {
    await t.rejects(nc.request(s, body, { timeout: 1000 }), `${s} reaches nothing`);
  }

  const file = join(bus.dataDir, "rotated.txt");
  await writeFile(file, ROTATED, { mode: 0o600 });
  const rot = await cli(["secret", "rotate", "db.password", "--from-file", file]);
  t.equal(rot.code, 0, rot.stderr);
  const live = await w.waitFor((l) => l.event === "rotated", "the rotation");
  t.same(live, { event: "rotated", version: 2, sha256: sha(ROTATED) });
  await writeFile(file, "");
});

t.test("the core answers only requests from the subject's plugin account, sealed to the key sent", async (t) => {
  // From inside BUS (no request info): dropped unanswered, even for a granted plugin's subject.
  await t.rejects(bus.nc.request("secret.reader.db.password", JSON.stringify({ publicKey: createCurve().getPublicKey() }), { timeout: 1000 }));
  // The plugin itself, raw: the answer opens only with the key it sent.
  const nc = await bus.connectWith(reader.creds);
  t.teardown(() => nc.close());
  const kp = createCurve();
  const m = await nc.request("secret.db.password", JSON.stringify({ publicKey: kp.getPublicKey() }), { timeout: 5000 });
  const r = SecretReply.decode(m.json());
  if (r._tag === "Left" || "error" in r.right) throw new Error(`no secret: ${m.string()}`);
  t.equal(r.right.version, 2);
  t.equal(new TextDecoder().decode(kp.open(new Uint8Array(Buffer.from(r.right.sealed, "base64")), r.right.sender)!), ROTATED);
  t.equal(createCurve().open(new Uint8Array(Buffer.from(r.right.sealed, "base64")), r.right.sender), null, "another key cannot open it");
  const bad = await nc.request("secret.db.password", JSON.stringify({ publicKey: "not-a-key" }), { timeout: 5000 });
  t.match(bad.json(), { error: { code: "InvalidRequest" } });
  // Rate limit: 30 reads a minute per plugin and secret (some were used above).
  let limited: unknown;
  for (let i = 0; i < 40 && !limited; i++) {
    const x = (await nc.request("secret.db.password", JSON.stringify({ publicKey: kp.getPublicKey() }), { timeout: 5000 })).json() as {
      error?: { code: string };
    };
    if (x.error?.code === "RateLimited") limited = x;
  }
  t.match(limited, { error: { code: "RateLimited", retryAfterMs: Number } });
});

t.test("every read is an event naming the plugin, the secret and the version; none holds the value", async (t) => {
  const store = natsEventStore(bus.nc, { codec: SecretEvent });
  const events: SecretEvent[] = [];
  for await (const e of store.readStream(secretStreamName("db.password"))) events.push({ type: e.type, data: e.data } as SecretEvent);
  t.match(events[0], { type: "secret.set", data: { name: "db.password", version: 1, fingerprint: /^hmac-sha256:/ } });
  t.ok(events.some((e) => e.type === "secret.read" && e.data.pluginId === "reader" && e.data.version === 1));
  t.ok(events.some((e) => e.type === "secret.rotated" && e.data.version === 2));
  t.ok(events.some((e) => e.type === "secret.read" && e.data.pluginId === "reader" && e.data.version === 2));
  t.notOk(events.some((e) => e.type === "secret.read" && e.data.pluginId === "outsider"));
  const rows = await serviceClient(bus.nc).call("secret.list", {});
  if (rows._tag === "Left") throw new Error(rows.left.message);
  t.match(rows.right[0]!.lastRead, { reader: { version: 2 } });
});

t.test("a revoked grant reads nothing; a removed secret is gone", async (t) => {
  const admin = serviceClient(bus.nc);
  const rv = await admin.call("plugin.revoke", { pluginId: "reader", capabilities: ["secret.read:db.password"] });
  t.equal(rv._tag, "Right");
  const nc = await bus.connectWith(reader.creds);
  t.teardown(() => nc.close());
  await t.rejects(nc.request("secret.db.password", JSON.stringify({ publicKey: createCurve().getPublicKey() }), { timeout: 1000 }), "the import is gone");
  t.match(await admin.call("secret.remove", { name: "db.password" }), { right: { name: "db.password", removed: true } });
  const list = await admin.call("secret.list", {});
  t.match(list, { right: [{ name: "db.password", removed: true }] });
});

/** Every message of every stream of BUS (the event log, the buckets, the work queues), raw. */
const everyStreamHolds = async (needles: Buffer[]): Promise<string[]> => {
  const jsm = await jetstreamManager(bus.nc);
  const hits: string[] = [];
  for await (const si of jsm.streams.list()) {
    const { first_seq, last_seq } = si.state;
    for (let seq = first_seq; seq <= last_seq && last_seq > 0; seq++) {
      const m = await jsm.streams.getMessage(si.config.name, { seq }).catch(() => undefined);
      if (!m) continue;
      const raw = Buffer.concat([Buffer.from(m.subject), Buffer.from(m.data), Buffer.from(m.header?.toString() ?? "")]);
      if (needles.some((n) => raw.includes(n))) hits.push(`${si.config.name}#${seq}`);
    }
  }
  return hits;
};

const filesHolding = async (dir: string, needles: Buffer[]): Promise<string[]> => {
  const hits: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    const b = await readFile(p).catch(() => undefined);
    if (b && needles.some((n) => b.includes(n))) hits.push(p);
  }
  return hits;
};

t.test("the values are nowhere in clear: streams, buckets, the core's trace log, the data dir", async (t) => {
  const needles = [VALUE, ROTATED].flatMap((v) => [Buffer.from(v), Buffer.from(Buffer.from(v).toString("base64"))]);
  const streams = await everyStreamHolds(needles);
  t.same(streams, [], "no stream or bucket holds a value");
  const jsm = await jetstreamManager(bus.nc);
  const names: string[] = [];
  for await (const si of jsm.streams.list()) names.push(si.config.name);
  t.ok(names.includes("KV_secrets") && names.includes("EVENTS"), `scanned ${names.join(", ")}`);
  const log = await readFile(logFile, "utf8");
  t.ok(log.includes('"secret read"'), "the trace log was written (it names reads)");
  t.ok(log.split("\n").length > 20, `the trace log has content (${log.length} bytes)`);
  t.same(await filesHolding(bus.dataDir, needles), [], "no file of the data dir (keys, JetStream store, server log) holds a value");
  t.notOk(
    needles.some((n) => Buffer.from(log).includes(n)),
    "the core's trace-level log holds no value",
  );
});
