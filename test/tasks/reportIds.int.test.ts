import t from "tap";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createTestBus } from "../../src/testing/testBus.js";
import { RESULTS_CONSUMER, resultSubject, Streams } from "../../src/contract/subjects.js";
import { taskEventsOf } from "./support.js";

// Found by the fuzz pass (test/faults/fuzz.int.test.ts): a report whose task id is a valid
// subject token but no valid stream id (a leading "-") made the core's task load throw
// InvalidStreamName, and the report was nak'ed and redelivered every 500 ms for ever. It is
// dropped once, like a report on an unknown task. And a report's instance or status of megabytes
// became a refusal event of megabytes, for good: the instance is at most 128 characters, and a
// refusal cuts what it quotes.
const bus = await createTestBus();
t.teardown(bus.stop);

t.test("a report on a task id the log cannot name is dropped, not redelivered for ever", async (t) => {
  const { creds } = await bus.install({
    id: "ids",
    version: "1.0.0",
    description: "report ids",
    provides: [{ type: "ids.x", description: "x", params: { type: "object" }, result: { type: "object" }, timeout: "10s" }],
    capabilities: [],
  });
  const nc = await bus.connectWith(creds);
  t.teardown(() => nc.close());
  const js = jetstream(nc, { apiPrefix: "$JS.BUS.API" });
  const jsm = await jetstreamManager(bus.nc);
  const before = await jsm.consumers.info(Streams.Results, RESULTS_CONSUMER);
  for (const taskId of ["-abc", "-", "--x", "-__proto__"]) {
    for (const status of ["started", "completed"]) {
      await js.publish(resultSubject("ids", taskId), JSON.stringify({ taskId, attempt: 1, instance: "i1", status, result: {} }));
    }
  }
  // Handled: nothing pending, nothing waiting for an ack, and (after a few nak periods) nothing redelivered.
  let info = await jsm.consumers.info(Streams.Results, RESULTS_CONSUMER);
  for (let i = 0; i < 100 && (info.num_pending > 0 || info.num_ack_pending > 0); i++) {
    await new Promise((r) => setTimeout(r, 100));
    info = await jsm.consumers.info(Streams.Results, RESULTS_CONSUMER);
  }
  await new Promise((r) => setTimeout(r, 1500));
  info = await jsm.consumers.info(Streams.Results, RESULTS_CONSUMER);
  t.equal(info.num_ack_pending, 0, "every report was acked");
  t.equal(info.num_redelivered - before.num_redelivered, 0, "none was redelivered");
  t.equal(info.delivered.stream_seq - before.delivered.stream_seq, 8, "all eight were delivered once");
});

t.test("a report's instance over 128 characters is refused, and the refusal quotes at most 128 characters of it", async (t) => {
  const { creds } = await bus.install({
    id: "names",
    version: "1.0.0",
    description: "report names",
    provides: [{ type: "names.x", description: "x", params: { type: "object" }, result: { type: "object" }, timeout: "10s" }],
    capabilities: [],
  });
  const nc = await bus.connectWith(creds);
  t.teardown(() => nc.close());
  const js = jetstream(nc, { apiPrefix: "$JS.BUS.API" });
  // Two tasks: refusals of one kind are recorded at most once per task and minute (log amplification).
  const { taskId } = await bus.submit("names.x", {});
  const { taskId: taskId2 } = await bus.submit("names.x", {});
  const huge = "i".repeat(100_000);
  await js.publish(resultSubject("names", taskId), JSON.stringify({ taskId, attempt: 1, instance: huge, status: "started" }));
  await js.publish(resultSubject("names", taskId2), JSON.stringify({ taskId: taskId2, attempt: 1, instance: "ok-1", status: "s".repeat(100_000) }));
  let refused: { type: string; data: unknown }[] = [];
  for (let i = 0; i < 100 && refused.length < 2; i++) {
    refused = [...(await taskEventsOf(bus, taskId)), ...(await taskEventsOf(bus, taskId2))].filter((e) => e.type === "task.report_refused");
    if (refused.length < 2) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(refused.length, 2, "both reports were refused");
  t.match(refused[0], { data: { reason: /instance: at most 128 characters, got 100000/ } });
  t.ok(
    refused.every((e) => JSON.stringify(e).length < 2000),
    `no refusal holds the megabytes (${refused.map((e) => JSON.stringify(e).length).join(", ")} bytes)`,
  );
  const types = (await taskEventsOf(bus, taskId)).map((e) => e.type);
  t.notOk(types.includes("task.started"), "the attempt did not start under that name");
});
