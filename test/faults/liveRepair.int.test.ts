import t from "tap";
import { createHash, randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { startTestServer } from "../support/natsServer.js";
import { callService } from "../../src/service/client.js";
import type { TestBus } from "../../src/testing/testBus.js";
import { spawnWorker } from "../tasks/support.js";
import { startCoreProcess } from "./support.js";
import { sealTo, withoutNotice } from "../secrets/support.js";

/**
 * Issue 15, a notice lost to a core crash: the core appends a rotation (or a config change) and
 * then publishes `secret.rotated` / `config.changed` on plain NATS; killed in between, the
 * notice is never sent. The exact instant cannot be hit from outside, so the test makes that
 * state: the core process is SIGKILLed, the change is written as the core writes it (the event,
 * the bucket) with no notice, and the core starts again. Its `live.versions` at start must bring
 * the running worker (a real SDK process, connected throughout) to the values in force.
 */
const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin({ name: "fault-live-repair" });
t.teardown(() => nc.close());
const FIXTURE = new URL("../secrets/fixtures/liveWorker.ts", import.meta.url).pathname;
const sha = (v: string) => createHash("sha256").update(v).digest("hex");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A call of the core's service, retried while it is starting (no responders yet). */
const call = async <R>(endpoint: string, req: unknown): Promise<R> => {
  for (let i = 0; ; i++) {
    const r = await callService<R>(nc, endpoint, req, { timeoutMs: 30_000 });
    if (E.isRight(r)) return r.right;
    if (r.left.code !== "Unavailable" || i > 40) throw new Error(`${endpoint}: ${r.left.code}: ${r.left.message}`);
    await sleep(250);
  }
};

t.test("a rotation and a config change whose notices died with the core reach the worker once the core is back", async (t) => {
  const coreOpts = { url: server.url, dataDir: server.dataDir, adminCreds: server.installation.adminCreds };
  let core = await startCoreProcess(coreOpts);
  t.teardown(() => core.kill());
  await call("plugin.install", {
    manifest: {
      id: "mended",
      version: "1.0.0",
      description: "reads a secret, has a config",
      provides: [],
      capabilities: ["secret.read:mended.token"],
      config: { type: "object", properties: { level: { type: "integer" } } },
    },
    grant: "all",
  });
  const { creds } = await call<{ creds: string }>("plugin.creds", { pluginId: "mended" });
  const { publicKey } = await call<{ publicKey: string }>("secret.key", {});
  const v1 = `m1-${randomBytes(8).toString("hex")}`;
  const v2 = `m2-${randomBytes(8).toString("hex")}`;
  await call("secret.set", { name: "mended.token", ...sealTo(publicKey, v1) });

  const w = await spawnWorker({ dataDir: server.dataDir, url: server.url } as TestBus, {
    plugin: "mended",
    creds,
    instance: "m1",
    fixture: FIXTURE,
    env: { SECRETS: "mended.token" },
  });
  t.teardown(() => w.kill());
  t.match(
    w.lines.find((l) => l.event === "secret"),
    { version: 1, sha256: sha(v1) },
  );

  t.equal(await core.kill("SIGKILL"), null, "the core died by SIGKILL");
  // What the core had done when it died: the rotation appended and the bucket written, the
  // config change appended; neither notice sent.
  const store = await withoutNotice(nc, server.dataDir);
  t.match(await store.rotate("mended.token", v2), { right: { version: 2 } });
  await store.setConfig("mended", 1, { level: 9 });
  t.notOk(
    w.lines.some((l) => l.version === 2 || (l.event === "config" && l.version === 1)),
    "no notice reached the worker",
  );

  core = await startCoreProcess(coreOpts);
  t.match(await w.waitFor((l) => l.event === "secret" && l.version === 2, "the rotated secret"), { sha256: sha(v2) });
  t.match(await w.waitFor((l) => l.event === "config" && l.version === 1, "the changed config"), { config: { level: 9 } });
  t.equal(w.proc.exitCode, null, "the worker ran throughout");
});
