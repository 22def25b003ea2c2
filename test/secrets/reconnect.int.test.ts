import t from "tap";
import { createHash, randomBytes } from "node:crypto";
import { createTestBus } from "../../src/testing/testBus.js";
import { serviceClient } from "../../src/service/client.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { SecretEvent, secretStreamName } from "../../src/events/secret.js";
import { spawnWorker } from "../tasks/support.js";
import { sealTo, withoutNotice } from "./support.js";

/**
 * Issue 15, the SDK's catch-up after a reconnect: notices on ctl.<plugin> are core NATS, so a
 * worker that is disconnected when a secret rotates or its config changes never hears of it.
 * Here the change is written the way the core writes it (the event, the bucket) without the
 * notice, as if it was sent while the worker was away; the nats-server then restarts for real and
 * the worker, once reconnected, must hold the values in force. The core's periodic
 * `live.versions` is set beyond this test's length, so only the reconnect path can bring them.
 * It asks again only for what changed: the unchanged secret is not read again.
 */
const bus = await createTestBus({ liveAnnounceEveryMs: 3_600_000 });
t.teardown(bus.stop);
const admin = serviceClient(bus.nc);
const FIXTURE = new URL("./fixtures/liveWorker.ts", import.meta.url).pathname;
const sha = (v: string) => createHash("sha256").update(v).digest("hex");

const key = await admin.call("secret.key", {});
if (key._tag === "Left") throw new Error(key.left.message);
const seal = async (value: string) => sealTo(key.right.publicKey, value);

/** Reads of `name` recorded in its stream, by this plugin. */
const readsOf = async (name: string, pluginId: string) => {
  let n = 0;
  for await (const e of natsEventStore(bus.nc, { codec: SecretEvent }).readStream(secretStreamName(name)))
    if (e.type === "secret.read" && e.data.pluginId === pluginId) n++;
  return n;
};

t.test("after a nats-server restart the worker holds the secret and config that changed while it was away, and reads nothing else again", async (t) => {
  const { creds } = await bus.install({
    id: "away",
    version: "1.0.0",
    description: "reads two secrets, has a config",
    provides: [],
    capabilities: ["secret.read:away.token", "secret.read:away.steady"],
    config: { type: "object", properties: { level: { type: "integer" } } },
  });
  const v1 = `a1-${randomBytes(8).toString("hex")}`;
  const v2 = `a2-${randomBytes(8).toString("hex")}`;
  const steady = `s-${randomBytes(8).toString("hex")}`;
  t.match(await admin.call("secret.set", { name: "away.token", ...(await seal(v1)) }), { right: { version: 1 } });
  t.match(await admin.call("secret.set", { name: "away.steady", ...(await seal(steady)) }), { right: { version: 1 } });

  const w = await spawnWorker(bus, { plugin: "away", creds, instance: "a1", fixture: FIXTURE, env: { SECRETS: "away.token,away.steady" } });
  t.teardown(() => w.kill());
  t.match(
    w.lines.find((l) => l.event === "config"),
    { version: 0, config: {} },
  );
  t.match(
    w.lines.find((l) => l.event === "secret" && l.name === "away.token"),
    { version: 1, sha256: sha(v1) },
  );
  t.equal(await readsOf("away.steady", "away"), 1);

  // The changes, as the core makes them, minus the notices (lost: the worker was away).
  const store = await withoutNotice(bus.nc, bus.dataDir);
  t.match(await store.rotate("away.token", v2), { right: { version: 2 } });
  await store.setConfig("away", 1, { level: 4 });
  // Nothing told the worker: it still holds version 1 (checked after the restart by the order of lines).
  const before = w.lines.length;
  t.notOk(
    w.lines.some((l) => l.version === 2 || (l.event === "config" && l.version === 1)),
    "no notice was sent",
  );

  await bus.restartServer();
  t.match(await w.waitFor((l) => l.event === "secret" && l.name === "away.token" && l.version === 2, "the rotated secret"), { sha256: sha(v2) });
  t.match(await w.waitFor((l) => l.event === "config" && l.version === 1, "the changed config"), { config: { level: 4 } });
  t.ok(w.lines.indexOf(w.lines.find((l) => l.version === 2)!) >= before, "heard after the restart");
  t.equal(await readsOf("away.steady", "away"), 1, "the unchanged secret was not read again: versions were compared");
  t.equal(await readsOf("away.token", "away"), 2, "the rotated one was read once more");
  t.notOk(
    w.lines.some((l) => JSON.stringify(l).includes(v2) || JSON.stringify(l).includes(steady)),
    "digests only",
  );
});
