import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import type { TaskEvent } from "../events/task.js";
import type { AfterOp, Decoded, View } from "./view.js";

/**
 * Retention of finished tasks' rows in the `tasks` view. The log keeps every task's history
 * (`views.task`, `ganglion audit` read it there); the view keeps every open task and the
 * `dead_lettered` ones (they can be resubmitted: the dead-letter queue stays until dealt with),
 * and the rows of `completed` and `cancelled` tasks within the rule:
 *
 * - `keepFinished`: at most this many such rows, the most recently finished (null: no cap);
 * - `maxAgeMs`: a row goes once the log's time (the `at` of the task event being folded) is
 *   more than this past its `finishedAt` (null: no age limit).
 *
 * Both are decided by the log alone (event order and event times, never a clock), so a replay
 * gives the same rows and `projections verify` compares equal. Finished tasks queue up, in the
 * order they finished, in internal entries of the view (`_ret.n.<n>`, with `_ret.q` = the
 * queue's head and tail): each event evicts from the head what the rule says, O(1) per event.
 */
export const TaskRetention = t.type({
  keepFinished: t.union([t.number, t.null]),
  maxAgeMs: t.union([t.number, t.null]),
});
export type TaskRetention = t.TypeOf<typeof TaskRetention>;

/** The default an operator gets: completed and cancelled rows for 7 days, 100,000 of them at most. */
export const DEFAULT_TASK_RETENTION: TaskRetention = { keepFinished: 100_000, maxAgeMs: 7 * 24 * 3_600_000 };

/** Refuses a rule that is not whole non-negative numbers. */
export const checkRetention = (r: TaskRetention): TaskRetention => {
  for (const [k, v] of Object.entries(r))
    if (v !== null && !(Number.isSafeInteger(v) && v >= 0)) throw new Error(`task retention ${k} must be a whole number >= 0, got ${String(v)}`);
  return r;
};

export const decodeRetention = (raw: unknown): TaskRetention | undefined => {
  const d = TaskRetention.decode(raw);
  return E.isRight(d) ? { keepFinished: d.right.keepFinished, maxAgeMs: d.right.maxAgeMs } : undefined;
};

/** The queue's head and tail (entries `head` … `tail - 1`): the step's guard, written last. */
export const RETENTION_QUEUE = "_ret.q";
const entryKey = (n: number) => `_ret.n.${n}`;

type Queue = { head: number; tail: number };
type Entry = { task: string; finishedAt: string };
const RETIRED: ReadonlySet<string> = new Set(["completed", "cancelled"]);

/** The `after` step of the tasks view (`View.after`) for a rule; `keyOf` is the view's row key of a task. */
export const retentionStep = (rule: TaskRetention, keyOf: (taskId: string) => string): NonNullable<View<unknown, TaskEvent>["after"]> => ({
  guard: RETENTION_QUEUE,
  run: function* (e: Decoded<TaskEvent>): Generator<AfterOp, void, Record<string, unknown> | null> {
    const q0 = (yield { read: RETENTION_QUEUE }) as Queue | null;
    let head = q0?.head ?? 0;
    let tail = q0?.tail ?? 0;
    const now = Date.parse(e.data.at);
    if (e.type === "task.completed" || e.type === "task.cancelled") {
      yield { write: entryKey(tail), row: { task: keyOf(e.data.taskId), finishedAt: e.data.at } satisfies Entry };
      tail++;
    }
    while (head < tail) {
      const over = rule.keepFinished !== null && tail - head > rule.keepFinished;
      const entry = (yield { read: entryKey(head) }) as Entry | null;
      const old = entry !== null && rule.maxAgeMs !== null && Date.parse(entry.finishedAt) + rule.maxAgeMs < now;
      if (entry && !over && !old) break;
      if (entry) {
        const row = yield { read: entry.task };
        // A row that finished again later (not possible today) or changed status is not this entry's.
        if (row && RETIRED.has(String(row["status"])) && row["finishedAt"] === entry.finishedAt) yield { write: entry.task, row: null };
        yield { write: entryKey(head), row: null };
      }
      head++;
    }
    if (!q0 || head !== q0.head || tail !== q0.tail) yield { write: RETENTION_QUEUE, row: { head, tail } satisfies Queue };
  },
});
