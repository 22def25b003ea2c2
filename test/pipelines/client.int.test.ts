import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import t from "tap";
import { Client } from "../../src/client/client.js";
import { GanglionError } from "../../src/client/errors.js";
import { PipelineFailedError } from "../../src/client/pipeline.js";
import { createTestBus } from "../../src/testing/testBus.js";
import { exampleManifest, fixture, spawnExampleWorker } from "./support.js";

// An application runs a pipeline with `client.runPipeline`, granted `pipeline.run:<name>` (an
// import of its own account); an ungranted pipeline has no route, and runs of others are not its own.
const bus = await createTestBus();
t.teardown(bus.stop);
const { creds } = await bus.install(await exampleManifest());
const worker = await spawnExampleWorker({ url: bus.url, creds, dir: bus.dataDir, instance: "plc-1" });
t.teardown(worker.kill);
const defined = await bus.call("pipeline.define", { definitionText: await readFile(fixture("three.yaml"), "utf8") });
if (E.isLeft(defined)) throw new Error(defined.left.message);

const appCreds = async (appId: string, grants: string[]) => {
  const added = await bus.call("app.add", { appId, grants });
  if (E.isLeft(added)) throw new Error(`app.add: ${added.left.message}`);
  const file = join(bus.dataDir, `${appId}.creds`);
  await writeFile(file, added.right.creds, { mode: 0o600 });
  return file;
};

t.test("client.runPipeline: a granted application runs the three-step pipeline and reads its result", async (t) => {
  const client = await Client.connect({ servers: bus.url, creds: await appCreds("shop", ["pipeline.run:three-step"]) });
  t.teardown(() => client.close());
  t.same(client.info.grants, ["pipeline.run:three-step"]);
  const h = await client.runPipeline<{ words: number }>("three-step", { text: "x y z w v" });
  t.match(h.started, { name: "three-step", status: "running", startedBy: "app:shop" });
  t.same(await h.result({ timeoutMs: 60_000 }), { words: 5 });
  const v = await h.get();
  t.same(
    v.steps.map((s) => s.status),
    ["completed", "completed", "completed"],
  );
  await t.rejects(client.runPipeline("three-step", { text: 1 }), { name: "GanglionError", code: "InvalidParams" });
  const other = await bus.call("pipeline.run", { name: "three-step", params: { text: "operator's" } });
  if (E.isLeft(other)) throw new Error(other.left.message);
  const theirs = await (client as unknown as { call: (v: string, b: unknown, c: unknown) => Promise<unknown> })
    .call("run", { runId: other.right.runId }, (await import("../../src/contract/pipeline.js")).RunView)
    .catch((e: unknown) => e);
  t.match(theirs, { code: "NotFound" }, "a run the application did not start is not its own");
});

t.test("an application without the grant cannot run the pipeline", async (t) => {
  const client = await Client.connect({ servers: bus.url, creds: await appCreds("nogrant", ["task.submit:text.echo"]) });
  t.teardown(() => client.close());
  const err = await client.runPipeline("three-step", { text: "a" }).catch((e: unknown) => e);
  t.ok(err instanceof GanglionError && err.code === "Forbidden", String(err));
});

t.test("a run that ends without completing rejects result() with PipelineFailedError", async (t) => {
  // No worker serves the steps now: the run waits on its first task until an operator cancels it.
  await worker.kill();
  const client = await Client.connect({ servers: bus.url, creds: join(bus.dataDir, "shop.creds") });
  t.teardown(() => client.close());
  const h = await client.runPipeline("three-step", { text: "never counted" });
  const cancelled = await bus.call("pipeline.cancel", { runId: h.runId, reason: "no worker" });
  t.match(cancelled, E.right({ status: "cancelled" }));
  const err = await h.result({ timeoutMs: 60_000 }).catch((e: unknown) => e);
  t.ok(err instanceof PipelineFailedError, String(err));
  t.match((err as PipelineFailedError).run, { status: "cancelled", error: "no worker" });
});
