import t from "tap";
import * as io from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { eventDecoder, membersByType } from "../../src/events/dispatch.js";
import { GanglionEvent } from "../../src/events/index.js";

const A = io.type({ type: io.literal("a.done"), data: io.type({ n: io.number }) });
const B = io.type({ type: io.literal("b.done"), data: io.type({ s: io.string }) });
const C = io.intersection([io.type({ type: io.literal("c.done") }), io.type({ data: io.type({ ok: io.boolean }) })]);

t.test("a union of typed events dispatches on the type, nested unions included", async (t) => {
  const m = membersByType(io.union([A, io.union([B, C])]));
  t.same([...(m?.keys() ?? [])], ["a.done", "b.done", "c.done"]);
  const d = eventDecoder(io.union([A, io.union([B, C])]));
  t.same(d({ type: "b.done", data: { s: "x" } }), E.right({ type: "b.done", data: { s: "x" } }));
  const bad = d({ type: "a.done", data: { n: "1" } });
  t.ok(E.isLeft(bad) && bad.left.some((e) => /n/.test(e)), "the error names the field");
  const unknown = d({ type: "z.done", data: {} });
  t.ok(E.isLeft(unknown) && /"z\.done" is not one of the event types/.test(unknown.left[0]!));
});

t.test("anything else is decoded by the codec itself", async (t) => {
  const loose = io.type({ type: io.string, data: io.unknown });
  t.equal(membersByType(loose), undefined);
  t.same(eventDecoder(loose)({ type: "any.thing", data: 1 }), E.right({ type: "any.thing", data: 1 }));
  t.equal(membersByType(io.union([A, A])), undefined, "a type declared twice is not a dispatch table");
});

t.test("every Ganglion event family is a dispatchable union", async (t) => {
  const m = membersByType(GanglionEvent);
  t.ok(m && m.size > 20, `${m?.size} event types`);
  t.ok(m?.has("plugin.registered") && m.has("task.completed") && m.has("worker.online"));
});
