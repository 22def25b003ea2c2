import type { Exit, RunSpec } from "./ports.js";

/**
 * The restart decision, pure: after an instance exited on its own, restart it (after which delay)
 * or give up on the plugin (a crash loop). `recent` are the times (ms) of this plugin's earlier
 * unrequested exits; the caller keeps them.
 */
export type RestartDecision =
  | { readonly _tag: "Restart"; readonly delayMs: number; readonly restarts: number }
  | { readonly _tag: "Leave"; readonly why: string }
  | { readonly _tag: "CrashLoop"; readonly restarts: number; readonly windowMs: number; readonly reason: string };

export const failed = (exit: Exit) => exit.signal !== null || (exit.code !== null && exit.code !== 0);

export const decideRestart = (run: RunSpec, exit: Exit, recent: readonly number[], now: number): RestartDecision => {
  const { mode, backoff, crashLoop } = run.restart;
  if (mode === "never") return { _tag: "Leave", why: "restart: never" };
  if (mode === "on-failure" && !failed(exit)) return { _tag: "Leave", why: "exited 0 and restart is on-failure" };
  const inWindow = recent.filter((t) => now - t <= crashLoop.window).length + 1;
  if (inWindow > crashLoop.restarts) {
    const how = exit.signal !== null ? `signal ${exit.signal}` : exit.code !== null ? `code ${exit.code}` : "an unknown status";
    return {
      _tag: "CrashLoop",
      restarts: inWindow,
      windowMs: crashLoop.window,
      reason: `crash loop: its workers exited ${inWindow} times within ${Math.round(crashLoop.window / 1000)}s (the last with ${how}); see \`ganglion worker logs\``,
    };
  }
  const delayMs = backoff.length === 0 ? 0 : backoff[Math.min(inWindow - 1, backoff.length - 1)]!;
  return { _tag: "Restart", delayMs, restarts: inWindow };
};
