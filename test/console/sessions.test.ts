import t from "tap";
import { allowedEndpoints, routeOf } from "../../src/console/access.js";
import { cookieValue, MAX_SESSIONS, MAX_TOKENS, SESSION_TTL_MS, sessions, TOKEN_TTL_MS } from "../../src/console/sessions.js";
import { ENDPOINT_NAMES, Endpoints } from "../../src/contract/endpoints.js";

t.test("a token opens one session, once; a session lives until its expiry", (t) => {
  let now = 1_000;
  const s = sessions(() => now);
  const token = s.issueToken("operator");
  t.match(token, /^[A-Za-z0-9_-]{43}$/, "32 random bytes, base64url");
  const got = s.exchange(token);
  t.ok(got);
  t.equal(got!.session.kind, "operator");
  t.not(got!.id, token, "the session id is not the token");
  t.equal(s.exchange(token), undefined, "the token is spent");
  t.equal(s.lookup(got!.id)?.kind, "operator");
  t.equal(s.lookup(token), undefined, "a token is no session id");
  t.equal(s.lookup(undefined), undefined);
  t.equal(s.lookup("x".repeat(10_000)), undefined, "an id of another shape is refused without work");
  now += SESSION_TTL_MS;
  t.equal(s.lookup(got!.id), undefined, "expired");
  t.end();
});

t.test("tokens expire unused, and their number and the sessions' are bounded", (t) => {
  let now = 0;
  const s = sessions(() => now);
  const old = s.issueToken("viewer");
  now += TOKEN_TTL_MS;
  t.equal(s.exchange(old), undefined, "an expired token is refused");
  const tokens = Array.from({ length: MAX_TOKENS + 5 }, () => s.issueToken("viewer"));
  t.equal(s.exchange(tokens[0]!), undefined, "the oldest tokens go first");
  t.ok(s.exchange(tokens.at(-1)!));
  const ids = Array.from({ length: MAX_SESSIONS + 1 }, () => s.exchange(s.issueToken("viewer"))!.id);
  t.equal(s.lookup(ids[0]), undefined, "the oldest session goes first");
  t.ok(s.lookup(ids.at(-1)));
  s.end(ids.at(-1)!);
  t.equal(s.lookup(ids.at(-1)), undefined, "logout ends it");
  t.end();
});

t.test("cookies: the named one, bounded", (t) => {
  t.equal(cookieValue("a=1; ganglion_console=abc; b=2", "ganglion_console"), "abc");
  t.equal(cookieValue("xganglion_console=abc", "ganglion_console"), undefined);
  t.equal(cookieValue(`ganglion_console=${"a".repeat(9000)}`, "ganglion_console"), undefined);
  t.end();
});

t.test("what a session may call", (t) => {
  for (const name of ENDPOINT_NAMES) {
    const spec = Endpoints[name];
    const viewer = routeOf("viewer", name);
    if (spec.access === "read") t.same(viewer, { name, via: "ops" }, `${name}: viewers read over OPS`);
    else if (["task.submit", "task.get", "task.cancel", "task.retry"].includes(name)) t.same(viewer, { name, via: "bus" }, `${name}: viewers may`);
    else t.equal(viewer, undefined, `${name}: not for viewers`);
  }
  t.equal(routeOf("operator", "plugin.approve")?.via, "bus");
  t.equal(routeOf("operator", "plugin.creds"), undefined, "no credentials to a browser");
  t.equal(routeOf("operator", "plugin.register"), undefined);
  t.equal(routeOf("operator", "__proto__"), undefined);
  t.equal(routeOf("operator", "constructor"), undefined);
  t.notOk(allowedEndpoints("viewer").includes("plugin.approve"));
  t.end();
});
