/**
 * One core replica at a time folds the live views: a lease in `ganglion-leases`. The standby
 * takes over when the holder dies (its lease expires) or hands it back; a holder that finds its
 * lease taken stops its duty; views stay exact through every hand-over.
 */
import t from "tap";
import { Kvm } from "@nats-io/kv";
import pino from "pino";
import { Buckets } from "../../src/contract/subjects.js";
import { loadManifests } from "../../src/projections/manifest.js";
import type { ViewManifest } from "../../src/projections/manifest.js";
import { leased } from "../../src/projections/runner/lease.js";
import { startProjections } from "../../src/projections/runner/live.js";
import { verifyProjections } from "../../src/projections/runner/replay.js";
import { startEventLog } from "../support/eventLog.js";
import { scenario } from "./fixtures.js";

const log = pino({ level: "silent" });
const { server, nc, store } = await startEventLog(t);
const TTL = 1_500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(50);
  }
};

const ms: ViewManifest[] = (await loadManifests()).map((m) => ({ ...m, bucket: `${m.bucket}-lease` }));
const append = async (seed: number, prefix: string) => {
  const commits = scenario({ plugins: 1, tasks: 60, seed }).map((c) => ({ ...c, streamName: c.streamName.replace(/-(p|t)(\d+)/, `-${prefix}$1$2`) }));
  const rename = (v: unknown): unknown =>
    typeof v === "string"
      ? v.replace(/^(p|t)(\d+)$/, `${prefix}$1$2`).replace(/^(p\d+)-a$/, `${prefix}$1-a`)
      : Array.isArray(v)
        ? v.map(rename)
        : v && typeof v === "object"
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === "manifest" ? x : rename(x)]))
          : v;
  for (const c of commits) await store.appendToStream(c.streamName, c.events.map((e) => rename(e)) as never);
};
const caughtUp = async () => {
  const head = Number(await store.headPosition());
  const cps = await new Kvm(nc).open(Buckets.Checkpoints);
  await until("the views at the log's head", async () => {
    for (const m of ms) {
      const e = await cps.get(m.bucket);
      if (!e || (JSON.parse(e.string()) as { position: number }).position < head) return false;
    }
    return true;
  });
};

t.test("a standby takes the views over when the holder dies, and when it hands the lease back", async (t) => {
  const ncA = await server.connectAdmin();
  const ncB = await server.connectAdmin();
  t.teardown(() => ncB.close());
  const runs: string[] = [];
  const core = (c: typeof nc, name: string) =>
    leased({
      nc: c,
      key: "views-test",
      holder: name,
      log,
      ttlMs: TTL,
      duty: async () => {
        runs.push(name);
        return startProjections({ nc: c, log, manifests: ms, stallMs: 2_000 });
      },
    });
  const a = await core(ncA, "a");
  const b = await core(ncB, "b");
  t.ok(a.leading(), "the first core leads");
  t.notOk(b.leading(), "the second stands by");
  await append(1, "x");
  await caughtUp();

  // The holder dies (its connection gone, the lease not handed back): within the TTL, b leads.
  await ncA.close();
  await until("b to lead", () => b.leading());
  await append(2, "y");
  await caughtUp();
  t.same(runs, ["a", "b"]);

  // b hands the lease back on stop: a new core takes it at its first step.
  await b.stop();
  const ncC = await server.connectAdmin();
  t.teardown(() => ncC.close());
  const c = await core(ncC, "c");
  t.ok(c.leading(), "taken at once after a hand-back");
  await append(3, "z");
  await caughtUp();
  await c.stop();
  t.same(runs, ["a", "b", "c"]);
  for (const r of await verifyProjections(nc, { log, manifests: ms })) t.same(r.differences, [], `${r.view}: exact through two hand-overs`);
  await a.stop().catch(() => undefined);
});

t.test("a holder whose lease another process took stops its duty", async (t) => {
  let stopped = 0;
  const l = await leased({ nc, key: "stall-test", holder: "slow", log, ttlMs: TTL, duty: async () => ({ stop: async () => void stopped++ }) });
  t.ok(l.leading());
  // As if it stalled past its TTL and another process took the lease meanwhile.
  const kv = await new Kvm(nc).open(Buckets.Leases);
  await kv.put("stall-test", "someone-else");
  await until("the duty to stop", () => !l.leading());
  t.equal(stopped, 1, "its duty stopped once");
  t.equal((await kv.get("stall-test"))?.string(), "someone-else", "the other holder's lease is left alone");
  await l.stop();
  t.equal(stopped, 1);
});

t.test("a duty that fails to start hands the lease back", async (t) => {
  const l = await leased({
    nc,
    key: "broken-test",
    holder: "broken",
    log,
    ttlMs: TTL,
    duty: async () => {
      throw new Error("no views today");
    },
  });
  t.notOk(l.leading());
  const kv = await new Kvm(nc).open(Buckets.Leases);
  const e = await kv.get("broken-test");
  t.ok(!e || e.operation !== "PUT", "nobody holds it");
  await l.stop();
});
