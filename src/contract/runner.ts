import * as t from "io-ts";

/** The runner's answers (`worker.*` endpoints): one plugin's instances as the runner supervises them. */

const Nullable = <C extends t.Mixed>(c: C) => t.union([c, t.null]);

export const RunnerExit = t.type({ code: Nullable(t.number), signal: Nullable(t.string), at: t.string });

export const RunnerInstanceRow = t.type({
  instance: t.string,
  version: t.string,
  /** pid (`process`) or container id (`docker`); empty when it does not run. */
  ref: t.string,
  /** The instance name its worker reports (heartbeats, the workers view): new at every start. */
  worker: t.string,
  startedAt: t.string,
  running: t.boolean,
  adopted: t.boolean,
  restarts: t.number,
  lastExit: Nullable(RunnerExit),
});
export type RunnerInstanceRow = t.TypeOf<typeof RunnerInstanceRow>;

export const RunnerPluginState = t.type({
  pluginId: t.string,
  desired: t.number,
  running: t.number,
  instances: t.array(RunnerInstanceRow),
  problem: Nullable(t.string),
});
export type RunnerPluginState = t.TypeOf<typeof RunnerPluginState>;

export const RunnerPs = t.type({ backend: t.string, healthy: t.boolean, detail: t.string, plugins: t.array(RunnerPluginState) });
export type RunnerPs = t.TypeOf<typeof RunnerPs>;

export const RunnerLogs = t.type({ instance: t.string, text: t.string, next: t.number });
export type RunnerLogs = t.TypeOf<typeof RunnerLogs>;

/** The runner's side of a row of the `workers` view (folded from `runner.*` events): what it started, beside the heartbeats. */
export const WorkerRunnerState = t.type({
  desired: Nullable(t.number),
  instances: t.record(
    t.string,
    t.type({ worker: t.string, ref: t.string, version: t.string, startedAt: t.string, running: t.boolean, restarts: t.number, lastExit: Nullable(RunnerExit) }),
  ),
  crashLoop: Nullable(t.type({ at: t.string, reason: t.string })),
});
export type WorkerRunnerState = t.TypeOf<typeof WorkerRunnerState>;
