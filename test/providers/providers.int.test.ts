import t from "tap";
import { createTestBus } from "../../src/testing/testBus.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { TaskEvent } from "../../src/events/task.js";
import { spawnWorker } from "../tasks/support.js";

/**
 * provider.chat / provider.embedding end to end: a stub provider plugin (a real child process on
 * the SDK) serves the task types; a plugin granted the capability calls `prov.<kind>` from its own
 * account and gets the provider's answer; the call is a task submitted by `plugin:<caller>` (the
 * audit trail); a plugin without the grant has no route; the caller's rate is limited.
 */
const bus = await createTestBus();
t.teardown(bus.stop);

const schema = { type: "object" };
const provider = await bus.install({
  id: "stub-models",
  version: "1.0.0",
  description: "deterministic model provider",
  provides: [
    {
      type: "provider.chat",
      description: "chat",
      params: { type: "object", required: ["messages"], properties: { messages: { type: "array", maxItems: 100 } } },
      result: schema,
      timeout: "10s",
    },
    { type: "provider.embedding", description: "embeddings", params: { type: "object", required: ["input"] }, result: schema, timeout: "10s" },
  ],
  capabilities: [],
});
const caller = await bus.install({
  id: "assistant",
  version: "1.0.0",
  description: "calls models",
  provides: [],
  capabilities: ["provider.chat", "provider.embedding"],
});
const other = await bus.install({ id: "bystander", version: "1.0.0", description: "no grant", provides: [], capabilities: [] });

const w = await spawnWorker(bus, {
  plugin: "stub-models",
  creds: provider.creds,
  instance: "m1",
  fixture: new URL("./fixtures/stubProvider.ts", import.meta.url).pathname,
});
t.teardown(() => w.kill());

t.test("a granted plugin calls the chat and embedding providers through the bus; the call is audited as its task", async (t) => {
  const nc = await bus.connectWith(caller.creds);
  t.teardown(() => nc.close());
  const chat = (
    await nc.request("prov.chat", JSON.stringify({ params: { messages: [{ role: "user", content: "hello" }] }, waitMs: 30_000 }), { timeout: 40_000 })
  ).json() as {
    ok: boolean;
    result: { taskId: string; pluginId: string; status: string; result: unknown };
  };
  t.match(chat, {
    ok: true,
    result: { pluginId: "stub-models", status: "completed", result: { model: "stub-1", message: { role: "assistant", content: "echo: hello" } } },
  });
  const emb = (await nc.request("prov.embedding", JSON.stringify({ params: { input: ["abc", "queue"] }, waitMs: 30_000 }), { timeout: 40_000 })).json();
  t.match(emb, {
    ok: true,
    result: {
      status: "completed",
      result: {
        vectors: [
          [3, 1, 294],
          [5, 4, 549],
        ],
      },
    },
  });

  const store = natsEventStore(bus.nc, { codec: TaskEvent });
  const evs = [];
  for await (const e of store.readStream(`task-${chat.result.taskId}`)) evs.push(e);
  t.match(evs[0], { type: "task.submitted", data: { pluginId: "stub-models", taskType: "provider.chat" }, metadata: { actor: "plugin:assistant" } });
  t.ok(evs.some((e) => e.type === "task.completed"));

  const bad = (await nc.request("prov.chat", JSON.stringify({ params: { nope: 1 } }), { timeout: 10_000 })).json();
  t.match(bad, { ok: false, error: { code: "InvalidParams" } }, "params are checked against the provider's schema");
  const junk = (await nc.request("prov.chat", "not json", { timeout: 10_000 })).json();
  t.match(junk, { ok: false, error: { code: "InvalidRequest" } });
});

t.test("without the grant there is no route; from inside BUS the core does not answer", async (t) => {
  const nc = await bus.connectWith(other.creds);
  t.teardown(() => nc.close());
  for (const s of ["prov.chat", "prov.embedding", "prov.assistant.chat"])
    await t.rejects(nc.request(s, JSON.stringify({ params: {} }), { timeout: 1000 }), `${s} reaches nothing`);
  await t.rejects(
    bus.nc.request("prov.assistant.chat", JSON.stringify({ params: { messages: [] } }), { timeout: 1000 }),
    "a BUS client cannot call as a plugin",
  );
});

t.test("a revoked grant cuts the route on the live connection", async (t) => {
  const nc = await bus.connectWith(caller.creds);
  t.teardown(() => nc.close());
  const { serviceClient } = await import("../../src/service/client.js");
  const r = await serviceClient(bus.nc).call("plugin.revoke", { pluginId: "assistant", capabilities: ["provider.embedding"] });
  t.equal(r._tag, "Right");
  await t.rejects(nc.request("prov.embedding", JSON.stringify({ params: { input: ["x"] } }), { timeout: 1000 }));
  const still = (
    await nc.request("prov.chat", JSON.stringify({ params: { messages: [{ role: "user", content: "x" }] }, waitMs: 30_000 }), { timeout: 40_000 })
  ).json();
  t.match(still, { ok: true, result: { status: "completed" } }, "the other grant still works");
});
