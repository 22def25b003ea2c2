import t from "tap";
import { capabilitiesView } from "../../src/projections/capabilities.js";
import { applyEvent, diffRows, foldAll, stripPosition } from "../../src/projections/fold.js";
import { pluginsView } from "../../src/projections/plugins.js";
import { tasksView } from "../../src/projections/tasks.js";
import { totalsView } from "../../src/projections/totals.js";
import { workersView } from "../../src/projections/workers.js";
import type { Rows } from "../../src/projections/fold.js";
import { isInternalKey } from "../../src/projections/view.js";
import { asViewEvents, scenario } from "./fixtures.js";

const log = asViewEvents(scenario({ plugins: 5, tasks: 60 }));
const row = (rows: Rows, key: string) => {
  const r = rows.get(key);
  return r ? stripPosition(r) : undefined;
};

t.test("plugins: status, version, granted and pending after grants, revocations, upgrades, removal", async (t) => {
  const rows = foldAll(pluginsView, log);
  t.match(row(rows, "p0"), {
    status: "active",
    version: "1.0.0",
    granted: ["task.submit:p0.run", "topic.publish:news.p0"],
    pending: ["secret.read:db"],
    credentials: ["UP01"],
  });
  t.match(row(rows, "p1"), { status: "active", granted: ["task.submit:p1.run"], pending: ["secret.read:db", "topic.publish:news.p1"], credentials: [] });
  t.match(row(rows, "p2"), { status: "active", disabledReason: null });
  t.match(row(rows, "p3"), {
    version: "2.0.0",
    granted: ["task.submit:p3.run"],
    pending: ["secret.read:db"],
    requested: ["secret.read:db", "task.submit:p3.run"],
  });
  t.match(row(rows, "p4"), { status: "removed", granted: [], pending: [] });
});

t.test("capabilities: both directions, removal and upgrade drop grants", async (t) => {
  const rows = foldAll(capabilitiesView, log);
  const by = row(rows, "by-capability") as { capabilities: Record<string, string[]> };
  t.same(by.capabilities["secret.read:db"], undefined, "nobody was granted secret.read:db");
  t.same(by.capabilities["task.submit:p4.run"], undefined, "p4 was removed");
  t.same(by.capabilities["topic.publish:news.p3"], undefined, "dropped by the upgrade");
  t.same(by.capabilities["topic.publish:news.p1"], undefined, "revoked");
  t.same(by.capabilities["task.submit:p0.run"], ["p0"]);
  t.same(row(rows, "plugin.p1"), { pluginId: "p1", capabilities: ["task.submit:p1.run"] });
  t.same(row(rows, "plugin.p4"), { pluginId: "p4", capabilities: [] });
});

t.test("tasks: one row per task, consistent with the totals", async (t) => {
  const rows = foldAll(tasksView, log);
  const tasks = [...rows]
    .filter(([k]) => !isInternalKey(k))
    .map(([, r]) => r)
    .map((r) => r as unknown as { status: string; attempt: number; failures: unknown[]; result: unknown; durationMs: number | null });
  t.equal(tasks.length, 60);
  const retried = tasks.filter((x) => x.attempt === 2);
  t.ok(retried.length > 0, "the scenario retries some tasks");
  for (const r of retried) t.match(r, { status: "completed", failures: [{ attempt: 1, error: { message: "boom" } }], result: { retried: true } });
  const totals = foldAll(totalsView, log);
  const byStatus: Record<string, number> = {};
  for (const x of tasks) byStatus[x.status] = (byStatus[x.status] ?? 0) + 1;
  t.same((row(totals, "tasks") as { byStatus: unknown }).byStatus, byStatus);
  t.same(row(totals, "plugins"), { byStatus: { active: 4, removed: 1 }, total: 5 });
});

t.test("workers: instances online, in flight and failures by plugin through the task index", async (t) => {
  const rows = foldAll(workersView, log);
  const tasks = foldAll(tasksView, log);
  const p0 = row(rows, "p0") as { online: number; instances: Record<string, unknown>; inFlightCount: number };
  t.equal(p0.online, 2);
  t.same(Object.keys(p0.instances), ["p0-a", "p0-b"]);
  t.equal((row(rows, "p1") as { online: number }).online, 0);
  for (const id of ["p0", "p1", "p2", "p3"]) {
    const running = [...tasks.values()].filter((x) => x["pluginId"] === id && x["status"] === "running").length;
    t.equal((row(rows, id) as { inFlightCount: number }).inFlightCount, running, `${id} in flight = running tasks`);
  }
});

t.test("a redelivered event changes nothing", async (t) => {
  for (const view of [pluginsView, capabilitiesView, tasksView, workersView, totalsView]) {
    const once = foldAll(view, log);
    const twice: Rows = new Map();
    for (const e of log) {
      applyEvent(view, twice, e);
      applyEvent(view, twice, e);
    }
    t.same(diffRows(once, twice), [], `${view.name}: redelivery is a no-op`);
  }
});

t.test("an undecodable event is reported, not folded", async (t) => {
  const rows: Rows = new Map();
  const errors = applyEvent(pluginsView, rows, { ...log[0]!, data: { pluginId: 42 } });
  t.ok(errors && errors.some((e) => e.includes("pluginId")), "the error names the path");
  t.equal(rows.size, 0);
  t.equal(applyEvent(pluginsView, rows, { ...log[0]!, type: "plugin.something_new" }), undefined, "unknown types are ignored");
});
