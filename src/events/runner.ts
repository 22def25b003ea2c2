import * as t from "io-ts";

/**
 * What the core's runner did with a plugin's worker processes or containers, on the stream
 * `runner-<pluginId>` (subject `ev.runner.<pluginId>`). Appended by the runner (`src/runner/`)
 * only: every start, exit, restart and crash loop of an instance it supervises, and every change
 * of how many instances an operator wants. Liveness as the workers report it stays on `worker-*`.
 */

/** How many instances of a plugin should run (`worker start|stop|scale`, or `run.instances` at approval). */
export const RunnerScaled = t.type({
  type: t.literal("runner.scaled"),
  data: t.type({ pluginId: t.string, instances: t.number, actor: t.string, at: t.string }),
});
export type RunnerScaled = t.TypeOf<typeof RunnerScaled>;

/** An instance was started (`adopted`: found running after a core restart and kept). */
export const RunnerInstanceStarted = t.type({
  type: t.literal("runner.instance.started"),
  data: t.type({
    pluginId: t.string,
    instance: t.string,
    backend: t.string,
    /** The process id (`process`) or container id (`docker`). */
    ref: t.string,
    /** The instance name the worker reports in its heartbeats (the slot and its start time). */
    worker: t.string,
    version: t.string,
    adopted: t.boolean,
    at: t.string,
  }),
});
export type RunnerInstanceStarted = t.TypeOf<typeof RunnerInstanceStarted>;

/** An instance ended: its exit code, or the signal that ended it (both null when not known, e.g. an adopted process). */
export const RunnerInstanceExited = t.type({
  type: t.literal("runner.instance.exited"),
  data: t.type({
    pluginId: t.string,
    instance: t.string,
    code: t.union([t.number, t.null]),
    signal: t.union([t.string, t.null]),
    /** Whether the runner asked it to stop (a stop, a scale down, a disable, the core stopping). */
    requested: t.boolean,
    at: t.string,
  }),
});
export type RunnerInstanceExited = t.TypeOf<typeof RunnerInstanceExited>;

/** An instance that exited on its own is started again after `delayMs` (its `restarts`-th restart). */
export const RunnerInstanceRestarted = t.type({
  type: t.literal("runner.instance.restarted"),
  data: t.type({ pluginId: t.string, instance: t.string, restarts: t.number, delayMs: t.number, at: t.string }),
});
export type RunnerInstanceRestarted = t.TypeOf<typeof RunnerInstanceRestarted>;

/** Instances of the plugin exited `restarts` times within `windowMs`: the runner gave up and disabled it. */
export const RunnerCrashLoop = t.type({
  type: t.literal("runner.instance.crash_loop"),
  data: t.type({ pluginId: t.string, instance: t.string, restarts: t.number, windowMs: t.number, reason: t.string, at: t.string }),
});
export type RunnerCrashLoop = t.TypeOf<typeof RunnerCrashLoop>;

export const RunnerEvent = t.union([RunnerScaled, RunnerInstanceStarted, RunnerInstanceExited, RunnerInstanceRestarted, RunnerCrashLoop]);
export type RunnerEvent = t.TypeOf<typeof RunnerEvent>;

/** Stream category of the runner's events (`ev.runner.>`). */
export const RUNNER_CATEGORY = "runner";
/** Event-store stream of one plugin's runner events. */
export const runnerStreamName = (pluginId: string) => `${RUNNER_CATEGORY}-${pluginId}`;
