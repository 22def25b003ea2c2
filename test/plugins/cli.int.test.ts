import t from "tap";
import { mkdtemp, rm, stat, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { pluginEndpoints } from "../../src/service/endpoints/plugins.js";
import { startService } from "../../src/service/service.js";
import { applyDefinitions, loadDefinitions, pluginStreamConfig } from "../../src/store/streamDefinitions.js";
import type { PluginStreamDefinition } from "../../src/store/streamDefinitions.js";
import { JS_BUS_API, taskConsumer, tasksStream, taskSubject } from "../../src/contract/subjects.js";
import { pluginParts } from "../support/core.js";
import { spawn } from "node:child_process";
import { baseEnv, repoRoot, runCli } from "../cli/cliProcess.js";
import { startTestServer } from "../support/natsServer.js";

/**
 * The operator's flow from the real CLI (child processes) against a real server, with the
 * plugin endpoints served in this process: install → approve → creds → connect → disable.
 */
const server = await startTestServer();
t.teardown(server.stop);
const log = pino({ level: "silent" });
const core = await server.connectAdmin({ name: "core" });
t.teardown(() => core.close());
const jsm = await jetstreamManager(core);
const definitions = await loadDefinitions();
await applyDefinitions(core, jsm, definitions);
await jsm.streams.add(
  pluginStreamConfig(
    definitions.find((d): d is PluginStreamDefinition => d.kind === "stream-per-plugin")!,
    "wordcount",
  ),
);
await jsm.consumers.add(tasksStream("wordcount"), {
  durable_name: taskConsumer("wordcount", "text.wordcount"),
  filter_subject: "task.wordcount.text.wordcount",
  ack_policy: AckPolicy.Explicit,
});
const parts = await pluginParts(server, core, (f) => t.teardown(f));
const svc = await startService({ nc: core, log }, pluginEndpoints({ app: parts.app, catalog: parts.catalog }));
t.teardown(() => svc.stop());

const work = await mkdtemp(join(tmpdir(), "ganglion-cli-plugin-"));
t.teardown(() => rm(work, { recursive: true, force: true }));
const bus = ["--nats", server.url, "--creds", server.installation.adminCreds];
const ganglion = (...args: string[]) => runCli([...args, ...bus]);
const manifest = join(repoRoot, "examples/ts-worker/manifest.yaml");

t.test("a bad manifest is refused before anything is sent, with each path", async (t) => {
  const bad = join(work, "bad.yaml");
  await writeFile(bad, (await readFile(manifest, "utf8")).replace("timeout: 30s", "timeout: thirty"));
  const r = await ganglion("plugin", "install", bad, "--yes");
  t.equal(r.code, 1);
  t.match(r.stderr, /provides\[0\]\.timeout: expected a duration like "30s"/);
});

t.test("install without a terminal and without --yes/--grant stays pending and says how to approve", async (t) => {
  const r = await ganglion("plugin", "install", manifest);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /topic\.publish:text\.counted: Publish messages on the topic text\.counted/);
  t.match(r.stdout, /pending approval/);
  t.match(r.stdout, /ganglion plugin approve wordcount topic\.publish:text\.counted/);
  const creds = await ganglion("plugin", "creds", "wordcount");
  t.equal(creds.code, 1);
  t.match(creds.stderr, /pending approval/);
});

t.test("approve → creds -o (0600) → the worker connects and pulls its task → disable cuts it off", async (t) => {
  const a = await ganglion("plugin", "approve", "wordcount", "topic.publish:text.counted");
  t.equal(a.code, 0, a.stderr);
  const file = join(work, "wordcount.creds");
  const c = await ganglion("plugin", "creds", "wordcount", "-o", file, "--ttl", "24h");
  t.equal(c.code, 0, c.stderr);
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.match(c.stdout, /Open JetStream with API prefix \$JS\.BUS\.API/);

  const nc = await server.connectWith(await readFile(file, "utf8"), { name: "worker" });
  t.teardown(() => nc.close());
  await jetstream(core).publish(taskSubject("wordcount", "text.wordcount"), JSON.stringify({ text: "x y z" }));
  const m = await (
    await jetstream(nc, { apiPrefix: JS_BUS_API }).consumers.get(tasksStream("wordcount"), taskConsumer("wordcount", "text.wordcount"))
  ).next({ expires: 5000 });
  t.equal(m?.json<{ text: string }>().text, "x y z");
  await m?.ackAck();

  const list = await ganglion("plugin", "list", "--json");
  t.equal(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout) as { pluginId: string; status: string; granted: string[] }[];
  t.match(rows, [{ pluginId: "wordcount", status: "active", granted: ["topic.publish:text.counted"] }]);

  const show = await ganglion("plugin", "show", "wordcount");
  t.match(show.stdout, /live credentials:\s+1/, show.stderr);

  const disconnected = (async () => {
    for await (const s of nc.status()) if (s.type === "disconnect") return true;
    return false;
  })();
  const d = await ganglion("plugin", "disable", "wordcount", "--reason", "maintenance");
  t.equal(d.code, 0, d.stderr);
  t.ok(await disconnected, "the worker's connection was closed by the server");
  const again = await ganglion("plugin", "creds", "wordcount");
  t.equal(again.code, 1);
  t.match(again.stderr, /disabled \(maintenance\)/);
});

t.test("usage errors", async (t) => {
  const r = await ganglion("plugin", "install", manifest, "--yes", "--grant", "provider.chat");
  t.equal(r.code, 2);
  const missing = await ganglion("plugin", "install", join(work, "nope.yaml"));
  t.equal(missing.code, 2);
  t.match(missing.stderr, /cannot read the manifest/);
});

/**
 * Runs `ganglion` under a pseudo-terminal (util-linux `script`) so stdin is a TTY, answering each
 * prompt when it appears.
 */
const interactive = (args: string[], answers: [RegExp, string][]) =>
  new Promise<{ code: number | null; out: string }>((resolvePromise, reject) => {
    const cmd = [process.execPath, "--import", "tsx", join(repoRoot, "src/cli/main.ts"), ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    const child = spawn("script", ["-qec", cmd, "/dev/null"], { cwd: repoRoot, env: baseEnv(), stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let next = 0;
    const onData = (b: Buffer) => {
      out += b.toString();
      while (next < answers.length && answers[next]![0].test(out)) {
        child.stdin!.write(answers[next]![1] + "\n");
        out = out.replace(answers[next]![0], "<answered>");
        next++;
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("error", reject);
    child.once("close", (code) => resolvePromise({ code, out }));
  });

t.test("in a terminal, install asks in plain words and grants what the operator picks", async (t) => {
  const file = join(work, "prompted.yaml");
  await writeFile(
    file,
    (await readFile(manifest, "utf8"))
      .replace("id: wordcount", "id: prompted")
      .replace("  - topic.publish:text.counted", "  - topic.publish:text.counted\n  - provider.chat"),
  );
  const r = await interactive(
    ["plugin", "install", file, ...bus],
    [
      [/\[a\/s\/N\]/, "s"],
      [/topic\.publish:text\.counted: Publish messages on the topic text\.counted[^]*?Grant it\? \[y\/N\]/, "y"],
      [/provider\.chat: Send prompts to the chat model provider[^]*?Grant it\? \[y\/N\]/, "n"],
    ],
  );
  t.equal(r.code, 0, r.out);
  const shown = await ganglion("plugin", "show", "prompted", "--json");
  const s = JSON.parse(shown.stdout) as { plugin: { status: string; granted: string[]; pending: string[] } };
  t.same(s.plugin.status, "active");
  t.same(s.plugin.granted, ["topic.publish:text.counted"]);
  t.same(s.plugin.pending, ["provider.chat"]);
});
