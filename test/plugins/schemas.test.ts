import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { decodeManifest, decodeManifestValue, MAX_MANIFEST_BYTES } from "../../src/plugins/manifest.js";
import { createAjv, MANIFEST_PATTERN_BUDGET_MS, MAX_SCHEMA_NODES, schemaIssues } from "../../src/plugins/schemas.js";

const withSchema = (params: Record<string, unknown>, result: Record<string, unknown> = { type: "object" }) => ({
  id: "schemas",
  version: "1.0.0",
  description: "schema checks",
  provides: [{ type: "x.y", description: "x", params, result, timeout: "10s" }],
});
const refused = (m: unknown) => {
  const d = decodeManifestValue(m);
  return E.isLeft(d) ? d.left.join("\n") : undefined;
};

t.test("catastrophic patterns are refused at install, naming the path and the risk", async (t) => {
  for (const p of ["^(a+)+$", "^(a|aa)+$", "(x+x+)+y", "^(\\w+\\s?)*$"]) {
    const why = refused(withSchema({ type: "object", properties: { s: { type: "string", pattern: p } } }));
    t.match(why, /provides\[0\]\.params: .*schema\.properties\.s\.pattern: the pattern .* can take (exponential|polynomial)/, p);
  }
  t.match(
    refused(withSchema({ type: "object" }, { type: "object", patternProperties: { "^(a+)+$": { type: "string" } } })),
    /provides\[0\]\.result: .*patternProperties/,
  );
  t.equal(
    refused(withSchema({ type: "object", properties: { s: { type: "string", pattern: "^[a-z][a-z0-9-]{0,63}$" } } })),
    undefined,
    "a linear pattern is fine",
  );
  t.match(refused(withSchema({ type: "object", properties: { s: { type: "string", pattern: "([a-" } } })), /not a valid regular expression/);
});

t.test("a $ref that loops without descending is refused; a recursive tree schema is fine", async (t) => {
  t.match(refused(withSchema({ $ref: "#" })), /never ends validating/);
  t.match(refused(withSchema({ allOf: [{ $ref: "#" }] })), /never ends validating/);
  t.equal(refused(withSchema({ type: "object", properties: { children: { type: "array", items: { $ref: "#" } } } })), undefined);
});

t.test("huge schemas and manifests are refused quickly, before anything compiles", async (t) => {
  const properties = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`p${i}`, { type: "string" }]));
  const started = process.hrtime.bigint();
  t.match(refused(withSchema({ type: "object", properties })), new RegExp(`more than ${MAX_SCHEMA_NODES} keys`));
  t.comment(`refused in ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
  let deep: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < 100; i++) deep = { type: "object", properties: { a: deep } };
  t.match(refused(withSchema(deep)), /nests deeper than/);
  const big = { ...withSchema({ type: "object" }), description: "x".repeat(7 * 1024 * 1024) };
  t.match(refused(big), new RegExp(`the limit is ${MAX_MANIFEST_BYTES}`));
  const text = decodeManifest(`id: big\nversion: 1.0.0\ndescription: "${"y".repeat(MAX_MANIFEST_BYTES)}"\n`);
  t.ok(E.isLeft(text) && /the limit is/.test(text.left[0]!));
});

t.test("formats are checked, not ignored", async (t) => {
  const ajv = createAjv();
  const v = ajv.compile({ type: "object", properties: { at: { type: "string", format: "date-time" }, to: { type: "string", format: "email" } } });
  t.notOk(v({ at: "yesterday" }), "a date-time that is not one");
  t.notOk(v({ to: "nobody" }), "an email that is not one");
  t.ok(v({ at: "2026-12-01T10:00:00Z", to: "ops@example.org" }));
  t.same(schemaIssues(ajv, { type: "string", format: "date-time" }), []);
});

// Found by probing after the fuzz pass: recheck runs on the core's event loop, up to 2 s per
// pattern, and a manifest of 200 patterns that each take it a few hundred ms froze the core for
// 60 s at install. All the patterns of one manifest now share one budget.
t.test("the patterns of one manifest share one time budget; past it the manifest is refused, naming the limit", async (t) => {
  const properties = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`p${i}`, { type: "string", pattern: `^[a-z]{1,${i + 1}}(x|y)+$` }]));
  const why = refused(withSchema({ type: "object", properties }));
  t.match(why, new RegExp(`the manifest's patterns could not all be checked within ${MANIFEST_PATTERN_BUDGET_MS} ms; use fewer or simpler patterns`));
  t.equal(
    refused(withSchema({ type: "object", properties: { a: { type: "string", pattern: "^[a-z]+$" }, b: { type: "string", pattern: "^[0-9]{1,3}$" } } })),
    undefined,
    "a few plain patterns fit the budget",
  );
});

t.test("patterns linear by their shape skip recheck; anything with repetition or a quantified group does not", async (t) => {
  const { linearByShape } = await import("../../src/plugins/schemas.js");
  for (const p of ["^[0-9a-f]{64}$", "abc", "^(a|b)$", "[a-z]{4}-[0-9]{2}", "(?:ab)c", "^[\\]]{3}$", "(?=a)b"]) t.ok(linearByShape(p), p);
  for (const p of ["a+", "a*", "a?", "(ab){3}", "a{2,3}", "a{2,}", "(a)\\1", "(?<n>a)\\k<n>", "^(a+)+$", "(a|aa){2}", "\\p{L}{2}"])
    t.notOk(linearByShape(p), p);
});
