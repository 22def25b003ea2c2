import t from "tap";
import * as io from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import pino from "pino";
import { defineEndpoint } from "../../src/service/endpoint.js";
import { errorPaths, handleRequest, parseBody } from "../../src/service/service.js";
import { StoreUnavailableError } from "../../src/store/types.js";

const enc = (s: string) => new TextEncoder().encode(s);
const ctx = { log: pino({ level: "silent" }), now: new Date("2026-01-01T00:00:00Z"), correlationId: "c1" };

const echo = defineEndpoint({
  name: "test.echo",
  description: "echoes",
  request: io.intersection([io.type({ pluginId: io.string, n: io.number }), io.partial({ tags: io.array(io.string), nested: io.type({ deep: io.boolean }) })]),
  handle: async (req, c) => E.right({ req, actor: c.actor, at: c.now.toISOString() }),
});

t.test("an empty body is {}; anything else must be JSON", async (t) => {
  t.same(parseBody(new Uint8Array()), E.right({}));
  t.match(parseBody(enc("{x")), E.left({ code: "InvalidRequest", paths: ["$"] }));
});

t.test("decode failures name each failing path, without union/intersection member indexes", async (t) => {
  const r = await handleRequest(echo, enc(JSON.stringify({ pluginId: 1, tags: ["a", 2], nested: { deep: "no" } })), ctx);
  t.ok(E.isLeft(r));
  if (E.isLeft(r)) {
    t.equal(r.left.code, "InvalidRequest");
    t.same([...(r.left.paths ?? [])].sort(), ["n", "nested.deep", "pluginId", "tags.1"]);
    t.match(r.left.message, /invalid test\.echo request/);
  }
  const d = io.type({ a: io.type({ b: io.string }) }).decode({ a: { b: 1 } });
  t.same(E.isLeft(d) ? errorPaths(d.left) : [], ["a.b"]);
});

t.test("the actor comes from the request, defaults to operator, and must be a string", async (t) => {
  t.match(await handleRequest(echo, enc(JSON.stringify({ pluginId: "p", n: 1 })), ctx), E.right({ actor: "operator", at: "2026-01-01T00:00:00.000Z" }));
  t.match(await handleRequest(echo, enc(JSON.stringify({ pluginId: "p", n: 1, actor: "operator:ann" })), ctx), E.right({ actor: "operator:ann" }));
  t.match(await handleRequest(echo, enc(JSON.stringify({ pluginId: "p", n: 1, actor: 5 })), ctx), E.left({ code: "InvalidRequest", paths: ["actor"] }));
});

t.test("an unreachable event store is Unavailable with a retry hint, not Internal", async (t) => {
  const away = defineEndpoint({ name: "away", description: "", request: io.type({}), handle: async () => Promise.reject(new StoreUnavailableError(new Error("jetstream is not enabled"))) });
  t.match(await handleRequest(away, enc("{}"), ctx), E.left({ code: "Unavailable", retryAfterMs: 1000, message: /outcome is unknown/ }));
});

t.test("a throwing handler becomes an Internal error", async (t) => {
  const boom = defineEndpoint({ name: "boom", description: "", request: io.type({}), handle: async () => Promise.reject(new Error("kaput")) });
  t.match(await handleRequest(boom, enc("{}"), ctx), E.left({ code: "Internal", message: /boom failed: kaput/ }));
});
