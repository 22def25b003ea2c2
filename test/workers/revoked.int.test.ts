import { execFile, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import type { Test } from "tap";
import * as E from "fp-ts/lib/Either.js";
import { createTestBus } from "../../src/testing/testBus.js";
import type { TestBus } from "../../src/testing/testBus.js";

// Issue 12, "a disabled or revoked worker lingers": the Go and C example workers, as processes.
// When the server refuses their credentials (the plugin disabled: its users are revoked) they say
// so on stderr and exit 77, while running and when started with the revoked credentials; with new
// credentials they run again, and SIGTERM still exits 0. The TS worker's side is in
// test/sdk/revoked.int.test.ts.

const root = new URL("../../", import.meta.url).pathname;
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
  t.fail(`CI=true but the worker toolchains are missing: ${missing.join(", ")}`);
} else {
  await main(t);
}

async function main(t: Test) {
  // Built into a directory of this test's own: test/workers/goc builds the same sources in place.
  const bin = await mkdtemp(join(tmpdir(), "ganglion-revoked-"));
  t.teardown(() => rm(bin, { recursive: true, force: true }));
  const run = promisify(execFile);
  const workers = [
    { id: "go-hasher", dir: join(root, "examples/go-worker"), taskType: "hash.sha256", params: { data: "again" } },
    { id: "c-counter", dir: join(root, "examples/c-worker"), taskType: "text.count", params: { text: "again" } },
  ].map((w) => ({ ...w, bin: join(bin, w.id), credsFile: join(bin, `${w.id}.creds`) }));
  await Promise.all(workers.map((w) => run("make", ["-C", w.dir, `BIN=${w.bin}`, w.bin])));

  const bus: TestBus = await createTestBus();
  t.teardown(bus.stop);
  const call = async (endpoint: "plugin.disable" | "plugin.enable" | "plugin.creds", pluginId: string) => {
    const r = await bus.call(endpoint, endpoint === "plugin.disable" ? { pluginId, reason: "revocation test" } : { pluginId });
    if (E.isLeft(r)) throw new Error(`${endpoint} ${pluginId}: ${r.left.message}`);
    return r.right as { creds?: string };
  };
  const within = <A>(p: Promise<A>, ms: number, what: string) =>
    Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`gave up waiting for ${what}`)), ms).unref())]);

  type W = (typeof workers)[number];
  const spawnWorker = (w: W, instance: string) => {
    const child = spawn(w.bin, [], {
      env: { PATH: process.env.PATH ?? "", GANGLION_CREDS: w.credsFile, NATS_URL: bus.url, WORKER_INSTANCE: instance, HEARTBEAT_MS: "200" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
    const running = new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", () => out.includes("running") && resolve());
      void exited.then((e) => reject(new Error(`${w.id} exited (${e.code ?? e.signal}) before running; stderr: ${err}`)));
    });
    running.catch(() => undefined);
    t.teardown(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    });
    return { child, exited, running, out: () => out, err: () => err };
  };
  const refusal = (id: string) => new RegExp(`the server refused the credentials of plugin ${id} \\(.*\\).*ganglion plugin creds ${id} -o FILE`, "i");

  const scenario = async (t: Test, w: W) => {
    const manifest = await readFile(join(w.dir, "manifest.yaml"), "utf8");
    const { creds } = await bus.install(manifest);
    await writeFile(w.credsFile, creds, { mode: 0o600 });

    const live = spawnWorker(w, "live");
    await within(live.running, 30_000, `${w.id} to run`);
    await call("plugin.disable", w.id);
    t.same(await within(live.exited, 30_000, `${w.id} to exit`), { code: 77, signal: null }, `disabled while running: exit 77; stderr: ${live.err()}`);
    t.match(live.err(), refusal(w.id));
    t.ok((live.err().match(/connection closed/gi) ?? []).length <= 2, "no loop of 'connection closed'");

    await call("plugin.enable", w.id);
    const stale = spawnWorker(w, "stale");
    t.same(await within(stale.exited, 30_000, `${w.id} to exit`), { code: 77, signal: null }, `revoked credentials at start: exit 77; stderr: ${stale.err()}`);
    t.match(stale.err(), refusal(w.id));
    t.match(stale.err(), /authorization violation/i, "it says what the server said");
    t.notMatch(stale.out(), /running/);
    t.notMatch(stale.err(), /panic|goroutine \d+|segmentation|core dumped/i, "no crash");

    const minted = await call("plugin.creds", w.id);
    await writeFile(w.credsFile, minted.creds ?? "", { mode: 0o600 });
    const fresh = spawnWorker(w, "fresh");
    await within(fresh.running, 30_000, `${w.id} to run with new credentials`);
    t.match(await bus.submit(w.taskType, w.params, { waitMs: 20_000 }), { status: "completed", instance: "fresh" });
    fresh.child.kill("SIGTERM");
    t.same(await within(fresh.exited, 30_000, `${w.id} to stop`), { code: 0, signal: null }, "SIGTERM: exit 0");
  };

  await Promise.all(
    workers.map((w) => t.test(`${w.id}: disabled while it runs or started with revoked credentials, it exits 77 and says why`, (t) => scenario(t, w))),
  );
}
