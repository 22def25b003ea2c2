import { spawn, execFile } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { access, constants, mkdir, readFile, readdir, rm } from "node:fs/promises";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createConnection } from "node:net";
import { promisify } from "node:util";

/** The oldest nats-server Ganglion runs on: the one Debian bookworm ships. */
export const MIN_SERVER_VERSION = "2.9.0";

const WATCHDOG = resolve(dirname(fileURLToPath(import.meta.url)), "../../bin/nats-watchdog.cjs");

export class NatsServerError extends Error {
  override name = "NatsServerError";
}

const INSTALL_HINT =
  "Install it with `sudo apt-get install nats-server` (Debian/Ubuntu), `brew install nats-server` (macOS), " +
  "or download a release from the nats-server project, then put it on PATH or set NATS_SERVER_BIN.";

/** Finds nats-server: `NATS_SERVER_BIN` when set, otherwise PATH (plus /usr/sbin where Debian puts it). */
export const findNatsServer = async (env: { NATS_SERVER_BIN?: string | undefined; PATH?: string | undefined }): Promise<string> => {
  if (env.NATS_SERVER_BIN) {
    try {
      await access(env.NATS_SERVER_BIN, constants.X_OK);
      return env.NATS_SERVER_BIN;
    } catch {
      throw new NatsServerError(`NATS_SERVER_BIN=${env.NATS_SERVER_BIN} is not an executable file. ${INSTALL_HINT}`);
    }
  }
  const dirs = [...(env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/sbin", "/usr/local/sbin"];
  for (const d of dirs) {
    const p = join(d, "nats-server");
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  throw new NatsServerError(`nats-server was not found on PATH. ${INSTALL_HINT}`);
};

export const parseVersion = (s: string): [number, number, number] | undefined => {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(s);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
};

export const versionAtLeast = (have: string, want: string): boolean => {
  const a = parseVersion(have);
  const b = parseVersion(want);
  if (!a || !b) return false;
  for (let i = 0; i < 3; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return true;
};

export const natsServerVersion = async (bin: string): Promise<string> => {
  const { stdout } = await promisify(execFile)(bin, ["--version"], { timeout: 10_000 });
  const v = parseVersion(stdout);
  if (!v) throw new NatsServerError(`could not read the version of ${bin} (it printed ${JSON.stringify(stdout.trim())})`);
  return v.join(".");
};

export type RunningServer = {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  stop: (graceMs?: number) => Promise<void>;
};

/** True when nothing accepts connections on host:port. */
export const portFree = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });

/**
 * Starts nats-server with `configFile`, waits for its ports file (`--ports_file_dir`) so the
 * chosen port is known even with `port: -1`, and fails fast with the server's own words if it
 * exits early. The child is started in its own process group only when `detached`; by default it
 * dies with us (see `watchParent`).
 */
export const startNatsServer = async (opts: {
  bin: string;
  configFile: string;
  portsDir: string;
  host: string;
  port: number;
  logFile?: string;
  timeoutMs?: number;
  extraArgs?: string[];
  /**
   * Own process group: a Ctrl-C in the terminal then reaches only us, and we stop the server
   * after the core (the watchdog's pipe still ends it if we die).
   */
  detached?: boolean;
  /** The config turns TLS on for clients: the URL says `tls://`. */
  tls?: boolean;
}): Promise<RunningServer> => {
  if (opts.port > 0 && !(await portFree(opts.host, opts.port))) {
    throw new NatsServerError(
      `port ${opts.port} on ${opts.host} is already in use. Stop what listens there, or pick another with --port (--port 0 picks a free one).`,
    );
  }
  await mkdir(opts.portsDir, { recursive: true });
  for (const f of await readdir(opts.portsDir)) if (f.endsWith(".ports")) await rm(join(opts.portsDir, f), { force: true });
  const args = ["-c", opts.configFile, "--ports_file_dir", opts.portsDir, ...(opts.logFile ? ["-l", opts.logFile] : []), ...(opts.extraArgs ?? [])];
  // The watchdog holds our end of a pipe: if this process dies, even by SIGKILL, it stops the server.
  const child = spawn(process.execPath, [WATCHDOG, opts.bin, ...args], { stdio: ["pipe", "pipe", "pipe"], detached: opts.detached ?? false });
  let output = "";
  const collect = (b: Buffer) => {
    output = (output + b.toString()).slice(-8192);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let port: number | undefined;
  while (Date.now() < deadline) {
    if (dead) {
      const reason = /port .* in use|address already in use/i.test(output)
        ? `port ${opts.port} is already in use; pick another with --port`
        : output.trim().split("\n").slice(-5).join("\n");
      throw new NatsServerError(`nats-server exited during start: ${reason}`);
    }
    try {
      const f = (await readdir(opts.portsDir)).find((n) => n.startsWith("nats-server_") && n.endsWith(".ports"));
      if (!f) throw new Error("no ports file yet");
      const p = JSON.parse(await readFile(join(opts.portsDir, f), "utf8")) as { nats?: string[] };
      const u = p.nats?.[0];
      if (u) {
        port = Number(new URL(u).port);
        break;
      }
    } catch {
      /* not there yet */
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  if (port === undefined) {
    child.kill("SIGKILL");
    throw new NatsServerError(`nats-server did not report its port within ${opts.timeoutMs ?? 15_000} ms: ${output.trim().slice(-500)}`);
  }
  const host = opts.host === "0.0.0.0" || opts.host === "::" ? "127.0.0.1" : opts.host;
  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 5000) =>
    (stopping ??= (async () => {
      if (dead) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    })());
  return { url: `${opts.tls ? "tls" : "nats"}://${host}:${port}`, host, port, pid: child.pid!, process: child, exited, stop };
};
