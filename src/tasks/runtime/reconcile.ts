import { pluginTasks, RESULTS_CONSUMER, Streams, tasksStream } from "../../contract/subjects.js";
import { msgIdOf, TaskHeaders } from "../../contract/wire.js";
import { sleep } from "./clock.js";
import type { Dispatch } from "./dispatch.js";
import type { Ctx } from "./state.js";

/** How often the start-up reconcile looks whether the RESULTS backlog is handled. */
export const BACKLOG_POLL_MS = 100;

/**
 * At start: finds which attempts are queued on TASKS (so they can be withdrawn later, into
 * `state.queued`) and queues again any scheduled attempt that is not (the core stopped between
 * the append and the publish). Runs after the RESULTS backlog is handled (or `ackWaitMs` passed),
 * so an attempt a worker finished while the core was away is not sent twice.
 */
export const reconcile = (ctx: Ctx, dispatch: Dispatch) => {
  const { state, io, clock, log, config } = ctx;

  const backlogHandled = async () => {
    const end = clock.now() + config.ackWaitMs;
    while (clock.now() < end && !state.stopped) {
      const ci = await io.consumerInfo(Streams.Results, RESULTS_CONSUMER);
      if (!ci) throw new Error(`no ${RESULTS_CONSUMER} consumer on ${Streams.Results}`);
      if (ci.numPending === 0 && ci.numAckPending === 0) return;
      await sleep(clock, BACKLOG_POLL_MS);
    }
  };

  /** The `<taskId>.<attempt>` of every message on the plugins' TASKS streams (and `state.queued` from them). */
  const queuedAttempts = async () => {
    const present = new Set<string>();
    for (const p of state.providers.values()) {
      if (p.status === "pending" || p.manifest.provides.length === 0) continue;
      const stream = tasksStream(p.pluginId);
      const info = await io.streamInfo(stream).catch(() => undefined);
      if (!info) continue;
      let seq = info.firstSeq;
      while (info.messages > 0 && seq <= info.lastSeq) {
        const m = await io.nextMessage(stream, seq, pluginTasks(p.pluginId)).catch(() => undefined);
        if (!m) break;
        const id = m.header(TaskHeaders.TaskId);
        const attempt = Number(m.header(TaskHeaders.Attempt));
        if (id) {
          present.add(msgIdOf(id, attempt));
          state.queued.set(id, { pluginId: p.pluginId, attempt, seq: m.seq });
        }
        seq = m.seq + 1;
      }
    }
    return present;
  };

  return async () => {
    await backlogHandled();
    const present = await queuedAttempts();
    if (state.stopped) return;
    let requeued = 0;
    for (const t of [...state.open.values()]) {
      if (t.status === "scheduled" && !present.has(msgIdOf(t.taskId, t.attempt))) {
        await dispatch.publishTask(t).catch(() => dispatch.republishLater(t));
        requeued++;
      }
    }
    if (requeued > 0) log.warn({ requeued }, "queued again the attempts that were recorded but never published");
  };
};
