import t from "tap";
import { audit } from "../../src/projections/audit.js";
import type { EventStore, RecordedEvent } from "../../src/store/types.js";

const ev = (streamName: string, type: string, data: Record<string, unknown>, i: number): RecordedEvent => ({
  id: `e${i}`,
  streamName,
  type,
  data,
  revision: 0n,
  position: BigInt(i + 1),
  schemaVersion: 1,
  metadata: { actor: "operator:test", time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() },
  created: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
});

const log = [
  ev("plugin-p1", "plugin.registered", { pluginId: "p1" }, 0),
  ev("plugin-p2", "plugin.registered", { pluginId: "p2" }, 1),
  ev("tasklimits-p1", "task.limits.overridden", { pluginId: "p1", concurrency: 2 }, 2),
  ev("tasklimits-p2", "task.limits.overridden", { pluginId: "p2", concurrency: 3 }, 3),
  ev("worker-p1", "worker.online", { pluginId: "p1", instance: "a" }, 4),
  ev("task-t1", "task.submitted", { taskId: "t1", pluginId: "p1" }, 5),
  ev("task-t2", "task.submitted", { taskId: "t2", pluginId: "p2" }, 6),
  ev("task-t1", "task.started", { taskId: "t1" }, 7),
  ev("task-t2", "task.started", { taskId: "t2" }, 8),
];

// Only the reads audit uses.
const store = {
  readAll: async function* () {
    yield* log;
  },
  readStream: async function* (name: string) {
    yield* log.filter((e) => e.streamName === name);
  },
} as unknown as EventStore<{ type: string; data: unknown }>;

const collect = async (f: Parameters<typeof audit>[1]) => {
  const out: string[] = [];
  for await (const e of audit(store, f)) out.push(`${e.stream} ${e.type}`);
  return out;
};

t.test("a plugin's trail: its stream, its workers', its limit overrides' and its tasks'", async (t) => {
  t.same(await collect({ pluginId: "p1" }), [
    "plugin-p1 plugin.registered",
    "tasklimits-p1 task.limits.overridden",
    "worker-p1 worker.online",
    "task-t1 task.submitted",
    "task-t1 task.started",
  ]);
});

t.test("a task's trail reads its stream only", async (t) => {
  t.same(await collect({ taskId: "t2" }), ["task-t2 task.submitted", "task-t2 task.started"]);
  t.same(await collect({ taskId: "t2", pluginId: "p1" }), [], "not the plugin's task");
});

t.test("by type prefix", async (t) => {
  t.same(await collect({ type: "task.limits." }), ["tasklimits-p1 task.limits.overridden", "tasklimits-p2 task.limits.overridden"]);
});
