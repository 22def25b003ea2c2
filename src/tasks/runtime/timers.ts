import * as E from "fp-ts/lib/Either.js";
import { dueTimer, timerCommand } from "../decider.js";
import type { Task } from "../decider.js";
import { isoOf } from "./clock.js";
import type { Execute } from "./commands.js";
import type { Ctx } from "./state.js";

/** A fired timer fires this long after its due time, so the decider (which re-checks it) agrees it is due. */
export const TIMER_SLACK_MS = 5;
/** A timer whose command failed (the store was unavailable) fires again after this. */
export const TIMER_RETRY_MS = 1000;

/**
 * One timer per open task, on the runtime's clock: the task's next timeout (schedule-to-start,
 * start-to-close, deadline) or, while it waits for a retry, the dispatch of its next attempt
 * (`dueTimer`). When it fires, the matching command goes through the decider, which checks on
 * the log's state that it is still due. Owns `state.timers`.
 */
export const timers = (ctx: Ctx, execute: Execute) => {
  const { state, clock, log } = ctx;

  const disarm = (taskId: string) => {
    state.timers.get(taskId)?.();
    state.timers.delete(taskId);
  };

  /** When the task's timer is due: `dueTimer`, with start-to-close counted from the last keep-alive. */
  const dueAt = (s: Task, d: NonNullable<ReturnType<typeof dueTimer>>) => {
    const at = Date.parse(d.at);
    const la = d.kind === "start_to_close" ? state.lastActive.get(s.taskId) : undefined;
    return la !== undefined ? Math.max(at, la + s.timeouts.startToCloseMs) : at;
  };

  /** (Re-)arms the task's timer from its state; an ended task gets none. */
  const arm = (s: Task) => {
    disarm(s.taskId);
    const d = dueTimer(s);
    if (!d || state.stopped) return;
    const delay = Math.max(0, dueAt(s, d) - clock.now()) + TIMER_SLACK_MS;
    state.timers.set(
      s.taskId,
      clock.after(delay, () => {
        state.timers.delete(s.taskId);
        void fire(s.taskId);
      }),
    );
  };

  const fire = async (taskId: string) => {
    const s = state.open.get(taskId);
    if (!s || state.stopped) return;
    const d = dueTimer(s);
    if (!d) return;
    // Not due yet: a keep-alive came in since the timer was armed, or a clock fired early.
    if (dueAt(s, d) > clock.now()) return arm(s);
    try {
      const r = await execute(taskId, timerCommand(s, d, isoOf(clock)), "system:tasks");
      if (E.isLeft(r)) log.debug({ taskId, rejection: r.left }, "timer no longer applies");
    } catch (err) {
      log.warn({ err, taskId }, "timer action failed; retrying shortly");
      if (!state.stopped) clock.after(TIMER_RETRY_MS, () => void fire(taskId), { unref: true });
    }
  };

  /** Cancels every timer (at stop). */
  const disarmAll = () => {
    for (const cancel of state.timers.values()) cancel();
    state.timers.clear();
  };

  return { arm, disarm, fire, disarmAll };
};
export type Timers = ReturnType<typeof timers>;
