import { assertNever } from "../events/exhaustive.js";
import type { RunnerEvent } from "../events/runner.js";
import type { WorkerRow } from "../contract/responses.js";
import type { WorkerRunnerState } from "../contract/runner.js";

/**
 * The runner's events folded into a `workers` row (its `runner` field): per instance slot the
 * worker name its heartbeats carry, pid or container, start, restarts and last exit; the wanted
 * count; the crash loop that disabled the plugin, if any.
 */
const none: WorkerRunnerState = { desired: null, instances: {}, crashLoop: null };

export const foldRunner = (row: WorkerRow, e: RunnerEvent): WorkerRow => {
  const r = row.runner ?? none;
  // Instance names come from the log the core wrote, but read them as own keys all the same.
  const cur = (i: string) => (Object.hasOwn(r.instances, i) ? r.instances[i] : undefined);
  const put = (i: string, v: WorkerRunnerState["instances"][string]) => ({
    ...row,
    updatedAt: e.data.at,
    runner: { ...r, instances: Object.fromEntries(Object.entries({ ...r.instances, [i]: v }).sort(([a], [b]) => (a < b ? -1 : 1))) },
  });
  switch (e.type) {
    case "runner.scaled":
      return { ...row, updatedAt: e.data.at, runner: { ...r, desired: e.data.instances, ...(e.data.instances > 0 ? { crashLoop: null } : {}) } };
    case "runner.instance.started": {
      const { instance, worker, ref, version, at } = e.data;
      return put(instance, {
        worker,
        ref,
        version,
        startedAt: at,
        running: true,
        restarts: cur(instance)?.restarts ?? 0,
        lastExit: cur(instance)?.lastExit ?? null,
      });
    }
    case "runner.instance.exited": {
      const c = cur(e.data.instance);
      if (!c) return row;
      return put(e.data.instance, { ...c, running: false, lastExit: { code: e.data.code, signal: e.data.signal, at: e.data.at } });
    }
    case "runner.instance.restarted": {
      const c = cur(e.data.instance);
      return c ? put(e.data.instance, { ...c, restarts: e.data.restarts }) : row;
    }
    case "runner.instance.crash_loop":
      return { ...row, updatedAt: e.data.at, runner: { ...r, crashLoop: { at: e.data.at, reason: e.data.reason } } };
    default:
      return assertNever(e, "runner event");
  }
};
