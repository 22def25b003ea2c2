import type { TaskEvent } from "../../events/task.js";
import { controlSubject, deadLetterSubject, Streams, tasksStream, taskSubject } from "../../contract/subjects.js";
import type { Task, TaskState } from "../decider.js";
import { assertNever } from "../../events/exhaustive.js";
import { msgIdOf, TaskHeaders } from "../../contract/wire.js";
import type { Control, DeadLetter } from "../../contract/wire.js";
import { retireQueued } from "./state.js";
import type { Ctx } from "./state.js";

/** How often, and how many times, a failed publish of a current attempt is tried again. */
export const REPUBLISH_EVERY_MS = 1000;
export const REPUBLISH_TRIES = 60;

/**
 * The side effects of appended task events, on TASKS_<plugin>, DEADLETTERS and the control
 * subject: what the log says must happen to the queues, done after the log says it. Owns
 * `state.queued` (the TASKS message of each current attempt).
 */
export const dispatch = (ctx: Ctx) => {
  const { state, io, log, clock } = ctx;

  /** Queues the task's current attempt on its plugin's TASKS stream (de-duplicated by `<taskId>.<attempt>`). */
  const publishTask = async (s: Task) => {
    const headers: Record<string, string> = {
      [TaskHeaders.TaskId]: s.taskId,
      [TaskHeaders.TaskType]: s.taskType,
      [TaskHeaders.Attempt]: String(s.attempt),
      [TaskHeaders.StartToCloseMs]: String(s.timeouts.startToCloseMs),
      ...(s.deadlineAt ? { [TaskHeaders.Deadline]: s.deadlineAt } : {}),
    };
    const ack = await io.publish(taskSubject(s.pluginId, s.taskType), JSON.stringify(s.params ?? null), { msgID: msgIdOf(s.taskId, s.attempt), headers });
    state.queued.set(s.taskId, { pluginId: s.pluginId, attempt: s.attempt, seq: ack.seq });
  };

  /** The task's state in the log (set once the command handler exists: it needs `effects`). */
  let load: ((taskId: string) => Promise<{ state: TaskState }>) | undefined;

  /** Retries a failed publish while the attempt is still the current, unstarted one. */
  const republishLater = (s: Task, tries = 0) => {
    if (state.stopped || tries >= REPUBLISH_TRIES) return;
    clock.after(
      REPUBLISH_EVERY_MS,
      () => {
        void (async () => {
          // Not open here: ended meanwhile (cancelled, timed out), or not folded in yet. The log
          // says which; the attempt as it was published must not be queued again after its end.
          const cur = state.open.get(s.taskId) ?? (load ? (await load(s.taskId)).state : s);
          if (state.stopped || cur.status !== "scheduled" || cur.attempt !== s.attempt) return;
          await publishTask(cur);
        })().catch(() => republishLater(s, tries + 1));
      },
      { unref: true },
    );
  };

  /** Publishes now, and again later if that fails. */
  const publishOrRetry = (s: Task) =>
    publishTask(s).catch((err) => {
      log.warn({ err, taskId: s.taskId }, "publishing a task message failed; retrying");
      republishLater(s);
    });

  /** Tells the plugin's instances to abort an attempt (the one holding it does). */
  const sendCancel = (pluginId: string, taskId: string, attempt: number, reason: string) => {
    io.notify(controlSubject(pluginId), JSON.stringify({ type: "cancel", taskId, attempt, reason } satisfies Control));
  };

  /** Takes an attempt back: its queued message is deleted and its holder told to abort. */
  const withdraw = async (s: Task, reason: string) => {
    const q = state.queued.get(s.taskId);
    if (q && q.attempt === s.attempt) {
      state.queued.delete(s.taskId);
      await io.deleteMessage(tasksStream(s.pluginId), q.seq).catch(() => undefined);
    } else if (state.retiring.has(s.pluginId)) {
      // The fold saw the end first and handed the message to the sweep: sweep now, not later,
      // so no instance pulls an attempt that was just taken back.
      await sweepRetired();
    }
    sendCancel(s.pluginId, s.taskId, s.attempt, reason);
  };

  /**
   * An attempt a worker ended (completed, failed) has no more use for its message: it is deleted,
   * so a worker that recorded its result but died before its ack does not get the finished task
   * again after ack_wait (up to max_deliver times, running its work again each time). Lazily:
   * nearly every such message is acked (so gone) moments later, and a delete per task was a
   * JetStream round trip on the hot path. `sweepRetired` deletes only what is still stored.
   */
  const retire = async (s: TaskState) => {
    if (s.status === "absent") return;
    if (state.queued.get(s.taskId)?.attempt === s.attempt) retireQueued(state, s.taskId);
  };

  /** One stream look-up per plugin: sequences below its first one were acked already. */
  const sweepRetired = async () => {
    for (const [pluginId, seqs] of [...state.retiring]) {
      state.retiring.delete(pluginId);
      const stream = tasksStream(pluginId);
      const info = await io.streamInfo(stream).catch(() => undefined);
      if (!info || info.messages === 0) continue;
      for (const seq of seqs) if (seq >= info.firstSeq && seq <= info.lastSeq) await io.deleteMessage(stream, seq).catch(() => undefined);
    }
  };

  /** The command handler's `afterAppend`: one commit's events, with the states before and after it. */
  const effects = async (before: TaskState, events: TaskEvent[], after: TaskState) => {
    let withdrawn = false;
    const withdrawOnce = async (reason: string) => {
      if (withdrawn || before.status === "absent") return;
      withdrawn = true;
      await withdraw(before, reason);
    };
    for (const e of events) {
      switch (e.type) {
        case "task.submitted":
        case "task.dispatched":
          await publishOrRetry(after as Task);
          break;
        case "task.failed":
          // A lost attempt was never acked by its (dead) holder: take its message back too.
          if (e.data.error.kind === "lost") await withdrawOnce("the worker instance holding it went silent");
          else if (e.data.error.kind === "withdrawn") await withdrawOnce("the plugin was disabled");
          else await retire(before);
          break;
        case "task.resubmitted": {
          const s = after as Task;
          await io
            .purge(Streams.DeadLetters, deadLetterSubject(s.pluginId, s.taskId))
            .catch((err) => log.warn({ err, taskId: s.taskId }, "removing the dead letter failed"));
          await publishOrRetry(s);
          break;
        }
        case "task.cancelled":
          await withdrawOnce(`cancelled${e.data.reason ? `: ${e.data.reason}` : ""}`);
          break;
        case "task.timed_out":
          await withdrawOnce(`timed out (${e.data.kind})`);
          break;
        case "task.dead_lettered": {
          const s = after as Task;
          const letter: DeadLetter = {
            taskId: s.taskId,
            pluginId: s.pluginId,
            taskType: s.taskType,
            params: s.params,
            attempts: e.data.attempts,
            failures: e.data.failures,
            at: e.data.at,
          };
          await io
            .publish(deadLetterSubject(s.pluginId, s.taskId), JSON.stringify(letter), { msgID: `${s.taskId}.dlq.${e.data.attempts}` })
            .then(() => undefined)
            .catch((err) => log.error({ err, taskId: s.taskId }, "publishing a dead letter failed (the event is in the log)"));
          break;
        }
        case "task.completed":
          await retire(before);
          break;
        // Nothing outside the log changes: the worker holds the attempt, or it only audits.
        case "task.started":
        case "task.progress":
        case "task.retry_scheduled":
        case "task.report_refused":
          break;
        default:
          assertNever(e, "task event");
      }
    }
  };

  const useLoad = (l: NonNullable<typeof load>) => {
    load = l;
  };

  return { publishTask, republishLater, sendCancel, withdraw, effects, sweepRetired, useLoad };
};
export type Dispatch = ReturnType<typeof dispatch>;
