import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as E from "fp-ts/lib/Either.js";
import { createTestBus } from "../../src/testing/testBus.js";
import type { TestBus, TestBusOptions } from "../../src/testing/testBus.js";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The client tests' plugin: `app.echo`, `app.slow` (progress), `app.fail`, `app.other` (never granted to the app). */
export const appManifest = (rate = "100000/s") => {
  const echo = { type: "object", required: ["n"], properties: { n: { type: "integer" } } };
  const base = { params: echo, result: echo, timeout: "20s", retry: { maxAttempts: 3, backoff: ["100ms"] } };
  return {
    id: "appwork",
    version: "1.0.0",
    description: "the client tests' worker",
    provides: [
      { type: "app.echo", description: "answers { n }", ...base },
      {
        type: "app.slow",
        description: "reports progress, then answers { n }",
        ...base,
        params: { type: "object", required: ["n"], properties: { n: { type: "integer" }, steps: { type: "integer" }, ms: { type: "integer" } } },
      },
      { type: "app.fail", description: "fails, not retried", ...base },
      { type: "app.other", description: "never granted to the test application", ...base },
    ],
    capabilities: [],
    limits: { concurrency: 256, rate },
  };
};

export type WorkerProc = { readonly proc: ChildProcess; readonly kill: () => Promise<void>; readonly stderr: () => string };

/** The worker of test/client/fixtures/appWorker.ts, as a child process; resolves once it pulls. */
export const spawnAppWorker = (o: { servers: string; credsFile: string; instance?: string }): Promise<WorkerProc> => {
  const proc = spawn(process.execPath, ["--import", "tsx", join(ROOT, "test/client/fixtures/appWorker.ts")], {
    env: { ...process.env, CREDS: o.credsFile, SERVERS: o.servers, INSTANCE: o.instance ?? "w1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  proc.stderr?.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => proc.on("exit", () => r()));
  const w: WorkerProc = {
    proc,
    stderr: () => err,
    kill: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on("line", (l) => l.includes('"ready"') && resolve(w));
    void exited.then(() => reject(new Error(`the app worker exited before it was ready:\n${err}`)));
  });
};

export type AppSetup = {
  readonly bus: TestBus;
  readonly dir: string;
  readonly appCreds: string;
  readonly worker: WorkerProc;
  readonly stop: () => Promise<void>;
};

/**
 * A test bus with the `appwork` plugin served by a worker process and an application `appId`
 * granted `grants`; `appCreds` is its `.creds` file (written 0600 as `ganglion app add` writes it).
 */
export const appSetup = async (
  appId: string,
  grants: readonly string[],
  opts: { bus?: TestBusOptions; rate?: string; credsTtl?: string } = {},
): Promise<AppSetup> => {
  const bus = await createTestBus(opts.bus);
  const dir = await mkdtemp(join(tmpdir(), "ganglion-client-"));
  const { creds } = await bus.install(appManifest(opts.rate));
  const workerCreds = join(dir, "appwork.creds");
  await writeFile(workerCreds, creds, { mode: 0o600 });
  const worker = await spawnAppWorker({ servers: bus.url, credsFile: workerCreds });
  const added = await bus.call("app.add", { appId, grants: [...grants], ...(opts.credsTtl ? { ttl: opts.credsTtl } : {}) });
  if (E.isLeft(added)) throw new Error(`app.add: ${added.left.code}: ${added.left.message}`);
  const appCreds = join(dir, `${appId}.creds`);
  await writeFile(appCreds, added.right.creds, { mode: 0o600 });
  return {
    bus,
    dir,
    appCreds,
    worker,
    stop: async () => {
      await worker.kill();
      await bus.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
};
