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
import type { Status } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { TaskEvent } from "../../src/events/task.js";
import { WorkerEvent } from "../../src/events/worker.js";
import { loadManifests } from "../../src/projections/manifest.js";
import { getEntry, liveBucket } from "../../src/projections/runner.js";
import { WorkerRow } from "../../src/projections/workers.js";
import { callService } from "../../src/service/client.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import {
  controlSubject,
  heartbeatSubject,
  jsConsumerInfo,
  jsConsumerNext,
  pluginInboxPrefix,
  resultSubject,
  Streams,
  taskConsumer,
  taskSubject,
} from "../../src/store/subjects.js";
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
  ok("pkg-config", ["--exists", "libnats"]) ? undefined : "cnats (apt-get install libnats-dev pkg-config)",
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

  const connectWith = (creds: string, inboxPrefix?: string) =>
    connect({ servers: up.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), ...(inboxPrefix ? { inboxPrefix } : {}), maxReconnectAttempts: 0 });
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
        t.match(minted.stdout, new RegExp(`inbox prefix ${pluginInboxPrefix(p.id).replaceAll(".", "\\.")}`));
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

  await t.test("both workers connect with their credentials and inbox prefixes, and pull", async (t) => {
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
    t.same(shortLog.map((e) => e.type), ["task.submitted", "task.started", "task.completed"]);
    t.match(shortLog[1], { data: { attempt: 1, instance: "go-1", delivery: 1 } });
    t.match(shortLog[2], { data: { instance: "go-1", result: { sha256: sha256("abc"), bytes: 3 } } });
    const longLog = await history(long.taskId);
    const progress = longLog.filter((e) => e.type === "task.progress");
    t.ok(progress.length >= 1, "the long input reported progress");
    t.match(progress[0], { data: { total: longData.length, message: "hashing" } });
    t.equal(longLog.at(-1)?.type, "task.completed");
    const badLog = await history(bad.taskId);
    t.same(badLog.map((e) => e.type), ["task.submitted", "task.started", "task.failed", "task.dead_lettered"]);
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
    t.notOk(reports.some((x) => x.status === "completed" || x.status === "failed"), "no final report");
    t.ok(reports.every((x) => !x.progress || x.progress.done < x.progress.total), "progress stopped short of the last round");
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
    t.same(shortLog.map((e) => e.type), ["task.submitted", "task.started", "task.completed"]);
    t.match(shortLog[1], { data: { attempt: 1, instance: "c-1", delivery: 1 } });
    const longLog = await history(long.taskId);
    const progress = longLog.filter((e) => e.type === "task.progress");
    t.ok(progress.length >= 1, "the long input reported progress");
    t.match(progress[0], { data: { total: longText.length, message: "counting" } });
    const badLog = await history(bad.taskId);
    t.same(badLog.map((e) => e.type), ["task.submitted", "task.started", "task.failed", "task.dead_lettered"]);
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

  // 6. Each worker's credentials against the other's subjects: refused by the server.
  await t.test("each worker's credentials are refused the other's subjects", async (t) => {
    const pairs: [Plugin, Plugin][] = [
      [goP, cP],
      [cP, goP],
    ];
    for (const [self, other] of pairs) {
      const nc = await connectWith(await readFile(self.credsFile, "utf8"), pluginInboxPrefix(self.id));
      const statuses: Status[] = [];
      const isDenied = (subject: string) => (s: Status) =>
        s.type === "error" && s.error instanceof errors.PermissionViolationError && s.error.operation === "publish" && s.error.subject === subject;
      void (async () => {
        for await (const s of nc.status()) statuses.push(s);
      })();

      // Subscriptions: the other's task subject and its inbox (cancellations) are closed by the server.
      for (const subject of [taskSubject(other.id, other.taskType), controlSubject(other.id)]) {
        const sub = nc.subscribe(subject);
        await nc.flush();
        const closed = sub.isClosed() ? await sub.closed : undefined;
        t.ok(closed instanceof errors.PermissionViolationError, `${self.id} may not subscribe ${subject}`);
        if (!sub.isClosed()) sub.unsubscribe();
      }
      // The JetStream API of the other's consumer: the request is refused, while its own is answered.
      for (const subject of [jsConsumerInfo(Streams.Tasks, taskConsumer(other.id)), jsConsumerNext(Streams.Tasks, taskConsumer(other.id))]) {
        await t.rejects(nc.request(subject, "", { timeout: 5000 }), `${self.id} may not request ${subject}`);
        t.ok(await until(`a permission error for ${subject}`, async () => statuses.find(isDenied(subject))), `the server refused ${subject}`);
      }
      const own = await nc.request(jsConsumerInfo(Streams.Tasks, taskConsumer(self.id)), "", { timeout: 5000 });
      t.match(own.json(), { name: taskConsumer(self.id) }, `${self.id} reads its own consumer`);
      // A forged report on one of the other's tasks: the publish is denied and nothing reaches its log.
      const victim = ended.get(other.id)!.completed[0]!;
      const before = (await history(victim)).length;
      const subject = resultSubject(other.id, victim);
      nc.publish(subject, JSON.stringify({ taskId: victim, attempt: 1, instance: "forger", status: "failed", error: { message: "forged" } }));
      await nc.flush();
      t.ok(await until(`a permission error for ${subject}`, async () => statuses.find(isDenied(subject))), `${self.id} may not publish ${subject}`);
      t.equal((await history(victim)).length, before, "the other's task log is unchanged");
      await nc.close();
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
      t.same(events.map((e) => e.type), ["worker.online", "worker.offline"]);
      t.match(events[0], { data: { pluginId: p.id, instance: p.instance, version: "1.0.0" } });
      t.match(events[1], { data: { pluginId: p.id, instance: p.instance, reason: "stopped" } });
      const row = await until(`workers/${p.id} to show it offline`, async () => {
        const r = await readRow(p.id);
        return r && r.online === 0 ? r : undefined;
      });
      t.same(row.instances, {});
      // Draining a bound pull subscription leaves the consumer alone: it is the core's.
      t.match(await jsm.consumers.info(Streams.Tasks, taskConsumer(p.id)), { name: taskConsumer(p.id) }, `${p.id}: its consumer is still there`);
    }
  });
}
