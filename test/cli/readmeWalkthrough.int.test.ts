import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import type { Test } from "tap";
import { baseEnv, repoRoot, startCli } from "./cliProcess.js";

// The README's walkthrough as printed: the shell blocks marked `<!-- walkthrough: N -->` are run
// in order, command by command, in one bash session (variables and the background worker carry
// over, as in the reader's terminal 2), in a fresh directory whose `.ganglion` is a bus this test
// started (`ganglion up --port 0`: the README's terminal 1). `npx ganglion` resolves to this
// checkout's bin through the directory's node_modules/.bin. Each command's exit code and output
// are checked: the `# …` lines printed under a command in the README must appear in its output,
// and every command has a check of its own below (a new command in the README needs one).

t.setTimeout(20 * 60_000);

/** A line with its runs of spaces as one (a table's column widths follow its contents). */
const words = (l: string) => l.trim().split(/\s+/).join(" ");

type Command = { readonly block: number; readonly line: string; readonly comment: string; readonly expected: string[] };

/** The marked blocks' commands, in order, with the output lines printed under each. */
const walkthrough = (readme: string): Command[] => {
  const out: Command[] = [];
  const re = /<!-- walkthrough: (\d+)[^>]*-->\n```sh\n([\s\S]*?)\n```/g;
  let expectNext = 1;
  for (const m of readme.matchAll(re)) {
    const block = Number(m[1]);
    if (block !== expectNext++) throw new Error(`walkthrough block ${block} out of order`);
    for (const raw of m[2]!.split("\n")) {
      if (raw.trim() === "") continue;
      if (raw.startsWith("#")) {
        out[out.length - 1]!.expected.push(raw.replace(/^# ?/, ""));
        continue;
      }
      const c = /^(.*?)(?:\s{2,}#\s*(.*))?$/.exec(raw)!;
      out.push({ block, line: c[1]!.trim(), comment: c[2] ?? "", expected: [] });
    }
  }
  return out;
};

/** What each command must do, by the command's text (first match). `out` is stdout and stderr. */
const checks: readonly [RegExp, (out: string, code: number, t: Test) => unknown][] = [
  [/plugin install .* --yes$/, (out, code, t) => (t.equal(code, 0, out), t.match(out, /wordcount/))],
  [
    /plugin creds wordcount -o wordcount\.creds/,
    async (out, code, t) => (t.equal(code, 0, out), t.equal((await stat(join(cwd, "wordcount.creds"))).mode & 0o777, 0o600, "wordcount.creds is 0600")),
  ],
  [/worker\.ts &$/, (out, code, t) => t.equal(code, 0, out)],
  [/--data '\{"text":"the quick brown fox"\}' --wait$/, (out, code, t) => t.equal(code, 0, out)],
  [/--data '\{"text":42\}'$/, (out, code, t) => t.equal(code, 1, "refused: exit 1")],
  [/^npx ganglion plugins$/, (out, code, t) => (t.equal(code, 0, out), t.match(out, /wordcount\s+active\s+1\.0\.0/))],
  [/^npx ganglion workers$/, (out, code, t) => (t.equal(code, 0, out), t.match(out, /^wordcount\s+1\s/m, "one instance online"))],
  [/^npx ganglion tasks$/, (out, code, t) => (t.equal(code, 0, out), t.match(out, /text\.wordcount/), t.match(out, /completed/))],
  [/^id=\$\(npx ganglion task submit/, (out, code, t) => t.equal(code, 0, out)],
  [/task get "\$id" --wait$/, (out, code, t) => (t.equal(code, 0, out), t.match(out, /"words": 2/))],
  [/task show "\$id"$/, (out, code, t) => (t.equal(code, 0, out), t.match(out, /task\.submitted/), t.match(out, /task\.completed/))],
  [/audit --task "\$id"$/, (out, code, t) => t.equal(code, 0, out)],
  [/projections verify$/, (out, code, t) => t.equal(code, 0, out)],
];

const readme = await readFile(join(repoRoot, "README.md"), "utf8");
const commands = walkthrough(readme);
const cwd = await mkdtemp(join(tmpdir(), "ganglion-readme-"));
t.teardown(() => rm(cwd, { recursive: true, force: true }));

t.test("the README's walkthrough blocks are marked, and every command has a check", async (t) => {
  t.ok(commands.length >= 10, `${commands.length} commands in the marked blocks`);
  t.same(
    commands.filter((c) => !checks.some(([re]) => re.test(c.line))).map((c) => c.line),
    [],
    "no command without a check",
  );
});

t.test("the README's walkthrough, as printed, against a fresh bus", async (t) => {
  // The reader's checkout, as far as the commands see it: the examples, and `npx ganglion` / `--import tsx` resolving to this checkout.
  await symlink(join(repoRoot, "examples"), join(cwd, "examples"));
  await mkdir(join(cwd, "node_modules", ".bin"), { recursive: true });
  await symlink(join(repoRoot, "bin", "ganglion.js"), join(cwd, "node_modules", ".bin", "ganglion"));
  await symlink(join(repoRoot, "node_modules", "tsx"), join(cwd, "node_modules", "tsx"));
  // Terminal 1: the bus, in the directory's own .ganglion (never port 4222).
  const up = await startCli(["up", "--port", "0", "--data-dir", join(cwd, ".ganglion")]);
  t.teardown(() => up.stop());

  // Terminal 2: one bash session; its own process group, so the background worker ends with it.
  const env = baseEnv({ npm_config_yes: "false", npm_config_offline: "true" });
  const bash = spawn("bash", ["--norc", "--noprofile"], { cwd, env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  t.teardown(() => {
    try {
      process.kill(-bash.pid!, "SIGTERM");
    } catch {
      /* already gone */
    }
  });
  let stdout = "";
  let stderr = "";
  let wake: (() => void) | undefined;
  bash.stdout.on("data", (b: Buffer) => ((stdout += b.toString()), wake?.()));
  bash.stderr.on("data", (b: Buffer) => ((stderr += b.toString()), wake?.()));
  const END = "__walkthrough_end__";
  /**
   * Runs one line in the session; answers its exit code and what it printed. A command that could
   * not connect (exit 3: the loaded machine let the CLI's 5 s connect time out) sent nothing, and
   * runs again.
   */
  const run = async (line: string): Promise<{ code: number; out: string }> => {
    for (let i = 0; ; i++) {
      const r = await runOnce(line);
      if (r.code !== 3 || !/cannot reach the bus .*timeout/.test(r.out) || i === 4) return r;
    }
  };
  const runOnce = async (line: string): Promise<{ code: number; out: string }> => {
    const [o0, e0] = [stdout.length, stderr.length];
    bash.stdin.write(`${line}\n__rc=$?; printf '\\n${END} %s\\n' "$__rc"; printf '\\n${END}\\n' >&2\n`);
    for (;;) {
      const o = stdout.slice(o0);
      const e = stderr.slice(e0);
      const m = new RegExp(`\\n${END} (\\d+)\\n`).exec(o);
      if (m && e.includes(`\n${END}\n`)) return { code: Number(m[1]), out: `${o.slice(0, m.index)}\n${e.slice(0, e.indexOf(`\n${END}\n`))}` };
      if (bash.exitCode !== null) throw new Error(`the shell exited during: ${line}`);
      await new Promise<void>((r) => (wake = r));
    }
  };

  for (const c of commands) {
    await t.test(`block ${c.block}: ${c.line}`, async (t) => {
      const { code, out } = await run(c.line);
      await checks.find(([re]) => re.test(c.line))![1](out, code, t);
      for (const want of c.expected) {
        if (want.includes("…")) {
          // An elided line (times, ids): its event type, if any, must be there.
          const ev = /\btask\.[a-z_]+/.exec(want)?.[0];
          if (ev) t.match(out, new RegExp(ev.replace(".", "\\.")), `shows ${ev}`);
        } else
          t.ok(
            out.split("\n").some((l) => words(l) === words(want)),
            `prints ${JSON.stringify(want)}`,
          );
      }
    });
  }
});
