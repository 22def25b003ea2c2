import t from "tap";
import { applyEvent, diffRows, foldAll, stripPosition } from "../../src/projections/fold.js";
import type { Rows } from "../../src/projections/fold.js";
import { tasksViewWith } from "../../src/projections/tasks.js";
import { totalsView } from "../../src/projections/totals.js";
import { workersView } from "../../src/projections/workers.js";
import { isInternalKey } from "../../src/projections/view.js";
import { asViewEvents, scenario } from "./fixtures.js";

const log = asViewEvents(scenario({ plugins: 4, tasks: 300, seed: 5 }));
type Row = { taskId: string; status: string; finishedAt: string | null };
const rowsOf = (rows: Rows) => [...rows].filter(([k]) => !isInternalKey(k)).map(([, r]) => stripPosition(r) as unknown as Row);
const keepAll = foldAll(tasksViewWith({ keepFinished: null, maxAgeMs: null }), log);
const all = rowsOf(keepAll);
const retired = (r: Row) => r.status === "completed" || r.status === "cancelled";
/** Finished rows in the order they finished (the log's order: finishedAt grows with it here). */
const finishedOrder = all.filter(retired).sort((a, b) => (a.finishedAt! < b.finishedAt! ? -1 : a.finishedAt! > b.finishedAt! ? 1 : 0));

t.test("the scenario has open, dead-lettered, completed and cancelled tasks", async (t) => {
  t.equal(all.length, 300);
  for (const s of ["completed", "cancelled", "dead_lettered"])
    t.ok(
      all.some((r) => r.status === s),
      s,
    );
  t.ok(
    all.some((r) => !["completed", "cancelled", "dead_lettered"].includes(r.status)),
    "open tasks",
  );
});

t.test("count: the most recently finished rows stay; open and dead-lettered rows always stay", async (t) => {
  const keep = 20;
  const rows = foldAll(tasksViewWith({ keepFinished: keep, maxAgeMs: null }), log);
  const kept = rowsOf(rows);
  t.equal(kept.filter(retired).length, keep, `${keep} finished rows`);
  t.same(
    kept
      .filter(retired)
      .map((r) => r.taskId)
      .sort(),
    finishedOrder
      .slice(-keep)
      .map((r) => r.taskId)
      .sort(),
    "the last to finish",
  );
  const open = all.filter((r) => !retired(r));
  t.same(
    kept
      .filter((r) => !retired(r))
      .map((r) => r.taskId)
      .sort(),
    open.map((r) => r.taskId).sort(),
    "every open and dead-lettered row",
  );
  // Each kept row is exactly the row without retention.
  for (const r of kept)
    t.same(
      r,
      all.find((x) => x.taskId === r.taskId),
      `${r.taskId} unchanged`,
    );
  const entries = [...rows.keys()].filter((k) => k.startsWith("_ret.n."));
  t.equal(entries.length, keep, "the retention queue holds what is kept, no more");
  t.same(stripPosition(rows.get("_ret.q")!), { head: finishedOrder.length - keep, tail: finishedOrder.length });
});

t.test("age: rows finished longer ago than the rule, by the log's own time, go", async (t) => {
  const maxAgeMs = 120_000;
  const rows = foldAll(tasksViewWith({ keepFinished: null, maxAgeMs }), log);
  const kept = rowsOf(rows);
  // The log's time at the end: the `at` of the last task event.
  const last = [...log].reverse().find((e) => e.type.startsWith("task."))!;
  const now = Date.parse((last.data as { at: string }).at);
  const want = finishedOrder.filter((r) => Date.parse(r.finishedAt!) + maxAgeMs >= now).map((r) => r.taskId);
  t.ok(want.length > 0 && want.length < finishedOrder.length, `some finished rows are young enough (${want.length} of ${finishedOrder.length})`);
  t.same(
    kept
      .filter(retired)
      .map((r) => r.taskId)
      .sort(),
    want.sort(),
  );
  t.equal(kept.filter((r) => !retired(r)).length, all.filter((r) => !retired(r)).length, "open and dead-lettered rows stay");
});

t.test("keep nothing finished: only open and dead-lettered rows, no entries left", async (t) => {
  const rows = foldAll(tasksViewWith({ keepFinished: 0, maxAgeMs: null }), log);
  t.equal(rowsOf(rows).filter(retired).length, 0);
  t.same(
    [...rows.keys()].filter((k) => k.startsWith("_ret.n.")),
    [],
  );
});

t.test("a redelivered event changes nothing, with retention", async (t) => {
  const view = tasksViewWith({ keepFinished: 7, maxAgeMs: 60_000 });
  const once = foldAll(view, log);
  const twice: Rows = new Map();
  for (const e of log) {
    applyEvent(view, twice, e);
    applyEvent(view, twice, e);
  }
  t.same(diffRows(once, twice), []);
});

t.test("the workers and totals indexes hold open and dead-lettered tasks only", async (t) => {
  const keepOpen = new Set(all.filter((r) => !retired(r)).map((r) => r.taskId));
  for (const view of [workersView, totalsView]) {
    const rows = foldAll(view, log);
    const tasks = [...rows.keys()].filter((k) => k.startsWith("_idx.") && !k.startsWith("_idx.plugin."));
    const ids = tasks.map((k) => k.replace(/^_idx\.(task\.)?/, "")).sort();
    t.same(ids, [...keepOpen].sort(), `${view.name}: one entry per open or dead-lettered task`);
  }
  // The totals still count every task of the log.
  const totals = stripPosition(foldAll(totalsView, log).get("tasks")!) as unknown as { total: number };
  t.equal(totals.total, 300);
});

t.test("replaying from an older checkpoint (after a crash) brings no retired row back", async (t) => {
  for (const rule of [
    { keepFinished: 0, maxAgeMs: null },
    { keepFinished: 5, maxAgeMs: 30_000 },
  ]) {
    const view = tasksViewWith(rule);
    const once = foldAll(view, log);
    // Everything from the first third on is delivered again, as after a restart from a stale checkpoint.
    const again = new Map(once);
    for (const e of log.slice(Math.floor(log.length / 3))) applyEvent(view, again, e);
    t.same(diffRows(once, again), [], `${JSON.stringify(rule)}: the same rows`);
  }
});
