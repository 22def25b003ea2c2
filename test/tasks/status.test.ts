import t from "tap";
import { membersByType } from "../../src/events/dispatch.js";
import { TaskEvent as TaskEventCodec } from "../../src/events/task.js";
import type { TaskEvent } from "../../src/events/task.js";
import { foldAll, stripPosition } from "../../src/projections/fold.js";
import { tasksView } from "../../src/projections/tasks.js";
import { totalsView } from "../../src/projections/totals.js";
import { fold } from "../../src/tasks/decider.js";
import { taskStatusAfter, TaskStatus } from "../../src/tasks/status.js";
import { asViewEvents, scenario } from "../projections/fixtures.js";

const taskId = "t";
const at = "2026-01-01T00:00:00.000Z";
/** One event of each type (their data matters to no status rule). */
const sample: { readonly [K in TaskEvent["type"]]: Extract<TaskEvent, { type: K }> } = {
  "task.submitted": {
    type: "task.submitted",
    data: {
      taskId,
      pluginId: "p",
      pluginVersion: "1.0.0",
      taskType: "x",
      params: {},
      retry: { maxAttempts: 2, backoffMs: [] },
      timeouts: { startToCloseMs: 1000 },
      at,
    },
  },
  "task.dispatched": { type: "task.dispatched", data: { taskId, attempt: 2, at } },
  "task.started": { type: "task.started", data: { taskId, attempt: 1, instance: "i", delivery: 1, at } },
  "task.progress": { type: "task.progress", data: { taskId, attempt: 1, done: 1, total: 2, at } },
  "task.completed": { type: "task.completed", data: { taskId, attempt: 1, instance: "i", result: null, at } },
  "task.failed": { type: "task.failed", data: { taskId, attempt: 1, error: { message: "boom" }, at } },
  "task.timed_out": { type: "task.timed_out", data: { taskId, attempt: 1, kind: "start_to_close", at } },
  "task.retry_scheduled": { type: "task.retry_scheduled", data: { taskId, attempt: 2, retryAt: at, delayMs: 0, at } },
  "task.cancelled": { type: "task.cancelled", data: { taskId, at } },
  "task.dead_lettered": { type: "task.dead_lettered", data: { taskId, attempts: 1, failures: [], at } },
  "task.resubmitted": { type: "task.resubmitted", data: { taskId, attempt: 2, maxAttempts: 2, at } },
  "task.report_refused": { type: "task.report_refused", data: { taskId, attempt: 1, instance: "i", pluginId: "p", status: "completed", reason: "stale", at } },
};

const BEFORE = ["absent", "scheduled", "running", "retry_wait", "completed", "cancelled", "dead_lettered"] as const;
const all = (s: TaskStatus): readonly TaskStatus[] => ["absent", s, s, s, s, s, s];
/** The expected status after each event type, for each status before it (in the order of BEFORE). */
const TABLE: { readonly [K in TaskEvent["type"]]: readonly TaskStatus[] } = {
  "task.submitted": ["scheduled", "scheduled", "scheduled", "scheduled", "scheduled", "scheduled", "scheduled"],
  "task.dispatched": all("scheduled"),
  "task.resubmitted": all("scheduled"),
  "task.started": all("running"),
  "task.retry_scheduled": all("retry_wait"),
  "task.completed": all("completed"),
  "task.cancelled": all("cancelled"),
  "task.dead_lettered": all("dead_lettered"),
  // A failed or timed-out attempt moves nothing itself: the retry or dead letter in its commit does.
  "task.progress": BEFORE,
  "task.failed": BEFORE,
  "task.timed_out": BEFORE,
  "task.report_refused": BEFORE,
};

t.test("the table covers every task event type", async (t) => {
  t.same(Object.keys(sample).sort(), [...membersByType(TaskEventCodec)!.keys()].sort());
  t.same(Object.keys(TABLE).sort(), Object.keys(sample).sort());
  t.same(Object.values(TaskStatus).sort(), [...BEFORE].sort());
});

t.test("every event type from every status", async (t) => {
  for (const [type, after] of Object.entries(TABLE) as [TaskEvent["type"], readonly TaskStatus[]][]) {
    BEFORE.forEach((before, i) => t.equal(taskStatusAfter(sample[type], before), after[i], `${before} --${type}--> ${after[i]}`));
  }
});

t.test("the decider, the tasks view and the totals agree on every task's status", async (t) => {
  const commits = scenario({ plugins: 4, tasks: 120, seed: 3 });
  const byStream = new Map<string, TaskEvent[]>();
  for (const c of commits)
    if (c.streamName.startsWith("task-")) byStream.set(c.streamName, [...(byStream.get(c.streamName) ?? []), ...(c.events as TaskEvent[])]);
  const log = asViewEvents(commits);
  const rows = foldAll(tasksView, log);
  const counts: Record<string, number> = {};
  for (const [stream, events] of byStream) {
    const id = stream.slice("task-".length);
    const decided = fold(events).status;
    const row = rows.get(id);
    t.equal(row ? (stripPosition(row) as { status: string }).status : "absent", decided, `${id}: ${decided}`);
    counts[decided] = (counts[decided] ?? 0) + 1;
  }
  t.ok(Object.keys(counts).length >= 5, `the scenario reaches ${Object.keys(counts).join(", ")}`);
  const totals = foldAll(totalsView, log).get("tasks");
  t.same(totals && (stripPosition(totals) as { byStatus: unknown }).byStatus, counts);
});
