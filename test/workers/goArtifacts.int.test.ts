import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import t from "tap";
import { parse as parseYaml } from "yaml";
import { createTestBus } from "../../src/testing/testBus.js";
import { ARTIFACT_CHUNK_BYTES } from "../../src/contract/artifacts.js";
import { repoRoot } from "../cli/cliProcess.js";

// Issue 18 over the wire in Go: the go-hasher example (nats.go only, examples/go-worker/artifacts.go)
// writes an artifact (chunks on artup.<upload>, then art.put) and reads one named in a task's
// params (art.get chunk by chunk, each checked), following subjects.md, "Artifacts".

const goDir = join(repoRoot, "examples/go-worker");
const haveGo = spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;
const haveLibs = ["nats-io/nats.go", "../golang.org/x/crypto/nacl/box"].every((p) => existsSync(join("/usr/share/gocode/src/github.com", p)));
if ((!haveGo || !haveLibs) && process.env.CI !== "true") {
  t.plan(0, "skip: go or its Debian packages (golang-go, golang-github-nats-io-go-nats-dev, golang-golang-x-crypto-dev) are not installed");
} else {
  const work = await mkdtemp(join(tmpdir(), "ganglion-goart-"));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const bin = join(work, "go-hasher");
  const build = spawnSync("go", ["build", "-o", bin, "."], {
    cwd: goDir,
    env: { ...process.env, GOPATH: `${join(work, "gopath")}:/usr/share/gocode`, GO111MODULE: "off", GOPROXY: "off", GOFLAGS: "", GOCACHE: join(work, "cache") },
    encoding: "utf8",
  });
  if (build.status !== 0) throw new Error(`go build failed: ${build.stderr}`);

  const bus = await createTestBus();
  t.teardown(bus.stop);
  const manifest = parseYaml(await readFile(join(goDir, "manifest.yaml"), "utf8")) as Record<string, unknown>;
  const { creds } = await bus.install({ ...manifest, run: undefined });
  const credsFile = join(work, "go-hasher.creds");
  await writeFile(credsFile, creds, { mode: 0o600 });
  const proc = spawn(bin, [], {
    env: { ...process.env, GANGLION_CREDS: credsFile, NATS_URL: bus.url, WORKER_INSTANCE: "g1", HEARTBEAT_MS: "500" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.teardown(() => void proc.kill("SIGKILL"));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the Go worker did not start in 60 s")), 60_000);
    createInterface({ input: proc.stdout! }).on("line", (l) => {
      if (/running/.test(l)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });

  t.test("the Go worker writes an artifact and reads one named in its params, every chunk checked", async (t) => {
    const data = randomBytes(2 * ARTIFACT_CHUNK_BYTES + 1000);
    const id = createHash("sha256").update(data).digest("hex");
    const stored = await bus.submit("hash.sha256", { data: data.toString("base64"), encoding: "base64", store: true }, { waitMs: 60_000 });
    t.equal(stored.status, "completed", JSON.stringify(stored.failures));
    t.match(stored.result, { sha256: id, bytes: data.length, artifact: `artifact://${id}` });
    t.match(await bus.call("artifact.show", { id }), { right: { size: data.length, chunks: 3, creator: "plugin:go-hasher" } });

    const read = await bus.submit("hash.sha256", { data: `artifact://${id}`, encoding: "artifact" }, { waitMs: 60_000 });
    t.equal(read.status, "completed", JSON.stringify(read.failures));
    t.same(read.result, { sha256: id, bytes: data.length });

    const missing = await bus.submit("hash.sha256", { data: `artifact://${"0".repeat(64)}`, encoding: "artifact" }, { waitMs: 60_000 });
    t.equal(missing.status, "dead_lettered");
    t.match(missing.failures[0]?.error, { message: /NotFound/, retryable: false });
  });
}
