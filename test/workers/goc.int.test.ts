import { execFile, spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import type { Test } from "tap";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { connect, credsAuthenticator, errors } from "@nats-io/transport-node";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { TaskEvent } from "../../src/events/task.js";
import { WorkerEvent } from "../../src/events/worker.js";
import { loadManifests } from "../../src/projections/manifest.js";
import { getEntry, liveBucket } from "../../src/projections/runner/kv.js";
import { WorkerRow } from "../../src/projections/workers.js";
import { callService } from "../../src/service/client.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import {
  busApiLocal,
  controlSubject,
  eventSubject,
  heartbeatSubject,
  JS_BUS_API,
  jsConsumerInfo,
  jsConsumerNext,
  resultSubject,
  Streams,
  taskConsumer,
  tasksStream,
  taskSubject,
} from "../../src/contract/subjects.js";
import type { TaskView } from "../../src/tasks/runtime.js";
import { repoRoot, runCli, startCli } from "../cli/cliProcess.js";

// Issue 7: workers in Go (nats.go 1.22) and C (cnats 3.4), built from Debian packages, that know
// Ganglion only through subjects.md. Everything here is real: `ganglion up` and the CLI as
// processes, the workers as processes with their own minted credentials, one nats-server.

const goDir = join(repoRoot, "examples/go-worker");
const cDir = join(repoRoot, "examples/c-worker");

const ok = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { stdio: "ignore" });
  return !r.error && r.status === 0;
};
const missing = [
  ok("go", ["version"]) ? undefined : "go (apt-get install golang-go)",
  existsSync("/usr/share/gocode/src/github.com/nats-io/nats.go") ? undefined : "nats.go (apt-get install golang-github-nats-io-go-nats-dev)",
  ok("gcc", ["--version"]) ? undefined : "gcc",
  ok("make", ["--version"]) ? undefined : "make",
  ok("pkg-config", ["--exists", "libnats", "libsodium"]) ? undefined : "cnats and libsodium (apt-get install libnats-dev libsodium-dev pkg-config)",
].filter((m): m is string => m !== undefined);

if (missing.length > 0 && process.env.CI !== "true") {
  t.plan(0, `skip: the Go and C worker toolchains are not installed here (missing: ${missing.join(", ")}); .ci/run installs them`);
} else if (missing.length > 0) {
  // In CI .ci/run installs them: their absence is a failure, never a silent skip.
  t.fail(`CI=true but the worker toolchains are missing: ${missing.join(", ")}`);
} else {
  // One parent test: its subtests run in order, with the bus and workers set up between them.
  await t.test("Go and C workers end to end", main);
}

async function main(t: Test) {
  const run = promisify(execFile);
  /** Polls `probe` until it answers something other than undefined; the bound only keeps a broken run from hanging. */
  const until = async <A>(what: string, probe: () => Promise<A | undefined>, limitMs = 20_000): Promise<A> => {
    const end = Date.now() + limitMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  // 1. Build both workers with their Makefiles, and run their own checks of the pure parts.
  await t.test("both workers build from the Debian packages", async (t) => {
    const go = await run("make", ["-C", goDir, "go-hasher", "check"]);
    t.ok(existsSync(join(goDir, "go-hasher")), `go-hasher built\n${go.stderr}`);
    t.match(go.stdout, /^ok\s/m, "its go tests pass");
    const c = await run("make", ["-C", cDir, "c-counter", "check"]);
    t.ok(existsSync(join(cDir, "c-counter")), `c-counter built\n${c.stderr}`);
    t.match(c.stdout, /test_counter: all checks passed/);
  });

  // 2. A whole bus: `ganglion up` as a process (core, projections, service).
  const dataDir = await mkdtemp(join(tmpdir(), "ganglion-goc-"));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const up = await startCli(["up", "--port", "0", "--data-dir", dataDir]);
  t.teardown(up.stop);
  const cli = (...args: string[]) => runCli([...args, "--data-dir", dataDir]);

  // No inbox prefix, for any user: a plugin's user lives in its own account, where replies come
  // back on subjects the server maps across the account boundary.
  const connectWith = (creds: string) =>
    connect({ servers: up.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), maxReconnectAttempts: 0 });
  const admin = await connectWith(await readFile(join(dataDir, "creds/admin.creds"), "utf8"));
  t.teardown(() => admin.close());
  const jsm = await jetstreamManager(admin);
  const tasksStore = natsEventStore(admin, { codec: TaskEvent });
  const workersStore = natsEventStore(admin, { codec: WorkerEvent });

  type Plugin = { id: string; dir: string; bin: string; credsFile: string; instance: string; taskType: string };
  const plugins: Plugin[] = [
    { id: "go-hasher", dir: goDir, bin: join(goDir, "go-hasher"), credsFile: join(dataDir, "go-hasher.creds"), instance: "go-1", taskType: "hash.sha256" },
    { id: "c-counter", dir: cDir, bin: join(cDir, "c-counter"), credsFile: join(dataDir, "c-counter.creds"), instance: "c-1", taskType: "text.count" },
  ];
  const [goP, cP] = plugins as [Plugin, Plugin];

  // 3. Install (no terminal, no --yes: pending), approve, mint credentials: the README's steps.
  await t.test("install, approve and mint credentials through the CLI", async (t) => {
    await Promise.all(
      plugins.map(async (p) => {
        const installed = await cli("plugin", "install", join(p.dir, "manifest.yaml"));
        t.equal(installed.code, 0, `install ${p.id}: ${installed.stderr}`);
        t.match(installed.stdout, /status:\s+pending/, `${p.id} waits for approval`);
        const approved = await cli("plugin", "approve", p.id, "--all");
        t.equal(approved.code, 0, `approve ${p.id}: ${approved.stderr}`);
        t.match(approved.stdout, /status:\s+active/);
        const minted = await cli("plugin", "creds", p.id, "-o", p.credsFile);
        t.equal(minted.code, 0, `creds ${p.id}: ${minted.stderr}`);
        // A user of the plugin's own account: JetStream under the BUS API prefix, no inbox prefix.
        t.match(minted.stdout, new RegExp(`API prefix ${JS_BUS_API.replaceAll(".", "\\.").replaceAll("$", "\\$")}`));
        t.notMatch(minted.stdout, /inbox prefix/i);
      }),
    );
  });

  // 4. The workers, as processes with their own credentials.
  type Proc = { child: ChildProcess; stderr: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> };
  const procs = new Map<string, Proc>();
  const startWorker = (p: Plugin): Promise<Proc> =>
    new Promise((resolve, reject) => {
      const child = spawn(p.bin, [], {
        env: { PATH: process.env.PATH ?? "", GANGLION_CREDS: p.credsFile, NATS_URL: up.url, WORKER_INSTANCE: p.instance, HEARTBEAT_MS: "500" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let err = "";
      let out = "";
      child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
      const proc: Proc = { child, stderr: () => err, exited };
      t.teardown(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        await exited;
      });
      const timer = setTimeout(() => reject(new Error(`${p.id} did not say it runs within 30 s; stderr: ${err}`)), 30_000);
      child.stdout!.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes(`${p.id} worker ${p.instance} running`)) {
          clearTimeout(timer);
          resolve(proc);
        }
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${p.id} exited (${code ?? signal}) before running; stderr: ${err}`));
      });
    });

  await t.test("both workers connect with their credentials alone (JetStream under the BUS API prefix), and pull", async (t) => {
    for (const p of plugins) procs.set(p.id, await startWorker(p));
    t.equal(procs.size, 2);
  });

  const submit = async (p: Plugin, params: unknown): Promise<TaskView> => {
    const r = await callService<TaskView>(admin, "task.submit", { taskType: p.taskType, params, waitMs: 20_000 }, { timeoutMs: 30_000 });
    if (E.isLeft(r)) throw new Error(`submit ${p.taskType}: ${r.left.code}: ${r.left.message}`);
    return r.right;
  };
  const history = async (taskId: string) => {
    const out: TaskEvent[] = [];
    for await (const e of tasksStore.readStream(`task-${taskId}`)) out.push({ type: e.type, data: e.data } as TaskEvent);
    return out;
  };
  const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
  const ended = new Map<string, { completed: string[]; failed: string[] }>(plugins.map((p) => [p.id, { completed: [], failed: [] }]));

  await t.test("go-hasher: results, progress on a long input, a failure for bad params", async (t) => {
    const short = await submit(goP, { data: "abc" });
    t.match(short, { status: "completed", instance: "go-1", result: { sha256: sha256("abc"), bytes: 3 } });
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const b64 = await submit(goP, { data: bytes.toString("base64"), encoding: "base64" });
    t.match(b64, { status: "completed", result: { sha256: sha256(bytes), bytes: 5 } });
    const longData = "ganglion ".repeat(30_000);
    const long = await submit(goP, { data: longData });
    t.match(long, { status: "completed", result: { sha256: sha256(longData), bytes: longData.length } });
    const bad = await submit(goP, { data: "zz", encoding: "hex" });
    t.equal(bad.status, "dead_lettered", "bad params fail the task without a retry");
    t.equal(bad.attempt, 1);
    ended.get(goP.id)!.completed.push(short.taskId, b64.taskId, long.taskId);
    ended.get(goP.id)!.failed.push(bad.taskId);

    // The log, read back from the event store.
    const shortLog = await history(short.taskId);
    t.same(
      shortLog.map((e) => e.type),
      ["task.submitted", "task.started", "task.completed"],
    );
    t.match(shortLog[1], { data: { attempt: 1, instance: "go-1", delivery: 1 } });
    t.match(shortLog[2], { data: { instance: "go-1", result: { sha256: sha256("abc"), bytes: 3 } } });
    const longLog = await history(long.taskId);
    const progress = longLog.filter((e) => e.type === "task.progress");
    t.ok(progress.length >= 1, "the long input reported progress");
    t.match(progress[0], { data: { total: longData.length, message: "hashing" } });
    t.equal(longLog.at(-1)?.type, "task.completed");
    const badLog = await history(bad.taskId);
    t.same(
      badLog.map((e) => e.type),
      ["task.submitted", "task.started", "task.failed", "task.dead_lettered"],
    );
    t.match(badLog[2], { data: { attempt: 1, instance: "go-1", error: { kind: "handler", retryable: false, message: /^params\.data: not valid hex/ } } });
  });

  await t.test("go-hasher: a cancelled task stops the running handler", async (t) => {
    const r = await callService<{ taskId: string }>(admin, "task.submit", { taskType: goP.taskType, params: { data: "x", rounds: 100_000_000 } });
    if (E.isLeft(r)) throw new Error(`submit: ${r.left.message}`);
    const { taskId } = r.right;
    // Every report the worker publishes on this task, as the RESULTS stream receives it.
    const reports: { status: string; progress?: { done: number; total: number } }[] = [];
    const res = admin.subscribe(resultSubject(goP.id, taskId), { callback: (_e, m) => void reports.push(m.json()) });
    t.teardown(() => res.unsubscribe());
    const view = async () => {
      const v = await callService<TaskView>(admin, "task.get", { taskId });
      if (E.isLeft(v)) throw new Error(v.left.message);
      return v.right;
    };
    await until("the stretching to report progress", async () => ((await view()).progress ? true : undefined));
    // Heartbeats say how many attempts the instance runs: watch them go back to 0.
    const hb = admin.subscribe(heartbeatSubject(goP.id, goP.instance));
    t.teardown(() => hb.unsubscribe());
    const idle = (async () => {
      for await (const m of hb) if ((m.json() as { inFlight: number }).inFlight === 0) return true;
      return false;
    })();
    const c = await callService<TaskView>(admin, "task.cancel", { taskId, reason: "enough" });
    t.ok(E.isRight(c), "cancelled");
    const gaveUp = new Promise<string>((r) => setTimeout(() => r("gave up waiting for in flight 0"), 60_000).unref());
    t.equal(await Promise.race([idle, gaveUp]), true, "the worker's handler returned (in flight: 0)");
    await admin.flush();
    // It returned because of the cancel, not because it finished: it never got to the last round.
    t.notOk(
      reports.some((x) => x.status === "completed" || x.status === "failed"),
      "no final report",
    );
    t.ok(
      reports.every((x) => !x.progress || x.progress.done < x.progress.total),
      "progress stopped short of the last round",
    );
    t.match(procs.get(goP.id)!.stderr(), new RegExp(`task ${taskId} attempt 1 withdrawn by the core`));
    const log = (await history(taskId)).map((e) => e.type);
    t.equal(log.at(-1), "task.cancelled");
    t.notOk(log.includes("task.completed") || log.includes("task.report_refused"), "no result after the cancel");
  });

  await t.test("c-counter: results, progress on a long input, a failure for bad params", async (t) => {
    const short = await submit(cP, { text: "the quick brown fox\njumps over" });
    t.match(short, { status: "completed", instance: "c-1", result: { bytes: 30, chars: 30, words: 6, lines: 2 } });
    const unicode = await submit(cP, { text: "héllo wörld 😀\n" });
    t.match(unicode, { status: "completed", result: { bytes: Buffer.byteLength("héllo wörld 😀\n"), chars: 14, words: 3, lines: 1 } });
    const b64 = await submit(cP, { text: Buffer.from("one two\nthree").toString("base64"), encoding: "base64" });
    t.match(b64, { status: "completed", result: { bytes: 13, words: 3, lines: 2 } });
    const longText = "lorem ipsum dolor\n".repeat(10_000);
    const long = await submit(cP, { text: longText });
    t.match(long, { status: "completed", result: { bytes: longText.length, chars: longText.length, words: 30_000, lines: 10_000 } });
    const bad = await submit(cP, { text: "abc", encoding: "base64" });
    t.equal(bad.status, "dead_lettered", "bad params fail the task without a retry");
    const surrogate = await submit(cP, { text: "a\ud800b" });
    t.equal(surrogate.status, "dead_lettered", "a lone surrogate passes the JSON Schema but not the worker");
    ended.get(cP.id)!.completed.push(short.taskId, unicode.taskId, b64.taskId, long.taskId);
    ended.get(cP.id)!.failed.push(bad.taskId, surrogate.taskId);

    const shortLog = await history(short.taskId);
    t.same(
      shortLog.map((e) => e.type),
      ["task.submitted", "task.started", "task.completed"],
    );
    t.match(shortLog[1], { data: { attempt: 1, instance: "c-1", delivery: 1 } });
    const longLog = await history(long.taskId);
    const progress = longLog.filter((e) => e.type === "task.progress");
    t.ok(progress.length >= 1, "the long input reported progress");
    t.match(progress[0], { data: { total: longText.length, message: "counting" } });
    const badLog = await history(bad.taskId);
    t.same(
      badLog.map((e) => e.type),
      ["task.submitted", "task.started", "task.failed", "task.dead_lettered"],
    );
    t.match(badLog[2], { data: { instance: "c-1", error: { kind: "handler", retryable: false, message: /^params\.text: not valid base64/ } } });
    t.match((await history(surrogate.taskId))[2], { data: { error: { message: /^params\.text: a lone surrogate/ } } });
  });

  // 5. The workers view (KV), as operators read it: the live bucket of the `workers` view.
  const workersView = (await loadManifests()).find((m) => m.name === "workers");
  const readRow = async (pluginId: string): Promise<WorkerRow | undefined> => {
    if (!workersView) throw new Error("projections/ declares no workers view");
    const e = await getEntry(admin, await liveBucket(admin, workersView), pluginId);
    if (!e) return undefined;
    const d = WorkerRow.decode(JSON.parse(new TextDecoder().decode(e.value)));
    if (E.isLeft(d)) throw new Error(`workers/${pluginId} does not decode: ${failure(d.left).join("; ")}`);
    return d.right;
  };

  await t.test("the workers view shows each worker online with its completions and failures", async (t) => {
    t.ok(workersView, "projections/ declares the workers view");
    for (const p of plugins) {
      const want = ended.get(p.id)!;
      const row = await until(`workers/${p.id} to count every task`, async () => {
        const r = await readRow(p.id);
        return r && r.online === 1 && r.completed === want.completed.length && r.failed === want.failed.length ? r : undefined;
      });
      t.equal(row.online, 1, `${p.id}: one instance online`);
      t.match(row.instances, { [p.instance]: { version: "1.0.0" } });
      t.equal(row.inFlightCount, 0);
      t.same(row.recentFailures.map((f) => f.taskId).sort(), [...want.failed].sort(), `${p.id}: its failures are recorded`);
      t.ok(row.recentFailures.every((f) => f.kind === "handler" && f.message.startsWith("params.")));
    }
  });

  // 6. Each worker's credentials against the other's subjects. A plugin's user has no permissions:
  // it lives in its own account, which imports from BUS only its own consumer, reports,
  // heartbeats and control, so whatever else it publishes, requests or subscribes to stays in its
  // account and reaches nothing in BUS. So each check asks two things: that nothing answers (a
  // BUS consumer or stream reached would), and that in BUS the effect it aims at did not happen.
  const pairs: [Plugin, Plugin][] = [
    [goP, cP],
    [cP, goP],
  ];
  const pluginConnection = async (p: Plugin, t: Test) => {
    const nc = await connectWith(await readFile(p.credsFile, "utf8"));
    t.teardown(() => nc.close());
    return nc;
  };
  /** What became of a request: an answer, no responder, or nothing within `timeoutMs`. */
  const ask = (nc: NatsConnection, subject: string, body = "", timeoutMs = 5000) =>
    nc.request(subject, body, { timeout: timeoutMs }).then(
      (m) => `answered: ${m.string()}`,
      (e: unknown) =>
        e instanceof errors.RequestError && e.isNoResponders()
          ? "no responders"
          : e instanceof errors.TimeoutError
            ? "timeout"
            : `failed otherwise: ${String(e)}`,
    );
  /** `true` when the request found no responder; otherwise what happened instead. */
  const noResponders = async (nc: NatsConnection, subject: string, body = "") => {
    const r = await ask(nc, subject, body);
    return r === "no responders" ? true : r;
  };
  /** The sequence of the last message on `subject` in `stream` (0: none). */
  const lastSeq = async (stream: string, subject: string) => (await jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null))?.seq ?? 0;

  await t.test("each plugin's credentials reach its own task consumer and not the other's", async (t) => {
    for (const [self, other] of pairs) {
      const nc = await pluginConnection(self, t);
      const own = await nc.request(busApiLocal(jsConsumerInfo(tasksStream(self.id), taskConsumer(self.id, self.taskType))), "", { timeout: 5000 });
      t.match(
        own.json(),
        { name: taskConsumer(self.id, self.taskType), stream_name: tasksStream(self.id) },
        `${self.id} reads its own consumer under ${JS_BUS_API}`,
      );
      const stream = tasksStream(other.id);
      const info = jsConsumerInfo(stream, taskConsumer(other.id, other.taskType));
      const next = jsConsumerNext(stream, taskConsumer(other.id, other.taskType));
      const pull = JSON.stringify({ batch: 1, no_wait: true });
      // As a worker would ask for it, under the prefix: the account imports no such subject.
      t.equal(await noResponders(nc, busApiLocal(info)), true, `${self.id}: nothing answers ${busApiLocal(info)}`);
      t.equal(await noResponders(nc, busApiLocal(next), pull), true, `${self.id}: nothing answers ${busApiLocal(next)}`);
      // As BUS itself names it: the plugin's own account, which has no JetStream, answers the
      // lookup itself, and a pull gets nothing at all (BUS would answer even an empty queue).
      t.match(await ask(nc, info), /^answered: .*"err_code":10039/, `${self.id}: ${info} is answered by its own account (JetStream not enabled)`);
      t.equal(await ask(nc, next, pull, 1000), "timeout", `${self.id}: nothing answers ${next}`);
    }
  });

  await t.test("each plugin's credentials cannot add to the other's reports or to the log", async (t) => {
    for (const [self, other] of pairs) {
      const nc = await pluginConnection(self, t);
      const victim = ended.get(other.id)!.completed[0]!;
      const historyBefore = (await history(victim)).length;
      const forged = JSON.stringify({ taskId: victim, attempt: 1, instance: "forger", status: "failed", error: { message: "forged", retryable: false } });
      const targets = [
        { stream: Streams.Results, subject: resultSubject(other.id, victim) },
        { stream: Streams.Events, subject: eventSubject("task", victim) },
        { stream: Streams.Events, subject: eventSubject("plugin", other.id) },
      ];
      const seqsBefore = await Promise.all(targets.map((x) => lastSeq(x.stream, x.subject)));
      t.ok(
        seqsBefore.every((q) => q > 0),
        `each target already holds messages: ${seqsBefore.join(", ")}`,
      );
      // Whatever reaches these subjects in BUS, whichever account it came from, shows up here.
      const arrived: string[] = [];
      const spies = targets.map((x) => admin.subscribe(x.subject, { callback: (_e, m) => void arrived.push(m.subject) }));
      t.teardown(() => spies.forEach((s) => s.unsubscribe()));
      await admin.flush();
      for (const x of targets) {
        // A JetStream publish (RESULTS and EVENTS would ack it), then a plain one.
        t.equal(await noResponders(nc, x.subject, forged), true, `${self.id}: nothing answers a publish on ${x.subject}`);
        nc.publish(x.subject, forged);
      }
      // The server hands a message to every subscriber while it processes the publish: once the
      // forger's flush returns, anything routed to BUS is queued before the spies' pong.
      await nc.flush();
      await admin.flush();
      t.same(arrived, [], "nothing arrived on those subjects in BUS");
      t.same(await Promise.all(targets.map((x) => lastSeq(x.stream, x.subject))), seqsBefore, "RESULTS and EVENTS hold nothing new on them");
      t.equal((await history(victim)).length, historyBefore, "the other's task log is unchanged");
    }
  });

  await t.test("each plugin's credentials see none of the other's task messages or cancellations", async (t) => {
    for (const [self, other] of pairs) {
      const nc = await pluginConnection(self, t);
      const peer = await pluginConnection(other, t);
      const names = (subject: string) => subject.split(".").includes(other.id);
      const got: Record<"task" | "control" | "everything", string[]> = { task: [], control: [], everything: [] };
      const watch = (subject: string, into: string[], keep: (m: Msg) => boolean = () => true) =>
        nc.subscribe(subject, { callback: (_e, m) => void (keep(m) && into.push(`${m.subject} ${m.string().slice(0, 80)}`)) });
      watch(taskSubject(other.id, other.taskType), got.task);
      watch(controlSubject(other.id), got.control);
      watch(">", got.everything, (m) => names(m.subject));
      const peerControl: string[] = [];
      peer.subscribe(controlSubject(other.id), { callback: (_e, m) => void peerControl.push(m.string()) });
      await nc.flush();
      await peer.flush();

      // A task of the other plugin: its message is published on task.<other>.<type> in BUS and its
      // worker runs it.
      const task = await submit(other, other === goP ? { data: "isolation" } : { text: "isolation" });
      t.match(task, { status: "completed", instance: other.instance }, `a task of ${other.id} ran`);
      // A cancellation in BUS on ctl.<other>, for no task its worker runs (it ignores it).
      const probe = JSON.stringify({ type: "cancel", taskId: "isolationprobe", attempt: 1, reason: "isolation probe" });
      admin.publish(controlSubject(other.id), probe);
      await admin.flush();
      await nc.flush();
      await peer.flush();
      t.same(peerControl, [probe], `a user of ${other.id} receives the cancellation on ${controlSubject(other.id)}`);
      t.same(got, { task: [], control: [], everything: [] }, `${self.id} received nothing of ${other.id}'s`);
    }
  });

  // 7. SIGTERM: each worker says goodbye (offline at once, "stopped") and exits 0.
  await t.test("both workers exit cleanly on SIGTERM and go offline as stopped", async (t) => {
    for (const p of plugins) {
      const proc = procs.get(p.id)!;
      proc.child.kill("SIGTERM");
      t.same(await proc.exited, { code: 0, signal: null }, `${p.id} exits 0; stderr: ${proc.stderr()}`);
      const events: WorkerEvent[] = [];
      await until(`worker.offline of ${p.id}`, async () => {
        events.length = 0;
        for await (const e of workersStore.readStream(`worker-${p.id}`)) events.push({ type: e.type, data: e.data } as WorkerEvent);
        return events.some((e) => e.type === "worker.offline") ? true : undefined;
      });
      t.same(
        events.map((e) => e.type),
        ["worker.online", "worker.offline"],
      );
      t.match(events[0], { data: { pluginId: p.id, instance: p.instance, version: "1.0.0" } });
      t.match(events[1], { data: { pluginId: p.id, instance: p.instance, reason: "stopped" } });
      const row = await until(`workers/${p.id} to show it offline`, async () => {
        const r = await readRow(p.id);
        return r && r.online === 0 ? r : undefined;
      });
      t.same(row.instances, {});
      // Draining a bound pull subscription leaves the consumer alone: it is the core's.
      t.match(
        await jsm.consumers.info(tasksStream(p.id), taskConsumer(p.id, p.taskType)),
        { name: taskConsumer(p.id, p.taskType) },
        `${p.id}: its consumer is still there`,
      );
    }
  });

  // 8. With no worker pulling, a queued task waits on its plugin's own work queue: the other
  // plugin's credentials can neither pull it nor ack it away (a forged ack removes any sequence
  // from a work queue, which is why each plugin has a stream of its own).
  await t.test("a queued task cannot be pulled or acked away with the other plugin's credentials", async (t) => {
    for (const [self, other] of pairs) {
      const stream = tasksStream(other.id);
      const consumer = taskConsumer(other.id, other.taskType);
      const queuedBefore = (await jsm.streams.info(stream)).state;
      const r = await callService<{ taskId: string }>(admin, "task.submit", {
        taskType: other.taskType,
        params: other === goP ? { data: "queued" } : { text: "queued" },
      });
      if (E.isLeft(r)) throw new Error(`submit: ${r.left.message}`);
      const { seq, messages } = await until(`the task queued on ${stream}`, async () => {
        const i = (await jsm.streams.info(stream)).state;
        return i.last_seq > queuedBefore.last_seq ? { seq: i.last_seq, messages: i.messages } : undefined;
      });
      const before = await jsm.consumers.info(stream, consumer);
      const nc = await pluginConnection(self, t);
      const next = busApiLocal(jsConsumerNext(stream, consumer));
      t.equal(await noResponders(nc, next, JSON.stringify({ batch: 1, no_wait: true })), true, `${self.id}: nothing answers ${next}`);
      const ack = `$JS.ACK.${stream}.${consumer}.1.${seq}.1.0.0`;
      t.equal(await noResponders(nc, ack), true, `${self.id}: nothing answers ${ack}`);
      nc.publish(ack);
      await nc.flush();
      // The ack would be handled by the stream's own goroutine: give it the time a round trip takes.
      await jsm.consumers.info(stream, consumer);
      t.equal((await jsm.streams.info(stream)).state.messages, messages, `${stream} holds as many messages as before`);
      t.equal((await jsm.streams.getMessage(stream, { seq }).catch(() => null))?.seq, seq, `the task (seq ${seq}) is still queued on ${stream}`);
      const after = await jsm.consumers.info(stream, consumer);
      t.same([after.delivered, after.ack_floor, after.num_pending], [before.delivered, before.ack_floor, before.num_pending], `${consumer} is as it was`);
      // The same ack sent inside BUS does remove it: the forged subject was the right one.
      admin.publish(ack);
      const gone = async () => ((await jsm.streams.getMessage(stream, { seq }).catch(() => null)) === null ? true : undefined);
      t.ok(await until(`the ack in BUS to remove seq ${seq}`, gone), "removed by the same ack in BUS");
    }
  });
}
