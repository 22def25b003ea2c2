import { Worker } from "node:worker_threads";
import * as E from "fp-ts/lib/Either.js";
import type { Manifest } from "./manifest.js";

/**
 * The longest a manifest's check may take (parsing, schema size and pattern checks, ajv's compile
 * and probes) before it is refused. The check runs on a worker thread, so the core keeps answering
 * meanwhile; a check that overruns has its thread terminated.
 */
export const MANIFEST_CHECK_MS = 10_000;
/** recheck's budget for a manifest's patterns on the thread (on the loop: 1.5 s); within `MANIFEST_CHECK_MS`. */
export const OFF_LOOP_PATTERN_BUDGET_MS = 6_000;
/** Checks waiting for the thread at most; more are refused at once (`plugin.install` is an operator's command, not a stream). */
export const MANIFEST_CHECK_QUEUE = 8;

type Input = { readonly text: string } | { readonly value: unknown };
/** What the thread is sent (`manifestWorker.ts`). */
export type CheckRequest = { readonly id: number } & Input;
type Job = { readonly input: Input; readonly resolve: (r: E.Either<string[], Manifest>) => void };

/**
 * The worker thread on the entry point next to this module: `.js` once built; under tsx (tests,
 * `npm run` from source) a thread does not inherit the loader hooks on Node 20, so it registers
 * tsx itself before importing the `.ts` entry.
 */
const startWorker = (): Worker => {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./manifestWorker.js", import.meta.url));
  const entry = new URL("./manifestWorker.ts", import.meta.url).href;
  const tsx = import.meta.resolve("tsx/esm/api");
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, { eval: true });
};

/**
 * Decodes manifests off the event loop: a worker thread does what `decodeManifest` /
 * `decodeManifestValue` do, with a bound of `timeoutMs` per manifest. Checks run one at a time
 * (each may use a core's worth of CPU for a while); the thread starts on first use (or at
 * `warm()`) and again after a check overran.
 */
export const manifestChecker = (o: { timeoutMs?: number; queue?: number } = {}) => {
  const timeoutMs = o.timeoutMs ?? MANIFEST_CHECK_MS;
  const maxQueue = o.queue ?? MANIFEST_CHECK_QUEUE;
  const queue: Job[] = [];
  let worker: Worker | undefined;
  let busy: { id: number; job: Job; timer: NodeJS.Timeout } | undefined;
  let nextId = 1;
  let stopped = false;

  const finish = (r: E.Either<string[], Manifest>) => {
    const b = busy;
    if (!b) return;
    clearTimeout(b.timer);
    busy = undefined;
    b.job.resolve(r);
    pump();
  };

  const spawn = (): Worker => {
    const w = startWorker();
    w.unref();
    w.on("message", (m: { id?: number; result?: E.Either<string[], Manifest>; error?: string }) => {
      if (m.id === undefined || busy?.id !== m.id) return;
      finish(m.result ?? E.left([`(document): the manifest check failed: ${m.error ?? "no answer"}`]));
    });
    const gone = (why: string) => {
      if (worker !== w) return;
      worker = undefined;
      finish(E.left([`(document): the manifest check failed: ${why}`]));
    };
    w.on("error", (err) => gone(err.message));
    w.on("exit", (code) => gone(`its thread exited (${code})`));
    return w;
  };

  const pump = () => {
    if (busy || stopped) return;
    const job = queue.shift();
    if (!job) return;
    const id = nextId++;
    worker ??= spawn();
    const w = worker;
    const timer = setTimeout(() => {
      // Overran: the thread is stopped (a pattern or schema still being worked on) and the manifest refused.
      worker = undefined;
      void w.terminate();
      finish(E.left([`(document): the manifest could not be checked within ${timeoutMs} ms; use fewer or simpler schemas and patterns`]));
    }, timeoutMs);
    busy = { id, job, timer };
    w.postMessage({ id, ...job.input } satisfies CheckRequest);
  };

  const decode = (input: Input): Promise<E.Either<string[], Manifest>> => {
    if (stopped) return Promise.resolve(E.left(["(document): the core is stopping"]));
    if (queue.length >= maxQueue) return Promise.resolve(E.left([`(document): ${maxQueue} manifests are waiting to be checked already; try again shortly`]));
    return new Promise((resolve) => {
      queue.push({ input, resolve });
      pump();
    });
  };

  return {
    /** The manifest decoded as `decodeManifest(text)` (YAML or JSON) would, or why not. */
    decodeText: (text: string) => decode({ text }),
    /** The manifest decoded as `decodeManifestValue(value)` would, or why not. */
    decodeValue: (value: unknown) => decode({ value }),
    /** Starts the thread now, so the first install does not wait for it. */
    warm: () => {
      if (!stopped) worker ??= spawn();
    },
    stop: async () => {
      stopped = true;
      for (const j of queue.splice(0)) j.resolve(E.left(["(document): the core is stopping"]));
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
    },
  };
};
export type ManifestChecker = ReturnType<typeof manifestChecker>;
