import t from "tap";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, credsAuthenticator, Empty } from "@nats-io/transport-node";
import { decode } from "@nats-io/jwt";
import { opsAccountKey } from "../../src/auth/accounts.js";
import { loadOrCreateAuthority } from "../../src/auth/authority.js";
import { baseEnv, repoRoot, runCli, startCli } from "./cliProcess.js";

// The README walkthrough as real processes: `ganglion up`, a plugin installed, approved and
// partly revoked, the example worker doing a task; then the README's nats CLI operations over
// the wire with the credentials `ganglion nats-context` mints, `projections verify`, and `audit`.
t.setTimeout(15 * 60_000);
const dir = await mkdtemp(join(tmpdir(), "ganglion-walk-"));
const xdg = join(dir, "xdg");
const dataDir = join(dir, "data");
t.teardown(() => rm(dir, { recursive: true, force: true }));
const up = await startCli(["up", "--port", "0", "--data-dir", dataDir]);
t.teardown(() => up.stop());
const g = (...args: string[]) => runCli(["--data-dir", dataDir, ...args], { XDG_CONFIG_HOME: xdg });

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
const workerExit = new Promise((r) => worker.once("exit", r));
t.teardown(async () => {
  worker.kill("SIGTERM");
  await workerExit;
});
const submitted = JSON.parse(
  await ok("--json", "task", "submit", "text.wordcount", "--data", JSON.stringify({ text: "the quick brown fox" }), "--wait", "--timeout", "60s"),
);
const taskId: string = submitted.taskId ?? submitted.id;
await ok("plugin", "revoke", "wordcount", "topic.publish:text.counted");

t.test("the README's nats CLI operations, with the read-only context", async (t) => {
  t.ok(taskId, "the task ran");
  const out = await ok("nats-context");
  const context = JSON.parse(await readFile(join(xdg, "nats", "context", "ganglion.json"), "utf8"));
  t.match(out, /wrote nats CLI context "ganglion"/);
  t.equal(context.url, up.url);
  const credsText = await readFile(context.creds, "utf8");
  const userJwt = credsText.split("\n").find((l) => l.startsWith("ey"))!;
  t.equal(
    decode(userJwt).iss,
    opsAccountKey(await loadOrCreateAuthority(dataDir, { create: false })).getPublicKey(),
    "the context's user belongs to the OPS account",
  );
  const nc = await connect({
    servers: context.url,
    inboxPrefix: context.inbox_prefix,
    authenticator: credsAuthenticator(new TextEncoder().encode(await readFile(context.creds, "utf8"))),
  });
  t.teardown(() => nc.close());
  const json = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));

  // nats kv get plugins wordcount, from OPS's copy of the bucket (waits for the fold of the revocation)
  let row: { status?: string; granted?: string[]; pending?: string[] } = {};
  for (let i = 0; i < 100 && !(row.pending ?? []).includes("topic.publish:text.counted"); i++) {
    const m = await nc.request("$JS.API.DIRECT.GET.KV_plugins.$KV.plugins.wordcount", Empty, { timeout: 5000 });
    row = m.data.length ? json(m.data) : {};
    if (!(row.pending ?? []).includes("topic.publish:text.counted")) await new Promise((r) => setTimeout(r, 100));
  }
  t.match(row, { pluginId: "wordcount", status: "active", granted: [], pending: ["topic.publish:text.counted"] });
  // nats kv ls plugins
  const keys = [];
  for await (const k of await (await new Kvm(nc).open("plugins")).keys()) keys.push(k);
  t.same(keys, ["wordcount"]);
  // nats micro info ganglion
  const info = json((await nc.request("$SRV.INFO.ganglion", Empty, { timeout: 5000 })).data);
  t.equal(info.name, "ganglion");
  t.ok(
    info.endpoints.some((e: { subject: string }) => e.subject === "ganglion.v1.plugin.install"),
    "commands and queries are one service",
  );
  // nats req ganglion.v1.views.task '{"taskId":…}'
  let task: { task?: { status: string; result: unknown } | null; history?: { type: string }[] } = {};
  for (let i = 0; i < 100 && task.task?.status !== "completed"; i++) {
    task = json((await nc.request("ganglion.v1.views.task", JSON.stringify({ taskId }), { timeout: 5000 })).data).result ?? {};
    if (task.task?.status !== "completed") await new Promise((r) => setTimeout(r, 100));
  }
  t.match(task.task, { status: "completed", result: { words: 4 } });
  t.same(
    task.history!.map((e) => e.type).filter((x) => x !== "task.progress"),
    ["task.submitted", "task.started", "task.completed"],
  );
  // nats stream view EVENTS (OPS's mirror of the log)
  const first = await (await jetstream(nc).consumers.get("EVENTS")).next({ expires: 5000 });
  t.match(json(first!.data), { events: [{ type: "plugin.registered" }] });
  // and nothing can be written
  await t.rejects((await new Kvm(nc).open("plugins")).put("wordcount", "{}", { timeout: 2000 } as never));
});

t.test("ganglion itself works with the read-only context it wrote (--context, NATS_CONTEXT)", async (t) => {
  // No data dir to fall back on: everything comes from the context (url, creds, inbox prefix).
  const elsewhere = ["--data-dir", join(dir, "no-data-dir")];
  const env = { XDG_CONFIG_HOME: xdg };
  const plugins = await runCli([...elsewhere, "--context", "ganglion", "plugins"], env);
  t.equal(plugins.code, 0, plugins.stderr);
  t.match(plugins.stdout, /^wordcount\s+active/m);
  const tasks = await runCli([...elsewhere, "--json", "tasks"], { ...env, NATS_CONTEXT: "ganglion" });
  t.equal(tasks.code, 0, tasks.stderr);
  t.ok(
    JSON.parse(tasks.stdout).some((r: { taskId: string }) => r.taskId === taskId),
    "the task is listed",
  );
  const write = await runCli([...elsewhere, "--context", "ganglion", "plugin", "disable", "wordcount"], env);
  t.not(write.code, 0, "the read-only context cannot change anything");
});

t.test("projections verify is clean and audit shows the full history of the task", async (t) => {
  const verify = await g("projections", "verify");
  t.equal(verify.code, 0, verify.stdout + verify.stderr);
  const history = JSON.parse(await ok("--json", "audit", "--task", taskId));
  t.same(
    history.map((e: { type: string }) => e.type).filter((x: string) => x !== "task.progress"),
    ["task.submitted", "task.started", "task.completed"],
  );
  const plugin = JSON.parse(await ok("--json", "audit", "--plugin", "wordcount"));
  const types = plugin.map((e: { type: string }) => e.type);
  for (const x of [
    "plugin.registered",
    "plugin.capabilities.granted",
    "plugin.credentials.issued",
    "plugin.capability.revoked",
    "task.submitted",
    "task.completed",
  ]) {
    t.ok(types.includes(x), `the plugin's audit trail has ${x}`);
  }
  const people = await ok("audit", "--plugin", "wordcount", "--type", "plugin.capability");
  t.match(people, /plugin\.capability\.revoked\s+operator/);
});
