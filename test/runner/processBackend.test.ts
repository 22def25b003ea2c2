import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { pino } from "pino";
import { processBackend } from "../../src/runner/process.js";
import { decideRestart } from "../../src/runner/policy.js";
import { backendContract } from "./backendContract.js";

// The backend contract against the `process` backend (real processes), and the restart policy.

const dir = await mkdtemp(join(tmpdir(), "ganglion-process-backend-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));

await t.test("the process backend keeps the backend contract", (t) =>
  backendContract(
    t,
    (onExit) => processBackend({ stateDir: join(dir, "state"), baseDir: dir, log: pino({ level: "silent" }), events: { onExit }, pollMs: 200 }),
    (script) => ({ command: "/bin/sh", args: ["-c", script] }),
  ),
);

t.test("the restart policy: backoff steps, on-failure, never, and the crash-loop limit", async (t) => {
  const run = {
    command: "x",
    args: [],
    env: {},
    instances: 1,
    stopGrace: 1000,
    restart: { mode: "always" as const, backoff: [100, 200], crashLoop: { restarts: 3, window: 10_000 } },
  };
  const crash = { code: 1, signal: null };
  t.match(decideRestart(run, crash, [], 50_000), { _tag: "Restart", delayMs: 100, restarts: 1 });
  t.match(decideRestart(run, crash, [49_000], 50_000), { _tag: "Restart", delayMs: 200, restarts: 2 });
  t.match(decideRestart(run, crash, [48_000, 49_000], 50_000), { _tag: "Restart", delayMs: 200, restarts: 3 });
  t.match(decideRestart(run, crash, [47_000, 48_000, 49_000], 50_000), { _tag: "CrashLoop", restarts: 4 });
  t.match(decideRestart(run, crash, [1_000, 2_000, 3_000], 50_000), { _tag: "Restart", restarts: 1 }, "exits outside the window do not count");
  t.match(decideRestart({ ...run, restart: { ...run.restart, mode: "on-failure" } }, { code: 0, signal: null }, [], 0), { _tag: "Leave" });
  t.match(decideRestart({ ...run, restart: { ...run.restart, mode: "on-failure" } }, { code: null, signal: "SIGKILL" }, [], 0), { _tag: "Restart" });
  t.match(decideRestart({ ...run, restart: { ...run.restart, mode: "never" } }, crash, [], 0), { _tag: "Leave" });
});

t.test("the install prompt shows the run: section's command before the operator approves", async (t) => {
  const { readFileSync } = await import("node:fs");
  const E = await import("fp-ts/lib/Either.js");
  const { decodeManifest } = await import("../../src/plugins/manifest.js");
  const { runSummary } = await import("../../src/cli/commands/plugin.js");
  const m = decodeManifest(readFileSync(new URL("../../examples/ts-worker/manifest.yaml", import.meta.url), "utf8"));
  if (E.isLeft(m)) throw new Error(m.left.join("; "));
  const text = runSummary(m.right.run!);
  t.match(text, /start 1 instance\(s\) of: "\{node\}" "--import" .* "\{app\}\/worker.ts"/);
  t.match(text, /in examples\/ts-worker/);
  t.match(text, /restart always, a crash loop \(5 exits in 60s\) disables the plugin/);
});
