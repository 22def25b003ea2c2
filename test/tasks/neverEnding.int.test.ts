import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createTestBus } from "../../src/testing/testBus.js";
import { controlSubject, taskConsumer, tasksStream } from "../../src/contract/subjects.js";
import { taskEventsOf } from "./support.js";

/**
 * Every task ends, whatever a worker does with its message (issue: tasks that never end). A bare
 * client following subjects.md: it terminates a message (+TERM), or records a completion and
 * dies before its ack. The task type has no schedule-to-start and no deadline, so nothing but the
 * core's reaction can end it.
 */
const bus = await createTestBus({ tasks: { ackWaitMs: 1000 } });
t.teardown(bus.stop);
const { creds } = await bus.install({
  id: "raw",
  version: "1.0.0",
  description: "raw worker",
  provides: [
    {
      type: "raw.do",
      description: "x",
      params: { type: "object" },
      result: { type: "object" },
      timeout: "30s",
      retry: { maxAttempts: 3, backoff: ["100ms", "100ms"] },
    },
  ],
  capabilities: [],
});
const nc = await bus.connectWith(creds);
t.teardown(() => nc.close());
const js = jetstream(nc, { apiPrefix: "$JS.BUS.API" });
let consumer;
for (let i = 0; i < 100 && !consumer; i++)
  consumer = await js.consumers.get(tasksStream("raw"), taskConsumer("raw", "raw.do")).catch(() => new Promise((r) => setTimeout(r, 50)).then(() => undefined));
if (!consumer) throw new Error("no consumer for raw.do");
const c = consumer;
const submit = async (params: unknown) => {
  const r = await bus.tasks.submit({ taskType: "raw.do", params }, { actor: "operator:test" });
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right.taskId;
};

t.test("a terminated task message ends its task (dead-lettered, saying so) instead of leaving it scheduled", async (t) => {
  const id = await submit({ n: 1 });
  const m = await c.next({ expires: 5000 });
  t.equal(m?.headers?.get("Ganglion-Task-Id"), id);
  m!.term();
  const v = await bus.tasks.get(id, 15_000);
  t.match(v, E.right({ status: "dead_lettered" }));
  const failed = (await taskEventsOf(bus, id)).find((e) => e.type === "task.failed");
  t.match(failed, { data: { error: { message: /terminated the task message/, retryable: false } } });
});

t.test("a completion recorded but never acked is not handed out again", async (t) => {
  const id = await submit({ n: 2 });
  const m = await c.next({ expires: 5000 });
  const attempt = Number(m!.headers!.get("Ganglion-Attempt"));
  await jetstream(nc).publish(`res.raw.${id}`, JSON.stringify({ taskId: id, attempt, instance: "raw-1", status: "completed", result: { ok: true } }));
  t.match(await bus.tasks.get(id, 10_000), E.right({ status: "completed" }));
  // No ack: without the core's cleanup the message comes back after ack_wait (1 s).
  const again = await c.next({ expires: 3000 });
  t.equal(again, null, "nothing was delivered again");
  const jsm = await jetstreamManager(bus.nc);
  t.equal((await jsm.streams.info(tasksStream("raw"))).state.messages, 0, "the finished attempt's message is gone");
});

t.test("a 20,000-deep result and one too big for the log end their attempt with the reason, at once", async (t) => {
  const report = async (id: string, result: string) => {
    const m = await c.next({ expires: 5000 });
    t.equal(m?.headers?.get("Ganglion-Task-Id"), id);
    const attempt = Number(m!.headers!.get("Ganglion-Attempt"));
    // Hand-written JSON: the worker's own encoder would overflow on the deep one too.
    await jetstream(nc).publish(`res.raw.${id}`, `{"taskId":"${id}","attempt":${attempt},"instance":"raw-1","status":"completed","result":${result}}`);
    m!.ack();
  };
  const deep = await submit({ n: 3 });
  await report(deep, `{"a":${"[".repeat(20_000)}${"]".repeat(20_000)}}`);
  const big = await submit({ n: 4 });
  await report(big, JSON.stringify({ blob: "x".repeat(1024 * 1024 + 10) }));
  for (const [id, why] of [
    [deep, /nests more than 64 levels deep/],
    [big, /the result is \d+ bytes; the limit is 1048576/],
  ] as const) {
    const v = await bus.tasks.get(id, 15_000);
    t.match(v, E.right({ status: "dead_lettered" }));
    const failed = (await taskEventsOf(bus, id)).find((e) => e.type === "task.failed");
    t.match(failed, { data: { error: { message: why, kind: "invalid_result", retryable: false } } });
  }
  t.match(await bus.call("views.tasks", {}), E.right({}), "the core still answers");
});

t.test("a start that raced the cancel of a queued attempt is told to stop and leaves no refusal in the log", async (t) => {
  const id = await submit({ n: 5 });
  // Pulled (so it is this worker's now), then cancelled before the core hears of a start.
  const m = await c.next({ expires: 5000 });
  t.equal(m?.headers?.get("Ganglion-Task-Id"), id);
  const attempt = Number(m!.headers!.get("Ganglion-Attempt"));
  t.match(await bus.call("task.cancel", { taskId: id, reason: "not needed" }), E.right({ status: "cancelled" }));
  const ctl = nc.subscribe(controlSubject("raw"));
  const told = (async () => {
    for await (const x of ctl) {
      const body = x.json<{ type: string; taskId: string; attempt: number; reason: string }>();
      // Not the cancel's own notice ("cancelled: not needed"): the answer to the start.
      if (body.type === "cancel" && body.taskId === id && body.attempt === attempt && /the task is cancelled/.test(body.reason)) return body;
    }
    return undefined;
  })();
  await nc.flush();
  await jetstream(nc).publish(`res.raw.${id}`, JSON.stringify({ taskId: id, attempt, instance: "raw-1", status: "started" }));
  t.match(await told, { type: "cancel" }, "the worker is told to stop");
  ctl.unsubscribe();
  m!.term();
  // The report is handled (the cancel above came from it); a later event would follow it.
  const types = (await taskEventsOf(bus, id)).map((e) => e.type);
  t.equal(types.at(-1), "task.cancelled");
  t.notOk(types.includes("task.report_refused"), "no refusal recorded");
});
