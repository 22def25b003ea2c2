/**
 * Shared parts of the benchmarks: an embedded nats-server of our own (never the bus on 4222),
 * connections, a core process, percentiles, progress lines, RSS of a process.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { cpus, totalmem, tmpdir, release, platform } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { connect, credsAuthenticator, headers } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadConfig } from "../src/config.js";
import { portsDirPath, prepareInstallation, runEmbeddedServer } from "../src/embedded/installation.js";
import type { Installation } from "../src/embedded/installation.js";
import { natsServerVersion, findNatsServer } from "../src/embedded/natsServer.js";
import { applyDefinitions, loadDefinitions } from "../src/store/streamDefinitions.js";
import { COUNT_HEADER, REVISION_HEADER, TYPE_HEADER } from "../src/store/eventStore.js";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Writes a progress line on stderr (stdout keeps the figures). */
export const progress = (msg: string) => process.stderr.write(`  … ${msg}\n`);

export const percentile = (sorted: readonly number[], p: number): number => {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
};

export const round = (n: number, digits = 1) => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n);

export type BenchServer = {
  readonly url: string;
  readonly dataDir: string;
  readonly installation: Installation;
  /** The nats-server process itself (not its watchdog). */
  readonly serverPid: () => Promise<number | undefined>;
  readonly connectAdmin: (name?: string) => Promise<NatsConnection>;
  readonly connectWith: (creds: string, opts?: { inboxPrefix?: string; name?: string; reconnect?: boolean }) => Promise<NatsConnection>;
  readonly stop: () => Promise<void>;
};

/**
 * A fresh operator-mode nats-server (the project's own generated config) on a free loopback port,
 * in a temp data dir, with the streams of `streams/` applied.
 */
export const startBenchServer = async (): Promise<BenchServer> => {
  const dataDir = await mkdtemp(join(tmpdir(), "ganglion-bench-"));
  const installation = await prepareInstallation({ dataDir, host: "127.0.0.1", port: 0 });
  const config = loadConfig();
  const server = await runEmbeddedServer(installation, { host: "127.0.0.1", port: 0, env: { NATS_SERVER_BIN: config.natsServerBin, PATH: config.path } });
  const connectWith: BenchServer["connectWith"] = (creds, o = {}) =>
    connect({
      servers: server.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
      name: o.name ?? "bench",
      ...(o.inboxPrefix ? { inboxPrefix: o.inboxPrefix } : {}),
      maxReconnectAttempts: o.reconnect === false ? 0 : -1,
      reconnectTimeWait: 100,
      // Both the raw path and Ganglion's run on connections with the same options.
      noAsyncTraces: true,
    });
  const connectAdmin = async (name?: string) => connectWith(await readFile(installation.adminCreds, "utf8"), name ? { name } : {});
  const nc = await connectAdmin("bench-setup");
  await applyDefinitions(nc, await jetstreamManager(nc), await loadDefinitions());
  await nc.close();
  return {
    url: server.url,
    dataDir,
    installation,
    serverPid: async () => {
      const files = await readdir(portsDirPath(dataDir)).catch(() => [] as string[]);
      const m = files.map((f) => /^nats-server_(\d+)\.ports$/.exec(f)).find(Boolean);
      return m ? Number(m[1]) : undefined;
    },
    connectAdmin,
    connectWith,
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
};

/** CPU time (user + system) a process has used, in ms, from /proc (Linux; clock ticks of 10 ms). */
export const cpuMs = async (pid: number | undefined): Promise<number | undefined> => {
  if (pid === undefined) return undefined;
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
};

/** Resident set size of a process in MiB, from /proc (Linux). */
export const rssMiB = async (pid: number | undefined): Promise<number | undefined> => {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
    return Number.isFinite(kb) ? round(kb / 1024) : undefined;
  } catch {
    return undefined;
  }
};

export const machine = async () => {
  const cfg = loadConfig();
  let nats = "unknown";
  try {
    nats = await natsServerVersion(await findNatsServer({ NATS_SERVER_BIN: cfg.natsServerBin, PATH: cfg.path }));
  } catch {
    /* reported as unknown */
  }
  const c = cpus();
  return {
    cpu: c[0]?.model ?? "unknown",
    cores: c.length,
    memoryGiB: round(totalmem() / 1024 ** 3),
    os: `${platform()} ${release()}`,
    node: process.version,
    natsServer: nats,
  };
};

export type ChildCore = {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly stop: () => Promise<void>;
};

const ROOT = new URL("..", import.meta.url).pathname;

/**
 * The core as its own process, the way it is deployed: `ganglion serve` against the bench
 * server with the data dir's keys and admin credentials. Resolves once it prints its ready line.
 */
export const startChildCore = async (server: BenchServer, extraEnv: Record<string, string> = {}): Promise<ChildCore> => {
  const proc = spawn(
    process.execPath,
    [
      // BENCH_CORE_PROF=<dir>: the core writes a V8 CPU profile there when it stops.
      ...(process.env.BENCH_CORE_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CORE_PROF] : []),
      "--import",
      "tsx",
      join(ROOT, "src/cli/main.ts"),
      "serve",
      "--nats",
      server.url,
      "--creds",
      server.installation.adminCreds,
      "--data-dir",
      server.dataDir,
      "--log-level",
      "warn",
    ],
    { env: { ...process.env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  proc.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on("line", (l) => {
      if (l.startsWith("ganglion ready")) resolve();
    });
    void exited.then((code) => reject(new Error(`the core exited (${code}) before it was ready:\n${stderr}`)));
  });
  return {
    proc,
    pid: proc.pid!,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
};

/**
 * One stored commit of one event, in the event store's own wire format (payload and headers as
 * `natsEventStore` writes them): lets a benchmark fill the log quickly with valid events.
 */
export const commitMessage = (type: string, data: unknown, revision: number, id: string, time: string) => {
  const h = headers();
  h.set(REVISION_HEADER, String(revision));
  h.set(COUNT_HEADER, "1");
  h.set(TYPE_HEADER, type);
  const payload = JSON.stringify({ events: [{ id, type, schemaVersion: 1, data, metadata: { actor: "operator:bench", time } }] });
  return { payload, headers: h };
};

/** Runs `task(i)` for i in [0, n) with at most `window` in flight. */
export const windowed = async (n: number, window: number, task: (i: number) => Promise<unknown>, onProgress?: (done: number) => void) => {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(window, n) }, async () => {
      for (let i = next++; i < n; i = next++) {
        await task(i);
        done++;
        if (onProgress && done % 10_000 === 0) onProgress(done);
      }
    }),
  );
};
