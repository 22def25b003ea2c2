import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout root: tsx resolves from here, so children run with it as cwd. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const cliMain = join(repoRoot, "src/cli/main.ts");

/** The environment children get: ours minus anything that would point them at another bus. */
export const baseEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, GANGLION_LOG_LEVEL: "warn", ...extra };
  for (const k of ["GANGLION_NATS_URL", "GANGLION_CREDS", "GANGLION_DATA_DIR"]) if (!(k in extra)) delete env[k];
  if (!("NATS_SERVER_BIN" in extra)) delete env.NATS_SERVER_BIN;
  return env;
};

export type CliResult = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

const spawnCli = (args: string[], env: NodeJS.ProcessEnv): ChildProcess =>
  spawn(process.execPath, ["--import", "tsx", cliMain, ...args], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });

/** Runs `ganglion <args>` to completion as a real process. */
export const runCli = (args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> =>
  new Promise((resolvePromise, reject) => {
    const child = spawnCli(args, baseEnv(extraEnv));
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    child.once("error", reject);
    child.once("close", (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });

/** A long-running `ganglion up` / `ganglion serve` child. */
export type LiveCli = {
  readonly child: ChildProcess;
  /** The URL from the `ganglion ready URL` line. */
  readonly url: string;
  /** Every stdout line so far. */
  readonly lines: () => string[];
  readonly stderr: () => string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM and wait for the exit. */
  readonly stop: () => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/**
 * Starts `ganglion <args>` and waits for its `ganglion ready URL` line; rejects with the child's
 * stderr if it exits first. The safety timeout only keeps a broken start from hanging the file.
 */
export const startCli = (args: string[], extraEnv: Record<string, string> = {}): Promise<LiveCli> =>
  new Promise((resolvePromise, reject) => {
    const child = spawnCli(args, baseEnv(extraEnv));
    let out = "";
    let err = "";
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
    const lines = () => out.split("\n").filter(Boolean);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no ready line within 180 s; stderr: ${err}`));
    }, 180_000);
    child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /^ganglion ready (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise({
          child,
          url: m[1]!,
          lines,
          stderr: () => err,
          exited,
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
            return exited;
          },
        });
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before the ready line; stdout: ${out} stderr: ${err}`));
    });
  });

/** The real nats-server pid, from the ports file it writes into `<dataDir>/nats/ports`. */
export const natsServerPid = async (dataDir: string): Promise<number> => {
  const f = (await readdir(join(dataDir, "nats", "ports"))).find((n) => /^nats-server_\d+\.ports$/.test(n));
  if (!f) throw new Error(`no ports file in ${dataDir}/nats/ports`);
  return Number(/_(\d+)\./.exec(f)![1]);
};

/** True while `pid` is a live process (a zombie counts as gone). */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return true;
  }
};

/** Polls until `pid` is gone; false if it is still there after `limitMs` (a safety bound, not a timing assertion). */
export const waitGone = async (pid: number, limitMs = 15_000): Promise<boolean> => {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
};

/** Pids of live processes whose command line contains `needle` (e.g. a data dir path). */
export const processesMentioning = async (needle: string): Promise<number[]> => {
  const pids: number[] = [];
  for (const d of await readdir("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${d}/cmdline`, "utf8")).replace(/\0/g, " ");
      if (cmdline.includes(needle) && alive(Number(d))) pids.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
};

/** Polls until no live process mentions `needle`; returns those still there after `limitMs` (a safety bound). */
export const waitNoneMentioning = async (needle: string, limitMs = 15_000): Promise<number[]> => {
  const end = Date.now() + limitMs;
  for (;;) {
    const left = await processesMentioning(needle);
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** Runs `ganglion <args>` with `input` on its stdin (for `--data -`, `--batch -`), and `cwd` when given. */
export const runCliWithInput = (args: string[], input: string, extraEnv: Record<string, string> = {}, cwd = repoRoot): Promise<CliResult> =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", cliMain, ...args], { cwd, env: baseEnv(extraEnv), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    child.once("error", reject);
    child.once("close", (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(input);
  });
