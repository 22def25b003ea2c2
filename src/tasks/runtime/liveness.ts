import * as E from "fp-ts/lib/Either.js";
import { Heartbeat } from "../../contract/wire.js";
import type { WorkerCommand } from "../workers.js";
import { every, isoOf } from "./clock.js";
import type { Cancel } from "./clock.js";
import type { Execute } from "./commands.js";
import { background } from "./state.js";
import type { Ctx } from "./state.js";

/** The shortest silence that makes an instance offline, whatever period it declares (a GC pause is not a death). */
export const HEARTBEAT_TIMEOUT_FLOOR_MS = 2_000;
/** The longest: an instance declaring a long period still has its attempts handed over within two minutes. */
export const HEARTBEAT_TIMEOUT_CEILING_MS = 120_000;

/** The silence after which an instance that declared `intervalMs` is offline: two periods, clamped; undefined: none declared (or nonsense). */
export const timeoutOf = (intervalMs: number | undefined): number | undefined =>
  intervalMs === undefined || !Number.isFinite(intervalMs) || intervalMs <= 0
    ? undefined
    : Math.min(HEARTBEAT_TIMEOUT_CEILING_MS, Math.max(HEARTBEAT_TIMEOUT_FLOOR_MS, Math.round(2 * intervalMs)));

/**
 * Worker liveness from heartbeats (`hb.<plugin>.<instance>`): an instance's first heartbeat
 * records it online, a goodbye (`state: stopping`) or silence records it
 * offline (silence: two of the instance's declared heartbeat periods, `timeoutOf`, else the core's
 * `heartbeatTimeoutMs`), and the attempts a silent instance was running are failed as `lost` (retried per
 * policy, not counted against the plugin's health). Owns `state.seen` and `state.pendingOnline`;
 * reads `state.workers` (the worker fold) and `state.open`.
 */
export const liveness = (ctx: Ctx, deps: { execute: Execute; executeWorker: (cmd: WorkerCommand) => Promise<boolean> }) => {
  const { state, clock, log, config } = ctx;

  /** Offline: its running attempts are lost (a goodbye loses none: the instance finished or gave them back). */
  const goOffline = async (pluginId: string, instance: string, reason: "silent" | "stopped") => {
    try {
      const changed = await deps.executeWorker({ type: "lost", pluginId, instance, reason, at: isoOf(clock) });
      if (!changed || reason === "stopped") return;
      for (const s of [...state.open.values()]) {
        if (s.pluginId === pluginId && s.status === "running" && s.instance === instance) {
          await deps.execute(
            s.taskId,
            { type: "fail", attempt: s.attempt, instance, at: isoOf(clock), error: { message: `worker instance ${instance} went silent`, kind: "lost" } },
            "system:health",
          );
        }
      }
    } catch (err) {
      log.warn({ err, pluginId, instance }, "recording a worker offline failed");
    }
  };

  const onHeartbeat = (subject: string, data: unknown) => {
    const [, pluginId = "", instance = ""] = subject.split(".");
    const d = Heartbeat.decode(data);
    if (E.isLeft(d) || d.right.instance !== instance) {
      log.warn({ subject }, "malformed heartbeat dropped");
      return;
    }
    const key = `${pluginId}.${instance}`;
    const timeoutMs = timeoutOf(d.right.intervalMs);
    state.seen.set(key, { at: clock.now(), pluginId, instance, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    const online = state.workers.get(pluginId)?.online.has(instance) ?? false;
    if (d.right.state === "stopping") {
      if (online) background(state, goOffline(pluginId, instance, "stopped"));
      return;
    }
    if (online || state.pendingOnline.has(key)) return;
    // A flood of made-up instance names (each one a worker.online event for good) stops at the
    // plugin's cap; the instances already online keep their liveness.
    const known = (state.workers.get(pluginId)?.online.size ?? 0) + [...state.pendingOnline].filter((k) => k.startsWith(`${pluginId}.`)).length;
    if (known >= config.maxInstancesPerPlugin) {
      const last = state.capWarned.get(pluginId) ?? -Infinity;
      if (clock.now() - last > 60_000) {
        state.capWarned.set(pluginId, clock.now());
        log.warn(
          { pluginId, instance, limit: config.maxInstancesPerPlugin },
          "heartbeat of a new instance dropped: the plugin is at its limit of online instances",
        );
      }
      return;
    }
    state.pendingOnline.add(key);
    background(
      state,
      deps
        .executeWorker({ type: "heartbeat", pluginId, instance, version: d.right.version, at: isoOf(clock) })
        .catch((err) => log.warn({ err, pluginId, instance }, "recording a worker online failed"))
        .finally(() => state.pendingOnline.delete(key)),
    );
  };

  /** When the running sweeper last swept (undefined: not started; a direct `sweep()` has no schedule to be late on). */
  let lastSweep: number | undefined;
  /**
   * Records offline every online instance not heard from within the timeout (never heard from:
   * since the start). A sweep that runs late means this core's event loop stalled: the heartbeats
   * that arrived meanwhile are not read yet, so silence is counted from now, not from the stall.
   */
  const sweep = () => {
    const now = clock.now();
    const stalledMs = lastSweep === undefined ? 0 : now - lastSweep;
    if (lastSweep !== undefined) lastSweep = now;
    if (stalledMs > sweepEvery() * 3) {
      log.warn({ stalledMs }, "the liveness sweep ran late (the core stalled); instances get a fresh timeout");
      for (const v of state.seen.values()) v.at = Math.max(v.at, now);
      for (const [pluginId, w] of state.workers)
        for (const instance of w.online.keys())
          if (!state.seen.has(`${pluginId}.${instance}`)) state.seen.set(`${pluginId}.${instance}`, { at: now, pluginId, instance });
      return;
    }
    for (const [pluginId, w] of state.workers) {
      for (const instance of w.online.keys()) {
        const key = `${pluginId}.${instance}`;
        const seen = state.seen.get(key);
        const last = seen?.at ?? state.startedAt;
        if (now - last > (seen?.timeoutMs ?? config.heartbeatTimeoutMs)) {
          state.seen.set(key, { at: now, pluginId, instance, ...(seen?.timeoutMs !== undefined ? { timeoutMs: seen.timeoutMs } : {}) });
          background(state, goOffline(pluginId, instance, "silent"));
        }
      }
    }
  };

  /** Five sweeps per timeout: a dead instance is found at most a fifth of the timeout late. */
  const sweepEvery = () => Math.max(100, Math.floor(config.heartbeatTimeoutMs / 5));
  const startSweeper = (): Cancel => {
    lastSweep = clock.now();
    return every(clock, sweepEvery(), sweep, { unref: true });
  };

  return { onHeartbeat, goOffline, sweep, startSweeper };
};
export type Liveness = ReturnType<typeof liveness>;
