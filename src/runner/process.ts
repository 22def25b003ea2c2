import { spawn } from "node:child_process";
import { chmod, mkdir, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import type { Logger } from "pino";
import { processStartTicks, readLog, rotateLog } from "./files.js";
import { workerName } from "./ports.js";
import type { BackendEvents, InstanceLaunch, InstanceStatus, LogChunk, LogsOptions, RunnerBackend } from "./ports.js";

/**
 * The `process` backend: each instance is a child process in its own process group, with
 *   - its own private directory `<stateDir>/<plugin>/<instance>/` (mode 0700): its working
 *     directory, HOME and TMPDIR, its `creds` file (0600) and its `out.log`;
 *   - a minimal environment: PATH, HOME, TMPDIR, LANG, the manifest's `run.env` (secrets
 *     resolved, in memory only), and GANGLION_CREDS (the path of its creds file), NATS_URL,
 *     WORKER_INSTANCE, GANGLION_PLUGIN. Nothing of the core's own environment;
 *   - stdout and stderr appended to `out.log`, rotated past `logMaxBytes` (one `.1` kept).
 * `state.json` names its pid and start time, so a core that restarts finds it (`adopt`) and never
 * takes a reused pid for it.
 */
export type ProcessBackendOptions = {
  readonly stateDir: string;
  /** Relative `run.cwd` resolve against it (`{app}` in command and args is that directory). */
  readonly baseDir: string;
  readonly log: Logger;
  readonly events: BackendEvents;
  readonly logMaxBytes?: number;
  /** How often adopted processes are checked and logs rotated. */
  readonly pollMs?: number;
};

type Running = {
  status: InstanceStatus;
  dir: string;
  /** Resolves once the process has ended. */
  ended: Promise<void>;
  /** Only for adopted processes: the start time to check against. */
  ticks?: string;
  markEnded?: () => void;
};

const SAFE_PATH = "/usr/local/bin:/usr/bin:/bin";
const key = (pluginId: string, instance: string) => `${pluginId}/${instance}`;

/** `{app}` → the app directory, `{node}` → this Node.js binary, in a command or an argument. */
export const expand = (s: string, app: string) => s.replaceAll("{app}", app).replaceAll("{node}", process.execPath);

/** The directory a launch's `run.cwd` names, absolute. */
export const appDir = (baseDir: string, cwd: string | undefined) => (cwd === undefined ? resolve(baseDir) : isAbsolute(cwd) ? cwd : resolve(baseDir, cwd));

/** The environment of an instance: nothing from the core's. */
export const instanceEnv = (launch: InstanceLaunch, dir: string, worker: string): Record<string, string> => ({
  PATH: SAFE_PATH,
  LANG: "C.UTF-8",
  ...launch.env,
  HOME: dir,
  TMPDIR: join(dir, "tmp"),
  GANGLION_CREDS: join(dir, "creds"),
  NATS_URL: launch.natsUrl,
  WORKER_INSTANCE: worker,
  GANGLION_PLUGIN: launch.pluginId,
});

export const processBackend = (opts: ProcessBackendOptions): RunnerBackend => {
  const running = new Map<string, Running>();
  const logMax = opts.logMaxBytes ?? 1024 * 1024;
  const dirOf = (pluginId: string, instance: string) => join(opts.stateDir, pluginId, instance);

  const finish = (r: Running, code: number | null, signal: string | null) => {
    const k = key(r.status.pluginId, r.status.instance);
    if (running.get(k) !== r) return;
    running.delete(k);
    r.markEnded?.();
    // The creds file goes with the process; the log stays for `worker logs`.
    void rm(join(r.dir, "creds"), { force: true });
    void rm(join(r.dir, "state.json"), { force: true });
    opts.events.onExit(r.status.pluginId, r.status.instance, { code, signal });
  };

  // Adopted processes are not our children: no exit event, so poll. Logs rotate on the same beat.
  const timer = setInterval(() => {
    for (const r of running.values()) {
      void rotateLog(join(r.dir, "out.log"), logMax);
      const pid = Number(r.status.ref);
      if (r.ticks !== undefined) void processStartTicks(pid).then((t) => (t !== r.ticks ? finish(r, null, null) : undefined));
    }
  }, opts.pollMs ?? 1000);
  timer.unref();

  const start = async (launch: InstanceLaunch): Promise<InstanceStatus> => {
    const k = key(launch.pluginId, launch.instance);
    if (running.has(k)) throw new Error(`instance ${k} already runs`);
    const dir = dirOf(launch.pluginId, launch.instance);
    await mkdir(join(dir, "tmp"), { recursive: true, mode: 0o700 });
    // mkdir's mode does not apply to directories that already existed.
    await chmod(dir, 0o700);
    await chmod(join(opts.stateDir, launch.pluginId), 0o700);
    // Written before the process exists, readable only by this user.
    await writeFile(join(dir, "creds"), launch.creds, { mode: 0o600, flag: "w" });
    await chmod(join(dir, "creds"), 0o600);
    const app = appDir(opts.baseDir, launch.run.cwd);
    const startedAt = new Date();
    const worker = workerName(launch.instance, startedAt);
    const out = await open(join(dir, "out.log"), "a", 0o600);
    let spawned: Promise<number>;
    let child: ReturnType<typeof spawn>;
    // The exit is listened to at once: a worker that exits at once may do so while `out` closes,
    // before the instance is registered (its exit was then never reported).
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let onExit: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
    try {
      child = spawn(
        expand(launch.run.command, app),
        launch.run.args.map((a) => expand(a, app)),
        {
          cwd: dir,
          env: instanceEnv(launch, dir, worker),
          stdio: ["ignore", out.fd, out.fd],
          // Its own process group: a stop signals the worker and whatever it started, and a Ctrl-C
          // at the core's terminal does not reach it.
          detached: true,
        },
      );
      // Listened to before anything else is awaited: `spawn` comes on a later tick.
      child.once("exit", (code, signal) => (onExit ? onExit(code, signal) : (exited = { code, signal })));
      spawned = new Promise<number>((ok, fail) => {
        child.once("spawn", () => ok(child.pid!));
        child.once("error", fail);
      });
    } finally {
      await out.close();
    }
    const pid = await spawned.catch(async (err: Error) => {
      await rm(join(dir, "creds"), { force: true });
      throw new Error(`could not start ${expand(launch.run.command, app)} for ${k}: ${err.message}`);
    });
    const status: InstanceStatus = {
      pluginId: launch.pluginId,
      instance: launch.instance,
      version: launch.version,
      ref: String(pid),
      worker,
      startedAt: startedAt.toISOString(),
      running: true,
      adopted: false,
    };
    let markEnded!: () => void;
    const r: Running = { status, dir, ended: new Promise<void>((e) => (markEnded = e)), markEnded };
    running.set(k, r);
    onExit = (code, signal) => finish(r, code, signal);
    if (exited) {
      onExit(exited.code, exited.signal);
      return status;
    }
    const ticks = await processStartTicks(pid);
    await writeFile(join(dir, "state.json"), JSON.stringify({ pid, ticks, worker, version: launch.version, startedAt: status.startedAt }), { mode: 0o600 });
    return status;
  };

  const signalGroup = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };

  const stop = async (pluginId: string, instance: string, graceMs: number) => {
    const r = running.get(key(pluginId, instance));
    if (!r) return;
    const pid = Number(r.status.ref);
    signalGroup(pid, "SIGTERM");
    const graceful = await Promise.race([r.ended.then(() => true), new Promise<boolean>((ok) => setTimeout(() => ok(false), graceMs).unref())]);
    if (graceful) return;
    opts.log.warn({ pluginId, instance, pid, graceMs }, "instance did not stop within its grace period: killed");
    signalGroup(pid, "SIGKILL");
    if (r.ticks !== undefined) {
      // Not our child: no exit event will come. Wait for /proc to say it is gone.
      for (let i = 0; i < 50 && (await processStartTicks(pid)) === r.ticks; i++) await new Promise((ok) => setTimeout(ok, 100));
      finish(r, null, "SIGKILL");
    }
    await r.ended;
  };

  const adopt = async (): Promise<InstanceStatus[]> => {
    const found: InstanceStatus[] = [];
    let plugins: string[] = [];
    try {
      plugins = await readdir(opts.stateDir);
    } catch {
      return found;
    }
    for (const pluginId of plugins) {
      let instances: string[] = [];
      try {
        instances = await readdir(join(opts.stateDir, pluginId));
      } catch {
        continue;
      }
      for (const instance of instances) {
        const dir = dirOf(pluginId, instance);
        let st: { pid?: unknown; ticks?: unknown; worker?: unknown; version?: unknown; startedAt?: unknown };
        try {
          st = JSON.parse(await readFile(join(dir, "state.json"), "utf8")) as typeof st;
        } catch {
          continue;
        }
        const pid = typeof st.pid === "number" && Number.isInteger(st.pid) && st.pid > 1 ? st.pid : undefined;
        const ticks = typeof st.ticks === "string" ? st.ticks : undefined;
        if (pid === undefined || ticks === undefined || (await processStartTicks(pid)) !== ticks) {
          await rm(join(dir, "state.json"), { force: true });
          await rm(join(dir, "creds"), { force: true });
          continue;
        }
        const status: InstanceStatus = {
          pluginId,
          instance,
          version: typeof st.version === "string" ? st.version : "unknown",
          ref: String(pid),
          worker: typeof st.worker === "string" ? st.worker : instance,
          startedAt: typeof st.startedAt === "string" ? st.startedAt : new Date().toISOString(),
          running: true,
          adopted: true,
        };
        let markEnded!: () => void;
        running.set(key(pluginId, instance), { status, dir, ticks, ended: new Promise<void>((e) => (markEnded = e)), markEnded });
        found.push(status);
      }
    }
    return found;
  };

  return {
    name: "process",
    start,
    stop,
    status: (pluginId) => [...running.values()].map((r) => r.status).filter((s) => pluginId === undefined || s.pluginId === pluginId),
    logs: (pluginId: string, instance: string, o: LogsOptions): Promise<LogChunk> => readLog(join(dirOf(pluginId, instance), "out.log"), o),
    health: async () => {
      try {
        await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
        return { ok: true, detail: `processes, state in ${opts.stateDir}` };
      } catch (err) {
        return { ok: false, detail: `state dir ${opts.stateDir}: ${(err as Error).message}` };
      }
    },
    adopt,
    close: async () => clearInterval(timer),
  };
};
