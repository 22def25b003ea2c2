import t from "tap";
import * as io from "io-ts";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import pino from "pino";
import { loadManifests } from "../../src/projections/manifest.js";
import { startProjections } from "../../src/projections/runner/live.js";
import { auditEndpoints } from "../../src/service/endpoints/audit.js";
import { queryEndpoints } from "../../src/service/endpoints/queries.js";
import { startService } from "../../src/service/service.js";
import { startEventLog } from "../support/eventLog.js";
import { startTestOps } from "../support/ops.js";
import { scenario } from "../projections/fixtures.js";
import { runCli } from "./cliProcess.js";

const log = pino({ level: "silent" });
const { server, nc, store } = await startEventLog(t);
const commits = scenario({ plugins: 5, tasks: 30, seed: 5 });
for (const c of commits) await store.appendToStream(c.streamName, c.events as never);
const eventCount = commits.reduce((n, c) => n + c.events.length, 0);
const manifests = await loadManifests();
const projections = await startProjections({ nc, log, manifests });
t.teardown(() => projections.stop());
await projections.caughtUp;
// The OPS account and its copies of the log and the views, as the core keeps them.
const opsRt = await startTestOps(t, server, nc, manifests);
const svc = await startService({ nc, log, accounts: { ops: opsRt.opsAccount } }, [...queryEndpoints({ nc, log, manifests }), ...auditEndpoints({ nc, log })]);
t.teardown(() => svc.stop());

const bus = ["--nats", server.url, "--creds", server.installation.adminCreds];
const cli = (...args: string[]) => runCli([...bus, ...args]);
const cliJson = async (...args: string[]) => {
  const r = await cli("--json", ...args);
  if (r.code !== 0) throw new Error(`ganglion ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};

t.test("plugins, workers, tasks, capabilities, totals: tables for people, JSON for scripts", async (t) => {
  const table = await cli("plugins");
  t.equal(table.code, 0, table.stderr);
  t.match(table.stdout, /^PLUGIN\s+STATUS\s+VERSION\s+GRANTED\s+PENDING\s+CREDS/);
  t.match(table.stdout, /p3\s+active\s+2\.0\.0\s+task\.submit:p3\.run\s+secret\.read:db/);
  t.same(
    (await cliJson("plugins", "--status", "removed")).map((p: { pluginId: string }) => p.pluginId),
    ["p4"],
  );
  const bad = await cli("plugins", "--status", "sleeping");
  t.equal(bad.code, 2, "a bad choice is a usage error");
  t.match(bad.stderr, /sleeping/);

  const workers = await cliJson("workers", "--plugin", "p0");
  t.equal(workers[0].online, 2);
  const done = await cliJson("tasks", "--status", "completed", "--limit", "1000");
  t.ok(done.length > 0 && done.every((x: { status: string }) => x.status === "completed"));
  t.equal((await cliJson("tasks", "--limit", "1000")).length, 30);
  const caps = await cli("capabilities");
  t.match(caps.stdout, /task\.submit:p0\.run\s+p0/);
  t.notMatch(caps.stdout, /p4\.run/, "the removed plugin holds nothing");
  const totals = await cliJson("totals");
  t.equal(totals.tasks.total, 30);
});

t.test("task show prints the row and the full history", async (t) => {
  const r = await cli("task", "show", "t0");
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /task:\s+t0/);
  t.match(r.stdout, /task\.submitted/);
  const j = await cliJson("task", "show", "t0");
  const fromLog = [];
  for await (const e of store.readStream("task-t0")) fromLog.push(e.type);
  t.same(
    j.history.map((e: { type: string }) => e.type),
    fromLog,
    "every event of the task, in order",
  );
  const missing = await cli("task", "show", "no-such-task");
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no task "no-such-task".*ganglion tasks/);
});

t.test("audit filters the log; audit export writes JSON lines", async (t) => {
  const all = await cliJson("audit");
  t.equal(all.length, eventCount, "every event, once");
  const p1 = await cliJson("audit", "--plugin", "p1", "--type", "plugin.");
  t.ok(p1.length >= 4);
  t.ok(p1.every((e: { stream: string; type: string }) => e.stream === "plugin-p1" && e.type.startsWith("plugin.")));
  const t3 = await cliJson("audit", "--task", "t3");
  t.ok(t3.every((e: { stream: string }) => e.stream === "task-t3"));
  t.equal(t3[0].type, "task.submitted");
  const future = await cliJson("audit", "--since", "2099-01-01T00:00:00Z");
  t.same(future, []);
  const bad = await cli("audit", "--since", "last tuesday");
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--since "last tuesday" is neither an ISO time nor a duration/);
  const dir = await mkdtemp(join(tmpdir(), "ganglion-audit-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "log.jsonl");
  const ex = await cli("audit", "export", "--out", file);
  t.equal(ex.code, 0, ex.stderr);
  const lines = (await readFile(file, "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  t.equal(lines.length, eventCount);
  t.same(
    lines.map((l) => l.id),
    all.map((e: { id: string }) => e.id),
  );
  const stdout = await cli("audit", "export", "--task", "t3");
  t.equal(stdout.stdout.trim().split("\n").length, t3.length);
});

t.test("projections verify is clean, reports drift with exit 1, rebuild repairs it", async (t) => {
  const clean = await cli("projections", "verify");
  t.equal(clean.code, 0, clean.stderr + clean.stdout);
  t.match(clean.stdout, /plugins\s+plugins\s+\d+\s+5\s+0/);
  const kv = await new Kvm(nc).open("plugins");
  const row = JSON.parse((await kv.get("p2"))!.string());
  await kv.put("p2", JSON.stringify({ ...row, version: "9.9.9" }));
  const drift = await cli("projections", "verify");
  t.equal(drift.code, 1);
  t.match(drift.stdout, /different\s+p2:/);
  t.match(drift.stdout, /9\.9\.9/);
  t.match(drift.stderr, /plugins: 1 row\(s\) differ.*ganglion projections rebuild/);
  const rebuild = await cli("projections", "rebuild", "plugins");
  t.equal(rebuild.code, 0, rebuild.stderr);
  t.match(rebuild.stdout, /plugins\s+plugins\s+\d+\s+5\s+1/);
  t.equal((await cli("projections", "verify", "plugins")).code, 0);
  const unknown = await cli("projections", "verify", "nope");
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown view nope/);
  const status = await cliJson("projections", "status");
  t.same(status.map((s: { view: string }) => s.view).sort(), manifests.map((m) => m.name).sort());
});

t.test("nats-context writes a context whose credentials (account OPS) read the views and write nothing", async (t) => {
  const xdg = await mkdtemp(join(tmpdir(), "ganglion-xdg-"));
  t.teardown(() => rm(xdg, { recursive: true, force: true }));
  const r = await runCli(["--data-dir", server.dataDir, "--nats", server.url, "nats-context", "--name", "gtest", "--ttl", "1h"], { XDG_CONFIG_HOME: xdg });
  t.equal(r.code, 0, r.stderr);
  const file = join(xdg, "nats", "context", "gtest.json");
  t.match(r.stdout, file);
  t.match(r.stdout, /expires:\s+\d{4}-/, "--ttl sets an expiry");
  const context = JSON.parse(await readFile(file, "utf8"));
  t.match(context, { url: server.url, inbox_prefix: "_INBOX._ops", creds: /nats-context-gtest\.creds$/ });
  const roCreds = await readFile(context.creds, "utf8");
  const ro = await server.connectWith(roCreds, { inboxPrefix: context.inbox_prefix });
  t.teardown(() => ro.close());
  await opsRt.caughtUp();
  const entry = await (await new Kvm(ro).open("plugins")).get("p0");
  t.match(JSON.parse(entry!.string()), { pluginId: "p0" });
  const reply = await ro.request("ganglion.v1.views.totals", "{}", { timeout: 5000 });
  t.equal(JSON.parse(reply.string()).ok, true);
  await t.rejects((await new Kvm(ro).open("plugins")).put("p0", "{}", { timeout: 2000 } as never), "writes are denied");

  // The ganglion CLI's read commands work with these credentials: the views through the query
  // endpoints, the audit trail straight from OPS's mirror of EVENTS.
  const credsFile = context.creds as string;
  const ro$ = (...args: string[]) => runCli(["--nats", server.url, "--creds", credsFile, ...args]);
  const plugins = await ro$("--json", "plugins");
  t.equal(plugins.code, 0, plugins.stderr);
  t.equal(JSON.parse(plugins.stdout).length, 5);
  const show = await ro$("--json", "task", "show", "t0");
  t.equal(show.code, 0, show.stderr);
  t.equal(JSON.parse(show.stdout).history[0].type, "task.submitted");
  const auditRo = await ro$("--json", "audit", "--task", "t3");
  t.equal(auditRo.code, 0, auditRo.stderr);
  t.same(
    JSON.parse(auditRo.stdout).map((e: { id: string }) => e.id),
    (await cliJson("audit", "--task", "t3")).map((e: { id: string }) => e.id),
    "the same trail as the admin reads",
  );
  const status = await ro$("--json", "projections", "status");
  t.equal(status.code, 0, status.stderr);
  const cmd = await ro$("plugin", "disable", "p0", "--reason", "ops");
  t.not(cmd.code, 0, "a command is refused with OPS credentials");
  const noKeys = await runCli(["--data-dir", join(xdg, "nothing-here"), "--nats", server.url, "nats-context"], { XDG_CONFIG_HOME: xdg });
  t.equal(noKeys.code, 4);
  t.match(noKeys.stderr, /installation's keys.*--data-dir/);
  const badName = await runCli(["--data-dir", server.dataDir, "--nats", server.url, "nats-context", "--name", "a b"], { XDG_CONFIG_HOME: xdg });
  t.equal(badName.code, 2);
});

t.test("without a core answering, view commands say so and exit 3", async (t) => {
  await svc.stop();
  const r = await cli("plugins");
  t.equal(r.code, 3);
  t.match(r.stderr, /no Ganglion core answers.*views\.plugins.*ganglion up/);
});
