import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { TASKS_STREAM_PREFIX } from "../../contract/subjects.js";
import { isoOf } from "./clock.js";
import type { Execute } from "./commands.js";
import { background } from "./state.js";
import type { Ctx } from "./state.js";

/**
 * JetStream's own word on a task message that will never be processed: a worker terminated it
 * (`+TERM`, what subjects.md tells it to do with a message it cannot read), or it was delivered
 * `max_deliver` times without an ack. Without this the task stayed `scheduled`/`running` for good
 * when its type has no schedule-to-start or deadline. The advisories are published in BUS by the
 * server (no plugin account imports them), on:
 */
// (Wildcards are whole tokens: `TASKS_*` would be a literal; the stream is checked in `taskAt`.)
export const TERMINATED_ADVISORIES = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.*.*";
export const MAX_DELIVERIES_ADVISORIES = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.*.*";

const Advisory = t.type({ stream: t.string, stream_seq: t.number });

export const advisories = (ctx: Ctx, deps: { execute: Execute }) => {
  const { state, clock, log } = ctx;

  /** The open task whose current attempt sits at `seq` of `stream`, if this core queued it. */
  const taskAt = (stream: string, seq: number) => {
    if (!stream.startsWith(TASKS_STREAM_PREFIX)) return undefined;
    for (const [taskId, q] of state.queued) {
      if (q.seq !== seq) continue;
      const s = state.open.get(taskId);
      if (s && `${TASKS_STREAM_PREFIX}${s.pluginId}` === stream && s.attempt === q.attempt) return s;
    }
    return undefined;
  };

  const on = (kind: "terminated" | "undeliverable", data: unknown) => {
    const d = Advisory.decode(data);
    if (E.isLeft(d)) return;
    const s = taskAt(d.right.stream, d.right.stream_seq);
    if (!s) return;
    // A terminated message is the worker refusing the input (never counted against its health);
    // one that no delivery could finish is the plugin's failure.
    const error =
      kind === "terminated"
        ? { message: "the worker terminated the task message (+TERM): it cannot process it", kind: "handler", retryable: false }
        : { message: `delivered ${ctx.config.maxDeliver} times without an ack: no worker finished it`, kind: "undeliverable", retryable: false };
    log.warn({ taskId: s.taskId, attempt: s.attempt, kind }, "a task message will never be processed; its attempt is failed");
    background(
      state,
      deps
        .execute(s.taskId, { type: "fail", attempt: s.attempt, at: isoOf(clock), error }, "system:jetstream")
        .catch((err) => log.warn({ err, taskId: s.taskId }, "failing a terminated attempt failed")),
    );
  };

  const start = () => {
    const subs = [
      ctx.io.subscribe(TERMINATED_ADVISORIES, {}, (m) => {
        try {
          on("terminated", m.json());
        } catch {
          /* not JSON: not an advisory */
        }
      }),
      ctx.io.subscribe(MAX_DELIVERIES_ADVISORIES, {}, (m) => {
        try {
          on("undeliverable", m.json());
        } catch {
          /* not JSON */
        }
      }),
    ];
    return () => subs.forEach((s) => s.unsubscribe());
  };

  return { on, start };
};
