import t from "tap";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseEnv, processesMentioning, repoRoot, waitNoneMentioning } from "./cliProcess.js";

// `ganglion up` in a terminal (a real pseudo-terminal from util-linux `script`): logs for people,
// the ready line standing out; `--log-format json` keeps JSON lines there too.
t.setTimeout(15 * 60_000);
const dir = await mkdtemp(join(tmpdir(), "ganglion-tty-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));

const upInTerminal = async (dataDir: string, extra: string[] = []) => {
  const command = [process.execPath, "--import", "tsx", join(repoRoot, "src/cli/main.ts"), "up", "--port", "0", "--data-dir", dataDir, ...extra]
    .map((a) => `'${a}'`)
    .join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    cwd: repoRoot,
    env: baseEnv({ GANGLION_LOG_LEVEL: "info" }),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise((r) => child.once("exit", r));
  for (let i = 0; i < 3000 && !/ganglion ready/.test(out); i++) {
    if (child.exitCode !== null) throw new Error(`up exited: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // A moment for the log lines written right after the ready line.
  await new Promise((r) => setTimeout(r, 500));
  for (const pid of await processesMentioning(dataDir)) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      /* gone */
    }
  }
  await waitNoneMentioning(dataDir, 60_000);
  await exited;
  return out;
};

t.test("in a terminal: pino-pretty lines and a bold green ready line", async (t) => {
  const out = await upInTerminal(join(dir, "pretty"));
  t.match(out, /\x1b\[1;32mganglion ready nats:\/\/127\.0\.0\.1:\d+\x1b\[0m/, "the ready line stands out");
  t.match(out, /\d\d:\d\d:\d\d\.\d{3}\]? .*INFO/, "human-readable log lines");
  t.notMatch(out, /^\{"level":/m, "no JSON lines");
});

t.test("in a terminal with --log-format json: JSON lines", async (t) => {
  const out = await upInTerminal(join(dir, "json"), ["--log-format", "json"]);
  t.match(out, /^\{"level":30,/m);
  t.match(out, /^ganglion ready nats:/m, "a plain ready line");
});
