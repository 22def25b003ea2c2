/**
 * Automatic disabling, pure: the outcomes of a plugin's attempts (completed = ok; failed or
 * start-to-close timed out = not ok) decide whether it is unhealthy:
 *
 * - `maxConsecutiveFailures` failures in a row, or
 * - within the last `window` ms, a failure ratio of at least `failureRatio`, counted only once
 *   the window holds at least `maxConsecutiveFailures` outcomes (one failure out of one is not a
 *   ratio worth disabling a plugin for).
 */
export type HealthPolicy = { readonly maxConsecutiveFailures: number; readonly failureRatio: number; readonly window: number };
/**
 * Outcomes are counted per slice of `window / 64` ms (oldest first), so recording one costs at
 * most 65 entries whatever the task rate: a list of every outcome was copied and filtered per
 * completed task, which made the core slower the longer it ran (bench/README.md, tasks).
 */
export type HealthState = { readonly consecutive: number; readonly outcomes: readonly { readonly at: number; readonly ok: number; readonly failed: number }[] };

export const healthy = (): HealthState => ({ consecutive: 0, outcomes: [] });

const sliceOf = (at: number, policy: HealthPolicy) => {
  const size = Math.max(1, Math.floor(policy.window / 64));
  return Math.floor(at / size) * size;
};

export const record = (s: HealthState, ok: boolean, at: number, policy: HealthPolicy): HealthState => {
  const slice = sliceOf(at, policy);
  const kept = s.outcomes.filter((o) => o.at > at - policy.window);
  const last = kept.at(-1);
  const outcomes =
    last && last.at === slice
      ? [...kept.slice(0, -1), { at: slice, ok: last.ok + (ok ? 1 : 0), failed: last.failed + (ok ? 0 : 1) }]
      : [...kept, { at: slice, ok: ok ? 1 : 0, failed: ok ? 0 : 1 }];
  return { consecutive: ok ? 0 : s.consecutive + 1, outcomes };
};

/** The reason to disable, or undefined while healthy. */
export const verdict = (s: HealthState, policy: HealthPolicy, now: number): string | undefined => {
  if (s.consecutive >= policy.maxConsecutiveFailures) return `${s.consecutive} consecutive task failures (limit ${policy.maxConsecutiveFailures})`;
  const recent = s.outcomes.filter((o) => o.at > now - policy.window);
  const total = recent.reduce((n, o) => n + o.ok + o.failed, 0);
  if (total >= policy.maxConsecutiveFailures) {
    const failed = recent.reduce((n, o) => n + o.failed, 0);
    const ratio = failed / total;
    if (ratio >= policy.failureRatio) {
      return `${failed} of the last ${total} tasks failed within ${Math.round(policy.window / 1000)}s (ratio ${ratio.toFixed(2)} >= ${policy.failureRatio})`;
    }
  }
  return undefined;
};
