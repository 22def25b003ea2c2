import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import t from "tap";
import { parse as parseYaml } from "yaml";
import { createTestBus } from "../../src/testing/testBus.js";
import { ARTIFACT_CHUNK_BYTES } from "../../src/contract/artifacts.js";
import { repoRoot } from "../cli/cliProcess.js";

// Issue 18 over the wire in C: the c-counter example (cnats + libsodium, no Ganglion code,
// examples/c-worker/artifacts.c) writes an artifact (chunks on artup.<upload> as JetStream
// publishes, then art.put) and reads one named in a task's params (art.get chunk by chunk with the
// cursor, each chunk and the whole checked with crypto_hash_sha256), following subjects.md, "Artifacts".

const cDir = join(repoRoot, "examples/c-worker");
const have = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
const missing = [
  have("make", ["--version"]) ? undefined : "make",
  have("pkg-config", ["--exists", "libnats"]) ? undefined : "libnats-dev",
  have("pkg-config", ["--exists", "libsodium"]) ? undefined : "libsodium-dev",
].filter((m): m is string => m !== undefined);

// The counts as the manifest defines them: UTF-8 characters are bytes that do not continue one;
// words are runs of non-blanks; a last line without a newline still counts.
const countsOf = (b: Buffer) => {
  const blank = new Set([0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c]);
  let chars = 0,
    words = 0,
    lines = 0,
    inWord = false;
  for (const ch of b) {
    if ((ch & 0xc0) !== 0x80) chars++;
    if (ch === 0x0a) lines++;
    if (blank.has(ch)) inWord = false;
    else if (!inWord) {
      inWord = true;
      words++;
    }
  }
  if (b.length > 0 && b[b.length - 1] !== 0x0a) lines++;
  return { bytes: b.length, chars, words, lines };
};

if (missing.length > 0 && process.env.CI !== "true") {
  t.plan(0, `skip: the C worker's Debian packages are not installed (missing: ${missing.join(", ")}); .ci/run installs them`);
} else if (missing.length > 0) {
  t.fail(`CI=true but the C worker's packages are missing: ${missing.join(", ")}`);
} else {
  const work = await mkdtemp(join(tmpdir(), "ganglion-cart-"));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const bin = join(work, "c-counter");
  const build = spawnSync("make", ["-C", cDir, `BIN=${bin}`, bin], { encoding: "utf8" });
  if (build.status !== 0) throw new Error(`make failed: ${build.stdout}${build.stderr}`);

  const bus = await createTestBus();
  t.teardown(bus.stop);
  const manifest = parseYaml(await readFile(join(cDir, "manifest.yaml"), "utf8")) as Record<string, unknown>;
  const { creds } = await bus.install({ ...manifest, run: undefined });
  const credsFile = join(work, "c-counter.creds");
  await writeFile(credsFile, creds, { mode: 0o600 });
  const proc = spawn(bin, [], {
    env: { ...process.env, GANGLION_CREDS: credsFile, NATS_URL: bus.url, WORKER_INSTANCE: "c1", HEARTBEAT_MS: "500" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.teardown(() => void proc.kill("SIGKILL"));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the C worker did not start in 60 s")), 60_000);
    createInterface({ input: proc.stdout! }).on("line", (l) => {
      if (/running/.test(l)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });

  t.test("the C worker writes a three-chunk artifact and reads one named in its params, every chunk checked", async (t) => {
    // Text with two-byte characters, blanks and newlines, cut at an odd length so a character
    // straddles the end; the counts must not depend on where the chunks fall.
    const words = ["grüße", "naïve", "café", "x", "\t", "lorem", "ipsum\n", "€uro", "  "];
    const parts: string[] = [];
    // (The length is kept as it grows: joining every time was quadratic and blocked this process,
    // and the core it hosts, for minutes.)
    for (let i = 0, size = -1; size < 2 * ARTIFACT_CHUNK_BYTES + 1200; i++) {
      const w = words[(i * 7) % words.length]!;
      parts.push(w);
      size += Buffer.byteLength(w) + 1;
    }
    const data = Buffer.from(parts.join(" ")).subarray(0, 2 * ARTIFACT_CHUNK_BYTES + 1001);
    const id = createHash("sha256").update(data).digest("hex");
    const counts = countsOf(data);

    const stored = await bus.submit("text.count", { text: data.toString("base64"), encoding: "base64", store: true }, { waitMs: 60_000 });
    t.equal(stored.status, "completed", JSON.stringify(stored.failures));
    t.same(stored.result, { ...counts, artifact: `artifact://${id}` });
    t.match(await bus.call("artifact.show", { id }), { right: { size: data.length, chunks: 3, creator: "plugin:c-counter" } });

    const read = await bus.submit("text.count", { text: `artifact://${id}`, encoding: "artifact" }, { waitMs: 60_000 });
    t.equal(read.status, "completed", JSON.stringify(read.failures));
    t.same(read.result, counts);

    // The same bytes put again are the same artifact.
    const again = await bus.submit("text.count", { text: data.toString("base64"), encoding: "base64", store: true }, { waitMs: 60_000 });
    t.match(again.result, { artifact: `artifact://${id}` });
  });

  t.test("an unknown artifact fails for good with NotFound; a malformed reference is refused naming the path", async (t) => {
    const missingRef = await bus.submit("text.count", { text: `artifact://${"0".repeat(64)}`, encoding: "artifact" }, { waitMs: 60_000 });
    t.equal(missingRef.status, "dead_lettered");
    t.equal(missingRef.failures.length, 1, "not retried");
    t.match(missingRef.failures[0]?.error, { message: /NotFound/, retryable: false });

    const malformed = await bus.submit("text.count", { text: `artifact://${"A".repeat(64)}`, encoding: "artifact" }, { waitMs: 60_000 });
    t.equal(malformed.status, "dead_lettered");
    t.match(malformed.failures[0]?.error, { message: /^params\.text: not artifact:\/\/<sha256>/, retryable: false });

    const both = await bus.submit("text.count", { text: `artifact://${"0".repeat(64)}`, encoding: "artifact", store: true }, { waitMs: 60_000 });
    t.match(both.failures[0]?.error, { message: /^params\.store: does not apply to encoding artifact/, retryable: false });
  });
}
