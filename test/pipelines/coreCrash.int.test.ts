import * as E from "fp-ts/lib/Either.js";
import t from "tap";
import { PipelineEvent } from "../../src/events/pipeline.js";
import { TaskEvent } from "../../src/events/task.js";
import type { RunView } from "../../src/contract/pipeline.js";
import { callService } from "../../src/service/client.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { startTestServer } from "../support/natsServer.js";
import { installEcho, spawnEchoWorker, startCoreProcess } from "../faults/support.js";

// A real core process (`ganglion serve`) is SIGKILLed while a run's second step is running, and
// again just after the third was scheduled; after each restart the run resumes from the log. The
// log must then hold exactly one task.submitted per step and one completion per step.

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin({ name: "pipeline-core-crash" });
t.teardown(() => nc.close());

const coreOpts = { url: server.url, dataDir: server.dataDir, adminCreds: server.installation.adminCreds };
let core = await startCoreProcess(coreOpts);
t.teardown(() => core.kill());
const creds = await installEcho(nc, server.dataDir, "plcrash");
const worker = await spawnEchoWorker({ servers: server.url, creds, plugin: "plcrash", instance: "w1" });
t.teardown(() => worker.kill());

/** A service call retried while the core is down or starting. */
const call = async <R>(endpoint: string, req: unknown, timeoutMs = 10_000): Promise<R> => {
  for (let i = 0; ; i++) {
    const r = await callService<R>(nc, endpoint as never, req as never, { timeoutMs });
    if (E.isRight(r)) return r.right;
    if (r.left.code !== "Unavailable" || i > 200) throw new Error(`${endpoint}: ${r.left.code}: ${r.left.message}`);
    await sleep(250);
  }
};

const step = (id: string, from: string) => ({ id, type: "fault.echo", params: { n: { from }, ms: { value: 2_500 } } });

t.test("a run survives kill -9 of the core mid-run and completes each step exactly once", async (t) => {
  await call("pipeline.define", {
    definition: {
      name: "crashy",
      version: "1.0.0",
      params: { type: "object", required: ["n"], properties: { n: { type: "integer" } } },
      steps: [step("a", "/params/n"), step("b", "/steps/a/result/n"), step("c", "/steps/b/result/n")],
    },
  });
  const started = await call<RunView>("pipeline.run", { name: "crashy", params: { n: 7 } });
  const runId = started.runId;
  const until = async (what: string, f: (v: RunView) => boolean) => {
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(100)) {
      const v = await call<RunView>("pipeline.get", { runId });
      if (f(v)) return v;
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  await until("step b running", (v) => v.steps[1]!.status === "running");
  t.equal(await core.kill("SIGKILL"), null, "the core died by SIGKILL while step b ran");
  core = await startCoreProcess(coreOpts);
  await until("step c scheduled", (v) => v.steps[2]!.status === "running");
  t.equal(await core.kill("SIGKILL"), null, "the core died by SIGKILL again once step c was scheduled");
  core = await startCoreProcess(coreOpts);

  const end = await until("the run's end", (v) => v.status !== "running");
  t.equal(end.status, "completed", end.error ?? "");
  t.same(end.result, { n: 7 });
  t.same(
    end.steps.map((s) => [s.id, s.status, s.attempt]),
    [
      ["a", "completed", 1],
      ["b", "completed", 1],
      ["c", "completed", 1],
    ],
  );

  // The log: one submission and one completion per step's task, one of each pipeline event per step.
  const taskIds = new Set(end.steps.map((s) => s.taskId!));
  const counts = new Map<string, Record<string, number>>();
  for await (const e of natsEventStore(nc, { codec: TaskEvent }).readAll({ filter: { categories: ["task"] } })) {
    if (!taskIds.has(e.data.taskId)) continue;
    const c = counts.get(e.data.taskId) ?? {};
    c[e.type] = (c[e.type] ?? 0) + 1;
    counts.set(e.data.taskId, c);
  }
  for (const s of end.steps) {
    t.equal(counts.get(s.taskId!)?.["task.submitted"], 1, `step ${s.id}: exactly one task.submitted`);
    t.equal(counts.get(s.taskId!)?.["task.completed"], 1, `step ${s.id}: exactly one task.completed`);
  }
  const types: string[] = [];
  for await (const e of natsEventStore(nc, { codec: PipelineEvent }).readStream(`pipeline-${runId}`)) {
    types.push(e.type === "pipeline.started" || e.type === "pipeline.completed" ? e.type : `${e.type} ${(e.data as { stepId: string }).stepId}`);
  }
  t.same(types, [
    "pipeline.started",
    "pipeline.step.scheduled a",
    "pipeline.step.completed a",
    "pipeline.step.scheduled b",
    "pipeline.step.completed b",
    "pipeline.step.scheduled c",
    "pipeline.step.completed c",
    "pipeline.completed",
  ]);
  t.equal(core.proc.exitCode, null, "the restarted core is still running");
});
