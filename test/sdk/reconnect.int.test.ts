import t from "tap";
import { createTestBus } from "../../src/testing/testBus.js";
import { Worker } from "../../src/sdk/worker.js";

const bus = await createTestBus();
t.teardown(bus.stop);

t.test("a worker and the core carry on after the server restarts", async (t) => {
  const { creds } = await bus.install({
    id: "sturdy",
    version: "1.0.0",
    description: "survives restarts",
    provides: [{ type: "echo.it", description: "echo", params: { type: "object" }, result: { type: "object" }, timeout: "10s" }],
    capabilities: [],
  });
  const w = new Worker({ plugin: "sturdy", creds, servers: bus.url, instance: "s1", heartbeatMs: 300 });
  w.onTask("echo.it", async (p) => p as Record<string, unknown>);
  await w.run();
  t.teardown(() => w.stop({ graceMs: 0 }));
  t.match(await bus.submit("echo.it", { n: 1 }, { waitMs: 10_000 }), { status: "completed", result: { n: 1 } });

  await bus.restartServer();

  // Submitting may fail while the core's connection is still coming back: retry until accepted.
  let accepted;
  for (let i = 0; i < 100 && !accepted; i++) {
    accepted = await bus.submit("echo.it", { n: 2 }, { waitMs: 20_000 }).catch(() => undefined);
    if (!accepted) await new Promise((r) => setTimeout(r, 200));
  }
  t.match(accepted, { status: "completed", result: { n: 2 }, instance: "s1" });
});
