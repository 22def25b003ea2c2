import { readFile } from "node:fs/promises";
import * as E from "fp-ts/lib/Either.js";
import t from "tap";
import { createTestBus } from "../../src/testing/testBus.js";
import { Kvm } from "@nats-io/kv";
import { loadManifests } from "../../src/projections/manifest.js";
import { liveBucket, readBucket, stripRow } from "../../src/projections/runner/kv.js";
import { runCli } from "../cli/cliProcess.js";
import { exampleManifest, fixture, spawnExampleWorker } from "./support.js";

const bus = await createTestBus();
t.teardown(bus.stop);
const { creds } = await bus.install(await exampleManifest());
const worker = await spawnExampleWorker({ url: bus.url, creds, dir: bus.dataDir, instance: "pl-1" });
t.teardown(worker.kill);
const target = ["--nats", bus.url, "--creds", bus.installation.adminCreds];

t.test("a three-step pipeline is defined and runs from the service: each step feeds the next", async (t) => {
  const d = await bus.call("pipeline.define", { definitionText: await readFile(fixture("three.yaml"), "utf8") });
  t.match(d, E.right({ name: "three-step", version: "1.0.0", changed: true }));
  const again = await bus.call("pipeline.define", { definitionText: await readFile(fixture("three.yaml"), "utf8") });
  t.match(again, E.right({ changed: false }), "the same definition again records nothing");
  const r = await bus.call("pipeline.run", { name: "three-step", params: { text: "one two three" }, waitMs: 60_000 }, { timeoutMs: 90_000 });
  if (E.isLeft(r)) throw new Error(r.left.message);
  t.equal(r.right.status, "completed", r.right.error ?? "");
  t.same(r.right.result, { words: 3 });
  t.same(
    r.right.steps.map((s) => [s.id, s.status, s.attempt]),
    [
      ["first", "completed", 1],
      ["second", "completed", 1],
      ["count", "completed", 1],
    ],
  );
  t.same(r.right.steps[1]!.result, { text: "one two three" });
  for (const s of r.right.steps) {
    const task = await bus.call("task.get", { taskId: s.taskId! });
    t.match(task, E.right({ status: "completed", taskType: s.type }), `step ${s.id} ran as an ordinary task`);
  }
  const bad = await bus.call("pipeline.run", { name: "three-step", params: { text: 3 } });
  t.match(bad, E.left({ code: "InvalidParams" }), "params are checked against the pipeline's schema");
  for (const runId of ["../x", "a.b", "", "x".repeat(65), "__proto__"]) {
    t.match(await bus.call("pipeline.cancel", { runId }), E.left({ code: "InvalidRequest" }), `cancel ${JSON.stringify(runId)} is refused at the edge`);
    t.match(await bus.call("pipeline.get", { runId }), E.left({ code: "InvalidRequest" }));
  }
  t.match(await bus.call("pipeline.run", { name: "No-Such", params: {} }), E.left({ code: "InvalidRequest" }));
  t.match(await bus.call("pipeline.run", { name: "no-such", params: {} }), E.left({ code: "NotFound" }));

  // The pipelines view: the run's row in KV, as pipeline.get answers it.
  const m = (await loadManifests()).find((x) => x.name === "pipelines")!;
  let row: unknown;
  for (let i = 0; i < 300 && (row as { status?: string } | undefined)?.status !== "completed"; i++) {
    const rows = await readBucket(await new Kvm(bus.nc).open(await liveBucket(bus.nc, m)));
    const raw = rows.get(r.right.runId);
    row = raw === undefined ? undefined : stripRow(raw);
    if ((row as { status?: string } | undefined)?.status !== "completed") await new Promise((res) => setTimeout(res, 100));
  }
  t.same(row, r.right, "the pipelines view holds the run as pipeline.get shows it");
});

t.test("a bad definition is refused before anything runs, each error naming the step and the path", async (t) => {
  const def = {
    name: "bad-one",
    version: "1.0.0",
    params: { type: "object", required: ["text"], properties: { text: { type: "string" }, n: { type: "integer" } } },
    steps: [
      { id: "count", type: "text.wordcount", params: { text: { from: "/params/text" } } },
      // words is an integer; text.echo wants a string
      { id: "echo", type: "text.echo", params: { text: { from: "/steps/count/result/words" } } },
      { id: "ahead", type: "text.echo", params: { text: { from: "/steps/later/result/text" } } },
      { id: "nope", type: "text.nope", params: {} },
      { id: "missing", type: "text.echo", params: { text: { from: "/params/absent" } } },
      { id: "optional", type: "text.echo", params: { text: { from: "/params/n" } } },
      { id: "later", type: "text.wordcount", params: { text: { value: "a b" }, extra: { value: 1 } } },
    ],
  };
  const r = await bus.call("pipeline.define", { definition: def });
  if (E.isRight(r)) return t.fail("a bad definition was accepted");
  t.equal(r.left.code, "InvalidRequest");
  const lines = r.left.message.split("\n").slice(1);
  t.comment(lines.join("\n"));
  t.match(lines, [
    /^steps\[1\]\.params\.text: .*integer.*string/,
    /^steps\[2\]\.params\.text: \/steps\/later\/result\/text names step later, which does not run before this one/,
    /^steps\[3\]\.type: no installed plugin provides the task type text\.nope/,
    /^steps\[4\]\.params\.text: \/params\/absent: the schema declares no "absent"/,
    /^steps\[5\]\.params\.text: required, but \/params\/n may be absent/,
    /^steps\[5\]\.params\.text: .*integer.*string/,
    /^steps\[6\]\.params\.extra: text\.wordcount takes no param extra/,
  ]);
  t.ok(r.left.paths?.includes("steps[1].params.text"), "paths name the step and the param");
  t.match(await bus.call("pipeline.show", { name: "bad-one" }), E.left({ code: "NotFound" }), "nothing was recorded");

  const shape = await bus.call("pipeline.define", {
    definitionText: "name: x\nversion: 1\nparams: {}\nsteps:\n  - id: a\n    type: text.echo\n    onFailure: sometimes\n",
  });
  if (E.isRight(shape)) return t.fail("a malformed definition was accepted");
  t.match(shape.left.message, /version: expected a semantic version/);
  t.match(shape.left.message, /steps\[0\]\.onFailure: expected "stop"/);
});

t.test("semantic types: a YOLODataset feeds a step that takes a Dataset; an Image step refuses it", async (t) => {
  const schema = { type: "object", properties: { uri: { type: "string" } }, required: ["uri"] };
  const spec = (type: string, extra: Record<string, string>) => ({ type, description: type, params: schema, result: schema, timeout: "10s", ...extra });
  await bus.install({
    id: "typed",
    version: "1.0.0",
    description: "typed steps",
    provides: [spec("data.load", { outputType: "YOLODataset" }), spec("data.train", { inputType: "Dataset" }), spec("data.label", { inputType: "Image" })],
    dataTypes: [{ name: "Dataset" }, { name: "YOLODataset", is: "Dataset" }, { name: "Image" }],
  });
  const def = (second: string) => ({
    name: `typed-${second.replace(".", "-")}`,
    version: "1.0.0",
    params: schema,
    steps: [
      { id: "load", type: "data.load", params: { uri: { from: "/params/uri" } } },
      { id: "next", type: second, params: { uri: { from: "/steps/load/result/uri" } } },
    ],
  });
  t.match(await bus.call("pipeline.define", { definition: def("data.train") }), E.right({ changed: true }));
  const bad = await bus.call("pipeline.define", { definition: def("data.label") });
  t.match(bad, E.left({ code: "InvalidRequest", message: /steps\[1\]\.type: data\.label takes Image; step load gives YOLODataset, which is not a Image/ }));
});

t.test("the CLI defines a pipeline, runs it with --wait showing each step, lists runs and shows one", async (t) => {
  const d = await runCli(["pipeline", "define", fixture("three.yaml"), ...target]);
  t.equal(d.code, 0, d.stderr);
  const r = await runCli(["pipeline", "run", "three-step", "--data", '{"text": "a b c d"}', "--wait", "--timeout", "60s", ...target]);
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), { words: 4 });
  for (const step of ["first (text.echo): completed", "second (text.echo): completed", "count (text.wordcount): completed"]) t.match(r.stderr, step);
  const runId = /run (\S+) of three-step started/.exec(r.stderr)?.[1];
  t.ok(runId);
  const runs = await runCli(["pipeline", "runs", "--json", ...target]);
  t.equal(runs.code, 0, runs.stderr);
  t.ok((JSON.parse(runs.stdout) as { runId: string }[]).some((x) => x.runId === runId));
  const show = await runCli(["pipeline", "show", runId!, ...target]);
  t.equal(show.code, 0, show.stderr);
  t.match(show.stdout, /status:\s+completed/);
  t.match(show.stdout, /count\s+text\.wordcount\s+completed/);
  const bad = await runCli(["pipeline", "run", "three-step", "--data", '{"nope": 1}', ...target]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /InvalidParams/);
});
