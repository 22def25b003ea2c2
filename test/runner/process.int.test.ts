import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { runnerBus, sleeperManifest, until } from "./support.js";

// Issue 16: the `process` runner with real processes (the sleeper fixture, a TS worker on the
// SDK), a real nats-server, the real core and real minted credentials.

// Something of the core's own environment that must not reach a worker.
process.env.CORE_ONLY_MARKER = "core-secret-marker";
const bus = await runnerBus();
t.teardown(bus.stop);
const core = await bus.newCore();
const doneFile = join(bus.dataDir, "done.txt");

const ps = async (pluginId: string) => (await bus.call("worker.ps", { pluginId })).plugins.find((p) => p.pluginId === pluginId);
const runningPids = async (pluginId: string) => (await ps(pluginId))?.instances.filter((i) => i.running).map((i) => Number(i.ref)) ?? [];
/** The workers view lists each running instance's worker as online (heartbeats reached the core). */
const online = async (pluginId: string, n: number) => {
  const running = (await ps(pluginId))?.instances.filter((i) => i.running) ?? [];
  const rows = await bus.call("views.workers", { pluginId }).catch(() => []);
  return running.length === n && rows[0] && running.every((i) => Object.hasOwn(rows[0]!.instances, i.worker)) ? rows[0] : undefined;
};
const submit = (pluginId: string, ms: number) => bus.call("task.submit", { taskType: "sleep.for", params: { ms }, pluginId });
const waitTask = async (taskId: string) => {
  const v = await bus.call("task.get", { taskId, waitMs: 60_000 });
  return v;
};

t.test("an approved plugin with run: is started by the runner; its env is minimal and its credentials stay in a 0600 file", async (t) => {
  await bus.call("plugin.install", { manifest: sleeperManifest("sleeper", { env: { SLEEPER_DONE_FILE: doneFile } }), grant: "all" });
  const [pid] = await until("the first instance", async () => ((await runningPids("sleeper")).length === 1 ? await runningPids("sleeper") : undefined));
  await until("the instance online", () => online("sleeper", 1));
  const dir = join(bus.stateDir, "sleeper", "sleeper-0");
  t.equal(statSync(dir).mode & 0o777, 0o700, "the instance dir is private");
  t.equal(statSync(join(dir, "creds")).mode & 0o777, 0o600, "the creds file is 0600");
  const creds = readFileSync(join(dir, "creds"), "utf8");
  const jwt = /-----BEGIN NATS USER JWT-----\s+(\S+)/.exec(creds)![1]!;
  const seed = /(SU[A-Z0-9]{56})/.exec(creds)![1]!;
  const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
  // tap's process-info hook adds its own variables (NODE_OPTIONS, _TAPJS_*) to every spawn in a test process.
  const names = environ.map((l) => l.slice(0, l.indexOf("="))).filter((n) => n !== "NODE_OPTIONS" && !n.startsWith("_TAPJS_"));
  t.notOk(
    environ.some((l) => l.includes("core-secret-marker")),
    "nothing of the core's environment",
  );
  t.same(
    names.sort(),
    ["GANGLION_CREDS", "GANGLION_PLUGIN", "HOME", "LANG", "NATS_URL", "PATH", "SLEEPER_DONE_FILE", "TMPDIR", "WORKER_INSTANCE"],
    "only the runner's variables and run.env",
  );
  t.equal(readlinkCwd(pid!), dir, "its working directory is its own dir");
  const task = await submit("sleeper", 10);
  t.equal((await waitTask(task.taskId)).status, "completed");
  // ps sees every process's command line: no credential in any of them.
  const psOut = execFileSync("ps", ["-eo", "pid,args", "-ww"], { encoding: "utf8" });
  t.notOk(psOut.includes(seed) || psOut.includes(jwt), "no seed or JWT in ps output");
  t.notOk(
    environ.some((l) => l.includes(seed) || l.includes(jwt)),
    "none in its environment",
  );
  const log = await readFile(join(dir, "out.log"), "utf8");
  t.match(log, /sleeper sleeper-0-[0-9a-z]+ running/, "stdout is captured");
  t.notOk(log.includes(seed) || log.includes(jwt), "none in its log");
  const logs = await bus.call("worker.logs", { pluginId: "sleeper" });
  t.match(logs.text, /sleeper sleeper-0-[0-9a-z]+ running/, "worker logs answers it");
  const started = await bus.eventsOf("sleeper", "runner.instance.started");
  t.equal(started.length, 1);
  t.notOk(JSON.stringify(started.map((e) => e.data)).includes(seed), "no seed in the events");
});

t.test("SIGKILL of an instance: restarted, and the task in flight completes exactly once", async (t) => {
  const [pid] = await runningPids("sleeper");
  const task = await submit("sleeper", 3000);
  await until("the task started", async () => ((await bus.call("task.get", { taskId: task.taskId })).status === "running" ? true : undefined));
  process.kill(pid!, "SIGKILL");
  const [again] = await until("a new instance", async () => {
    const p = await runningPids("sleeper");
    return p.length === 1 && p[0] !== pid ? p : undefined;
  });
  t.not(again, pid, "a new process");
  const v = await waitTask(task.taskId);
  t.equal(v.status, "completed");
  const done = readFileSync(doneFile, "utf8")
    .split("\n")
    .filter((l) => l.startsWith(task.taskId));
  t.equal(done.length, 1, "the handler finished it once");
  const exits = await bus.eventsOf("sleeper", "runner.instance.exited");
  t.match(exits.at(-1)!.data, { instance: "sleeper-0", code: null, signal: "SIGKILL", requested: false });
  t.equal((await bus.eventsOf("sleeper", "runner.instance.restarted")).length, 1);
  const row = (await ps("sleeper"))!.instances[0]!;
  t.equal(row.restarts, 1);
  t.match(row.lastExit, { signal: "SIGKILL" });
});

t.test("scale up and down with tasks flowing", async (t) => {
  const tasks: Promise<string>[] = [];
  let flowing = true;
  const flow = (async () => {
    while (flowing) {
      const s = await submit("sleeper", 50);
      tasks.push(waitTask(s.taskId).then((v) => v.status));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const up = await bus.call("worker.scale", { pluginId: "sleeper", instances: 3 });
  t.equal(up.desired, 3);
  await until("3 instances", async () => ((await runningPids("sleeper")).length === 3 ? true : undefined));
  // Each instance takes tasks: the done file names the worker that finished each one.
  const workers = (await ps("sleeper"))!.instances.filter((i) => i.running).map((i) => i.worker);
  await until("tasks done by all 3 instances", () => {
    const done = readFileSync(doneFile, "utf8");
    return workers.every((w) => done.includes(` ${w}\n`)) ? true : undefined;
  });
  const down = await bus.call("worker.scale", { pluginId: "sleeper", instances: 1 });
  t.equal(down.running, 1, "scale down answers once the extra instances stopped");
  await new Promise((r) => setTimeout(r, 1000));
  flowing = false;
  await flow;
  const statuses = await Promise.all(tasks);
  t.ok(statuses.length > 5, `${statuses.length} tasks submitted during the scaling`);
  t.same(
    statuses.filter((s) => s !== "completed"),
    [],
    "every task completed",
  );
  const exits = (await bus.eventsOf("sleeper", "runner.instance.exited")).filter((e) => e.data.requested);
  t.same(exits.map((e) => e.data.instance).sort(), ["sleeper-1", "sleeper-2"], "the two extra instances were stopped on request");
});

t.test("a secret reference the plugin is not granted is refused at start, with a reason (the core's own secret store resolves run.env)", async (t) => {
  await bus.call("plugin.install", { manifest: sleeperManifest("secretive", { instances: 0, env: { TOKEN: "secret://api-token" } }), grant: "all" });
  const err = await bus.call("worker.start", { pluginId: "secretive", instances: 1 }).catch((e: Error) => e);
  t.match(err, { code: "NotApplicable", message: /secret:\/\/api-token\) could not be resolved: plugin secretive is not granted secret\.read:api-token/ });
  t.same(await runningPids("secretive"), [], "nothing started");
});

t.test("a worker that exits at once trips the crash-loop limit: the plugin is disabled with a reason", async (t) => {
  await bus.call("plugin.install", {
    manifest: sleeperManifest("crasher", {
      command: "{node}",
      args: ["-e", "process.exit(3)"],
      restart: { backoff: ["100ms"], crashLoop: { restarts: 3, window: "30s" } },
    }),
    grant: "all",
  });
  const shown = await until("the plugin disabled", async () => {
    const p = await bus.call("plugin.show", { pluginId: "crasher" });
    return p.plugin.status === "disabled" ? p : undefined;
  });
  t.match(shown.plugin.disabledReason, /crash loop: its workers exited 4 times within 30s \(the last with code 3\)/);
  const loops = await bus.eventsOf("crasher", "runner.instance.crash_loop");
  t.equal(loops.length, 1);
  t.equal((await bus.eventsOf("crasher", "runner.instance.restarted")).length, 3, "restarted up to the limit");
  t.same(await runningPids("crasher"), []);
  t.same((await bus.call("plugin.show", { pluginId: "crasher" })).plugin.liveCredentials, [], "its credentials were revoked");
});

t.test("disable stops every instance within the grace period", async (t) => {
  await bus.call("worker.scale", { pluginId: "sleeper", instances: 2 });
  const pids = await until("2 instances", async () => {
    const p = await runningPids("sleeper");
    return p.length === 2 ? p : undefined;
  });
  const before = Date.now();
  await bus.call("plugin.disable", { pluginId: "sleeper", reason: "test" });
  await until("no instance", async () => ((await runningPids("sleeper")).length === 0 ? true : undefined), 20_000);
  t.ok(Date.now() - before < 20_000, "within the bound");
  for (const pid of pids) t.notOk(alive(pid), `pid ${pid} is gone`);
  const exits = (await bus.eventsOf("sleeper", "runner.instance.exited")).slice(-2);
  t.same(
    exits.map((e) => e.data.requested),
    [true, true],
  );
  t.same(
    exits.map((e) => e.data.signal === "SIGKILL"),
    [false, false],
    "they ended on SIGTERM, not killed",
  );
  t.notOk(statExists(join(bus.stateDir, "sleeper", "sleeper-0", "creds")), "the creds file went with the process");
});

t.test("a core restart adopts the running instances, without duplicates", async (t) => {
  await bus.call("plugin.enable", { pluginId: "sleeper" });
  await bus.call("worker.scale", { pluginId: "sleeper", instances: 2 });
  const pids = await until("2 instances", async () => {
    const p = await runningPids("sleeper");
    return p.length === 2 ? p.sort() : undefined;
  });
  // The core goes as a crashed one would: its workers keep running.
  await core.runner!.detach();
  await bus.stopCores();
  t.ok(pids.every(alive), "the workers outlived the core");
  await bus.newCore();
  const after = await until("the new core's view", async () => {
    const s = await ps("sleeper");
    return s && s.running === 2 ? s : undefined;
  });
  t.same(after.instances.map((i) => Number(i.ref)).sort(), pids, "the same processes, adopted");
  t.ok(after.instances.every((i) => i.adopted));
  await new Promise((r) => setTimeout(r, 1500));
  t.equal((await runningPids("sleeper")).length, 2, "no duplicate was started");
  const task = await submit("sleeper", 10);
  t.equal((await waitTask(task.taskId)).status, "completed", "tasks still flow");
  // An adopted process that dies is restarted too (its exit code is not known).
  process.kill(pids[0]!, "SIGKILL");
  await until("a replacement", async () => {
    const p = await runningPids("sleeper");
    return p.length === 2 && !p.includes(pids[0]!) ? true : undefined;
  });
  t.pass("the dead adopted instance was replaced");
});

function alive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
function statExists(p: string) {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}
function readlinkCwd(pid: number) {
  return execFileSync("readlink", [`/proc/${pid}/cwd`], { encoding: "utf8" }).trim();
}
