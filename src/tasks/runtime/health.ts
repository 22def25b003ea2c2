import type { TaskEvent } from "../../events/task.js";
import type { Task } from "../decider.js";
import { healthy, record, verdict } from "../health.js";
import { background } from "./state.js";
import type { Ctx } from "./state.js";

/**
 * What an event says about its plugin's health: an outcome that counts, or nothing. The plugin's
 * own faults count: a handler that throws or crashes (a retryable failure), a result that breaks
 * its own schema, an attempt that overruns start-to-close. What is not its fault never counts:
 * input the worker refused as unusable (a non-retryable handler failure: otherwise any submitter
 * could disable any plugin with a few bad requests), an instance that died (`lost`), and the
 * queue's timeouts (schedule-to-start, deadline).
 */
export const outcomeOf = (e: TaskEvent): "ok" | "failed" | undefined => {
  if (e.type === "task.completed") return "ok";
  if (e.type === "task.failed") {
    const err = e.data.error;
    if (err.kind === "lost" || err.kind === "withdrawn") return undefined;
    if (err.kind === "handler" && err.retryable === false) return undefined;
    return "failed";
  }
  if (e.type === "task.timed_out") return e.data.kind === "start_to_close" ? "failed" : undefined;
  return undefined;
};

/** Said in every automatic `plugin.disabled` reason, so the log tells what was counted. */
export const COUNTED =
  "counted: handler errors and crashes, invalid results, start-to-close timeouts; never counted: input the worker refused (non-retryable), lost instances, queue timeouts";

/**
 * Automatic disabling: the outcomes of an active plugin's attempts, folded per plugin
 * (`state.health`, `state.disabling`), and the injected `disablePlugin` when the policy of its
 * manifest says it is unhealthy (the plugins context's own disable: keys revoked as an
 * operator's disable does).
 */
export const health = (ctx: Ctx, disablePlugin: (pluginId: string, reason: string) => Promise<void>) => {
  const { state, clock, log } = ctx;

  /** Counts the outcome an event of the task `s` carries, and disables its plugin on a bad verdict. */
  const observe = (s: Task, e: TaskEvent) => {
    const outcome = outcomeOf(e);
    if (!outcome) return;
    const p = state.providers.get(s.pluginId);
    if (!p || p.status !== "active") return;
    const policy = p.manifest.health;
    const now = clock.now();
    const h = record(state.health.get(s.pluginId) ?? healthy(), outcome === "ok", now, policy);
    state.health.set(s.pluginId, h);
    const reason = verdict(h, policy, now);
    if (reason && !state.disabling.has(s.pluginId)) {
      state.disabling.add(s.pluginId);
      background(
        state,
        disablePlugin(s.pluginId, `automatic: ${reason} (${COUNTED})`)
          .then(() => log.warn({ pluginId: s.pluginId, reason }, "plugin disabled automatically"))
          .catch((err) => log.error({ err, pluginId: s.pluginId }, "automatic disable failed"))
          .finally(() => state.disabling.delete(s.pluginId)),
      );
    }
  };

  /** A plugin enabled or disabled starts with a clean record. */
  const reset = (pluginId: string) => {
    state.health.delete(pluginId);
  };

  return { observe, reset };
};
export type Health = ReturnType<typeof health>;
