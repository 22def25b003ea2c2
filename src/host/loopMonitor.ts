import { monitorEventLoopDelay } from "node:perf_hooks";
import type { Logger } from "pino";

/** A delay of the event loop this long is logged (warn): the core answered nothing meanwhile. */
export const LOOP_STALL_WARN_MS = 500;

/**
 * Watches the core's event loop (`perf_hooks.monitorEventLoopDelay`): every `everyMs` the worst
 * delay of the period is read, and a period whose worst delay reached `warnMs` is logged with it
 * (`event loop stalled`, `maxMs`, `p99Ms`), so that a slow answer can be told apart from a slow
 * machine or server. Costs one timer; the histogram is reset each period.
 */
export const startLoopMonitor = (log: Logger, o: { everyMs?: number; warnMs?: number } = {}) => {
  const warnMs = o.warnMs ?? LOOP_STALL_WARN_MS;
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  const timer = setInterval(() => {
    const maxMs = Math.round(h.max / 1e6);
    if (maxMs >= warnMs) log.warn({ maxMs, p99Ms: Math.round(h.percentile(99) / 1e6) }, "event loop stalled");
    h.reset();
  }, o.everyMs ?? 1000);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      h.disable();
    },
  };
};
