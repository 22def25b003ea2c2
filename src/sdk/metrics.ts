import type { Metrics, MetricsSnapshot } from "./types.js";

/**
 * A worker's counters and observations. Names come from handlers (plugin code): they are kept in
 * maps, never as keys of plain objects, so a name like `__proto__` is just a name.
 */
export const metricsRecorder = () => {
  const counters = new Map<string, number>();
  const observations = new Map<string, { count: number; sum: number; max: number }>();
  const api: Metrics = {
    increment: (name, by = 1) => void counters.set(name, (counters.get(name) ?? 0) + by),
    observe: (name, value) => {
      const o = observations.get(name) ?? { count: 0, sum: 0, max: Number.NEGATIVE_INFINITY };
      observations.set(name, { count: o.count + 1, sum: o.sum + value, max: Math.max(o.max, value) });
    },
  };
  const snapshot = (): MetricsSnapshot => {
    const c: Record<string, number> = Object.create(null);
    for (const [k, v] of counters) c[k] = v;
    const o: Record<string, { count: number; sum: number; max: number }> = Object.create(null);
    for (const [k, v] of observations) o[k] = { ...v };
    return { counters: c, observations: o };
  };
  return { api, snapshot };
};
