import t from "tap";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import pino from "pino";
import { loadManifests } from "../../src/projections/manifest.js";
import { startProjections } from "../../src/projections/runner/live.js";
import { startEventLog } from "../support/eventLog.js";
import { eventually, startTestOps } from "../support/ops.js";
import { scenario } from "../projections/fixtures.js";

// The OPS streams follow the views: when a new version of a view has caught up and its pointer
// moves to the new bucket, OPS gets a copy of the new bucket and drops the old one; rows written
// with compare-and-set after the copy started (the case a native mirror cannot follow on 2.9.10)
// arrive too.
const log = pino({ level: "silent" });
const { server, nc, store } = await startEventLog(t);
for (const c of scenario({ plugins: 4, tasks: 10, seed: 7 })) await store.appendToStream(c.streamName, c.events as never);
const manifests = await loadManifests();
const v1 = await startProjections({ nc, log, manifests });
await v1.caughtUp;
const { issue, caughtUp } = await startTestOps(t, server, nc, manifests);
const ro = await server.connectWith((await issue("follow")).creds, { name: "ops-follow" });
t.teardown(() => ro.close());
const opsJsm = await jetstreamManager(ro);
const names = async () => {
  const out: string[] = [];
  for await (const n of opsJsm.streams.names()) out.push(n);
  return out.sort();
};

t.test("OPS holds EVENTS and a copy of every view's live bucket and of the pointers", async (t) => {
  await caughtUp();
  t.same(await names(), ["EVENTS", "KV_capabilities", "KV_ganglion-projections", "KV_pipelines", "KV_plugins", "KV_tasks", "KV_totals", "KV_workers"]);
  const busKv = await new Kvm(nc).open("plugins");
  const opsKv = await new Kvm(ro).open("plugins");
  for (const id of ["p0", "p1", "p2", "p3"]) t.same((await opsKv.get(id))?.json(), (await busKv.get(id))?.json(), `row ${id} is the same in OPS`);
});

t.test("rows updated with compare-and-set after the copy started arrive in OPS", async (t) => {
  const more = scenario({ plugins: 6, tasks: 12, seed: 8 }).filter((c) => c.streamName === "plugin-p5" || c.streamName === "plugin-p4");
  for (const c of more) await store.appendToStream(c.streamName, c.events as never, { streamState: "any" } as never);
  await eventually("the plugins view to fold p5", async () => (await (await new Kvm(nc).open("plugins")).get("p5")) !== null);
  await caughtUp();
  t.same((await (await new Kvm(ro).open("plugins")).get("p5"))?.json(), (await (await new Kvm(nc).open("plugins")).get("p5"))?.json());
  const busTasks = await new Kvm(nc).open("tasks");
  const opsTasks = await new Kvm(ro).open("tasks");
  const keys: string[] = [];
  for await (const k of await busTasks.keys()) keys.push(k);
  for (const k of keys) t.same((await opsTasks.get(k))?.json(), (await busTasks.get(k))?.json(), `tasks row ${k}`);
});

t.test("a view moving to a new bucket moves its OPS copy", async (t) => {
  await v1.stop();
  const plugins = manifests.find((m) => m.name === "plugins")!;
  const v2 = await startProjections({ nc, log, manifests: [{ ...plugins, version: 2, bucket: "plugins-v2" }] });
  t.teardown(() => v2.stop());
  await v2.caughtUp;
  await eventually("OPS to copy plugins-v2 and drop plugins", async () => {
    const n = await names();
    return n.includes("KV_plugins-v2") && !n.includes("KV_plugins");
  });
  await caughtUp();
  const row = await (await new Kvm(ro).open("plugins-v2")).get("p0");
  t.match(row?.json(), { pluginId: "p0" }, "the new bucket reads in OPS");
  const pointer = await (await new Kvm(ro).open("ganglion-projections")).get("plugins");
  t.match(pointer?.json(), { bucket: "plugins-v2", version: 2 }, "and so does the pointer to it");
});
