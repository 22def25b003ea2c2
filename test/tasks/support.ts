import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { natsEventStore } from "../../src/store/eventStore.js";
import { TaskEvent } from "../../src/events/task.js";
import type { TestBus } from "../../src/testing/testBus.js";

/** A manifest of the fixture worker's task types, for plugin `id`; `overrides` per task type. */
export const fixtureManifest = (
  id: string,
  opts: { retry?: object; scheduleToStart?: string; deadline?: string; timeout?: string; limits?: object; health?: object; capabilities?: string[] } = {},
) => ({
  id,
  version: "1.0.0",
  description: `test plugin ${id}`,
  provides: ["work.sleep", "work.fail", "work.wait"].map((type) => ({
    type,
    description: type,
    params: { type: "object" },
    result: { type: "object" },
    timeout: opts.timeout ?? "10s",
    ...(opts.retry ? { retry: opts.retry } : {}),
    ...(opts.scheduleToStart ? { scheduleToStart: opts.scheduleToStart } : {}),
    ...(opts.deadline ? { deadline: opts.deadline } : {}),
  })),
  capabilities: opts.capabilities ?? [],
  ...(opts.limits ? { limits: opts.limits } : {}),
  ...(opts.health ? { health: opts.health } : {}),
});

export type Line = { event: string; [k: string]: unknown };

export type WorkerProcess = {
  readonly proc: ChildProcess;
  readonly lines: Line[];
  /** Resolves with the first line (already seen or coming) that matches; rejects if the process exits first. */
  readonly waitFor: (pred: (l: Line) => boolean, what?: string) => Promise<Line>;
  readonly exited: Promise<number | null>;
  readonly kill: (signal?: NodeJS.Signals) => Promise<number | null>;
};

const FIXTURE = new URL("./fixtures/worker.ts", import.meta.url).pathname;

/** Starts the fixture worker as a real child process with the plugin's credentials. */
export const spawnWorker = async (
  bus: TestBus,
  o: {
    plugin: string;
    creds: string;
    instance: string;
    concurrency?: number;
    topics?: string[];
    types?: string[];
    fixture?: string;
    env?: Record<string, string>;
  },
): Promise<WorkerProcess> => {
  const credsFile = join(bus.dataDir, `${o.instance}.creds`);
  await writeFile(credsFile, o.creds, { mode: 0o600 });
  const proc = spawn(process.execPath, ["--import", "tsx", o.fixture ?? FIXTURE], {
    env: {
      ...process.env,
      PLUGIN: o.plugin,
      CREDS: credsFile,
      SERVERS: bus.url,
      INSTANCE: o.instance,
      ...(o.concurrency ? { CONCURRENCY: String(o.concurrency) } : {}),
      ...(o.topics ? { TOPICS: o.topics.join(",") } : {}),
      ...(o.types ? { TYPES: o.types.join(",") } : {}),
      ...o.env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: Line[] = [];
  const listeners = new Set<() => void>();
  let done = false;
  const exited = new Promise<number | null>((r) =>
    proc.on("exit", (code) => {
      done = true;
      for (const l of listeners) l();
      r(code);
    }),
  );
  createInterface({ input: proc.stdout! }).on("line", (s) => {
    try {
      lines.push(JSON.parse(s) as Line);
    } catch {
      return;
    }
    for (const l of listeners) l();
  });
  const waitFor: WorkerProcess["waitFor"] = (pred, what = "a line") =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = lines.find(pred);
        if (hit) {
          listeners.delete(check);
          resolve(hit);
        } else if (done) {
          listeners.delete(check);
          reject(new Error(`worker ${o.instance} exited before ${what}`));
        }
      };
      listeners.add(check);
      check();
    });
  const w: WorkerProcess = {
    proc,
    lines,
    waitFor,
    exited,
    kill: async (signal = "SIGTERM") => {
      if (!done) proc.kill(signal);
      return exited;
    },
  };
  await waitFor((l) => l.event === "ready", "ready");
  return w;
};

/** Event types of a task's stream, in order. */
export const taskEventsOf = async (bus: TestBus, taskId: string): Promise<TaskEvent[]> => {
  const store = natsEventStore(bus.nc, { codec: TaskEvent });
  const out: TaskEvent[] = [];
  for await (const e of store.readStream(`task-${taskId}`)) out.push({ type: e.type, data: e.data } as TaskEvent);
  return out;
};

/**
 * Waits until the log records `instance` starting `taskId`. A worker prints `started` when its
 * handler runs, before its `started` report is stored (the SDK does not wait for it): a test that
 * kills the worker at that line may kill it before the core ever heard of the start.
 */
export const startRecorded = async (bus: TestBus, taskId: string, instance: string, timeoutMs = 60_000): Promise<void> => {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const events = await taskEventsOf(bus, taskId);
    if (events.some((e) => e.type === "task.started" && e.data.instance === instance)) return;
    if (Date.now() > until) throw new Error(`the log has no start of ${taskId} by ${instance} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
