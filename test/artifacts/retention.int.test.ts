import t from "tap";
import { pino } from "pino";
import { createTestBus } from "../../src/testing/testBus.js";
import { startArtifacts } from "../../src/artifacts/index.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { ArtifactEvent, artifactStreamName } from "../../src/events/artifact.js";
import { artifactIdOf } from "../../src/contract/artifacts.js";
import { spawnWorker } from "../tasks/support.js";
import { pluginAccountKey } from "../../src/auth/accounts.js";

/**
 * Retention: an artifact expires `ttlMs` after its last put; the sweep removes it and records
 * `artifact.removed` (reason `expired`, actor `system:retention`); a put of the same bytes moves
 * the expiry on. The sweep's clock is moved instead of waiting days.
 */
const FIXTURE = new URL("./fixtures/artifactWorker.ts", import.meta.url).pathname;
const bus = await createTestBus();
t.teardown(bus.stop);
const { creds } = await bus.install({
  id: "keeper",
  version: "1.0.0",
  description: "keeper",
  provides: [{ type: "keeper.blob.make", description: "make", params: { type: "object" }, result: { type: "object" }, timeout: "2m" }],
  capabilities: [],
});
const w = await spawnWorker(bus, { plugin: "keeper", creds, instance: "keeper-1", fixture: FIXTURE });
t.teardown(() => w.kill());

let clock = new Date();
// A second artifacts service beside the core's, with a clock the test moves. It joins the core's
// queue group, so it also answers plugins' requests: it needs the core's keys to check callers
// (without them it drops every request unanswered, and half the puts would time out).
const authority = bus.installation.authority;
if (!authority) throw new Error("the test bus has no account authority");
const second = await startArtifacts({
  nc: bus.nc,
  log: pino({ level: "silent" }),
  tasks: bus.tasks,
  pluginAccount: (pluginId) => pluginAccountKey(authority, pluginId).getPublicKey(),
  now: () => clock,
  sweepEveryMs: 3_600_000,
});
t.teardown(second.stop);

t.test("an expired artifact is removed by the sweep, and the log says so", async (t) => {
  const made = await bus.submit("keeper.blob.make", { size: 200_000, seed: "ttl" }, { waitMs: 180_000 });
  const ref = (made.result as { data: string }).data;
  const id = artifactIdOf(ref)!;
  const row = await bus.call("artifact.show", { id });
  if (row._tag === "Left") throw new Error(row.left.message);
  const expiresAt = new Date(row.right.expiresAt);
  t.ok(Math.abs(expiresAt.getTime() - Date.now() - 7 * 24 * 3600 * 1000) < 3_600_000, "7 days by default");

  clock = new Date(expiresAt.getTime() - 1000);
  t.equal(await second.sweep(), 0, "not before its expiry");
  // The same bytes put again a day later: the expiry moves on.
  const again = await bus.submit("keeper.blob.make", { size: 200_000, seed: "ttl" }, { waitMs: 180_000 });
  t.equal(again.status, "completed", JSON.stringify(again.failures));
  t.equal((again.result as { data: string } | undefined)?.data, ref, "the same bytes, the same artifact");
  const moved = await bus.call("artifact.show", { id });
  t.ok(moved._tag === "Right" && moved.right.expiresAt > row.right.expiresAt, "the second put moved the expiry on");

  clock = new Date(Date.now() + 8 * 24 * 3600 * 1000);
  t.equal(await second.sweep(), 1);
  t.match(await bus.call("artifact.show", { id }), { left: { code: "NotFound" } });
  const evs: string[] = [];
  for await (const e of natsEventStore(bus.nc, { codec: ArtifactEvent }).readStream(artifactStreamName(id)))
    evs.push(`${e.type} ${e.metadata.actor} ${"reason" in e.data ? e.data.reason : ""}${"existing" in e.data ? String(e.data.existing) : ""}`);
  t.same(evs, ["artifact.created plugin:keeper false", "artifact.created plugin:keeper true", "artifact.removed system:retention expired"]);
});
