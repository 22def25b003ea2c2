import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { eventDecoder, membersByType } from "../../src/events/dispatch.js";
import {
  AppEvent,
  ArtifactEvent,
  GanglionEvent,
  ConfigEvent,
  PluginEvent,
  RunnerEvent,
  SecretEvent,
  TaskEvent,
  TaskLimitsEvent,
  WorkerEvent,
  PipelineEvent,
} from "../../src/events/index.js";
import {
  LIMITS_CATEGORY,
  limitsStreamName,
  PLUGIN_CATEGORY,
  pluginStreamName,
  TASK_CATEGORY,
  taskStreamName,
  WORKER_CATEGORY,
  workerStreamName,
} from "../../src/events/index.js";

t.test("the union of all events is the union of the families, task limits and secrets included", async (t) => {
  const all = [...membersByType(GanglionEvent)!.keys()].sort();
  const families = [PluginEvent, TaskEvent, TaskLimitsEvent, WorkerEvent, SecretEvent, ConfigEvent, RunnerEvent, AppEvent, PipelineEvent, ArtifactEvent]
    .flatMap((f) => [...membersByType(f)!.keys()])
    .sort();
  t.same(all, families);
  t.ok(all.includes("task.limits.overridden"));
  t.ok(all.includes("secret.read"));
  const d = eventDecoder(GanglionEvent)({ type: "task.limits.overridden", data: { pluginId: "p", concurrency: 2 } });
  t.same(d, E.right({ type: "task.limits.overridden", data: { pluginId: "p", concurrency: 2 } }));
});

t.test("stream names are <category>-<id>", async (t) => {
  t.same(
    [pluginStreamName("x"), taskStreamName("x"), limitsStreamName("x"), workerStreamName("x")],
    [`${PLUGIN_CATEGORY}-x`, `${TASK_CATEGORY}-x`, `${LIMITS_CATEGORY}-x`, `${WORKER_CATEGORY}-x`],
  );
  t.same([PLUGIN_CATEGORY, TASK_CATEGORY, LIMITS_CATEGORY, WORKER_CATEGORY], ["plugin", "task", "tasklimits", "worker"]);
});
