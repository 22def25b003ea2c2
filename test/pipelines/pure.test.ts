import * as E from "fp-ts/lib/Either.js";
import t from "tap";
import { PipelineDefinition, resolvePointer } from "../../src/contract/pipeline.js";
import { deciderSpec } from "../../src/es/spec.js";
import { buildParams, nextAction, runDecider, stepTaskId } from "../../src/pipelines/decider.js";
import { compatible, schemaAt } from "../../src/pipelines/compat.js";
import { decodeDefinition } from "../../src/pipelines/definition.js";

t.test("JSON Pointer (RFC 6901): escapes, arrays, own properties only", async (t) => {
  const doc = { a: { "b/c": 1, "d~e": 2, list: [10, 20] }, "": 3 };
  t.same(resolvePointer(doc, "/a/b~1c"), { found: true, value: 1 });
  t.same(resolvePointer(doc, "/a/d~0e"), { found: true, value: 2 });
  t.same(resolvePointer(doc, "/a/list/1"), { found: true, value: 20 });
  t.same(resolvePointer(doc, "/a/list/01"), { found: false });
  t.same(resolvePointer(doc, "/a/list/2"), { found: false });
  t.same(resolvePointer(doc, "/"), { found: true, value: 3 });
  t.same(resolvePointer(doc, "/a/__proto__"), { found: false });
  t.same(resolvePointer(doc, "/a/constructor"), { found: false });
  t.same(resolvePointer(doc, "/a/toString"), { found: false });
});

t.test("schema compatibility: types, required properties, enums, closed objects; unread keywords refused", async (t) => {
  t.same(compatible({ type: "integer" }, { type: "number" }), []);
  t.match(compatible({ type: "number" }, { type: "integer" }), [/source may be number, the target wants integer/]);
  t.match(compatible({}, { type: "string" }), [/declares no type/]);
  t.same(compatible({ type: "string" }, {}), []);
  t.same(compatible({ enum: ["a", "b"] }, { enum: ["a", "b", "c"] }), []);
  t.match(compatible({ enum: ["a", "z"] }, { enum: ["a", "b"] }), [/\["z"\]/]);
  t.match(compatible({ type: "string" }, { type: "string", enum: ["a"] }), [/not limited/]);
  t.same(compatible({ const: 3 }, { type: "number" }), []);
  const person = { type: "object", required: ["name"], properties: { name: { type: "string" }, age: { type: "integer" } } };
  t.same(compatible(person, { type: "object", required: ["name"], properties: { name: { type: "string" } } }), []);
  t.match(compatible({ type: "object", properties: { name: { type: "string" } } }, person), [/value\.name: required by the target, not by the source/]);
  t.match(compatible({ ...person, properties: { name: { type: "integer" } } }, person), [/value\.name: the source may be integer/]);
  t.match(compatible(person, { ...person, additionalProperties: false }), [/not closed/]);
  t.same(compatible({ ...person, additionalProperties: false }, { ...person, additionalProperties: false }), []);
  t.match(compatible({ type: "array", items: { type: "string" } }, { type: "array", items: { type: "integer" } }), [/value\[\]: the source may be string/]);
  t.match(compatible({ anyOf: [{ type: "string" }] }, { type: "string" }), [/uses anyOf, which this check does not read/]);
  t.match(compatible({ type: "string" }, { $ref: "#/x" }), [/uses \$ref/]);
  t.same(compatible({ type: "string", maxLength: 3 }, { type: "string", maxLength: 1 }), [], "value bounds are not checked (documented)");
});

t.test("the schema at a pointer, and whether it is sure to be there", async (t) => {
  const s = {
    type: "object",
    required: ["a"],
    properties: { a: { type: "object", properties: { b: { type: "string" } } }, l: { type: "array", items: { type: "integer" } } },
  };
  t.same(schemaAt(s, ["a"]), { schema: s.properties.a, required: true });
  t.same(schemaAt(s, ["a", "b"]), { schema: { type: "string" }, required: false });
  t.same(schemaAt(s, ["l", "0"]), { schema: { type: "integer" }, required: false });
  t.match(schemaAt(s, ["__proto__"]), { error: /declares no "__proto__"/ });
});

const def = (onFailure: unknown = "stop") => {
  const d = PipelineDefinition.decode({
    name: "p",
    version: "1.0.0",
    params: { type: "object" },
    steps: [
      { id: "a", type: "x.a", params: { v: { from: "/params/v" } }, onFailure },
      { id: "b", type: "x.b", params: { v: { from: "/steps/a/result/v" }, k: { value: { deep: [1] } } } },
    ],
  });
  if (E.isLeft(d)) throw new Error("fixture does not decode");
  return d.right;
};
const at = "2026-12-03T00:00:00.000Z";
const given = deciderSpec(runDecider);
const started = (d = def()) => runDecider.decide({ type: "start", runId: "r1", definition: d, params: { v: 5 }, at }, null) as E.Right<never[]>;

t.test("the run decider: schedule, complete, the next step's params built from the result; repeats record nothing", async (t) => {
  const h = [...started().right];
  const tid = stepTaskId("r1", "a", 1);
  t.equal(tid, stepTaskId("r1", "a", 1), "task ids are derived, the same every time");
  t.not(tid, stepTaskId("r1", "a", 2));
  t.match(nextAction(given(h).state()), { type: "schedule", step: { id: "a" }, attempt: 1 });
  const sched = given(h).when({ type: "schedule", stepId: "a", attempt: 1, taskId: tid, at });
  h.push(...(sched as E.Right<never[]>).right);
  t.same(given(h).when({ type: "schedule", stepId: "a", attempt: 1, taskId: tid, at }), E.right([]), "scheduling twice records once");
  t.match(nextAction(given(h).state()), { type: "await", taskId: tid });
  const done = given(h).when({ type: "task_ended", stepId: "a", taskId: tid, outcome: { ok: true, result: { v: 6 } }, at });
  h.push(...(done as E.Right<never[]>).right);
  t.same(
    given(h).when({ type: "task_ended", stepId: "a", taskId: tid, outcome: { ok: true, result: { v: 6 } }, at }),
    E.right([]),
    "a repeated end records nothing",
  );
  const s = given(h).state()!;
  t.same(buildParams(s.definition.steps[1]!.params, s.row), { v: 6, k: { deep: [1] } });
});

t.test("the run decider: retry, then fail; a definition with proto keys decodes as data", async (t) => {
  const h = [...started(def({ retry: 1 })).right];
  for (const attempt of [1, 2]) {
    const tid = stepTaskId("r1", "a", attempt);
    h.push(...(given(h).when({ type: "schedule", stepId: "a", attempt, taskId: tid, at }) as E.Right<never[]>).right);
    h.push(...(given(h).when({ type: "task_ended", stepId: "a", taskId: tid, outcome: { ok: false, error: "boom" }, at }) as E.Right<never[]>).right);
  }
  t.match(given(h).state()!.row, { status: "failed", error: "a: boom (after 2 attempts)" });
  const text = 'name: p\nversion: 1.0.0\nparams: {type: object}\nsteps:\n  - id: a\n    type: x.a\n    params: {"__proto__": {value: 1}}\n';
  const d = decodeDefinition(text);
  t.ok(E.isRight(d));
  if (E.isRight(d)) {
    t.same(Object.keys(d.right.steps[0]!.params), ["__proto__"]);
    t.equal(({} as Record<string, unknown>).value, undefined, "no prototype was polluted");
  }
});
