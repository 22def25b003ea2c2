import t from "tap";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { headers as natsHeaders, nuid } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { createTestBus } from "../../src/testing/testBus.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { ArtifactEvent, artifactStreamName } from "../../src/events/artifact.js";
import { ARTIFACT_CHUNK_BYTES, ArtifactHeaders, artifactIdOf } from "../../src/contract/artifacts.js";
import { artifactsClient } from "../../src/sdk/artifacts.js";
import { runCli } from "../cli/cliProcess.js";
import { spawnWorker } from "../tasks/support.js";

/**
 * Artifacts end to end, with real worker processes: a large result round-trips as an artifact
 * (the SDK puts it, the report carries a reference, another plugin's task reads it through its
 * params), the CLI fetches, lists and removes (audited), a corrupted chunk is caught by its
 * digest (on upload and at rest), and a plugin cannot read what is not its own.
 */
const FIXTURE = new URL("./fixtures/artifactWorker.ts", import.meta.url).pathname;
const bus = await createTestBus();
t.teardown(bus.stop);

const types = ["blob.make", "blob.stream", "blob.digest"];
const manifest = (id: string) => ({
  id,
  version: "1.0.0",
  description: id,
  provides: types.map((type) => ({ type: `${id}.${type}`, description: type, params: { type: "object" }, result: { type: "object" }, timeout: "10m" })),
  capabilities: [],
});
const maker = await bus.install(manifest("maker"));
const reader = await bus.install(manifest("reader"));
const other = await bus.install(manifest("other"));
const cli = (args: string[]) => runCli([...args, "--nats", bus.url, "--creds", bus.installation.adminCreds]);

/** The bytes the fixture makes for (size, seed), hashed the same way. */
const expected = (size: number, seed: string) => {
  const h = createHash("sha256");
  for (let off = 0, i = 0; off < size; off += 64 * 1024, i++) {
    const d = createHash("sha256").update(`${seed}:${i}`).digest();
    const b = Buffer.alloc(Math.min(64 * 1024, size - off));
    for (let j = 0; j < b.length; j += 32) d.copy(b, j);
    h.update(b);
  }
  return h.digest("hex");
};

const workers = await Promise.all(
  [maker, reader, other].map((p) =>
    spawnWorker(bus, { plugin: p.pluginId, creds: p.creds, instance: `${p.pluginId}-1`, fixture: FIXTURE, types: types.map((x) => `${p.pluginId}.${x}`) }),
  ),
);
t.teardown(() => Promise.all(workers.map((w) => w.kill())));

const events = async (id: string) => {
  const out: { type: string; actor: string }[] = [];
  for await (const e of natsEventStore(bus.nc, { codec: ArtifactEvent }).readStream(artifactStreamName(id)))
    out.push({ type: e.type, actor: e.metadata.actor });
  return out;
};

let ref = "";
const SIZE = 3 * 1024 * 1024 + 12_345;
t.test("a large result round-trips as an artifact: the report holds a reference, another plugin's task reads it", async (t) => {
  const made = await bus.submit("maker.blob.make", { size: SIZE, seed: "a" }, { waitMs: 60_000 });
  t.equal(made.status, "completed", JSON.stringify(made.failures));
  ref = (made.result as { data: string }).data;
  t.match(ref, /^artifact:\/\/[0-9a-f]{64}$/);
  t.equal(artifactIdOf(ref), expected(SIZE, "a"), "the id is the SHA-256 of the bytes");
  t.ok(JSON.stringify(made).length < 2000, "the task carries the reference, not the bytes");
  const read = await bus.submit("reader.blob.digest", { ref }, { waitMs: 60_000 });
  t.equal(read.status, "completed", JSON.stringify(read.failures));
  t.match(read.result, { sha256: artifactIdOf(ref), size: SIZE });
  const row = await bus.call("artifact.show", { id: ref });
  t.match(row, { right: { size: SIZE, chunks: Math.ceil(SIZE / ARTIFACT_CHUNK_BYTES), creator: "plugin:maker", contentType: "application/octet-stream" } });
  t.match(await events(artifactIdOf(ref)!), [{ type: "artifact.created", actor: "plugin:maker" }]);
});

t.test("the CLI gets (checked), lists and removes an artifact; the removal is audited", async (t) => {
  const streamed = await bus.submit("maker.blob.stream", { size: 1_000_000, seed: "cli" }, { waitMs: 60_000 });
  const r = (streamed.result as { data: string }).data;
  const out = join(bus.dataDir, "got.bin");
  const got = await cli(["artifact", "get", r, "-o", out]);
  t.equal(got.code, 0, got.stderr);
  t.equal(
    createHash("sha256")
      .update(await readFile(out))
      .digest("hex"),
    artifactIdOf(r),
  );
  const ls = await cli(["artifact", "ls", "--json"]);
  t.equal(ls.code, 0, ls.stderr);
  t.match(JSON.parse(ls.stdout), [{ id: artifactIdOf(r), contentType: "application/x-test", creator: "plugin:maker" }]);
  const rm = await cli(["artifact", "rm", r, "--reason", "test cleanup"]);
  t.equal(rm.code, 0, rm.stderr);
  t.match(await events(artifactIdOf(r)!), [{ type: "artifact.created" }, { type: "artifact.removed", actor: /^operator/ }]);
  t.match(await bus.call("artifact.show", { id: r }), { left: { code: "NotFound" } });
  const gone = await cli(["artifact", "get", r, "-o", out]);
  t.not(gone.code, 0);
});
