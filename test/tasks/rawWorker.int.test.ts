import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { jetstream } from "@nats-io/jetstream";
import { createTestBus } from "../../src/testing/testBus.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { WorkerEvent } from "../../src/events/worker.js";
import { taskEventsOf } from "./support.js";

// A worker written from subjects.md alone, with a bare NATS client and no SDK: literal subjects,
// header names and JSON, as a Go or C worker would. It skips `started` (allowed).
const bus = await createTestBus();
t.teardown(bus.stop);

t.test("a bare NATS client following subjects.md serves tasks", async (t) => {
  const { creds } = await bus.install({
    id: "bare",
    version: "1.0.0",
    description: "bare worker",
    provides: [
      { type: "math.double", description: "x2", params: { type: "object", required: ["n"] }, result: { type: "object", required: ["n"] }, timeout: "10s" },
    ],
    capabilities: [],
  });
  // Only the .creds: no inbox prefix; JetStream through the API prefix BUS's imports use.
  const nc = await bus.connectWith(creds);
  t.teardown(() => nc.close());
  const js = jetstream(nc, { apiPrefix: "$JS.BUS.API" });
  let consumer;
  for (let i = 0; i < 100 && !consumer; i++)
    consumer = await js.consumers.get("TASKS_bare", "task_bare_math_ddouble").catch(() => new Promise((r) => setTimeout(r, 50)).then(() => undefined));
  if (!consumer) throw new Error("no consumer for math.double");

  const r = await bus.tasks.submit({ taskType: "math.double", params: { n: 21 } }, { actor: "operator:test" });
  if (E.isLeft(r)) throw new Error(r.left.message);
  const msgs = await consumer.fetch({ max_messages: 1, expires: 5000 });
  for await (const m of msgs) {
    t.equal(m.subject, "task.bare.math.double");
    const taskId = m.headers!.get("Ganglion-Task-Id");
    const attempt = Number(m.headers!.get("Ganglion-Attempt"));
    t.equal(taskId, r.right.taskId);
    t.equal(attempt, 1);
    t.ok(Number(m.headers!.get("Ganglion-Start-To-Close-Ms")) > 0);
    const { n } = m.json<{ n: number }>();
    await js.publish(`res.bare.${taskId}`, JSON.stringify({ taskId, attempt, instance: "bare-1", status: "progress", progress: { done: 1, total: 2 } }));
    m.working();
    await js.publish(`res.bare.${taskId}`, JSON.stringify({ taskId, attempt, instance: "bare-1", status: "completed", result: { n: n * 2 } }));
    m.ack();
  }
  const v = await bus.tasks.get(r.right.taskId, 10_000);
  t.match(v, E.right({ status: "completed", result: { n: 42 }, instance: "bare-1" }));
  const types = (await taskEventsOf(bus, r.right.taskId)).map((e) => e.type);
  t.same(
    types.filter((x) => x !== "task.progress"),
    ["task.submitted", "task.started", "task.completed"],
    "the first report started the attempt",
  );

  await js.publish(`res.bare.${r.right.taskId}`, JSON.stringify({ taskId: r.right.taskId, attempt: "one", instance: "bare-1", status: "completed" }));
  let refusal: string | undefined;
  for (let i = 0; i < 100 && !refusal; i++) {
    const ev = (await taskEventsOf(bus, r.right.taskId)).find((e) => e.type === "task.report_refused");
    refusal = ev?.type === "task.report_refused" ? ev.data.reason : undefined;
    if (!refusal) await new Promise((res) => setTimeout(res, 50));
  }
  t.match(refusal, /malformed report: .*attempt/, "a malformed report is audited, naming the field");

  const hb = { instance: "bare-1", version: "0.1.0", inFlight: 0 };
  nc.publish("hb.bare.bare-1", JSON.stringify(hb));
  await nc.flush();
  const store = natsEventStore(bus.nc, { codec: WorkerEvent });
  let online = false;
  for (let i = 0; i < 100 && !online; i++) {
    for await (const e of store.readStream("worker-bare")) if (e.type === "worker.online" && e.data.instance === "bare-1") online = true;
    if (!online) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(online, "a heartbeat on hb.<plugin>.<instance> brings the instance online");
});
