import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { parse as parseYaml } from "yaml";
import { createTestBus } from "../../src/testing/testBus.js";
import { serviceClient } from "../../src/service/client.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { SecretEvent, secretStreamName } from "../../src/events/secret.js";
import { controlSubject } from "../../src/contract/subjects.js";
import type { LiveVersions } from "../../src/contract/pluginConfig.js";
import { repoRoot } from "../cli/cliProcess.js";
import { sealTo, stdoutLines, withoutNotice } from "../secrets/support.js";

// Issue 15 over the wire in C: the c-counter example (cnats + libsodium, no Ganglion code) reads a
// granted secret sealed to a curve key it made (crypto_box_open_easy opens the core's xkv1 seal),
// hears its rotation and removal live, follows its config live, and catches up on what changed
// while its connection was down (a real nats-server restart) and on the core's live.versions.

const cDir = join(repoRoot, "examples/c-worker");
const have = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
const missing = [
  have("make", ["--version"]) ? undefined : "make",
  have("pkg-config", ["--exists", "libnats"]) ? undefined : "libnats-dev",
  have("pkg-config", ["--exists", "libsodium"]) ? undefined : "libsodium-dev",
].filter((m): m is string => m !== undefined);
if (missing.length > 0 && process.env.CI !== "true") {
  t.plan(0, `skip: the C worker's Debian packages are not installed (missing: ${missing.join(", ")}); .ci/run installs them`);
} else if (missing.length > 0) {
  t.fail(`CI=true but the C worker's packages are missing: ${missing.join(", ")}`);
} else {
  const work = await mkdtemp(join(tmpdir(), "ganglion-clive-"));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const bin = join(work, "c-counter");
  const build = spawnSync("make", ["-C", cDir, `BIN=${bin}`, bin], { encoding: "utf8" });
  if (build.status !== 0) throw new Error(`make failed: ${build.stdout}${build.stderr}`);

  // Only the reconnect brings what changed while the worker was away: the periodic live.versions
  // is set beyond this test's length (the test sends one itself, below).
  const bus = await createTestBus({ liveAnnounceEveryMs: 3_600_000 });
  t.teardown(bus.stop);
  const admin = serviceClient(bus.nc);
  const manifest = parseYaml(await readFile(join(cDir, "manifest.yaml"), "utf8")) as Record<string, unknown>;
  const { creds } = await bus.install({
    ...manifest,
    capabilities: ["secret.read:c.token"],
    config: { type: "object", properties: { level: { type: "integer" } } },
  });
  const credsFile = join(work, "c-counter.creds");
  await writeFile(credsFile, creds, { mode: 0o600 });

  const key = await admin.call("secret.key", {});
  if (key._tag === "Left") throw new Error(key.left.message);
  const seal = async (value: string) => sealTo(key.right.publicKey, value);
  const sha = (v: string) => createHash("sha256").update(v).digest("hex");

  t.test("the C worker reads its secret, follows rotations and its config live, and catches up after a reconnect", async (t) => {
    const values = [1, 2, 3, 4].map((i) => `c${i}-${randomBytes(8).toString("hex")}`);
    const [v1, v2, v3, v4] = values as [string, string, string, string];
    t.match(await admin.call("secret.set", { name: "c.token", ...(await seal(v1)) }), { right: { version: 1 } });

    const proc = spawn(bin, [], {
      env: { ...process.env, GANGLION_CREDS: credsFile, NATS_URL: bus.url, WORKER_INSTANCE: "c1", HEARTBEAT_MS: "500", GANGLION_SECRET: "c.token" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    t.teardown(() => void proc.kill("SIGKILL"));
    let stderr = "";
    proc.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const { lines, waitFor } = stdoutLines(proc, () => stderr);
    const secretLine = (version: number, value: string) => new RegExp(`^c-counter secret c\\.token version ${version} sha256 ${sha(value)}$`);

    await waitFor(/^c-counter config version 0 \{\}$/, "the config at start");
    await waitFor(secretLine(1, v1), "the secret");

    t.match(await admin.call("secret.rotate", { name: "c.token", ...(await seal(v2)) }), { right: { version: 2 } });
    await waitFor(secretLine(2, v2), "the rotated secret");
    t.match(await admin.call("plugin.config.set", { pluginId: "c-counter", set: { level: 3 } }), { right: { version: 1 } });
    await waitFor(/^c-counter config version 1 \{"level":3\}$/, "the config change");

    // While the worker is away: a rotation and a config change whose notices it never gets
    // (written as the core writes them, minus the notice), then a real server restart.
    const store = await withoutNotice(bus.nc, bus.dataDir);
    t.match(await store.rotate("c.token", v3), { right: { version: 3 } });
    await store.setConfig("c-counter", 2, { level: 5 });
    await bus.restartServer();
    await waitFor(secretLine(3, v3), "the secret rotated while away");
    await waitFor(/^c-counter config version 2 \{"level":5\}$/, "the config changed while away");

    // The core's live.versions (what it says at start and every minute) names a newer version.
    t.match(await store.rotate("c.token", v4), { right: { version: 4 } });
    const announce: LiveVersions = { type: "live.versions", config: 2, secrets: { "c.token": 4 } };
    bus.nc.publish(controlSubject("c-counter"), JSON.stringify(announce));
    await waitFor(secretLine(4, v4), "the version live.versions named");
    // Said again, it asks nothing again: one read per version, recorded in the secret's stream.
    bus.nc.publish(controlSubject("c-counter"), JSON.stringify(announce));
    t.match(await admin.call("plugin.config.set", { pluginId: "c-counter", set: { level: 6 } }), { right: { version: 3 } });
    await waitFor(/^c-counter config version 3 \{"level":6\}$/, "a later config change");
    const reads: number[] = [];
    for await (const e of natsEventStore(bus.nc, { codec: SecretEvent }).readStream(secretStreamName("c.token")))
      if (e.type === "secret.read" && e.data.pluginId === "c-counter") reads.push(e.data.version);
    t.same(reads, [1, 2, 3, 4], "one read per version: a repeated notice or live.versions asks nothing again");

    t.match(await admin.call("secret.remove", { name: "c.token" }), { right: { removed: true } });
    await waitFor(/^c-counter secret c\.token removed$/, "the removal");
    t.equal(lines.filter((l) => / version 1 /.test(l) && l.includes("secret")).length, 1, "each version printed once");
    t.notOk(lines.some((l) => values.some((v) => l.includes(v))) || values.some((v) => stderr.includes(v)), "the worker printed digests, never values");
    proc.kill("SIGTERM");
    t.equal(await exited, 0, "a clean stop");
  });
}
