import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { alive, repoRoot, runCli, startCli } from "../cli/cliProcess.js";

// `ganglion up --runner process` as a real process: the example's manifest installed with the
// CLI, its worker started by the core, `worker ps|scale|logs` and a task through the CLI; Ctrl-C
// (SIGTERM) on the core stops the worker too.

const dir = await mkdtemp(join(tmpdir(), "ganglion-up-runner-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const dataDir = join(dir, "data");
const up = await startCli(["up", "--port", "0", "--data-dir", dataDir, "--runner", "process"]);
t.teardown(() => up.stop());
const g = async (...args: string[]) => {
  const r = await runCli(["--data-dir", dataDir, ...args]);
  if (r.code !== 0) throw new Error(`ganglion ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
};
const until = async <A>(what: string, f: () => Promise<A | undefined>): Promise<A> => {
  for (let i = 0; i < 200; i++) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`gave up waiting for ${what}`);
};
type Ps = { plugins: { pluginId: string; running: number; instances: { instance: string; ref: string; running: boolean }[] }[] };
const ps = async () => JSON.parse((await g("worker", "ps", "--json")).stdout) as Ps;

t.test("up --runner process starts an installed example's worker; tasks complete; scale and logs work", async (t) => {
  const install = await g("plugin", "install", join(repoRoot, "examples/ts-worker/manifest.yaml"), "--yes");
  t.match(install.stderr, /The core's runner will start 1 instance\(s\) of: "\{node\}"/, "the install shows the command");
  await until("wordcount running", async () => ((await ps()).plugins.find((p) => p.pluginId === "wordcount")?.running === 1 ? true : undefined));
  const done = await g("task", "submit", "text.wordcount", "--data", '{"text":"a b c d"}', "--wait", "--timeout", "60s");
  t.match(done.stdout, /"words": 4/);
  await g("worker", "scale", "wordcount", "2");
  const two = await until("2 running", async () => {
    const p = (await ps()).plugins.find((x) => x.pluginId === "wordcount");
    return p?.running === 2 ? p : undefined;
  });
  t.same(
    two.instances.map((i) => i.instance),
    ["wordcount-0", "wordcount-1"],
  );
  const logs = await until("its log", async () => {
    const r = await g("worker", "logs", "wordcount", "--instance", "wordcount-1");
    return /wordcount worker wordcount-1-\w+ running/.test(r.stdout) ? r.stdout : undefined;
  });
  t.ok(logs);
  const table = await g("worker", "ps");
  t.match(table.stdout, /wordcount-1/);
  // The core stops: so do its workers.
  const pids = two.instances.map((i) => Number(i.ref));
  await up.stop();
  t.ok(
    pids.every((p) => !alive(p)),
    "the workers stopped with the core",
  );
});
