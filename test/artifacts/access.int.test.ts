import t from "tap";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { access } from "node:fs/promises";
import { headers as natsHeaders, nuid } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { createTestBus } from "../../src/testing/testBus.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { ArtifactEvent, artifactStreamName } from "../../src/events/artifact.js";
import { ARTIFACT_CHUNK_BYTES, ArtifactHeaders, artifactIdOf } from "../../src/contract/artifacts.js";
import { ARTIFACT_UPLOADS_STREAM, JS_BUS_API } from "../../src/contract/subjects.js";
import { artifactsClient } from "../../src/sdk/artifacts.js";
import { runCli } from "../cli/cliProcess.js";
import { spawnWorker } from "../tasks/support.js";

/**
 * Who can reach artifacts, attacked from a plugin's own account (real credentials, real worker
 * processes): a plugin reads only what it created, what its own tasks' params reference and what
 * was shared with it; it cannot name another plugin on any new subject, its reply subjects never
 * reach BUS, knowing a digest grants nothing, and corrupted chunks are caught by their digests
 * on the way in and at rest.
 */
const FIXTURE = new URL("./fixtures/artifactWorker.ts", import.meta.url).pathname;
const bus = await createTestBus();
t.teardown(bus.stop);

const types = ["blob.make", "blob.stream", "blob.digest"];
const manifest = (id: string) => ({
  id,
  version: "1.0.0",
  description: id,
  provides: types.map((type) => ({ type: `${id}.${type}`, description: type, params: { type: "object" }, result: { type: "object" }, timeout: "2m" })),
  capabilities: [],
});
const maker = await bus.install(manifest("maker"));
const reader = await bus.install(manifest("reader"));
const other = await bus.install(manifest("other"));
const workers = await Promise.all(
  [maker, reader].map((p) => spawnWorker(bus, { plugin: p.pluginId, creds: p.creds, instance: `${p.pluginId}-1`, fixture: FIXTURE })),
);
t.teardown(() => Promise.all(workers.map((w) => w.kill())));

const made = await bus.submit("maker.blob.stream", { size: 5 * ARTIFACT_CHUNK_BYTES + 77, seed: "secret-of-maker" }, { waitMs: 60_000 });
const ref = (made.result as { data: string }).data;
const id = artifactIdOf(ref)!;
const read = await bus.submit("reader.blob.digest", { ref }, { waitMs: 60_000 });

const nc: NatsConnection = await bus.connectWith(other.creds);
t.teardown(() => nc.close());
const js = jetstream(nc, { apiPrefix: JS_BUS_API });
const sdk = (taskId?: string) => artifactsClient(nc, js, { timeoutMs: 3000, ...(taskId ? { taskId } : {}) });

t.test("the reader read it through its own task's params", async (t) => {
  t.equal(read.status, "completed", JSON.stringify(read.failures));
  t.match(read.result, { sha256: id });
});

t.test("another plugin cannot read it: not by id, not by naming the reader's task", async (t) => {
  await t.rejects(sdk().getBuffer(ref), { name: "ArtifactError", code: "NotFound" });
  await t.rejects(sdk(read.taskId).getBuffer(ref), { name: "ArtifactError", code: "NotFound" }, "a task of another plugin grants nothing");
  await t.rejects(sdk(made.taskId).getBuffer(ref), { name: "ArtifactError", code: "NotFound" });
  // A task of its own whose params do not reference it grants nothing either.
  const own = await bus.tasks.submit({ taskType: "other.blob.make", params: { size: 1, seed: "x" } }, { actor: "operator:test" });
  if (own._tag === "Left") throw new Error(own.left.message);
  await t.rejects(sdk(own.right.taskId).getBuffer(ref), { code: "NotFound" });
});

t.test("no other subject reaches the core's artifact service from a plugin account", async (t) => {
  const body = JSON.stringify({ id, chunk: 0 });
  for (const s of ["art.get.maker", "art.get.reader", "art.get.other", "art.get.*", "art.put.maker", "art.maker"]) {
    await t.rejects(nc.request(s, body, { timeout: 1000 }), `${s} reaches nothing`);
  }
  // Inside BUS (no Nats-Request-Info), the core answers nothing: only server-mapped plugin requests are served.
  await t.rejects(bus.nc.request("art.get.maker", body, { timeout: 1500 }), "a BUS request naming a plugin is dropped");
});

t.test("a reply subject set by the plugin never reaches BUS", async (t) => {
  const seen: string[] = [];
  const subs = ["art.get.maker", "art.put.maker", "ev.>", `$KV.>`].map((s) => bus.nc.subscribe(s, { callback: (_e, m) => void seen.push(m.subject) }));
  await bus.nc.flush();
  for (const reply of ["art.get.maker", "art.put.maker", "ev.artifact.x", "$KV.tasks.x"]) nc.publish("art.get", JSON.stringify({ id, chunk: 0 }), { reply });
  await nc.flush();
  await new Promise((r) => setTimeout(r, 1000));
  for (const s of subs) s.unsubscribe();
  t.same(
    seen.filter((s) => s.startsWith("art.")),
    [],
    "nothing arrived on another plugin's artifact subjects",
  );
  t.notOk(
    seen.some((s) => s === "ev.artifact.x" || s === "$KV.tasks.x"),
    "nor on the log or a view",
  );
});

t.test("knowing a digest grants nothing: a put must carry the bytes", async (t) => {
  const r = await nc.request(
    "art.put",
    JSON.stringify({ upload: nuid.next(), sha256: id, size: made.result ? 5 * ARTIFACT_CHUNK_BYTES + 77 : 0, chunks: 6, contentType: "application/x-test" }),
    { timeout: 10_000 },
  );
  t.match(r.json(), { ok: false, error: { code: "InvalidRequest", message: /0 chunks/ } });
  await t.rejects(sdk().getBuffer(ref), { code: "NotFound" }, "still not readable");
});

t.test("uploads land under the uploader's own id only", async (t) => {
  const upload = nuid.next();
  const h = natsHeaders();
  h.set(ArtifactHeaders.Chunk, "0");
  h.set(ArtifactHeaders.ChunkSha256, createHash("sha256").update("x").digest("hex"));
  await js.publish(`artup.${upload}`, "x", { headers: h });
  const jsm = await jetstreamManager(bus.nc);
  const m = await jsm.direct.getMessage(ARTIFACT_UPLOADS_STREAM, { last_by_subj: `artup.other.${upload}` });
  t.ok(m, "stored as artup.other.<upload>");
  // Naming another plugin only makes a longer subject under its own id (an upload id holds no dot: never committable).
  await js.publish(`artup.maker.${upload}`, "x", { headers: h });
  t.ok(await jsm.direct.getMessage(ARTIFACT_UPLOADS_STREAM, { last_by_subj: `artup.other.maker.${upload}` }), "artup.maker.<u> lands as artup.other.maker.<u>");
  t.notOk(await jsm.direct.getMessage(ARTIFACT_UPLOADS_STREAM, { last_by_subj: `artup.maker.${upload}` }), "nothing under artup.maker.");
  const r = await nc.request("art.put", JSON.stringify({ upload: `maker.${upload}`, sha256: id, size: 1, chunks: 1, contentType: "text/plain" }), {
    timeout: 5000,
  });
  t.match(r.json(), { ok: false, error: { code: "InvalidRequest", message: /upload/ } }, "an upload id with a dot is refused");
});

t.test("a corrupted upload chunk is refused by its digest, naming the chunk", async (t) => {
  const good = Buffer.alloc(ARTIFACT_CHUNK_BYTES, 1);
  const bad = Buffer.from(good);
  bad[1000] = 2;
  const upload = nuid.next();
  const chunk = async (i: number, data: Buffer, digestOf: Buffer) => {
    const h = natsHeaders();
    h.set(ArtifactHeaders.Chunk, String(i));
    h.set(ArtifactHeaders.ChunkSha256, createHash("sha256").update(digestOf).digest("hex"));
    await js.publish(`artup.${upload}`, data, { headers: h });
  };
  await chunk(0, good, good);
  await chunk(1, bad, good); // chunk 1's bytes were damaged after its digest was taken
  const whole = createHash("sha256").update(good).update(good).digest("hex");
  const r = await nc.request(
    "art.put",
    JSON.stringify({ upload, sha256: whole, size: 2 * ARTIFACT_CHUNK_BYTES, chunks: 2, contentType: "application/octet-stream" }),
    { timeout: 10_000 },
  );
  t.match(r.json(), { ok: false, error: { code: "Corrupt", message: /chunk 1 /, details: { chunk: 1 } } });
  t.match(await bus.call("artifact.show", { id: whole }), { left: { code: "NotFound" } }, "nothing stored");
  // Chunks that match their digests but not the whole: refused too.
  const u2 = nuid.next();
  const h = natsHeaders();
  h.set(ArtifactHeaders.Chunk, "0");
  h.set(ArtifactHeaders.ChunkSha256, createHash("sha256").update(good).digest("hex"));
  await js.publish(`artup.${u2}`, good, { headers: h });
  const r2 = await nc.request(
    "art.put",
    JSON.stringify({ upload: u2, sha256: whole, size: ARTIFACT_CHUNK_BYTES, chunks: 1, contentType: "application/octet-stream" }),
    { timeout: 10_000 },
  );
  t.match(r2.json(), { ok: false, error: { code: "Corrupt", message: /SHA-256/ } });
});

t.test("a chunk damaged at rest is caught by its digest: the worker's read fails naming it, the CLI writes nothing", async (t) => {
  const victim = await bus.submit("maker.blob.stream", { size: 4 * ARTIFACT_CHUNK_BYTES, seed: "victim" }, { waitMs: 60_000 });
  const vref = (victim.result as { data: string }).data;
  // Replace chunk 1 in the object store's stream: delete it, write other bytes on its chunk subject.
  const os = await new Objm(bus.nc).open("artifacts");
  const info = (await os.info(artifactIdOf(vref)!))!;
  const jsm = await jetstreamManager(bus.nc);
  const subject = `$O.artifacts.C.${info.nuid}`;
  const c0 = (await jsm.direct.getMessage("OBJ_artifacts", { seq: 1, next_by_subj: subject }))!;
  const c1 = (await jsm.direct.getMessage("OBJ_artifacts", { seq: c0.seq + 1, next_by_subj: subject }))!;
  await jsm.streams.deleteMessage("OBJ_artifacts", c1.seq);
  const forged = Buffer.from(c1.data);
  forged[5] = forged[5]! ^ 0xff;
  await jetstream(bus.nc).publish(subject, forged);
  const r = await bus.submit("reader.blob.digest", { ref: vref }, { waitMs: 60_000 });
  t.not(r.status, "completed");
  t.match(r.failures[0]?.error.message, /chunk 1 .*hashes to/);
  const out = join(bus.dataDir, "victim.bin");
  const got = await runCli(["artifact", "get", vref, "-o", out, "--nats", bus.url, "--creds", bus.installation.adminCreds]);
  t.not(got.code, 0);
  t.match(got.stderr, /chunk 1/);
  await t.rejects(access(out), "no file written");
});

t.test("an operator shares it; then the other plugin reads it, and the share is in the log", async (t) => {
  const s = await runCli(["artifact", "share", ref, "other", "--nats", bus.url, "--creds", bus.installation.adminCreds]);
  t.equal(s.code, 0, s.stderr);
  const got = await sdk().getBuffer(ref);
  t.equal(createHash("sha256").update(got).digest("hex"), id);
  const evs: string[] = [];
  for await (const e of natsEventStore(bus.nc, { codec: ArtifactEvent }).readStream(artifactStreamName(id))) evs.push(`${e.type} ${e.metadata.actor}`);
  t.match(evs, ["artifact.created plugin:maker", /^artifact\.shared operator/]);
});
