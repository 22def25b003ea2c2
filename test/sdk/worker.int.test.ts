import t from "tap";
import * as io from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { createTestBus } from "../../src/testing/testBus.js";
import { Worker } from "../../src/sdk/worker.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { TaskEvent } from "../../src/events/task.js";

const bus = await createTestBus();
t.teardown(bus.stop);

const manifest = {
  id: "wordcount",
  version: "1.0.0",
  description: "counts words",
  provides: [
    {
      type: "text.wordcount",
      description: "count words",
      params: { type: "object", properties: { text: { type: "string" } }, required: ["text"], additionalProperties: false },
      result: { type: "object", properties: { words: { type: "integer" } }, required: ["words"] },
      timeout: "10s",
    },
    {
      type: "text.broken",
      description: "answers a result that does not match its schema",
      params: { type: "object" },
      result: { type: "object", required: ["words"] },
      timeout: "10s",
    },
  ],
  capabilities: [],
};
const { creds } = await bus.install(manifest);
const worker = new Worker({ plugin: "wordcount", creds, servers: bus.url, instance: "w1", heartbeatMs: 500 });
const Params = io.type({ text: io.string });
worker.onTask(
  "text.wordcount",
  async (p, ctx) => {
    ctx.progress(1, 2, "splitting");
    ctx.metrics.increment("words.counted");
    return { words: p.text.split(/\s+/).filter(Boolean).length };
  },
  { params: Params },
);
// The padding is numbers, not one long string: the SDK would put a string over 64 KiB as an artifact (issue 18).
worker.onTask("text.broken", async (p: { pad?: number }) => (p.pad ? { words: 1, pad: new Array<number>(Math.ceil(p.pad / 2)).fill(0) } : { nope: true }));
await worker.run();
t.teardown(() => worker.stop());

const store = natsEventStore(bus.nc, { codec: TaskEvent });
const typesOf = async (taskId: string) => {
  const out: string[] = [];
  for await (const e of store.readStream(`task-${taskId}`)) out.push(e.type);
  return out;
};

t.test("a submitted task is validated, run, and completed with its result in the log", async (t) => {
  const task = await bus.submit("text.wordcount", { text: "a b c" }, { waitMs: 10_000 });
  t.equal(task.status, "completed");
  t.same(task.result, { words: 3 });
  t.equal(task.instance, "w1");
  const types = await typesOf(task.taskId);
  t.same(types[0], "task.submitted");
  t.ok(types.includes("task.started"));
  t.equal(types.filter((x) => x === "task.completed").length, 1);
  t.equal(worker.metrics().counters["words.counted"]! >= 1, true);
});

t.test("invalid params are refused before anything is appended, naming the path", async (t) => {
  const r = await bus.tasks.submit({ taskType: "text.wordcount", params: { text: 3 } }, { actor: "operator:test" });
  t.ok(E.isLeft(r));
  if (E.isLeft(r)) {
    t.equal(r.left.code, "InvalidParams");
    t.same(r.left.paths, ["params/text"]);
    t.match(r.left.message, /params\/text: must be string/);
  }
});

t.test("unknown task types and oversized payloads are clear errors", async (t) => {
  const u = await bus.tasks.submit({ taskType: "text.nothing", params: {} }, { actor: "operator:test" });
  t.match(u, E.left({ code: "UnknownTaskType" }));
  const big = await bus.tasks.submit({ taskType: "text.wordcount", params: { text: "x".repeat(1024 * 1024 + 1) } }, { actor: "operator:test" });
  t.match(big, E.left({ code: "PayloadTooLarge" }));
  const named = await bus.tasks.submit({ taskType: "text.wordcount", params: { text: "a" }, pluginId: "other" }, { actor: "operator:test" });
  t.match(named, E.left({ code: "NoProvider" }));
});

t.test("a result that does not match the result schema is a failure, not a completion", async (t) => {
  const task = await bus.submit("text.broken", {}, { waitMs: 10_000 });
  t.equal(task.status, "dead_lettered");
  t.match(task.failures[0]?.error, { kind: "invalid_result", paths: ["result/words: must have required property 'words'"] });
  const types = await typesOf(task.taskId);
  t.notOk(types.includes("task.completed"));
});

t.test("the service endpoints answer the same", async (t) => {
  const r = await bus.call("task.submit", { taskType: "text.wordcount", params: { text: "x y" }, waitMs: 10_000 });
  t.ok(E.isRight(r));
  if (E.isRight(r)) t.match(r.right, { status: "completed", result: { words: 2 } });
  const bad = await bus.call("task.submit", { taskType: 5 } as never);
  t.match(bad, E.left({ code: "InvalidRequest" }));
  const nf = await bus.call("task.get", { taskId: "nope" });
  t.match(nf, E.left({ code: "NotFound" }));
});

t.test("a plugin granted task.submit:<type> submits through the SDK; other types are denied", async (t) => {
  const caller = await bus.install({ id: "caller", version: "1.0.0", description: "submits", provides: [], capabilities: ["task.submit:text.wordcount"] });
  const w = new Worker({ plugin: "caller", creds: caller.creds, servers: bus.url, instance: "c1" });
  await w.run();
  t.teardown(() => w.stop({ graceMs: 0 }));
  const done = await w.submit("text.wordcount", { text: "one two" }, { waitMs: 10_000 });
  t.match(done, { status: "completed", result: { words: 2 } });
  await t.rejects(w.submit("text.wordcount", { text: 1 }), { name: "SubmitError", code: "InvalidParams" });
  await t.rejects(w.submit("text.broken", {}, { timeoutMs: 1000 }), "no grant for text.broken: the server refuses the request");
  const store = natsEventStore(bus.nc, { codec: TaskEvent });
  const id = String(done.taskId);
  for await (const e of store.readStream(`task-${id}`)) {
    if (e.type === "task.submitted") t.equal(e.metadata.actor, "plugin:caller", "the log names the submitting plugin");
  }
});

t.test("a result over the bus's message size fails the attempt instead of looping", async (t) => {
  const task = await bus.submit("text.broken", { pad: bus.nc.info!.max_payload + 1 }, { waitMs: 10_000 });
  t.equal(task.status, "dead_lettered");
  t.match(task.failures[0]?.error, { message: /the result is \d+ bytes, the limit is 1 MiB/, retryable: false, kind: "invalid_result" });
});

t.test("a result over 1 MiB that fits the bus fails the attempt at once as invalid_result, naming the size", async (t) => {
  // RESULTS' max_msg_size (MAX_REPORT_BYTES) would refuse the report; the SDK says why before sending it.
  const started = Date.now();
  const task = await bus.submit("text.broken", { pad: 2 * 1024 * 1024 }, { waitMs: 10_000 });
  t.equal(task.status, "dead_lettered", "ended, not left to time out");
  t.equal(task.failures.length, 1, "not retried: the same handler would answer the same result");
  t.match(task.failures[0]?.error, { message: /^the result is \d{7} bytes, the limit is 1 MiB \(1048576 bytes\)/, retryable: false, kind: "invalid_result" });
  t.comment(`ended in ${Date.now() - started} ms (start-to-close is 10 s)`);
});
