import t from "tap";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot } from "./cliProcess.js";

// The README's set-up leaves the checkout clean and its commands point at what they create.
const readme = await readFile(join(repoRoot, "README.md"), "utf8");
const pkg = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8"));
const lock = JSON.parse(await readFile(join(repoRoot, "package-lock.json"), "utf8"));

t.test("no command points at a scratch directory of someone's session", async (t) => {
  t.notMatch(readme, /\/tmp\/demo/);
});

t.test("the lock matches package.json, so `npm install` leaves it unchanged and `npm ci` (deploy/Dockerfile) accepts it", async (t) => {
  const root = lock.packages[""];
  t.equal(lock.name, pkg.name);
  t.equal(root.version, pkg.version);
  t.same(root.dependencies ?? {}, pkg.dependencies ?? {});
  t.same(root.devDependencies ?? {}, pkg.devDependencies ?? {});
  for (const name of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })) {
    t.ok(lock.packages[`node_modules/${name}`], `${name} is locked`);
  }
});
