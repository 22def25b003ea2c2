import t from "tap";
import * as io from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import pino from "pino";
import { defineEndpoint } from "../../src/service/endpoint.js";
import { errorPaths, handleRequest, parseBody } from "../../src/service/service.js";
import { StoreUnavailableError } from "../../src/store/types.js";

const enc = (s: string) => new TextEncoder().encode(s);
const ctx = { log: pino({ level: "silent" }), now: new Date("2026-01-01T00:00:00Z"), correlationId: "c1" };

const echo = defineEndpoint(
  {
    name: "test.echo",
    access: "command",
    description: "echoes",
    request: io.intersection([
      io.type({ pluginId: io.string, n: io.number }),
      io.partial({ tags: io.array(io.string), nested: io.type({ deep: io.boolean }) }),
    ]),
    response: io.unknown,
  },
  async (req, c) => E.right({ req, actor: c.actor, at: c.now.toISOString() }),
);
const spec = (name: string) => ({ name, access: "command" as const, description: "", request: io.type({}), response: io.unknown });

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
  const away = defineEndpoint(spec("away"), async () => Promise.reject(new StoreUnavailableError(new Error("jetstream is not enabled"))));
  t.match(await handleRequest(away, enc("{}"), ctx), E.left({ code: "Unavailable", retryAfterMs: 1000, message: /outcome is unknown/ }));
});

t.test("a throwing handler becomes an Internal error", async (t) => {
  const boom = defineEndpoint(spec("boom"), async () => Promise.reject(new Error("kaput")));
  t.match(await handleRequest(boom, enc("{}"), ctx), E.left({ code: "Internal", message: /boom failed: kaput/ }));
});

t.test("junk at the boundary: each refusal names the limit, nothing reaches the handler", async (t) => {
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  t.match(parseBody(enc(deep)), E.left({ code: "InvalidRequest", message: /nests 100000 levels deep; the limit is 64/, paths: ["$"] }));
  t.match(
    parseBody(enc(JSON.stringify({ s: "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[" }))),
    E.right({ s: /^\[+$/ }),
    "brackets inside strings are text",
  );
  t.match(parseBody(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), E.left({ code: "InvalidRequest", message: /not valid UTF-8/ }));
  t.match(parseBody(new Uint8Array(3 * 1024 * 1024).fill(0x20)), E.left({ code: "InvalidRequest", message: /bytes; the limit is/ }));
  const big = "x".repeat(7 * 1024 * 1024);
  t.match(await handleRequest(echo, enc(JSON.stringify({ pluginId: "p", n: 1, actor: big })), ctx), E.left({ code: "InvalidRequest" }));
  t.match(
    await handleRequest(echo, enc(JSON.stringify({ pluginId: "p", n: 1, actor: "a".repeat(129) })), ctx),
    E.left({ code: "InvalidRequest", paths: ["actor"] }),
  );
  t.match(
    await handleRequest(echo, enc(JSON.stringify({ pluginId: "p", n: 1, actor: "op\nerator" })), ctx),
    E.left({ code: "InvalidRequest", paths: ["actor"] }),
    "no control characters in an actor",
  );
  // Prototype keys are plain data: they neither pollute nor pass for fields.
  const r = await handleRequest(echo, enc('{"pluginId":"p","n":1,"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}'), ctx);
  t.ok(E.isRight(r));
  t.equal(({} as { polluted?: boolean }).polluted, undefined, "Object.prototype is untouched");
});
