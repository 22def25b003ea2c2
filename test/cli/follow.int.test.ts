import t from "tap";
import { spawn } from "node:child_process";
import { join } from "node:path";
import pino from "pino";
import { loadManifests } from "../../src/projections/manifest.js";
import { startProjections } from "../../src/projections/runner/live.js";
import { auditEndpoints } from "../../src/service/endpoints/audit.js";
import { queryEndpoints } from "../../src/service/endpoints/queries.js";
import { startService } from "../../src/service/service.js";
import { startEventLog } from "../support/eventLog.js";
import { startTestOps } from "../support/ops.js";
import { scenario } from "../projections/fixtures.js";
import type { Commit } from "../projections/fixtures.js";
import { baseEnv, repoRoot, runCli } from "./cliProcess.js";

// `audit --last`, `audit --follow` and `tasks --watch` against a real log and real projections.
t.setTimeout(10 * 60_000);
const log = pino({ level: "silent" });
const { server, nc, store } = await startEventLog(t);
const commits = scenario({ plugins: 3, tasks: 10, seed: 5 });
for (const c of commits) await store.appendToStream(c.streamName, c.events as never);
const manifests = await loadManifests();
const projections = await startProjections({ nc, log, manifests });
t.teardown(() => projections.stop());
await projections.caughtUp;
const opsRt = await startTestOps(t, server, nc, manifests);
const svc = await startService({ nc, log, accounts: { ops: opsRt.opsAccount } }, [...queryEndpoints({ nc, log, manifests }), ...auditEndpoints({ nc, log })]);
t.teardown(() => svc.stop());
const bus = ["--nats", server.url, "--creds", server.installation.adminCreds];

/** A copy of task t0's commits under another task id: a new task in the log. */
const newTask = (id: string): Commit[] =>
  commits.filter((c) => c.streamName === "task-t0").map((c) => JSON.parse(JSON.stringify(c).replaceAll('"t0"', `"${id}"`).replaceAll("task-t0", `task-${id}`)));

/** A long-running `ganglion` child whose stdout lines the test can wait for. */
const live = (args: string[]) => {
  const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "src/cli/main.ts"), ...bus, ...args], {
    cwd: repoRoot,
    env: baseEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const lines = () => out.split("\n").filter(Boolean);
  return {
    lines,
    stderr: () => err,
    exited,
    until: async (pred: (lines: string[]) => boolean, what: string) => {
      for (let i = 0; i < 1200 && !pred(lines()); i++) {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} waiting for ${what}: ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      if (!pred(lines())) throw new Error(`no ${what}; stdout: ${out} stderr: ${err}`);
    },
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
};

t.test("audit --last N: the newest N, oldest first (--limit is the oldest N)", async (t) => {
  const all = JSON.parse((await runCli([...bus, "--json", "audit"])).stdout);
  const last = await runCli([...bus, "--json", "audit", "--last", "3"]);
  t.equal(last.code, 0, last.stderr);
  t.same(
    JSON.parse(last.stdout).map((e: { position: string }) => e.position),
    all.slice(-3).map((e: { position: string }) => e.position),
  );
  const first = JSON.parse((await runCli([...bus, "--json", "audit", "--limit", "3"])).stdout);
  t.same(
    first.map((e: { position: string }) => e.position),
    all.slice(0, 3).map((e: { position: string }) => e.position),
  );
  const both = await runCli([...bus, "audit", "--last", "3", "--limit", "3"]);
  t.equal(both.code, 2);
  const zero = await runCli([...bus, "audit", "--last", "0"]);
  t.equal(zero.code, 2);
});

t.test("audit --follow --last 2: the last two, then each event as it is appended, until SIGTERM", async (t) => {
  const head = JSON.parse((await runCli([...bus, "--json", "audit", "--last", "2"])).stdout);
  const f = live(["--json", "audit", "--follow", "--last", "2"]);
  await f.until((l) => l.length >= 2, "the last two events");
  // Give it a moment to switch to the live part, then append.
  await new Promise((r) => setTimeout(r, 500));
  for (const c of newTask("tf1")) await store.appendToStream(c.streamName, c.events as never);
  await f.until((l) => l.some((x) => JSON.parse(x).stream === "task-tf1"), "the appended task's events");
  const rows = f.lines().map((x) => JSON.parse(x));
  t.same(
    rows.slice(0, 2).map((e: { position: string }) => e.position),
    head.map((e: { position: string }) => e.position),
    "the history part is the last two",
  );
  t.ok(
    rows.slice(2).every((e: { stream: string }) => e.stream === "task-tf1"),
    "then only what was appended",
  );
  t.equal(await f.stop(), 0, "SIGTERM ends the tail cleanly");
});

t.test("audit --follow --task: one task's events as they come, with the filters", async (t) => {
  const f = live(["audit", "--follow", "--task", "tf2"]);
  await f.until((l) => l.length >= 1, "the header");
  t.match(f.lines()[0], /^POSITION\s+TIME\s+STREAM\s+EVENT\s+ACTOR\s+DATA$/);
  for (const c of newTask("tf2")) await store.appendToStream(c.streamName, c.events as never);
  await f.until((l) => l.some((x) => /task\.submitted/.test(x)), "the new task's first event");
  t.ok(
    f
      .lines()
      .slice(1)
      .every((x) => /task-tf2/.test(x)),
    "only that task",
  );
  t.equal(await f.stop(), 0);
});

t.test("tasks --watch: the rows, then each new or changed row as a JSON line", async (t) => {
  const w = live(["--json", "tasks", "--watch", "--interval", "200ms", "--limit", "1000"]);
  await w.until((l) => l.length >= 10, "the first look");
  for (const c of newTask("tw1")) await store.appendToStream(c.streamName, c.events as never);
  await w.until((l) => l.some((x) => JSON.parse(x).taskId === "tw1"), "the new task");
  const ids = w.lines().map((x) => JSON.parse(x).taskId as string);
  t.equal(ids.filter((x) => x === "t0").length, 1, "an unchanged row is not printed again");
  t.equal(await w.stop(), 0);
  const bad = await runCli([...bus, "tasks", "--watch", "--interval", "5"]);
  t.equal(bad.code, 2, "an interval in the one duration grammar");
});
