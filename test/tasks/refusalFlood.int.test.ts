import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createTestBus } from "../../src/testing/testBus.js";
import { controlSubject, RESULTS_CONSUMER, Streams } from "../../src/contract/subjects.js";
import { taskEventsOf } from "./support.js";

// Log amplification: a worker (buggy or hostile) floods stale `progress` reports on a task it does
// not hold. Each used to become a permanent `task.report_refused` event and a cancel; now at most
// one per task and kind of refusal per window, the next one counting what was not recorded.

const WINDOW_MS = 4000;
const bus = await createTestBus({ tasks: { refusalWindowMs: WINDOW_MS } });
t.teardown(bus.stop);
const jsm = await jetstreamManager(bus.nc);

const reportsHandled = async () => {
  for (let i = 0; i < 1200; i++) {
    const ci = await jsm.consumers.info(Streams.Results, RESULTS_CONSUMER);
    if (ci.num_pending === 0 && ci.num_ack_pending === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the core did not handle the reports");
};

t.test("1,000 stale progress reports: one refusal event and one cancel per window, with a count", async (t) => {
  const { creds } = await bus.install({
    id: "flood",
    version: "1.0.0",
    description: "flooded",
    provides: [{ type: "flood.do", description: "x", params: { type: "object" }, result: { type: "object" }, timeout: "30s" }],
    capabilities: [],
  });
  const cancels: unknown[] = [];
  const ctl = bus.nc.subscribe(controlSubject("flood"), { callback: (_e, m) => void cancels.push(m.json()) });
  t.teardown(() => ctl.unsubscribe());

  // A bare client with the plugin's credentials completes a task as instance w1 ...
  const nc = await bus.connectWith(creds);
  t.teardown(() => nc.close());
  const js = jetstream(nc);
  const r = await bus.tasks.submit({ taskType: "flood.do", params: {}, pluginId: "flood" }, { actor: "operator:test" });
  if (E.isLeft(r)) throw new Error(r.left.message);
  const taskId = r.right.taskId;
  const subject = `res.flood.${taskId}`;
  await js.publish(subject, JSON.stringify({ taskId, attempt: 1, instance: "w1", status: "started" }));
  await js.publish(subject, JSON.stringify({ taskId, attempt: 1, instance: "w1", status: "completed", result: {} }));
  t.match(await bus.tasks.get(taskId, 10_000), E.right({ status: "completed" }));

  // ... then floods it with stale progress from another instance.
  const stale = (i: number) => JSON.stringify({ taskId, attempt: 1, instance: "stale", status: "progress", progress: { done: i, total: 1000 } });
  const floodStart = Date.now();
  for (let i = 0; i < 1000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => js.publish(subject, stale(i + j))));
  await reportsHandled();
  const refusedAfterFlood = (await taskEventsOf(bus, taskId)).filter((e) => e.type === "task.report_refused");
  const windows = Math.ceil((Date.now() - floodStart) / WINDOW_MS);
  t.ok(refusedAfterFlood.length >= 1, "the flood is on record");
  // One per window (it was one per report: 1,000).
  t.ok(refusedAfterFlood.length <= windows + 1, `${refusedAfterFlood.length} refusal events for 1,000 reports over ${windows} windows`);

  // After the window, the next refusal carries the count of those not recorded.
  await new Promise((r) => setTimeout(r, WINDOW_MS + 200));
  await js.publish(subject, stale(1000));
  await reportsHandled();
  const refused = (await taskEventsOf(bus, taskId)).filter((e) => e.type === "task.report_refused");
  t.equal(refused.length, refusedAfterFlood.length + 1);
  const accounted = refused.reduce((n, e) => n + 1 + (e.type === "task.report_refused" ? (e.data.suppressed ?? 0) : 0), 0);
  // At least every report (a loaded core may take longer than RESULTS' 5 s ack wait and see some twice).
  t.ok(accounted >= 1001, `every refused report is counted, recorded or suppressed (${accounted})`);
  const last = refused.at(-1)!;
  t.match(last, { data: { instance: "stale", status: "progress" } });
  t.ok(last.type === "task.report_refused" && (last.data.suppressed ?? 0) > 0, "the event after the window says how many were suppressed");
  await new Promise((r) => setTimeout(r, 300));
  t.equal(cancels.length, refused.length, "one cancel per recorded refusal, not per report");
  t.match(await bus.tasks.get(taskId), E.right({ status: "completed" }), "the task is untouched");
});
