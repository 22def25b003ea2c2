import t from "tap";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseEnv, repoRoot, runCli, runCliWithInput, startCli } from "./cliProcess.js";

t.setTimeout(15 * 60_000);
// `task submit` with params from a file or stdin, and `--batch`: a real `ganglion up`, the example
// wordcount plugin installed and its worker running as a child process.
const dir = await mkdtemp(join(tmpdir(), "ganglion-taskinput-"));
const dataDir = join(dir, "data");
t.teardown(() => rm(dir, { recursive: true, force: true }));
const up = await startCli(["up", "--port", "0", "--data-dir", dataDir]);
t.teardown(() => up.stop());
const g = (...args: string[]) => runCli(["--data-dir", dataDir, ...args]);
const ok = async (...args: string[]) => {
  const r = await g(...args);
  if (r.code !== 0) throw new Error(`ganglion ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
};
await ok("plugin", "install", join(repoRoot, "examples/ts-worker/manifest.yaml"), "--yes");
const credsFile = join(dir, "wordcount.creds");
await ok("plugin", "creds", "wordcount", "-o", credsFile);
const worker = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "examples/ts-worker/worker.ts")], {
  cwd: repoRoot,
  env: baseEnv({ WORDCOUNT_CREDS: credsFile, NATS_URL: up.url }),
  stdio: ["ignore", "ignore", "pipe"],
});
// Read the worker's logs as they come: an unread pipe fills and stalls the worker.
let workerLog = "";
worker.stderr!.on("data", (b: Buffer) => (workerLog = (workerLog + b.toString()).slice(-8192)));
const workerExit = new Promise((r) => worker.once("exit", r));
t.teardown(async () => {
  worker.kill("SIGTERM");
  await workerExit;
});

t.test("--data @file: a 200 KB param, which as an argument fails with 'Argument list too long'", async (t) => {
  const words = 40_000;
  const file = join(dir, "big.json");
  await writeFile(file, JSON.stringify({ text: "word ".repeat(words) }));
  const r = await g("--json", "task", "submit", "text.wordcount", "--data", `@${file}`, "--wait", "--timeout", "2m");
  t.equal(r.code, 0, r.stderr + workerLog);
  t.match(JSON.parse(r.stdout), { status: "completed", result: { words } });
  const missing = await g("--json", "task", "submit", "text.wordcount", "--data", `@${join(dir, "nope.json")}`);
  t.equal(missing.code, 2);
  t.match(JSON.parse(missing.stderr.trim()), { code: "Usage", paths: ["--data"], message: /cannot read/ });
});

t.test("--data -: params from stdin", async (t) => {
  const r = await runCliWithInput(["--data-dir", dataDir, "task", "submit", "text.wordcount", "--data", "-", "--wait"], '{"text":"from standard input"}');
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), { words: 3 });
  const bad = await runCliWithInput(["--data-dir", dataDir, "task", "submit", "text.wordcount", "--data", "-"], "not json");
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--data - \(stdin\) is not JSON/);
});

t.test("refused by the bus under --json: {code, message, paths} with the schema's paths", async (t) => {
  const r = await g("--json", "task", "submit", "text.wordcount", "--data", '{"text":5}');
  t.equal(r.code, 1);
  const e = JSON.parse(r.stderr.trim());
  t.match(e, { code: "InvalidParams", exitCode: 1 });
  t.ok(Array.isArray(e.paths) && e.paths.length > 0, JSON.stringify(e));
});

t.test("--batch: 1,000 tasks over one connection, refusals with their line, --wait completes them", async (t) => {
  // Lift the manifest's 100/s so the figure is the pipeline's; the rate-limited path is checked below.
  await ok("task", "limits", "wordcount", "--rate", "100000/s", "--concurrency", "64");
  const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ text: "a b c ".repeat((i % 5) + 1) }));
  lines[10] = '{"text": 7}';
  lines[20] = "{broken";
  const file = join(dir, "tasks.jsonl");
  await writeFile(file, lines.join("\n") + "\n");
  const started = Date.now();
  const r = await g("--json", "task", "submit", "text.wordcount", "--batch", file, "--wait", "--timeout", "5m");
  const seconds = (Date.now() - started) / 1000;
  t.comment(`1,000-line batch with --wait: ${seconds.toFixed(1)} s including process start`);
  t.equal(r.code, 1, "some lines were refused");
  const s = JSON.parse(r.stdout);
  t.equal(s.lines, 1000);
  t.equal(s.submitted, 998);
  t.equal(s.completed, 998);
  t.equal(s.failed, 0);
  t.same(
    s.refused.map((x: { line: number; code: string }) => [x.line, x.code]),
    [
      [11, "InvalidParams"],
      [21, "InvalidJson"],
    ],
  );
  t.equal(new Set(s.tasks.map((x: { taskId: string }) => x.taskId)).size, 998, "one task per line");
  t.match(JSON.parse(r.stderr.trim()), { code: "BatchIncomplete", exitCode: 1 });
});

t.test("--batch without a task type: each line names its own; RateLimited is waited out, not a refusal", async (t) => {
  await ok("task", "limits", "wordcount", "--rate", "20/s");
  const lines = Array.from({ length: 60 }, (_, i) =>
    JSON.stringify(i % 2 ? { taskType: "text.echo", params: { text: `t${i}` } } : { taskType: "text.wordcount", params: { text: "x y" } }),
  );
  lines.push(JSON.stringify({ params: {} }));
  const r = await runCliWithInput(["--data-dir", dataDir, "task", "submit", "--batch", "-", "--wait"], lines.join("\n"));
  t.match(r.stdout, /^61 tasks: 60 submitted, 1 refused; 60 completed, 0 failed, 0 not ended in time$/m, r.stdout + r.stderr);
  t.match(r.stdout, /^  line 61: taskType: .*\(InvalidRequest\)$/m);
  t.equal(r.code, 1);
  await ok("task", "limits", "wordcount", "--reset");
});
