import type { RunView } from "../contract/pipeline.js";

/** A pipeline run that ended without completing: `run` is its last state (each step's status and error). */
export class PipelineFailedError extends Error {
  override name = "PipelineFailedError";
  constructor(readonly run: RunView) {
    super(`pipeline run ${run.runId} of ${run.name} ${run.status}${run.error ? `: ${run.error}` : ""}`);
  }
}

/** `result({ timeoutMs })` ran out while the run was still going (the run goes on). */
export class PipelineTimeoutError extends Error {
  override name = "PipelineTimeoutError";
  constructor(
    readonly runId: string,
    readonly timeoutMs: number,
  ) {
    super(`pipeline run ${runId} did not end within ${timeoutMs} ms`);
  }
}

/** What a handle needs of its client: one long poll of the run. */
export type PipelineHost = { readonly getRun: (runId: string, waitMs: number) => Promise<RunView> };

const WAIT_SLICE_MS = 30_000;

/**
 * A run of a pipeline started by this application (`client.runPipeline`). `result()` waits for its
 * end (long polls of `app.call.run`, repeated across reconnects): the last completed step's result,
 * or `PipelineFailedError` when the run failed or was cancelled.
 */
export class PipelineHandle<Result = unknown> {
  constructor(
    private readonly host: PipelineHost,
    readonly runId: string,
    /** The run as the core answered the start (or the wait). */
    readonly started: RunView,
  ) {}

  /** The run now: status, and each step's status, task id and result. */
  get(): Promise<RunView> {
    return this.host.getRun(this.runId, 0);
  }

  async result(opts: { timeoutMs?: number } = {}): Promise<Result> {
    const until = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Infinity;
    let v = this.started;
    while (v.status === "running") {
      const left = until - Date.now();
      if (left <= 0) throw new PipelineTimeoutError(this.runId, opts.timeoutMs!);
      v = await this.host.getRun(this.runId, Math.min(WAIT_SLICE_MS, left));
    }
    if (v.status === "completed") return v.result as Result;
    throw new PipelineFailedError(v);
  }
}
