import t from "tap";
import type { Command } from "commander";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram, run } from "../../src/cli/main.js";
import { createContext } from "../../src/cli/context.js";
import { ConfigError, decodeConfig } from "../../src/config.js";
import { CliError, describeError, ExitCode } from "../../src/cli/errors.js";
import type { CliIo } from "../../src/cli/output.js";

const capture = () => {
  const out = { stdout: "", stderr: "" };
  const io: CliIo = { stdout: (s) => void (out.stdout += s), stderr: (s) => void (out.stderr += s) };
  return { io, out };
};
const config = decodeConfig({});
const ganglion = async (...argv: string[]) => {
  const { io, out } = capture();
  const code = await run(argv, io, config);
  return { code, ...out };
};

/** Every command path, e.g. ["compose", "init"]. */
const commandPaths = (cmd: Command, prefix: string[] = []): string[][] =>
  cmd.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);

t.test("every command answers --help with its usage and exit 0", async (t) => {
  const paths = commandPaths(buildProgram(createContext(config, capture().io)));
  t.ok(paths.length >= 5, "up, serve, status, compose, compose init at least");
  for (const p of [[], ...paths]) {
    const r = await ganglion(...p, "--help");
    t.equal(r.code, 0, `ganglion ${p.join(" ")} --help`);
    t.match(r.stdout, new RegExp(`^Usage: ganglion${p.length ? " " + p.join(" ") : ""}`), `usage of ${p.join(" ") || "ganglion"}`);
  }
});

t.test("the root help documents exit codes and the environment", async (t) => {
  const r = await ganglion("--help");
  t.match(r.stdout, /Exit codes:[\s\S]*2 +usage error[\s\S]*3 +cannot reach the bus[\s\S]*4 +local set-up/);
  t.match(r.stdout, /GANGLION_NATS_URL/);
});

t.test("usage errors exit 2", async (t) => {
  for (const argv of [["no-such-command"], ["status", "--no-such-option"], ["up", "--port", "70000"], ["--log-level", "loud", "status"], []]) {
    const r = await ganglion(...argv);
    t.equal(r.code, 2, `ganglion ${argv.join(" ")}`);
    t.not(r.stderr, "", "says what was wrong");
  }
});

t.test("--version prints the package version", async (t) => {
  const r = await ganglion("--version");
  t.equal(r.code, 0);
  t.match(r.stdout, /^\d+\.\d+\.\d+/);
});

t.test("a client command with no running bus exits 3 and says how to start one", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ganglion-nobus-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await ganglion("status", "--data-dir", dir);
  t.equal(r.code, 3);
  t.match(r.stderr, /^ganglion: no running bus found .*ganglion up --data-dir/);
  // Global options work after the command name as well as before it.
  t.equal((await ganglion("--data-dir", dir, "status")).code, 3);
});

t.test("expected errors map to their exit codes without a stack; others keep theirs", async (t) => {
  t.match(describeError(new ConfigError("bad env")), { exitCode: 4, expected: true, message: "bad env" });
  t.match(describeError(new CliError("nope", ExitCode.Unreachable)), { exitCode: 3, expected: true });
  const bug = describeError(new TypeError("x is undefined"));
  t.equal(bug.exitCode, 1);
  t.equal(bug.expected, false);
  t.match(bug.message, /TypeError: x is undefined\n\s+at /);
});
