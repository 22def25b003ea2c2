import t from "tap";
import fc from "fast-check";
import * as t_ from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import * as envelope from "../../src/events/envelope.js";
import * as pluginEvents from "../../src/events/plugin.js";
import * as taskEvents from "../../src/events/task.js";
import * as workerEvents from "../../src/events/worker.js";
import * as wire from "../../src/contract/wire.js";
import * as taskEndpoints from "../../src/service/endpoints/tasks.js";
import * as endpoint from "../../src/service/endpoint.js";

/**
 * Every io-ts codec the bus decodes at a boundary (events, envelopes, worker reports, heartbeats,
 * control messages, service replies and requests) gets random and malformed values: decoding
 * never throws; a refusal names at least one path; an accepted value encodes to something the
 * codec accepts again. Values are what JSON.parse can give (and a few more): a wire payload is
 * JSON, and io-ts's PathReporter cannot print a BigInt.
 */
const codecs = Object.entries({ envelope, plugin: pluginEvents, task: taskEvents, worker: workerEvents, wire, taskEndpoints, endpoint }).flatMap(([mod, m]) =>
  Object.entries(m as Record<string, unknown>)
    .filter((e): e is [string, t_.Mixed] => e[1] instanceof t_.Type)
    .map(([name, c]) => ({ name: `${mod}.${name}`, codec: c })),
);

/** Values near a codec's shape: objects with its likely keys, holding random values. */
const nearMiss = fc.record(
  {
    type: fc.oneof(fc.constantFrom("task.submitted", "task.completed", "plugin.registered", "worker.online", "bench"), fc.string()),
    data: fc.anything(),
    taskId: fc.oneof(fc.string(), fc.integer()),
    attempt: fc.oneof(fc.integer(), fc.string(), fc.double()),
    instance: fc.anything(),
    status: fc.oneof(fc.constantFrom("started", "progress", "completed", "failed"), fc.string()),
    events: fc.array(fc.anything(), { maxLength: 3 }),
    ok: fc.anything(),
    error: fc.anything(),
    result: fc.anything(),
  },
  { requiredKeys: [] },
);

t.ok(codecs.length >= 30, `found the boundary codecs (${codecs.length})`);

for (const { name, codec } of codecs) {
  t.test(name, async (t) => {
    let refused = 0;
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.anything({ withNullPrototype: true }), nearMiss), (v) => {
        const r = codec.decode(v);
        if (E.isLeft(r)) {
          refused++;
          const paths = failure(r.left);
          return paths.length > 0 && paths.every((p) => typeof p === "string" && p.length > 0);
        }
        return E.isRight(codec.decode(codec.encode(r.right)));
      }),
      { numRuns: 300 },
    );
    t.ok(refused > 0, `${name} refused malformed values with readable paths`);
  });
}
