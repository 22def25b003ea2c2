import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { createTestBus } from "../../src/testing/testBus.js";

// The README walkthrough with the shipped example: install its manifest, run its worker as a
// process with its own credentials, submit, read the result.
const bus = await createTestBus();
t.teardown(bus.stop);

const root = new URL("../../examples/ts-worker/", import.meta.url).pathname;

t.test("the example worker serves its manifest's task types", async (t) => {
  const { creds } = await bus.install(await readFile(join(root, "manifest.yaml"), "utf8"));
  const credsFile = join(bus.dataDir, "wordcount.creds");
  await writeFile(credsFile, creds, { mode: 0o600 });
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "worker.ts")], {
    env: { ...process.env, WORDCOUNT_CREDS: credsFile, NATS_URL: bus.url, WORKER_INSTANCE: "example-1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((r) => child.on("exit", r));
  t.teardown(async () => {
    child.kill("SIGTERM");
    await exited;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (b: Buffer) => b.toString().includes("running") && resolve());
    child.on("exit", () => reject(new Error("the example worker exited")));
  });
  const counted = await bus.submit("text.wordcount", { text: "the quick brown fox" }, { waitMs: 20_000 });
  t.match(counted, { status: "completed", result: { words: 4 }, instance: "example-1" });
  const echoed = await bus.submit("text.echo", { text: "hi" }, { waitMs: 20_000 });
  t.match(echoed, { status: "completed", result: { text: "hi" } });
  await t.rejects(bus.submit("text.wordcount", { words: 1 }), { code: "InvalidParams" });
});
