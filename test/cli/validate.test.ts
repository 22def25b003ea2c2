import t from "tap";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, runCli } from "./cliProcess.js";

/** `ganglion plugin validate`: no bus anywhere in this file (no server is started, no URL given). */
const work = await mkdtemp(join(tmpdir(), "ganglion-validate-"));
t.teardown(() => rm(work, { recursive: true, force: true }));
const good = join(repoRoot, "examples/ts-worker/manifest.yaml");
const text = await readFile(good, "utf8");
const write = async (name: string, body: string) => {
  const p = join(work, name);
  await writeFile(p, body);
  return p;
};
const noBus = { GANGLION_DATA_DIR: join(work, "no-such-data-dir") };

t.test("a valid manifest: exit 0, without any bus", async (t) => {
  const r = await runCli(["plugin", "validate", good], noBus);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /valid manifest of plugin wordcount 1\.0\.0/);
  const j = await runCli(["plugin", "validate", good, "--json"], noBus);
  t.equal(j.code, 0, j.stderr);
  t.same(JSON.parse(j.stdout), { valid: true, file: good, id: "wordcount", version: "1.0.0", errors: [] });
});

t.test("every install check: each error as `path: reason`, exit 1", async (t) => {
  const bad = await write(
    "bad.yaml",
    text
      .replace("timeout: 30s", "timeout: thirty")
      .replace("topic.publish:text.counted", "spaceship.launch:moon")
      .replace("id: wordcount", "id: Word_Count")
      .replace("concurrency: 4", "concurrency: 0")
      .replace(
        "properties:\n        text: { type: string }\n      additionalProperties",
        'properties:\n        text: { type: string, pattern: "(a+)+$" }\n      additionalProperties',
      ),
  );
  const r = await runCli(["plugin", "validate", bad], noBus);
  t.equal(r.code, 1, r.stderr);
  const lines = r.stdout.trim().split("\n");
  t.ok(
    lines.every((l) => /^[^:]+: .+/.test(l)),
    lines.join("\n"),
  );
  t.match(r.stdout, /^id: /m, "names");
  t.match(r.stdout, /^provides\[0\]\.timeout: expected a duration/m, "durations");
  t.match(r.stdout, /^capabilities\[0\]: /m, "capabilities against the catalog");
  t.match(r.stdout, /^limits\.concurrency: /m, "limits");
  t.match(r.stdout, /^provides\[0\]\.params.*: /m, "schemas (an exponential pattern)");
  t.match(r.stderr, /not a valid manifest \(\d+ errors\)/);
});

t.test("--json: the result as data on stdout, the error as data on stderr", async (t) => {
  const bad = await write("bad2.yaml", text.replace("timeout: 30s", "timeout: soon"));
  const r = await runCli(["plugin", "validate", bad, "--json"], noBus);
  t.equal(r.code, 1);
  const out = JSON.parse(r.stdout) as { valid: boolean; errors: { path: string; reason: string }[] };
  t.equal(out.valid, false);
  t.same(
    out.errors.map((e) => e.path),
    ["provides[0].timeout"],
  );
  t.match(out.errors[0]!.reason, /expected a duration like "30s"/);
  const err = JSON.parse(r.stderr.trim()) as Record<string, unknown>;
  t.same(err, { code: "InvalidManifest", message: err.message, paths: ["provides[0].timeout"], exitCode: 1 });
});

t.test("size: a manifest past the limit is refused, as install refuses it", async (t) => {
  const big = await write("big.yaml", text + `# ${"x".repeat(300 * 1024)}\n`);
  const r = await runCli(["plugin", "validate", big], noBus);
  t.equal(r.code, 1);
  t.match(r.stdout, /^\(document\): the manifest is \d+ characters; the limit is/m);
});

t.test("not YAML, and a missing file (usage, exit 2)", async (t) => {
  const r = await runCli(["plugin", "validate", await write("broken.yaml", "id: [unclosed")], noBus);
  t.equal(r.code, 1);
  t.match(r.stdout, /^\(document\): not valid YAML/m);
  const missing = await runCli(["plugin", "validate", join(work, "nope.yaml"), "--json"], noBus);
  t.equal(missing.code, 2);
  t.match(JSON.parse(missing.stderr.trim()), { code: "Usage", paths: [join(work, "nope.yaml")], exitCode: 2 });
});

t.test("--json usage errors come out as data too", async (t) => {
  const r = await runCli(["plugin", "validate", "--json", "--no-such-option"], noBus);
  t.equal(r.code, 2);
  t.match(JSON.parse(r.stderr.trim()), { code: "Usage", message: /unknown option/, exitCode: 2 });
});
