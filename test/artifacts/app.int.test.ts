import t from "tap";
import { createHash } from "node:crypto";
import { createTestBus } from "../../src/testing/testBus.js";
import { Client } from "../../src/client/client.js";
import { artifactIdOf } from "../../src/contract/artifacts.js";
import { spawnWorker } from "../tasks/support.js";

/**
 * An application reads the artifacts its own tasks' results reference (`client.getArtifact`,
 * through its account's `app.art.get` import), checked chunk by chunk, and nothing else: not by
 * naming another application's task, not without a task.
 */
const FIXTURE = new URL("./fixtures/artifactWorker.ts", import.meta.url).pathname;
const bus = await createTestBus();
t.teardown(bus.stop);
const { creds } = await bus.install({
  id: "maker",
  version: "1.0.0",
  description: "maker",
  provides: [{ type: "maker.blob.make", description: "make", params: { type: "object" }, result: { type: "object" }, timeout: "2m" }],
  capabilities: [],
});
const w = await spawnWorker(bus, { plugin: "maker", creds, instance: "maker-1", fixture: FIXTURE });
t.teardown(() => w.kill());

const appCreds = async (appId: string) => {
  const r = await bus.call("app.add", { appId, grants: ["task.submit:maker.blob.make"] });
  if (r._tag === "Left") throw new Error(r.left.message);
  return r.right.creds;
};
const mine = await Client.connect({ servers: bus.url, creds: await appCreds("viewer") });
const theirs = await Client.connect({ servers: bus.url, creds: await appCreds("snoop") });
t.teardown(() => Promise.all([mine.close(), theirs.close()]));

t.test("an application reads its own task's result artifact; another application cannot", async (t) => {
  const h = await mine.submit("maker.blob.make", { size: 400_000, seed: "app" });
  const done = await h.result({ timeoutMs: 120_000 });
  const ref = (done as { data: string }).data;
  t.match(ref, /^artifact:\/\//);
  const got = await mine.getArtifactBuffer(ref, { taskId: h.id });
  t.equal(got.length, 400_000);
  t.equal(createHash("sha256").update(got).digest("hex"), artifactIdOf(ref));
  let n = 0;
  for await (const c of mine.getArtifact(ref, { taskId: h.id })) n += (c as Buffer).length;
  t.equal(n, 400_000, "streamed too");

  await t.rejects(theirs.getArtifactBuffer(ref, { taskId: h.id }), { name: "ArtifactError", code: "NotFound" }, "not by naming another application's task");
  const own = await theirs.submit("maker.blob.make", { size: 10, seed: "x" });
  await own.result({ timeoutMs: 120_000 });
  await t.rejects(theirs.getArtifactBuffer(ref, { taskId: own.id }), { code: "NotFound" }, "not through a task of its own that does not reference it");
  await t.rejects(
    theirs.nc.request("app.viewer.art.get", JSON.stringify({ id: artifactIdOf(ref), chunk: 0 }), { timeout: 1000 }),
    "no route to another application's subject",
  );
});
