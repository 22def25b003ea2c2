import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { loadDefinitions, pluginStreamConfig } from "../../src/store/streamDefinitions.js";
import type { PluginStreamDefinition } from "../../src/store/streamDefinitions.js";
import { pino } from "pino";
import { nuid } from "@nats-io/transport-node";
import { createTestBus } from "../../src/testing/testBus.js";
import { Worker } from "../../src/sdk/worker.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { startTasks, TasksStoreEvent } from "../../src/tasks/runtime.js";
import { taskEventsOf } from "./support.js";

const bus = await createTestBus();
t.teardown(bus.stop);

t.test("a task recorded but never queued (the core stopped in between) is queued by the next core to start; two cores share the work", async (t) => {
  const { creds } = await bus.install({
    id: "recover",
    version: "1.0.0",
    description: "recovery",
    provides: [{ type: "echo.it", description: "echo", params: { type: "object" }, result: { type: "object" }, timeout: "10s" }],
    capabilities: [],
  });
  const w = new Worker({ plugin: "recover", creds, servers: bus.url, instance: "r1" });
  w.onTask("echo.it", async (p) => p as Record<string, unknown>);
  await w.run();
  t.teardown(() => w.stop({ graceMs: 0 }));

  const taskId = nuid.next();
  const store = natsEventStore(bus.nc, { codec: TasksStoreEvent });
  await store.appendToStream(
    `task-${taskId}`,
    [
      {
        type: "task.submitted",
        data: {
          taskId,
          pluginId: "recover",
          pluginVersion: "1.0.0",
          taskType: "echo.it",
          params: { lost: false },
          retry: { maxAttempts: 1, backoffMs: [] },
          timeouts: { startToCloseMs: 10_000 },
          at: new Date().toISOString(),
        },
      },
    ],
    { streamState: "no_stream" },
  );
  const before = await bus.tasks.get(taskId);
  t.match(before, E.right({ status: "scheduled" }), "recorded, and nobody queued it");

  const template = (await loadDefinitions()).find((d): d is PluginStreamDefinition => d.kind === "stream-per-plugin")!;
  const second = await startTasks({
    nc: bus.nc,
    log: pino({ level: "silent" }),
    options: { ackWaitMs: 2000 },
    taskStream: (id) => pluginStreamConfig(template, id),
    disablePlugin: async () => {
      throw new Error("this test's second core never disables");
    },
  });
  t.teardown(() => second.stop());
  const v = await bus.tasks.get(taskId, 20_000);
  t.match(v, E.right({ status: "completed", result: { lost: false } }));
  const events = await taskEventsOf(bus, taskId);
  t.equal(events.filter((e) => e.type === "task.completed").length, 1);

  // Both cores now consume RESULTS and arm timers: tasks still complete once.
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await (i % 2 ? bus.tasks : second).submit({ taskType: "echo.it", params: { i } }, { actor: "operator:test" });
    if (E.isLeft(r)) throw new Error(r.left.message);
    ids.push(r.right.taskId);
  }
  for (const id of ids) {
    t.match(await second.get(id, 20_000), E.right({ status: "completed" }));
    t.equal((await taskEventsOf(bus, id)).filter((e) => e.type === "task.completed").length, 1);
  }
});
