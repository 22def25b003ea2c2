import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode } from "@nats-io/jwt";
import type { Account, User } from "@nats-io/jwt";
import type { StreamConfig } from "@nats-io/jetstream";
import { loadOrCreateAuthority } from "../../src/auth/authority.js";
import { opsAccountKey } from "../../src/auth/accounts.js";
import { encodeOpsAccount, MAX_CONTROL_LINE, mintOpsAdmin, mintOpsUser, OPS_READ_ENDPOINTS, opsImports, opsSpecOf } from "../../src/auth/ops.js";
import { copyConfig, mirrorConfig } from "../../src/auth/opsStreams.js";

const dir = await mkdtemp(join(tmpdir(), "ganglion-ops-unit-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const a = await loadOrCreateAuthority(dir);
const bus = a.bus.getPublicKey();

t.test("OPS imports exactly what the EVENTS mirror needs, the read endpoints and $SRV", async (t) => {
  const imports = opsImports(bus, ["EVENTS"]);
  t.same(
    imports.map((i) => [i.type, i.subject, i.local_subject ?? ""]),
    [
      ["service", "$JS.API.CONSUMER.CREATE.EVENTS", "$JS.BUS.API.CONSUMER.CREATE.EVENTS"],
      ["service", "$JS.API.CONSUMER.CREATE.EVENTS.>", "$JS.BUS.API.CONSUMER.CREATE.EVENTS.>"],
      ["service", "$JS.FC.EVENTS.>", ""],
      ["stream", "deliver.ops.EVENTS.>", ""],
      ...[...OPS_READ_ENDPOINTS].sort().map((e) => ["service", `ganglion.v1.${e}`, ""]),
      ["service", "$SRV.>", ""],
    ],
  );
  t.ok(imports.every((i) => i.account === bus));
  t.notOk(
    imports.some((i) => /plugin\.|task\./.test(i.subject)),
    "no command endpoint",
  );
});

t.test("the OPS account JWT round-trips its spec and carries its revocations and limits", async (t) => {
  const jwt = await encodeOpsAccount(a, { streams: ["EVENTS"], diskStorage: 5_000_000_000 }, { "*": 1700000000 });
  const claims = decode<Account>(jwt);
  t.equal(claims.sub, opsAccountKey(a).getPublicKey());
  t.equal(claims.iss, a.operator.getPublicKey());
  t.same(opsSpecOf(jwt), { streams: ["EVENTS"], diskStorage: 5_000_000_000 });
  t.same(claims.nats.revocations, { "*": 1700000000 });
  t.match(claims.nats.limits, {
    conn: 128,
    subs: 10_000,
    payload: 1024 * 1024,
    mem_storage: 0,
    disk_storage: 5_000_000_000,
    streams: 64,
    consumer: 1000,
    exports: 0,
  });
});

t.test("an OPS user: read verbs of OPS's JetStream, never the BUS API, stream management or $KV; inboxes only", async (t) => {
  const u = await mintOpsUser(a, "op", { ttlMs: 3_600_000 });
  t.ok(u.jwt.length + 512 < MAX_CONTROL_LINE, `fits a CONNECT line (${u.jwt.length} bytes)`);
  const c = decode<User>(u.jwt);
  t.equal(c.iss, opsAccountKey(a).getPublicKey(), "signed by the OPS account key");
  t.ok(c.exp && c.exp - Math.floor(Date.now() / 1000) <= 3600, "--ttl sets exp");
  const pub = c.nats.pub!;
  for (const s of [
    "$JS.BUS.API.>",
    "$JS.API.STREAM.CREATE.>",
    "$JS.API.STREAM.UPDATE.>",
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.PURGE.>",
    "$KV.>",
    "ev.>",
    "deliver.ops.>",
  ])
    t.ok(pub.deny!.includes(s), `denies ${s}`);
  t.notOk(
    pub.allow!.some((s) => s.startsWith("$JS.BUS.") || s.startsWith("$KV.") || s === ">" || s.includes("plugin.") || s.includes("task.")),
    "allows nothing of the kind",
  );
  t.same(c.nats.sub, { allow: ["_INBOX.>"] });
  const admin = decode<User>((await mintOpsAdmin(a, 60_000)).jwt);
  t.ok(admin.nats.pub!.deny!.includes("$JS.BUS.API.>"), "the core's own OPS user never reaches the BUS API either");
  t.notOk(admin.nats.sub!.allow!.includes("_INBOX.>"), "and its inbox is out of OPS users' sight");
});

t.test("mirror and copy configs keep the source's history and limits and never refuse a message", async (t) => {
  const kv = {
    name: "KV_plugins",
    subjects: ["$KV.plugins.>"],
    max_msgs_per_subject: 5,
    max_age: 0,
    max_bytes: -1,
    max_msgs: -1,
    max_msg_size: -1,
    num_replicas: 3,
    storage: "file",
    discard: "new",
    allow_rollup_hdrs: true,
  } as unknown as StreamConfig;
  t.match(copyConfig(kv), {
    name: "KV_plugins",
    subjects: ["$KV.plugins.>"],
    max_msgs_per_subject: 5,
    num_replicas: 3,
    discard: "old",
    allow_direct: true,
    allow_rollup_hdrs: true,
    deny_delete: true,
    deny_purge: false,
  });
  t.notOk("mirror" in copyConfig(kv));
  const ev = {
    name: "EVENTS",
    subjects: ["ev.>"],
    max_age: 0,
    max_bytes: -1,
    max_msgs: -1,
    max_msg_size: -1,
    num_replicas: 1,
    storage: "file",
    discard: "old",
    deny_delete: true,
    deny_purge: true,
  } as unknown as StreamConfig;
  t.match(mirrorConfig(ev), {
    name: "EVENTS",
    mirror: { name: "EVENTS", external: { api: "$JS.BUS.API", deliver: "deliver.ops.EVENTS" } },
    deny_purge: true,
    deny_delete: true,
    allow_direct: true,
  });
  t.notOk("subjects" in mirrorConfig(ev), "a mirror has no subjects");
});
