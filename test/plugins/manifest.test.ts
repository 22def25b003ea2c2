import t from "tap";
import { readFileSync } from "node:fs";
import * as E from "fp-ts/lib/Either.js";
import { decodeManifest, parseDuration, StoredManifest } from "../../src/plugins/manifest.js";
import { defaultCatalog, describeCapability, knownCapabilities } from "../../src/contract/catalog.js";

const base = (extra: Record<string, string> = {}) => {
  const f = {
    id: "wordcount",
    version: "1.2.0",
    description: "Counts words",
    provides: `
  - type: text.wordcount
    description: count
    params: { type: object, properties: { text: { type: string } } }
    result: { type: object }
    timeout: 30s`,
    capabilities: "[topic.publish:text.counted, provider.chat]",
    ...extra,
  };
  return Object.entries(f)
    .filter(([, v]) => v !== "")
    .map(([k, v]) => `${k}: ${v}`)
    .join("\n");
};

const errors = (text: string) => {
  const d = decodeManifest(text);
  return E.isLeft(d) ? d.left : [];
};

t.test("the example manifest decodes, with durations in ms and defaults filled in", async (t) => {
  const d = decodeManifest(readFileSync(new URL("../../examples/ts-worker/manifest.yaml", import.meta.url), "utf8"));
  if (E.isLeft(d)) return t.fail(d.left.join("\n"));
  const m = d.right;
  t.equal(m.id, "wordcount");
  t.equal(m.provides[0]!.timeout, 30_000);
  t.equal(m.provides[0]!.scheduleToStart, 60_000);
  t.same(m.provides[0]!.retry, { maxAttempts: 3, backoff: [1000, 5000] });
  t.same(m.provides[1]!.retry, { maxAttempts: 1, backoff: [] });
  t.same(m.limits, { concurrency: 4, rate: { count: 100, perMs: 1000 } });
  t.same(m.health, { maxConsecutiveFailures: 5, failureRatio: 0.5, window: 60_000 });
  // A decoded manifest (as stored in an event) decodes again to itself.
  t.same(StoredManifest.decode(JSON.parse(JSON.stringify(m))), E.right(m));
});

t.test("defaults for the optional sections", async (t) => {
  const d = decodeManifest(base());
  if (E.isLeft(d)) return t.fail(d.left.join("\n"));
  t.same(d.right.limits, { concurrency: 4, rate: { count: 100, perMs: 1000 } });
  t.same(d.right.provides[0]!.retry, { maxAttempts: 1, backoff: [] });
  t.equal(d.right.provides[0]!.deadline, undefined);
});

t.test("JSON is read too", async (t) => {
  const d = decodeManifest(JSON.stringify({ id: "echo", version: "0.1.0", description: "x", capabilities: [] }), "json");
  t.ok(E.isRight(d));
});

t.test("a bad duration names its exact path", async (t) => {
  const text = base({
    provides: `
  - type: text.wordcount
    description: count
    params: { type: object }
    result: { type: object }
    timeout: 30`,
  });
  t.same(errors(text), ['provides[0].timeout: expected a duration like "30s", "5m", "500ms", "1h30m" or "1.5h", got 30']);
  t.match(errors(base({ provides: "\n  - { type: a.b, description: d, params: {}, result: {}, timeout: soon }" })), [
    'provides[0].timeout: expected a duration like "30s"',
  ]);
});

t.test("every error is reported at once, each with its path", async (t) => {
  const text = `id: Bad_Id
version: "1"
provides:
  - type: Text
    description: d
    params: { type: nope }
    result: {}
    timeout: 5s
    timout: 3s
    retry: { maxAttempts: 0 }
capabilities: [foo.bar]
limits: { rate: fast }
health: { failureRatio: 2 }
`;
  const errs = errors(text);
  t.match(errs, [/^id: expected a plugin id/]);
  const paths = errs.map((e) => e.split(":")[0]);
  t.same(paths.sort(), [
    "capabilities[0]",
    "description",
    "health.failureRatio",
    "id",
    "limits.rate",
    "provides[0].params",
    "provides[0].retry.maxAttempts",
    "provides[0].timout",
    "provides[0].type",
    "version",
  ]);
  t.ok(errs.some((e) => e.startsWith("provides[0].params: not a valid JSON Schema")));
  t.ok(errs.some((e) => e.startsWith("provides[0].timout: unknown field")));
});

t.test("an unknown capability is refused with the list of known ones", async (t) => {
  const [e] = errors(base({ capabilities: "[provider.chatt]" }));
  t.match(e, /^capabilities\[0\]: unknown capability "provider\.chatt"; known capabilities: /);
  for (const k of knownCapabilities(defaultCatalog())) t.ok(e!.includes(k), k);
  t.match(errors(base({ capabilities: "[topic.publish]" })), ["capabilities[0]: capability topic.publish needs a topic: write topic.publish:<topic>"]);
  t.match(errors(base({ capabilities: "[topic.publish:Bad Topic]" })), [/capabilities\[0\]: topic "Bad Topic" of topic.publish is not valid/]);
  t.match(errors(base({ capabilities: "[provider.chat:x]" })), [/takes no parameter/]);
});

t.test("cross-field rules", async (t) => {
  const dup = errors(
    base({
      provides: `
  - { type: a.b, description: d, params: {}, result: {}, timeout: 1s }
  - { type: a.b, description: d, params: {}, result: {}, timeout: 1s, retry: { maxAttempts: 2, backoff: [1s, 2s] } }`,
      capabilities: "[provider.chat, provider.chat]",
    }),
  );
  t.same(dup.sort(), [
    "capabilities[1]: provider.chat is listed twice",
    "provides[1].retry.backoff: 2 backoff steps need maxAttempts above 2 (one step between two attempts)",
    "provides[1].type: task type a.b is already provided by provides[0]",
  ]);
});

t.test("unparseable text", async (t) => {
  t.match(errors("id: [unclosed"), [/^\(document\): not valid YAML/]);
  t.match(errors("{"), [/^\(document\): not valid YAML/]);
  t.match(decodeManifest("{", "json"), E.left([/^\(document\): not valid JSON/]));
});

t.test("durations", async (t) => {
  t.equal(parseDuration("1m30s"), 90_000);
  t.equal(parseDuration("500ms"), 500);
  t.equal(parseDuration("2h"), 7_200_000);
  t.equal(parseDuration("1.5s"), 1500);
  t.equal(parseDuration("30"), undefined);
  t.equal(parseDuration("s"), undefined);
});

t.test("capabilities in plain words", async (t) => {
  t.equal(
    describeCapability(defaultCatalog(), "topic.publish:text.counted"),
    "Publish messages on the topic text.counted; every plugin subscribed to it will read them.",
  );
});
