import { pino } from "pino";
import type { Logger } from "pino";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { Metrics, TaskContext, TaskHandler, TaskInfo } from "../sdk/worker.js";
import { ArtifactError } from "../sdk/artifacts.js";
import type { Artifacts } from "../sdk/artifacts.js";
import { artifactIdOf, artifactRef } from "../contract/artifacts.js";

/** What a handler did while it ran under `MockTaskEnvironment`. */
export type MockTaskRecord = {
  readonly progress: { done: number; total: number; message?: string }[];
  /** How often it called `working()`. */
  readonly working: number;
  readonly counters: Record<string, number>;
  readonly observations: Record<string, number[]>;
};

/**
 * Runs a task handler without a bus, for a plugin's unit tests (after Temporal's
 * `MockActivityEnvironment`): the handler gets a real `TaskContext` whose progress, keep-alives
 * and metrics are recorded, and whose signal the test can abort.
 *
 * ```ts
 * const env = new MockTaskEnvironment({ type: "text.wordcount" });
 * const result = await env.run(countWords, { text: "a b c" });
 * assert.deepEqual(result, { words: 3 });
 * assert.equal(env.record.progress.length, 1);
 * ```
 */
export class MockTaskEnvironment {
  readonly record: MockTaskRecord = { progress: [], working: 0, counters: Object.create(null), observations: Object.create(null) };
  readonly task: TaskInfo;
  private readonly controller = new AbortController();
  private readonly log: Logger;

  private readonly secrets: Readonly<Record<string, string>>;
  /** What `ctx.artifacts` holds, by id (the handler's puts land here too). */
  readonly artifacts = new Map<string, Buffer>();

  /** `secrets`: what `ctx.secret(name)` answers (a name not listed rejects, as an ungranted read does). */
  private readonly config: Readonly<Record<string, unknown>>;

  /** `config`: what `ctx.config` holds. */
  constructor(task: Partial<TaskInfo> & { type: string }, opts: { logger?: Logger; secrets?: Record<string, string>; config?: Record<string, unknown> } = {}) {
    this.task = { id: "mock-task", attempt: 1, delivery: 1, plugin: "mock", instance: "mock-1", ...task };
    this.log = opts.logger ?? pino({ level: "silent" });
    this.secrets = { ...opts.secrets };
    this.config = Object.freeze({ ...opts.config });
  }

  /** Stores bytes as `ctx.artifacts.put` would, and answers their reference (to put in params). */
  addArtifact(data: Buffer | string): string {
    const b = Buffer.from(data);
    const id = createHash("sha256").update(b).digest("hex");
    this.artifacts.set(id, b);
    return artifactRef(id);
  }

  private artifactsApi(): Artifacts {
    const read = (ref: string) => {
      const b = this.artifacts.get(artifactIdOf(ref) ?? "");
      if (!b) throw new ArtifactError("NotFound", `no artifact ${ref} in this mock task (add it with addArtifact)`);
      return b;
    };
    return {
      put: async (data) => {
        const parts: Buffer[] = [];
        for await (const c of typeof data === "string" || data instanceof Uint8Array ? [data] : data) parts.push(Buffer.from(c));
        return this.addArtifact(Buffer.concat(parts));
      },
      get: (ref) => Readable.from([read(ref)]),
      getBuffer: async (ref) => read(ref),
    };
  }

  /** Aborts the handler's signal, as a cancellation or a timeout from the core would. */
  cancel(reason = "cancelled"): void {
    this.controller.abort(new Error(reason));
  }

  /** Runs the handler once with `params`; resolves with its result or rejects with its error. */
  async run<P, R>(handler: TaskHandler<P, R>, params: P): Promise<R> {
    const rec = this.record as {
      progress: MockTaskRecord["progress"];
      working: number;
      counters: Record<string, number>;
      observations: Record<string, number[]>;
    };
    const metrics: Metrics = {
      increment: (name, by = 1) => void (rec.counters[name] = (rec.counters[name] ?? 0) + by),
      observe: (name, value) => void (rec.observations[name] ??= []).push(value),
    };
    const ctx: TaskContext = {
      task: this.task,
      log: this.log.child({ taskId: this.task.id }),
      signal: this.controller.signal,
      progress: (done, total, message) => void rec.progress.push({ done, total, ...(message !== undefined ? { message } : {}) }),
      working: () => void rec.working++,
      metrics,
      config: this.config,
      artifacts: this.artifactsApi(),
      secret: async (name) => {
        if (!Object.hasOwn(this.secrets, name)) throw new Error(`secret ${name} is not granted to this mock task (pass it in opts.secrets)`);
        return this.secrets[name]!;
      },
    };
    return handler(params, ctx);
  }
}
