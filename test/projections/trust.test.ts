import t from "tap";
import * as io from "io-ts";
import { canonical, foldAll, applyEvent } from "../../src/projections/fold.js";
import type { Rows } from "../../src/projections/fold.js";
import { eventDataSniff, objectSniff } from "../../src/projections/sniff.js";
import { allViews } from "../../src/projections/views.js";
import { decodeFor, trustedDecodeFor } from "../../src/projections/view.js";
import { trustedCommit } from "../../src/store/commits.js";
import { asViewEvents, scenario } from "./fixtures.js";

t.test("a fold that trusts the log gives exactly the rows of a fold that decodes every event", async (t) => {
  const events = asViewEvents(scenario({ plugins: 6, tasks: 400, seed: 3, pipelines: 4 }));
  for (const view of Object.values(allViews)) {
    const strict = foldAll(view, events);
    const trusted: Rows = new Map();
    for (const e of events) t.equal(applyEvent(view, trusted, e, trustedDecodeFor), undefined);
    t.equal(canonical(Object.fromEntries(trusted)), canonical(Object.fromEntries(strict)), `${view.name}: same rows`);
    t.ok(strict.size > 0, `${view.name}: has rows`);
  }
});

t.test("an event of the wrong shape is not trusted: it gets the full decode and its errors", async (t) => {
  const [e] = asViewEvents(scenario({ plugins: 1, tasks: 1, seed: 1 })).filter((x) => x.type === "task.started");
  const view = allViews["tasks"]!;
  t.equal(trustedDecodeFor(view, e!)._tag, "Decoded");
  for (const data of [null, [], "x", { ...(e!.data as object), taskId: 7 }, { ...(e!.data as object), attempt: undefined }]) {
    const d = trustedDecodeFor(view, { ...e!, data });
    t.equal(d._tag, "Invalid", `refused: ${JSON.stringify(data)}`);
    t.same(d, decodeFor(view, { ...e!, data }), "with the full decode's errors");
  }
  t.equal(trustedDecodeFor(view, { ...e!, type: "plugin.enabled" })._tag, "Ignored", "a type the view does not fold");
  t.equal(trustedDecodeFor(view, { ...e!, type: "__proto__" })._tag, "Ignored", "a prototype key as a type is just unknown");
});

t.test("the sniff follows the codec: required fields, optional fields, literals, unions", async (t) => {
  const c = io.intersection([
    io.type({ id: io.string, n: io.number, kind: io.keyof({ a: null, b: null }), tag: io.literal("x"), v: io.union([io.string, io.null]) }),
    io.partial({ note: io.string }),
  ]);
  const s = objectSniff(c);
  const ok = { id: "i", n: 1, kind: "a", tag: "x", v: null };
  t.ok(s(ok));
  t.ok(s({ ...ok, note: "n" }));
  t.notOk(s({ ...ok, note: 1 }), "an optional field of the wrong kind");
  t.notOk(s({ ...ok, kind: "toString" }), "keyof: an inherited name is not a key");
  t.notOk(s({ ...ok, tag: "y" }));
  t.notOk(s({ ...ok, v: 1 }));
  const { id: _, ...noId } = ok;
  t.notOk(s(noId), "a required field missing");
  t.ok(eventDataSniff(io.type({ type: io.literal("e"), data: c }))(ok));
});

t.test("a trusted commit needs the envelope's fields of their kinds", async (t) => {
  const ev = { id: "1", type: "x", schemaVersion: 1, data: {}, metadata: { actor: "core", time: "t" } };
  t.ok(trustedCommit({ events: [ev] }));
  t.notOk(trustedCommit({ events: [] }));
  t.notOk(trustedCommit({ events: [{ ...ev, metadata: { actor: 1, time: "t" } }] }));
  t.notOk(trustedCommit({ events: [{ ...ev, schemaVersion: "1" }] }));
  const { data: _, ...noData } = ev;
  t.notOk(trustedCommit({ events: [noData] }));
  t.notOk(trustedCommit(JSON.parse('{"__proto__": {"events": []}}')));
});

t.test("the tasks runtime's trust: task and worker events that sniff right, and nothing else", async (t) => {
  const { trustedEventsOf } = await import("../../src/projections/view.js");
  const { TaskEvent } = await import("../../src/events/task.js");
  const { WorkerEvent } = await import("../../src/events/worker.js");
  const trust = trustedEventsOf([...TaskEvent.types, ...WorkerEvent.types] as io.Mixed[]);
  const events = asViewEvents(scenario({ plugins: 2, tasks: 30, seed: 5 }));
  const tasks = events.filter((e) => e.type.startsWith("task.") && e.type !== "task.limits.overridden");
  t.ok(tasks.length > 30);
  // Every task event the scenario holds is trusted, and each is exactly what the codec decodes.
  for (const e of tasks) {
    t.ok(trust(e), `${e.type} trusted`);
    const d = TaskEvent.decode({ type: e.type, data: e.data });
    t.ok(d._tag === "Right" && JSON.stringify(d.right.data) === JSON.stringify(e.data), `${e.type}: decode gives it back`);
  }
  // Another family (plugin events carry parsed durations) always gets the full decode.
  const plugin = events.find((e) => e.type.startsWith("plugin."));
  t.equal(trust(plugin!), false);
  const started = tasks.find((e) => e.type === "task.started")!;
  for (const data of [null, [], { ...(started.data as object), attempt: "1" }, { ...(started.data as object), instance: undefined }])
    t.equal(trust({ type: started.type, data }), false, `refused: ${JSON.stringify(data)}`);
  t.equal(trust({ type: "task.unheard_of", data: {} }), false);
  t.equal(trust({ type: "__proto__", data: {} }), false);
});
