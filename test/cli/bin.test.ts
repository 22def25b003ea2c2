import t from "tap";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { baseEnv, repoRoot } from "./cliProcess.js";

const exec = promisify(execFile);

t.test("bin/ganglion.js runs the CLI from the checkout", async (t) => {
  const r = await exec(process.execPath, [join(repoRoot, "bin", "ganglion.js"), "--help"], { cwd: repoRoot, env: baseEnv() });
  t.match(r.stdout, /^Usage: ganglion /);
});

t.test("without dist/ it falls back to the TypeScript sources through tsx", async (t) => {
  // A clone before its first build: bin/ and the sources, no dist/.
  const pkg = await mkdtemp(join(tmpdir(), "ganglion-bin-"));
  t.teardown(() => rm(pkg, { recursive: true, force: true }));
  await mkdir(join(pkg, "bin"));
  await copyFile(join(repoRoot, "bin", "ganglion.js"), join(pkg, "bin", "ganglion.js"));
  await copyFile(join(repoRoot, "package.json"), join(pkg, "package.json"));
  for (const d of ["src", "node_modules", "streams"]) await symlink(join(repoRoot, d), join(pkg, d));
  const r = await exec(process.execPath, [join(pkg, "bin", "ganglion.js"), "up", "--help"], { cwd: pkg, env: baseEnv() });
  t.match(r.stdout, /^Usage: ganglion up /);
  const bad = await exec(process.execPath, [join(pkg, "bin", "ganglion.js"), "no-such-command"], { cwd: pkg, env: baseEnv() }).then(
    () => 0,
    (e: { code: number }) => e.code,
  );
  t.equal(bad, 2, "exit codes pass through");
});

t.test("a dist/ older than the sources is not used: the sources answer", async (t) => {
  const pkg = await mkdtemp(join(tmpdir(), "ganglion-stale-"));
  t.teardown(() => rm(pkg, { recursive: true, force: true }));
  await mkdir(join(pkg, "bin"));
  await mkdir(join(pkg, "dist", "cli"), { recursive: true });
  await copyFile(join(repoRoot, "bin", "ganglion.js"), join(pkg, "bin", "ganglion.js"));
  await copyFile(join(repoRoot, "package.json"), join(pkg, "package.json"));
  // A "build" that only prints a marker, dated before the sources.
  const { writeFile, utimes } = await import("node:fs/promises");
  await writeFile(join(pkg, "dist", "cli", "main.js"), 'export const main = () => console.log("STALE BUILD");\n');
  await utimes(join(pkg, "dist", "cli", "main.js"), new Date(0), new Date(0));
  for (const d of ["src", "node_modules", "streams"]) await symlink(join(repoRoot, d), join(pkg, d));
  const r = await exec(process.execPath, [join(pkg, "bin", "ganglion.js"), "--help"], { cwd: pkg, env: baseEnv() });
  t.notMatch(r.stdout, /STALE BUILD/);
  t.match(r.stdout, /^Usage: ganglion /);
});
