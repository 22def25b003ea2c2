import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { generateTypes } from "../../src/cli/commands/types.js";
import { decodeManifest } from "../../src/plugins/manifest.js";
import { createTestBus } from "../../src/testing/testBus.js";

/**
 * The README's "Submitting work from an application" example, as printed: extracted, type-checked
 * with tsc (against `ganglion`'s source and the types `ganglion types` writes for the example
 * manifest), then run against a test bus with the example worker and an application's own
 * credentials.
 */
const ROOT = new URL("../../", import.meta.url).pathname;
const readme = await readFile(join(ROOT, "README.md"), "utf8");
const section = readme.slice(readme.indexOf("## Submitting work from an application"));
const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];

const run = (cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }) =>
  new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    p.on("exit", (c) => resolve({ code: c, out }));
  });

const dir = await mkdtemp(join(tmpdir(), "ganglion-readme-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const manifestText = await readFile(join(ROOT, "examples/ts-worker/manifest.yaml"), "utf8");
// An ES module project, as an application using ganglion (ESM only) is.
await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));

t.test("the README has the example", async (t) => {
  t.ok(code, "a ```ts block under 'Submitting work from an application'");
  t.match(code!, /from "ganglion"/);
});

t.test("the example type-checks against ganglion and the generated task types", async (t) => {
  const m = decodeManifest(manifestText);
  if (E.isLeft(m)) throw new Error(m.left.join("; "));
  await writeFile(join(dir, "tasks.d.ts"), await generateTypes([{ file: "examples/ts-worker/manifest.yaml", provides: m.right.provides }]));
  await writeFile(join(dir, "app.ts"), code!);
  await writeFile(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ["node"],
        typeRoots: [join(ROOT, "node_modules/@types")],
        baseUrl: ".",
        paths: { ganglion: [join(ROOT, "src/index.ts")] },
        allowImportingTsExtensions: true,
      },
      files: ["app.ts", "tasks.d.ts"],
    }),
  );
  const tsc = await run(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(dir, "tsconfig.json")], { cwd: dir });
  t.equal(tsc.code, 0, tsc.out || "tsc is clean");
  // A wrong param type must not compile: the map does type `submit`.
  await writeFile(join(dir, "app.ts"), `${code!}\nawait client.submit("text.wordcount", { text: 3 });\n`);
  const bad = await run(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(dir, "tsconfig.json")], { cwd: dir });
  t.not(bad.code, 0, "a param of the wrong type is a compile error");
  t.match(bad.out, /app\.ts\(\d+,\d+\): error TS2322/);
});

t.test("the example runs against a test bus with an application's credentials", async (t) => {
  const bus = await createTestBus();
  t.teardown(bus.stop);
  const { creds } = await bus.install(manifestText);
  const workerCreds = join(dir, "wordcount.creds");
  await writeFile(workerCreds, creds, { mode: 0o600 });
  const worker = spawn(process.execPath, ["--import", "tsx", join(ROOT, "examples/ts-worker/worker.ts")], {
    cwd: ROOT,
    env: { ...process.env, WORDCOUNT_CREDS: workerCreds, NATS_URL: bus.url, WORKER_INSTANCE: "readme-1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((r) => worker.on("exit", r));
  t.teardown(async () => {
    worker.kill("SIGTERM");
    await exited;
  });
  await new Promise<void>((resolve, reject) => {
    worker.stdout!.on("data", (b: Buffer) => b.toString().includes("running") && resolve());
    worker.on("exit", () => reject(new Error("the example worker exited")));
  });
  const added = await bus.call("app.add", { appId: "shop", grants: ["task.submit:text.wordcount"] });
  if (E.isLeft(added)) throw new Error(added.left.message);
  await writeFile(join(dir, "shop.creds"), added.right.creds, { mode: 0o600 });
  // As printed, but `ganglion` resolved to this checkout's source (the package's build may be older).
  await writeFile(join(dir, "app.ts"), code!.replace('from "ganglion"', `from ${JSON.stringify(pathToFileURL(join(ROOT, "src/index.ts")).href)}`));
  const r = await run(process.execPath, ["--import", pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href, join(dir, "app.ts")], {
    cwd: dir,
    env: { NATS_URL: bus.url },
  });
  t.equal(r.code, 0, r.out);
  t.match(r.out, /shop_[0-9a-f]{32}: 4 words/);
  t.match(r.out, /same task: true/);
  t.match(r.out, /2 words[\s\S]*3 words/);
  t.match(r.out, /my tasks: [1-9]/);
});
