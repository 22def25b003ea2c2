import { isoOf } from "./clock.js";
import type { Execute } from "./commands.js";
import { background } from "./state.js";
import type { Ctx } from "./state.js";

/**
 * What becomes of a plugin's tasks when it is disabled (by an operator or by its health): its
 * credentials are revoked, so no instance can finish what it runs. Each running attempt is failed
 * at once as `withdrawn` (not charged to the retry policy, not counted against health): the next
 * attempt is queued at once and waits on the plugin's stream with the ones that were queued
 * already. They run when the plugin is enabled again, or end as their `scheduleToStart` or
 * `deadline` says; a type with neither waits until the enable, a cancel, or the plugin's removal.
 */
export const disabling = (ctx: Ctx, deps: { execute: Execute }) => {
  const { state, clock, log } = ctx;
  return (pluginId: string) => {
    for (const s of [...state.open.values()]) {
      if (s.pluginId !== pluginId || s.status !== "running") continue;
      const error = { message: `plugin ${pluginId} was disabled while attempt ${s.attempt} ran`, kind: "withdrawn" };
      background(
        state,
        deps
          .execute(s.taskId, { type: "fail", attempt: s.attempt, at: isoOf(clock), error }, "system:tasks")
          .catch((err) => log.warn({ err, taskId: s.taskId }, "handing back an attempt of a disabled plugin failed")),
      );
    }
  };
};
