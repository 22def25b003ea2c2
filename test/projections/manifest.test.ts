import t from "tap";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseTimeBound } from "../../src/projections/audit.js";
import { loadManifests } from "../../src/projections/manifest.js";
import { resolveViews } from "../../src/projections/runner/source.js";
import { allViews } from "../../src/projections/views.js";

t.test("the shipped manifests each have a view, and distinct buckets", async (t) => {
  const ms = await loadManifests();
  t.same(ms.map((m) => m.name).sort(), Object.keys(allViews).sort());
  t.equal(new Set(ms.map((m) => m.bucket)).size, ms.length);
  t.equal(resolveViews(ms, allViews).length, ms.length);
});

t.test("a bad manifest is refused with its path and the failing field", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ganglion-manifests-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "x.json"), JSON.stringify({ name: "x", version: 1, bucket: "no spaces allowed", description: "", filter: {} }));
  await t.rejects(loadManifests(dir), /x\.json: .*bucket/);
  await writeFile(join(dir, "x.json"), "{");
  await t.rejects(loadManifests(dir), /x\.json: not valid JSON/);
  await writeFile(join(dir, "x.json"), JSON.stringify({ name: "x", version: 1, bucket: "b", description: "", filter: {} }));
  await writeFile(join(dir, "y.json"), JSON.stringify({ name: "y", version: 1, bucket: "b", description: "", filter: {} }));
  await t.rejects(loadManifests(dir), /bucket b is declared by two views/);
  t.throws(() => resolveViews([{ name: "nope", version: 1, bucket: "nope", description: "", filter: {} }], allViews), /no such view is built in/);
});

t.test("audit time bounds: ISO times or durations back from now", async (t) => {
  const now = new Date("2026-01-02T00:00:00Z");
  t.equal(parseTimeBound("15m", now), now.getTime() - 15 * 60_000);
  t.equal(parseTimeBound("7d", now), now.getTime() - 7 * 86_400_000);
  t.equal(parseTimeBound("2026-01-01T00:00:00Z", now), Date.parse("2026-01-01T00:00:00Z"));
  t.equal(parseTimeBound("last tuesday", now), undefined);
});
