import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { repoRoot, runnerBus, until } from "./support.js";

// Issue 16: the example workers (TypeScript, Go, C) started by the runner from their own
// manifests' run: sections, and tasks of each completing.

const ok = (cmd: string, args: string[], cwd?: string) => {
  const r = spawnSync(cmd, args, { stdio: "ignore", ...(cwd ? { cwd } : {}) });
  return !r.error && r.status === 0;
};
const toolchains =
  ok("go", ["version"]) && existsSync("/usr/share/gocode/src/github.com/nats-io/nats.go") && ok("pkg-config", ["--exists", "libnats", "libsodium"]);

if (!toolchains && process.env.CI !== "true") {
  t.plan(
    0,
    "skip: the Go and C toolchains are not installed (apt-get install golang-go golang-github-nats-io-go-nats-dev libnats-dev libsodium-dev pkg-config)",
  );
} else {
  t.ok(ok("make", ["-s", "-C", join(repoRoot, "examples/go-worker"), "go-hasher"]), "go-hasher builds");
  t.ok(ok("make", ["-s", "-C", join(repoRoot, "examples/c-worker"), "c-counter"]), "c-counter builds");
  const bus = await runnerBus();
  t.teardown(bus.stop);
  await bus.newCore();
  const examples = [
    { dir: "ts-worker", id: "wordcount", taskType: "text.wordcount", params: { text: "one two three" }, result: { words: 3 } },
    { dir: "go-worker", id: "go-hasher", taskType: "hash.sha256", params: { data: "abc" }, result: { bytes: 3 } },
    { dir: "c-worker", id: "c-counter", taskType: "text.count", params: { text: "a b" }, result: { words: 2 } },
  ];
  for (const ex of examples) {
    await t.test(`${ex.dir}: started by the runner from its manifest, and its tasks complete`, async (t) => {
      const manifestText = await readFile(join(repoRoot, "examples", ex.dir, "manifest.yaml"), "utf8");
      await bus.call("plugin.install", { manifestText, grant: "all" });
      const ps = await until(`${ex.id} running`, async () => {
        const p = (await bus.call("worker.ps", { pluginId: ex.id })).plugins[0];
        return p && p.running === 1 ? p : undefined;
      });
      t.equal(ps.instances[0]!.instance, `${ex.id}-0`);
      // The workers view shows the runner's side beside the heartbeats.
      const row = await until("the workers view's runner state", async () => {
        const r = (await bus.call("views.workers", { pluginId: ex.id }))[0];
        return r?.runner?.instances[`${ex.id}-0`]?.running && Object.hasOwn(r.instances, r.runner.instances[`${ex.id}-0`]!.worker) ? r : undefined;
      });
      t.equal(row.runner!.instances[`${ex.id}-0`]!.ref, ps.instances[0]!.ref, "the same pid as worker ps");
      const s = await bus.call("task.submit", { taskType: ex.taskType, params: ex.params, pluginId: ex.id });
      const v = await bus.call("task.get", { taskId: s.taskId, waitMs: 60_000 });
      t.equal(v.status, "completed", JSON.stringify(v));
      t.match(v.result, ex.result);
    });
  }
  await t.test("killing a worker is healed by the runner", async (t) => {
    const before = (await bus.call("worker.ps", { pluginId: "go-hasher" })).plugins[0]!.instances[0]!;
    process.kill(Number(before.ref), "SIGKILL");
    const after = await until("a new go-hasher", async () => {
      const i = (await bus.call("worker.ps", { pluginId: "go-hasher" })).plugins[0]?.instances[0];
      return i && i.running && i.ref !== before.ref ? i : undefined;
    });
    t.equal(after.restarts, 1);
    const s = await bus.call("task.submit", { taskType: "hash.sha256", params: { data: "abc" }, pluginId: "go-hasher" });
    t.equal((await bus.call("task.get", { taskId: s.taskId, waitMs: 60_000 })).status, "completed");
  });
}
