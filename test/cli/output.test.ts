import t from "tap";
import { cellText, createOutput, renderTable } from "../../src/cli/output.js";

const capture = () => {
  let out = "";
  return { io: { stdout: (s: string) => void (out += s), stderr: () => undefined }, text: () => out };
};
const rows = [
  { id: "alpha", n: 1, tags: ["x"] },
  { id: "b", n: 22, tags: undefined },
];
const cols = [
  { header: "id", value: (r: (typeof rows)[number]) => r.id },
  { header: "n", value: (r: (typeof rows)[number]) => r.n },
  { header: "tags", value: (r: (typeof rows)[number]) => r.tags },
];

t.test("tables are aligned with upper-case headers and dashes for nothing", async (t) => {
  t.equal(renderTable(rows, cols), ["ID     N   TAGS", 'alpha  1   ["x"]', "b      22  -"].join("\n") + "\n");
});

t.test("--json prints one JSON document instead", async (t) => {
  const c = capture();
  createOutput(c.io, true).table(rows, cols);
  t.same(JSON.parse(c.text()), JSON.parse(JSON.stringify(rows)));
  const r = capture();
  createOutput(r.io, true).record({ a: 1n, b: "x" });
  t.same(JSON.parse(r.text()), { a: "1", b: "x" }, "bigints become strings");
  const m = capture();
  createOutput(m.io, true).message("done", { ok: true });
  t.same(JSON.parse(m.text()), { ok: true });
  const silent = capture();
  createOutput(silent.io, true).message("just words");
  t.equal(silent.text(), "", "no JSON, no output");
});

t.test("records for people are key: value lines", async (t) => {
  const c = capture();
  createOutput(c.io, false).record({ url: "nats://x", version: undefined });
  t.equal(c.text(), "url:     nats://x\nversion: -\n");
  const e = capture();
  createOutput(e.io, false).table([], cols);
  t.equal(e.text(), "(none)\n");
});

t.test("cell text", async (t) => {
  t.equal(cellText(null), "-");
  t.equal(cellText(new Date(0)), "1970-01-01T00:00:00.000Z");
  t.equal(cellText({ a: 1 }), '{"a":1}');
  t.equal(cellText(0), "0");
});
