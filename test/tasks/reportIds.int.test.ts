import t from "tap";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createTestBus } from "../../src/testing/testBus.js";
import { RESULTS_CONSUMER, resultSubject, Streams } from "../../src/contract/subjects.js";

// Found by the fuzz pass (test/faults/fuzz.int.test.ts): a report whose task id is a valid
// subject token but no valid stream id (a leading "-") made the core's task load throw
// InvalidStreamName, and the report was nak'ed and redelivered every 500 ms for ever. It is
// dropped once, like a report on an unknown task.
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
