import t from "tap";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createRequire } from "node:module";
import { cruise } from "dependency-cruiser";

/**
 * The layout's rules (README, Development: "Layout and its rules"), checked on every run:
 * dependency-cruiser applies `.dependency-cruiser.cjs` to src/, and the worker SDK is imported in
 * a fresh process to see what it really loads.
 */
const root = new URL("../../", import.meta.url).pathname;

t.test("the layer rules of .dependency-cruiser.cjs hold for src/", async (t) => {
  const config = createRequire(import.meta.url)(join(root, ".dependency-cruiser.cjs")) as { forbidden: unknown[]; options: Record<string, unknown> };
  const cwd = process.cwd();
  process.chdir(root);
  try {
    const r = await cruise(["src"], { ...config.options, ruleSet: { forbidden: config.forbidden }, validate: true } as never);
    const out = r.output as { summary: { violations: { rule: { name: string }; from: string; to: string }[]; totalCruised: number } };
    t.ok(out.summary.totalCruised > 100, `cruised ${out.summary.totalCruised} modules`);
    t.same(
      out.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
      [],
      "no violations",
    );
  } finally {
    process.chdir(cwd);
  }
});

t.test("ganglion/sdk loads without the core: importing it loads nothing of src/tasks, the store or the service", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ganglion-loads-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const loads = join(dir, "loads.txt");
  await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", "--import", join(root, "test/support/recordLoads.mjs"), "-e", `await import(${JSON.stringify(join(root, "src/sdk/index.ts"))});`],
    { env: { ...process.env, LOADS_FILE: loads }, cwd: root },
  );
  const ours = (await readFile(loads, "utf8"))
    .split("\n")
    .filter((u) => u.startsWith("file://") && u.includes("/src/"))
    .map((u) => u.slice(u.indexOf("/src/") + 1));
  t.ok(ours.includes("src/sdk/worker.ts"), "the worker was loaded");
  t.same(
    ours.filter((p) => !/^src\/(sdk|contract|events)\//.test(p)),
    [],
    "only the SDK and the contract",
  );
});

t.test("no file in src/ is over 450 lines", async (t) => {
  const walk = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
  const long = walk(join(root, "src"))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => ({ f: f.slice(root.length), n: readFileSync(f, "utf8").replace(/\n$/, "").split("\n").length }))
    .filter((x) => x.n > 450);
  t.same(long, []);
});
