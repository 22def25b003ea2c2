import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { parseDuration } from "../../src/contract/duration.js";
import { parseTimeBound } from "../../src/projections/audit.js";
import { decodeManifest } from "../../src/plugins/manifest.js";

t.test("one grammar: compound, decimal and every unit", async (t) => {
  const cases: [string, number][] = [
    ["500ms", 500],
    ["30s", 30_000],
    ["1m30s", 90_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["1h 30m", 5_400_000],
    ["7d", 604_800_000],
    ["1w", 604_800_000],
    ["0s", 0],
    ["1.5s", 1500],
  ];
  for (const [s, ms] of cases) t.equal(parseDuration(s), ms, s);
});

t.test("anything outside the grammar is refused, not guessed", async (t) => {
  for (const s of ["", "30", "s", "1h foo", "foo", "-1h", "1 hour", "1e3s", "1y", "1mo", "h1", "1h30", "1.h", "Infinityh", "__proto__", "1h".repeat(100)]) {
    t.equal(parseDuration(s), undefined, JSON.stringify(s));
  }
});

t.test("a long adversarial input is refused quickly (no backtracking blow-up)", async (t) => {
  const s = "1".repeat(100_000) + "x";
  t.equal(parseDuration(s), undefined);
  t.equal(parseDuration("1 ".repeat(60) + "x"), undefined);
});

t.test("audit --since reads the same grammar as --timeout", async (t) => {
  const now = new Date("2026-01-01T12:00:00.000Z");
  t.equal(parseTimeBound("1h30m", now), now.getTime() - 5_400_000);
  t.equal(parseTimeBound("1.5h", now), now.getTime() - 5_400_000);
  t.equal(parseTimeBound("2026-01-01T00:00:00Z", now), Date.parse("2026-01-01T00:00:00Z"));
  t.equal(parseTimeBound("1h foo", now), undefined);
});

t.test("manifest durations read the same grammar", async (t) => {
  const m = (timeout: string) =>
    decodeManifest(`
id: wordcount
version: 1.0.0
description: Counts words
provides:
  - type: text.wordcount
    description: count
    params: { type: object }
    result: { type: object }
    timeout: ${timeout}
capabilities: []
`);
  const ok = m("1h30m");
  t.equal(E.isRight(ok) && ok.right.provides[0]!.timeout, 5_400_000);
  const ok2 = m("1.5h");
  t.equal(E.isRight(ok2) && ok2.right.provides[0]!.timeout, 5_400_000);
  const bad = m('"1h foo"');
  t.ok(E.isLeft(bad));
  t.match(E.isLeft(bad) ? bad.left.join("\n") : "", /timeout.*1h30m/);
});
