/**
 * The one clock of the tasks runtime: every reading of the time and every timer goes through it,
 * so a test can drive the runtime with a fake clock (`test/tasks/runtime/fakes.ts`) and the
 * timers fire exactly when that clock says. `realClock` is the default and the only place that
 * reads the system's time.
 */
export type Cancel = () => void;

export type Clock = {
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /**
   * Calls `fn` once `ms` have passed on this clock (at once for `ms` <= 0); the answer cancels
   * it. `unref`: the timer does not keep the process alive (retries in the background).
   */
  readonly after: (ms: number, fn: () => void, opts?: { readonly unref?: boolean }) => Cancel;
};

/** Node's own timers take at most a 32-bit delay; a later timer is armed at that and re-armed. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * `setTimeout` for any delay: one over `max` (Node's 32-bit cap, ~24.8 days: a longer delay fired
 * at once, with a warning) waits `max`, then the rest.
 */
export const longTimeout = (max = MAX_DELAY): Clock["after"] => {
  const after: Clock["after"] = (ms, fn, opts) => {
    const wait = Math.max(0, ms);
    let cancel: Cancel | undefined;
    const h = setTimeout(
      () => {
        if (wait > max) cancel = after(wait - max, fn, opts);
        else fn();
      },
      Math.min(wait, max),
    );
    if (opts?.unref) h.unref();
    return () => {
      clearTimeout(h);
      cancel?.();
    };
  };
  return after;
};

export const realClock: Clock = {
  now: () => Date.now(),
  after: longTimeout(),
};

/** A time read from the clock, ISO-8601. */
export const isoAt = (ms: number) => new Date(ms).toISOString();
/** The clock's time as a Date (what event metadata and the store want). */
export const dateOf = (clock: Clock) => new Date(clock.now());
/** The clock's time, ISO-8601 (what commands carry as `at`). */
export const isoOf = (clock: Clock) => dateOf(clock).toISOString();

/** Calls `fn` every `ms` until cancelled (the first call after `ms`). */
export const every = (clock: Clock, ms: number, fn: () => void, opts?: { readonly unref?: boolean }): Cancel => {
  let cancelled = false;
  let cancel: Cancel | undefined;
  const schedule = () => {
    cancel = clock.after(
      ms,
      () => {
        if (cancelled) return;
        schedule();
        fn();
      },
      opts,
    );
  };
  schedule();
  return () => {
    cancelled = true;
    cancel?.();
  };
};

/** Resolves after `ms` on the clock. */
export const sleep = (clock: Clock, ms: number) => new Promise<void>((r) => clock.after(ms, r));
