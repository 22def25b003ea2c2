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
export type HealthState = { readonly consecutive: number; readonly outcomes: readonly { readonly at: number; readonly ok: boolean }[] };

export const healthy = (): HealthState => ({ consecutive: 0, outcomes: [] });

export const record = (s: HealthState, ok: boolean, at: number, policy: HealthPolicy): HealthState => ({
  consecutive: ok ? 0 : s.consecutive + 1,
  outcomes: [...s.outcomes.filter((o) => o.at > at - policy.window), { at, ok }],
});

/** The reason to disable, or undefined while healthy. */
export const verdict = (s: HealthState, policy: HealthPolicy, now: number): string | undefined => {
  if (s.consecutive >= policy.maxConsecutiveFailures) return `${s.consecutive} consecutive task failures (limit ${policy.maxConsecutiveFailures})`;
  const recent = s.outcomes.filter((o) => o.at > now - policy.window);
  if (recent.length >= policy.maxConsecutiveFailures) {
    const failed = recent.filter((o) => !o.ok).length;
    const ratio = failed / recent.length;
    if (ratio >= policy.failureRatio) {
      return `${failed} of the last ${recent.length} tasks failed within ${Math.round(policy.window / 1000)}s (ratio ${ratio.toFixed(2)} >= ${policy.failureRatio})`;
    }
  }
  return undefined;
};
