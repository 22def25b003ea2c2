import * as E from "fp-ts/lib/Either.js";
import t from "tap";
import type { PipelineDefinition, RunView } from "../../src/contract/pipeline.js";
import { createTestBus } from "../../src/testing/testBus.js";
import { fixtureManifest, spawnWorker } from "../tasks/support.js";

// Failure policies of steps, over the tasks fixture worker (work.sleep, work.fail, work.wait):
// retry N, skip, a compensation step, stop; and cancelling a run.
const bus = await createTestBus();
t.teardown(bus.stop);
const { creds } = await bus.install(fixtureManifest("plpol", { retry: { maxAttempts: 1 } }));
const w = await spawnWorker(bus, { plugin: "plpol", creds, instance: "pol-1" });
t.teardown(() => w.kill());

const define = async (name: string, steps: PipelineDefinition["steps"] | Record<string, unknown>[]) => {
  const r = await bus.call("pipeline.define", { definition: { name, version: "1.0.0", params: { type: "object" }, steps } });
  if (E.isLeft(r)) throw new Error(r.left.message);
};
const run = async (name: string): Promise<RunView> => {
  const r = await bus.call("pipeline.run", { name, params: {}, waitMs: 60_000 }, { timeoutMs: 90_000 });
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right;
};
const sleepStep = (id: string) => ({ id, type: "work.sleep", params: { ms: { value: 10 }, quiet: { value: true } } });

t.test("retry N: the step runs N more times, each a new task, then the run fails", async (t) => {
  await define("retries", [{ id: "flaky", type: "work.fail", params: { retryable: { value: false } }, onFailure: { retry: 2 } }]);
  const v = await run("retries");
  t.equal(v.status, "failed");
  t.match(v.error, /flaky: .*dead-lettered.*\(after 3 attempts\)/);
  t.equal(v.steps[0]!.attempt, 3);
  const seen = w.lines.filter((l) => l.event === "started").map((l) => l.taskId as string);
  t.equal(new Set(seen.filter((id) => id.startsWith("pl-"))).size, 3, "three distinct tasks, one per attempt");
});

t.test("skip: the step is skipped and the run goes on without its result", async (t) => {
  await define("skips", [{ id: "optional", type: "work.fail", params: {}, onFailure: "skip" }, sleepStep("after")]);
  const v = await run("skips");
  t.equal(v.status, "completed", v.error ?? "");
  t.same(
    v.steps.map((s) => s.status),
    ["skipped", "completed"],
  );
});

t.test("compensate: a compensation task runs, then the run fails", async (t) => {
  await define("compensates", [
    sleepStep("book"),
    { id: "pay", type: "work.fail", params: {}, onFailure: { compensate: { type: "work.sleep", params: { ms: { value: 10 }, quiet: { value: true } } } } },
    sleepStep("ship"),
  ]);
  const v = await run("compensates");
  t.equal(v.status, "failed");
  t.same(
    v.steps.map((s) => s.status),
    ["completed", "compensated", "pending"],
  );
  const c = v.steps[1]!.compensationTaskId!;
  t.match(await bus.call("task.get", { taskId: c }), E.right({ status: "completed", taskType: "work.sleep" }), "the compensation ran as a task");
  t.match(v.error, /pay: .*\(compensated\)/);
});

t.test("stop (the default): the run fails at the step; later steps never run", async (t) => {
  await define("stops", [{ id: "broken", type: "work.fail", params: {} }, sleepStep("never")]);
  const v = await run("stops");
  t.equal(v.status, "failed");
  t.same(
    v.steps.map((s) => s.status),
    ["failed", "pending"],
  );
});

t.test("cancel: the run ends cancelled and its running step's task is cancelled", async (t) => {
  await define("cancels", [{ id: "forever", type: "work.wait", params: {} }]);
  const r = await bus.call("pipeline.run", { name: "cancels", params: {} });
  if (E.isLeft(r)) throw new Error(r.left.message);
  const runId = r.right.runId;
  let v = r.right;
  for (let i = 0; i < 600 && v.steps[0]!.status !== "running"; i++) {
    await new Promise((res) => setTimeout(res, 100));
    const g = await bus.call("pipeline.get", { runId });
    if (E.isRight(g)) v = g.right;
  }
  await w.waitFor((l) => l.event === "started" && l.taskId === v.steps[0]!.taskId, "the step's task started");
  const c = await bus.call("pipeline.cancel", { runId, reason: "test" });
  t.match(c, E.right({ status: "cancelled" }));
  const task = await bus.call("task.get", { taskId: v.steps[0]!.taskId!, waitMs: 20_000 });
  t.match(task, E.right({ status: "cancelled" }));
  t.match(await bus.call("pipeline.cancel", { runId }), E.left({ code: "AlreadyEnded" }));
});
