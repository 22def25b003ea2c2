import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { parse as parseYaml } from "yaml";
import { createTestBus } from "../../src/testing/testBus.js";
import { serviceClient } from "../../src/service/client.js";
import { repoRoot } from "../cli/cliProcess.js";
import { sealTo, stdoutLines, withoutNotice } from "../secrets/support.js";

// Issue 15 over the wire in Go: the go-hasher example (nats.go + x/crypto/nacl/box, no Ganglion
// code) reads a granted secret sealed to a curve key it made, hears its rotation live, and gets
// its config at start and every change live.

const goDir = join(repoRoot, "examples/go-worker");
const haveGo = spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;
const haveLibs = ["nats-io/nats.go", "../golang.org/x/crypto/nacl/box"].every((p) => existsSync(join("/usr/share/gocode/src/github.com", p)));
if ((!haveGo || !haveLibs) && process.env.CI !== "true") {
  t.plan(0, "skip: go or its Debian packages (golang-go, golang-github-nats-io-go-nats-dev, golang-golang-x-crypto-dev) are not installed");
} else {
  const work = await mkdtemp(join(tmpdir(), "ganglion-golive-"));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const bin = join(work, "go-hasher");
  const build = spawnSync("go", ["build", "-o", bin, "."], {
    cwd: goDir,
    env: { ...process.env, GOPATH: `${join(work, "gopath")}:/usr/share/gocode`, GO111MODULE: "off", GOPROXY: "off", GOFLAGS: "", GOCACHE: join(work, "cache") },
    encoding: "utf8",
  });
  if (build.status !== 0) throw new Error(`go build failed: ${build.stderr}`);

  // The periodic live.versions beyond the test's length: only the reconnect catches up.
  const bus = await createTestBus({ liveAnnounceEveryMs: 3_600_000 });
  t.teardown(bus.stop);
  const admin = serviceClient(bus.nc);
  const manifest = parseYaml(await readFile(join(goDir, "manifest.yaml"), "utf8")) as Record<string, unknown>;
  const { creds } = await bus.install({
    ...manifest,
    capabilities: ["secret.read:go.token"],
    config: { type: "object", properties: { level: { type: "integer" } } },
  });
  const credsFile = join(work, "go-hasher.creds");
  await writeFile(credsFile, creds, { mode: 0o600 });

  const key = await admin.call("secret.key", {});
  if (key._tag === "Left") throw new Error(key.left.message);
  const seal = async (value: string) => sealTo(key.right.publicKey, value);
  const sha = (v: string) => createHash("sha256").update(v).digest("hex");

  t.test("the Go worker reads its secret, hears the rotation, and follows its config live", async (t) => {
    const v1 = `go-${randomBytes(8).toString("hex")}`;
    const v2 = `go2-${randomBytes(8).toString("hex")}`;
    t.match(await admin.call("secret.set", { name: "go.token", ...(await seal(v1)) }), { right: { version: 1 } });

    const proc = spawn(bin, [], {
      env: { ...process.env, GANGLION_CREDS: credsFile, NATS_URL: bus.url, WORKER_INSTANCE: "g1", HEARTBEAT_MS: "500", GANGLION_SECRET: "go.token" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    t.teardown(() => void proc.kill("SIGKILL"));
    const { lines, waitFor } = stdoutLines(proc);

    await waitFor(/^go-hasher config version 0 \{\}$/, "the config at start");
    await waitFor(new RegExp(`^go-hasher secret go.token version 1 sha256 ${sha(v1)}$`), "the secret");
    t.match(await admin.call("secret.rotate", { name: "go.token", ...(await seal(v2)) }), { right: { version: 2 } });
    await waitFor(new RegExp(`^go-hasher secret go.token version 2 sha256 ${sha(v2)}$`), "the rotated secret");
    t.match(await admin.call("plugin.config.set", { pluginId: "go-hasher", set: { level: 3 } }), { right: { version: 1 } });
    await waitFor(/^go-hasher config version 1 \{"level":3\}$/, "the config change");

    // A rotation whose notice it never gets (written as the core writes it, minus the notice),
    // then a real server restart: once reconnected it asks what is in force, and reads it again.
    const v3 = `go3-${randomBytes(8).toString("hex")}`;
    const store = await withoutNotice(bus.nc, bus.dataDir);
    t.match(await store.rotate("go.token", v3), { right: { version: 3 } });
    await bus.restartServer();
    await waitFor(new RegExp(`^go-hasher secret go.token version 3 sha256 ${sha(v3)}$`), "the secret rotated while away");
    t.notOk(
      lines.some((l) => l.includes(v1) || l.includes(v2) || l.includes(v3)),
      "the worker printed digests, never values",
    );
    proc.kill("SIGTERM");
  });
}
