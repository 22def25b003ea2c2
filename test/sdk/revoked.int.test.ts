import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { pino } from "pino";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { createTestBus } from "../../src/testing/testBus.js";
import { CredentialsRefused, ExitCode, Worker } from "../../src/sdk/worker.js";
import { credsFrom } from "../../src/sdk/lifecycle.js";

// Issue 12, "a disabled or revoked worker lingers": a worker whose credentials the server refuses
// (the plugin disabled, its users revoked) ends with exit code 77 and a clear message, at start
// or while running; transient losses are still retried. A `.creds` path is read at every connect.

const bus = await createTestBus();
t.teardown(bus.stop);
const quiet = pino({ level: "silent" });
const manifest = (id: string, types: string[]) => ({
  id,
  version: "1.0.0",
  description: "revocation test",
  provides: types.map((type) => ({ type, description: type, params: { type: "object" }, result: { type: "object" }, timeout: "30s" })),
  capabilities: [],
});
const within = <A>(p: Promise<A>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`gave up waiting for ${what}`)), ms).unref())]);
const call = async (endpoint: "plugin.disable" | "plugin.enable", pluginId: string) => {
  const r = await bus.call(endpoint, endpoint === "plugin.disable" ? { pluginId, reason: "test" } : { pluginId });
  if (E.isLeft(r)) throw new Error(`${endpoint}: ${r.left.message}`);
};

t.test("an SDK worker ends with { reason: refused, exitCode: 77 } when its plugin is disabled, even with a task running", async (t) => {
  const { creds } = await bus.install(manifest("gone", ["gone.wait"]));
  const credsFile = join(bus.dataDir, "gone.creds");
  await writeFile(credsFile, creds, { mode: 0o600 });
  const w = new Worker({ plugin: "gone", creds: credsFile, servers: bus.url, instance: "g1", heartbeatMs: 300, logger: quiet });
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  w.onTask("gone.wait", (_p, ctx) => {
    started();
    return new Promise((_r, rej) => ctx.signal.addEventListener("abort", () => rej(ctx.signal.reason), { once: true }));
  });
  await w.run();
  t.teardown(() => w.stop({ graceMs: 0 }));
  await bus.submit("gone.wait", {});
  await within(running, 20_000, "the task to start");
  t.equal(w.inFlight(), 1);

  await call("plugin.disable", "gone");
  const end = await within(w.closed, 20_000, "the worker to end");
  t.match(end, { reason: "refused", exitCode: ExitCode.Refused, message: /refused the credentials of plugin gone .*ganglion plugin creds gone -o FILE/ });
  t.equal(w.inFlight(), 0, "the running handler was aborted");

  // Enabled again, the old credentials stay revoked: a new run() is refused with a typed error.
  await call("plugin.enable", "gone");
  const again = new Worker({ plugin: "gone", creds: credsFile, servers: bus.url, instance: "g2", logger: quiet });
  again.onTask("gone.wait", () => ({}));
  const err = await again.run().then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, CredentialsRefused);
  t.match(err, { exitCode: 77, plugin: "gone", message: /Authorization Violation/ });
});

t.test("a .creds path is read again at every reconnect: new credentials written to the file are used after a server restart", async (t) => {
  const { creds } = await bus.install(manifest("rotating", ["rotating.echo"]));
  const credsFile = join(bus.dataDir, "rotating.creds");
  await writeFile(credsFile, creds, { mode: 0o600 });
  const w = new Worker({ plugin: "rotating", creds: credsFile, servers: bus.url, instance: "r1", heartbeatMs: 300, logger: quiet });
  w.onTask("rotating.echo", (p) => p);
  await w.run();
  t.teardown(() => w.stop({ graceMs: 0 }));
  t.match(await bus.submit("rotating.echo", { n: 1 }, { waitMs: 20_000 }), { status: "completed" });

  const minted = await bus.call("plugin.creds", { pluginId: "rotating" });
  if (E.isLeft(minted)) throw new Error(minted.left.message);
  await writeFile(credsFile, minted.right.creds, { mode: 0o600 });
  await bus.restartServer();

  // Which user the server sees on the worker's connection (named <plugin>:<instance>).
  const sys = await connect({ servers: bus.url, authenticator: credsAuthenticator(await readFile(bus.installation.sysCreds)), reconnect: false });
  t.teardown(() => sys.close());
  type Connz = { data?: { connections?: { name?: string; authorized_user?: string }[] } };
  const userOfWorker = async () => {
    const m = await sys.request("$SYS.REQ.SERVER.PING.CONNZ", JSON.stringify({ auth: true, limit: 1024 }), { timeout: 5000 });
    return (m.json() as Connz).data?.connections?.find((c) => c.name === "rotating:r1")?.authorized_user;
  };
  let user: string | undefined;
  for (let i = 0; i < 200 && user !== minted.right.publicKey; i++) {
    user = await userOfWorker().catch(() => undefined);
    if (user !== minted.right.publicKey) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(user, minted.right.publicKey, "the worker reconnected as the user in the file now");
  let done;
  for (let i = 0; i < 100 && !done; i++) {
    done = await bus.submit("rotating.echo", { n: 2 }, { waitMs: 20_000 }).catch(() => undefined);
    if (!done) await new Promise((r) => setTimeout(r, 200));
  }
  t.match(done, { status: "completed", result: { n: 2 }, instance: "r1" });
});

t.test("credsFrom reads a path at each call and takes credentials text as is", async (t) => {
  const { creds: a } = await bus.install(manifest("reread", ["reread.x"]));
  const minted = await bus.call("plugin.creds", { pluginId: "reread" });
  if (E.isLeft(minted)) throw new Error(minted.left.message);
  const file = join(bus.dataDir, "reread.creds");
  await writeFile(file, a, { mode: 0o600 });
  const jwtOf = (a: ReturnType<typeof credsFrom>) => (a(undefined) as { jwt?: string } | undefined)?.jwt;
  const auth = credsFrom(file);
  const first = jwtOf(auth);
  await writeFile(file, minted.right.creds, { mode: 0o600 });
  const second = jwtOf(auth);
  t.ok(first && second && first !== second, "the second connect presents the new file's user");
  t.equal(jwtOf(credsFrom(a)), first, "text is used as it is");
});

// The example worker as a process, as an operator runs it.
const root = new URL("../../examples/ts-worker/", import.meta.url).pathname;
const runExample = (credsFile: string, instance: string) => {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "worker.ts")], {
    env: { ...process.env, WORDCOUNT_CREDS: credsFile, NATS_URL: bus.url, WORKER_INSTANCE: instance },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
  return { child, exited, out: () => out, err: () => err };
};
const noStackTrace = /^\s+at .+[:(]/m;

t.test("the example TS worker exits 77 with a clear message when its plugin is disabled, and when started with revoked credentials", async (t) => {
  const { creds } = await bus.install(await readFile(join(root, "manifest.yaml"), "utf8"));
  const credsFile = join(bus.dataDir, "wordcount.creds");
  await writeFile(credsFile, creds, { mode: 0o600 });
  const p = runExample(credsFile, "ex-1");
  t.teardown(() => void (p.child.exitCode === null && p.child.kill("SIGKILL")));
  for (let i = 0; i < 300 && !p.out().includes("running"); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(p.out(), /wordcount worker ex-1 running/);
  t.match(await bus.submit("text.wordcount", { text: "a b" }, { waitMs: 20_000 }), { status: "completed", result: { words: 2 } });

  await call("plugin.disable", "wordcount");
  t.same(await within(p.exited, 30_000, "the example to exit"), { code: 77, signal: null }, `stderr: ${p.err()}`);
  t.match(p.err(), /wordcount: the server refused the credentials of plugin wordcount .*ganglion plugin creds wordcount -o FILE/);
  t.notMatch(p.err(), noStackTrace, "no stack trace");

  await call("plugin.enable", "wordcount");
  const again = runExample(credsFile, "ex-2");
  t.teardown(() => void (again.child.exitCode === null && again.child.kill("SIGKILL")));
  t.same(await within(again.exited, 30_000, "the example to exit"), { code: 77, signal: null }, `stderr: ${again.err()}`);
  t.match(again.err(), /^wordcount: the server refused the credentials of plugin wordcount \(Authorization Violation\)/m);
  t.notMatch(again.err(), noStackTrace, "no stack trace");
  t.notMatch(again.out(), /running/);

  // With new credentials in the same file it runs again.
  const minted = await bus.call("plugin.creds", { pluginId: "wordcount" });
  if (E.isLeft(minted)) throw new Error(minted.left.message);
  await writeFile(credsFile, minted.right.creds, { mode: 0o600 });
  const fresh = runExample(credsFile, "ex-3");
  t.teardown(async () => {
    if (fresh.child.exitCode === null) fresh.child.kill("SIGTERM");
    await fresh.exited;
  });
  for (let i = 0; i < 300 && !fresh.out().includes("running"); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(await bus.submit("text.wordcount", { text: "a b c" }, { waitMs: 20_000 }), { status: "completed", result: { words: 3 }, instance: "ex-3" });
  fresh.child.kill("SIGTERM");
  t.same(await within(fresh.exited, 30_000, "a clean stop"), { code: 0, signal: null }, "SIGTERM still exits 0");
});
