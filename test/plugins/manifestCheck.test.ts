import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { decodeManifestValue } from "../../src/plugins/manifest.js";
import { manifestChecker, OFF_LOOP_PATTERN_BUDGET_MS } from "../../src/plugins/manifestCheck.js";
import { defaultCatalog } from "../../src/contract/catalog.js";

/**
 * Issue 12: manifest checks (recheck on every pattern, ajv's compile and probes) are CPU work on
 * untrusted input; they run on a worker thread with a time bound, so the core's event loop keeps
 * answering while a costly manifest is checked.
 */
const withSchema = (params: Record<string, unknown>) => ({
  id: "offloop",
  version: "1.0.0",
  description: "off-loop checks",
  provides: [{ type: "x.y", description: "x", params, result: { type: "object" }, timeout: "10s" }],
});

t.test("the thread decodes exactly what decodeManifestValue does, refusals with their paths included", async (t) => {
  const checker = manifestChecker();
  t.teardown(checker.stop);
  const good = withSchema({ type: "object", properties: { s: { type: "string", pattern: "^[a-z]+$", format: "email" } } });
  // The same budget for recheck as the thread has (a wall-clock budget: under load the shorter on-loop one runs out).
  const thread = await checker.decodeValue(good);
  t.ok(E.isRight(thread), "a manifest with a safe pattern and a format is accepted");
  t.same(thread, decodeManifestValue(good, defaultCatalog(), OFF_LOOP_PATTERN_BUDGET_MS));
  const bad = await checker.decodeValue(withSchema({ type: "object", properties: { s: { type: "string", pattern: "^(a+)+$" } } }));
  t.ok(E.isLeft(bad));
  if (E.isLeft(bad)) t.match(bad.left.join("\n"), /provides\[0\]\.params: .*properties\.s\.pattern: the pattern .* can take exponential/);
  const text = await checker.decodeText(
    `id: offloop\nversion: 1.0.0\ndescription: x\nprovides: [{type: x.y, description: x, params: {$ref: "#"}, result: {type: object}, timeout: 10s}]\n`,
  );
  t.ok(E.isLeft(text) && /never ends validating/.test(text.left.join("\n")), "YAML text too, with the same checks");
  const junk = await checker.decodeText("{{{{ not yaml");
  t.ok(E.isLeft(junk) && /not valid YAML/.test(junk.left.join("\n")));
});

t.test("the event loop runs while a manifest is checked", async (t) => {
  const checker = manifestChecker();
  t.teardown(checker.stop);
  // 200 patterns recheck must think about: on the loop, this froze the core (each pattern up to its budget).
  const properties = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`p${i}`, { type: "string", pattern: `^[a-z]{1,${i + 1}}(x|y)+$` }]));
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  let ticksAtEnd = -1;
  const done = checker.decodeValue(withSchema({ type: "object", properties })).then((r) => {
    ticksAtEnd = ticks;
    return r;
  });
  await done;
  clearInterval(timer);
  t.ok(ticksAtEnd > 0, `timers of the loop fired while the check ran (${ticksAtEnd} ticks)`);
});

t.test("a check over its time bound is refused, its thread replaced, and the next check is answered", async (t) => {
  const slow = manifestChecker({ timeoutMs: 1 });
  t.teardown(slow.stop);
  const r = await slow.decodeValue(withSchema({ type: "object" }));
  t.ok(E.isLeft(r) && /could not be checked within 1 ms/.test(r.left.join("\n")), "refused, naming the bound");
  const again = await slow.decodeValue(withSchema({ type: "object" }));
  t.ok(E.isLeft(again) && /within 1 ms/.test(again.left.join("\n")), "answered again (a new thread), not left hanging");
});

t.test("the queue is bounded", async (t) => {
  const checker = manifestChecker({ queue: 2 });
  t.teardown(checker.stop);
  const all = await Promise.all(Array.from({ length: 5 }, () => checker.decodeValue(withSchema({ type: "object" }))));
  t.ok(
    all.some((r) => E.isLeft(r) && /waiting to be checked already/.test(r.left.join("\n"))),
    "the ones past the queue are refused at once",
  );
  t.ok(
    all.some((r) => E.isRight(r)),
    "the others are checked",
  );
});
