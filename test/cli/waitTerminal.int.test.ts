import { spawn } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { appSetup } from "../client/support.js";
import { baseEnv, repoRoot } from "./cliProcess.js";

// `ganglion task submit --wait` on a terminal shows the task's progress as it comes. The CLI runs
// under a real pseudo-terminal (`script` from util-linux allocates one), so its stderr is a TTY;
// the worker reports progress four times, 700 ms apart.

t.setTimeout(300_000);

/** Runs `argv` under a pseudo-terminal; answers everything the terminal showed. */
const underPty = (argv: readonly string[]): Promise<{ code: number | null; screen: string }> =>
  new Promise((resolve, reject) => {
    const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
    // -q: no banner, -f: flush as written, -e: its exit code, -c: the command; the typescript goes nowhere.
    const child = spawn("script", ["-qfec", argv.map(quote).join(" "), "/dev/null"], { cwd: repoRoot, env: baseEnv(), stdio: ["pipe", "pipe", "pipe"] });
    let screen = "";
    child.stdout.on("data", (b: Buffer) => (screen += b.toString()));
    child.stderr.on("data", (b: Buffer) => (screen += b.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, screen }));
  });

t.test("task submit --wait on a terminal shows each progress report, then the result", async (t) => {
  const s = await appSetup("ttywait", []);
  t.teardown(s.stop);
  const cli = [process.execPath, "--import", "tsx", join(repoRoot, "src/cli/main.ts")];
  const on = ["--nats", s.bus.url, "--creds", s.bus.installation.adminCreds];
  const r = await underPty([...cli, "task", "submit", "app.slow", "--data", '{"n":9,"steps":4,"ms":700}', "--wait", "--timeout", "120s", ...on]);
  t.equal(r.code, 0, r.screen);
  const lines = r.screen.split(/\r|\n/).map((l) => l.replaceAll("\x1b[2K", "").trim());
  const progress = lines.filter((l) => /^task \S+ running: \d\/4/.test(l));
  t.ok(progress.length >= 2, `progress lines appeared as the task ran:\n${progress.join("\n")}`);
  const done = progress.map((l) => Number(/running: (\d)\/4/.exec(l)![1]));
  t.same(done, [...done].sort(), "in order");
  t.match(r.screen, /step \d/, "with the worker's message");
  t.match(r.screen, /"n": ?9/, "then the result");

  // Not a terminal: no progress lines (scripts get the result only).
  const { runCli } = await import("./cliProcess.js");
  const plain = await runCli(["task", "submit", "app.slow", "--data", '{"n":8,"steps":2,"ms":300}', "--wait", "--timeout", "120s", ...on]);
  t.equal(plain.code, 0, plain.stderr);
  t.notMatch(plain.stderr, /running: \d\/2/, "no live progress without a terminal");
});
