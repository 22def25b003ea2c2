import t from "tap";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { MAX_REPORT_BYTES, MAX_RESULT_BYTES } from "../../src/contract/limits.js";
import { applyDefinitions, DefinitionError, loadDefinitions } from "../../src/store/streamDefinitions.js";
import type { StreamDefinition } from "../../src/store/streamDefinitions.js";
import { startTestServer } from "../support/natsServer.js";

const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin();
t.teardown(() => nc.close());
const jsm = await jetstreamManager(nc);

const def = (over: Partial<StreamDefinition["config"]> = {}): StreamDefinition => ({
  kind: "stream",
  description: "a test stream",
  config: { name: "DEFS", subjects: ["defs.>"], storage: "file", retention: "limits", duplicate_window: "2m", ...over },
});

t.test("the shipped definitions apply, then apply again unchanged", async (t) => {
  const defs = await loadDefinitions();
  t.ok(defs.some((d) => d.kind === "stream" && d.config.name === "EVENTS"));
  const first = await applyDefinitions(nc, jsm, defs);
  t.ok(first.created.includes("EVENTS"));
  const second = await applyDefinitions(nc, jsm, defs);
  t.same(second.created, []);
  t.same(second.updated, []);
  const events = (await jsm.streams.info("EVENTS")).config;
  t.equal(events.storage, "file");
  t.equal(events.max_age, 0, "nothing expires");
  t.equal(events.duplicate_window, 120e9);
  t.equal(events.deny_delete, true);
});

t.test("a compatible change updates in place; an incompatible one is refused naming the field", async (t) => {
  t.same((await applyDefinitions(nc, jsm, [def()])).created, ["DEFS"]);
  const up = await applyDefinitions(nc, jsm, [def({ subjects: ["defs.>", "more.>"], max_age: "1h" })]);
  t.same(up.updated, ["DEFS"]);
  const c = (await jsm.streams.info("DEFS")).config;
  t.same(c.subjects, ["defs.>", "more.>"]);
  t.equal(c.max_age, 3600e9);
  const err = await applyDefinitions(nc, jsm, [def({ storage: "memory" })]).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, DefinitionError);
  t.match((err as Error).message, /"storage"/);
  t.equal((await jsm.streams.info("DEFS")).config.storage, "file", "the stream was left as it was");
});

t.test("a malformed definition file is refused with its path and the field", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ganglion-defs-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, "bad.json"),
    JSON.stringify({ kind: "stream", description: "x", config: { name: "X", subjects: "x.>", storage: "disk", retention: "limits" } }),
  );
  const err = await loadDefinitions(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, DefinitionError);
  t.match((err as Error).message, /bad\.json/);
  t.match((err as Error).message, /subjects/);
  t.match((err as Error).message, /storage/);
  await writeFile(join(dir, "bad.json"), "{ not json");
  await t.rejects(loadDefinitions(dir), /bad\.json: not valid JSON/);
});

t.test("RESULTS refuses a report over MAX_REPORT_BYTES, also on a stream created before the limit", async (t) => {
  const defs = await loadDefinitions();
  const results = defs.find((d): d is StreamDefinition => d.kind === "stream" && d.config.name === "RESULTS");
  t.equal(results?.config.max_msg_size, MAX_REPORT_BYTES, "streams/results.json carries the limit of src/contract/limits.ts");
  t.ok(MAX_REPORT_BYTES > MAX_RESULT_BYTES, "with room for the envelope over the largest result");
  // An existing data dir: RESULTS as earlier versions made it, with no size limit.
  await jsm.streams.update("RESULTS", { ...(await jsm.streams.info("RESULTS")).config, max_msg_size: -1 });
  const up = await applyDefinitions(nc, jsm, defs);
  t.ok(up.updated.includes("RESULTS"), "updated when the core starts");
  t.equal((await jsm.streams.info("RESULTS")).config.max_msg_size, MAX_REPORT_BYTES);
  const js = jetstream(nc);
  const err = await js.publish("res.p.t1", new Uint8Array(MAX_REPORT_BYTES + 1)).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof JetStreamApiError && err.code === 10054, `the server refuses it (10054, message size exceeds maximum allowed): ${String(err)}`);
  t.ok((await js.publish("res.p.t1", new Uint8Array(MAX_REPORT_BYTES - 200))).seq > 0, "one just under the limit is stored");
});
