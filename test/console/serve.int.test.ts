import t from "tap";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startTestServer } from "../support/natsServer.js";
import { repoRoot, startCli } from "../cli/cliProcess.js";

/**
 * `ganglion serve --console` over plain HTTP (no browser): the login exchange, the session's
 * limits, and the live stream (SSE) carrying an event the moment the log grows.
 */

const server = await startTestServer();
t.teardown(server.stop);

const serve = await startCli([
  "serve",
  "--console",
  "--console-port",
  "0",
  "--nats",
  server.url,
  "--creds",
  server.installation.adminCreds,
  "--data-dir",
  server.dataDir,
]);
t.teardown(() => serve.stop());
const urlOf = (prefix: string) =>
  serve
    .lines()
    .find((l) => l.startsWith(prefix))!
    .slice(prefix.length);

/** Exchanges a login URL for the session cookie (`name=value`). */
const loginCookie = async (url: string) => {
  const r = await fetch(url, { redirect: "manual" });
  if (r.status !== 303) throw new Error(`login answered ${r.status}`);
  const set = r.headers.get("set-cookie")!;
  t.match(set, /HttpOnly/);
  t.match(set, /SameSite=Strict/);
  return set.split(";")[0]!;
};

const post = (origin: string, cookie: string, path: string, body: unknown, extra: Record<string, string> = {}) =>
  fetch(`${origin}${path}`, {
    method: "POST",
    headers: { cookie, "content-type": "application/json", "x-ganglion-console": "1", ...extra },
    body: JSON.stringify(body),
  });

t.test("serve --console: sessions, their limits, and the live stream", async (t) => {
  t.equal(serve.lines()[0], `ganglion ready ${server.url}`);
  const operatorUrl = urlOf("console: ");
  const origin = new URL(operatorUrl).origin;
  t.equal((await fetch(`${origin}/api/session`)).status, 401, "no session, no API");
  const op = await loginCookie(operatorUrl);
  t.equal((await fetch(operatorUrl, { redirect: "manual" })).status, 401, "single use");
  const viewer = await loginCookie(urlOf("console (read-only, may submit tasks): "));
  t.match(await (await fetch(`${origin}/api/session`, { headers: { cookie: viewer } })).json(), { kind: "viewer" });

  t.equal((await post(origin, op, "/api/call/views.totals", {}, { origin: "http://evil.example" })).status, 403, "a foreign Origin is refused");
  t.equal((await post(origin, op, "/api/call/views.totals", {}, { "content-type": "text/plain" })).status, 415, "only JSON");
  t.equal((await post(origin, op, "/api/call/views.totals", "x".repeat(1024 * 1024 + 10))).status, 413, "bodies are bounded");
  const bad = await post(origin, op, "/api/call/task.submit", { taskType: 7 });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { ok: false, error: { code: "InvalidRequest", paths: ["taskType"] } }, "decoded with the endpoint's codec, paths named");
  t.equal((await post(origin, op, "/api/call/nope.nope", {})).status, 403);

  // The live stream: open it, then make the log grow.
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const live = await fetch(`${origin}/api/live`, { headers: { cookie: viewer }, signal: ac.signal });
  t.equal(live.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = live.body!.getReader();
  const manifestText = await readFile(join(repoRoot, "examples/ts-worker/manifest.yaml"), "utf8");
  const installed = await post(origin, op, "/api/call/plugin.install", { manifestText });
  t.equal(installed.status, 200, "an operator installs");
  let text = "";
  while (!/event: event\ndata: .*plugin\.registered/.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  t.match(text, /"subject":"ev\.plugin\.wordcount"/, "the commit arrives on the stream");
  t.match(text, /"actor":"console:operator:[0-9a-f]{8}"/, "with the session as actor");
  t.notMatch(text, /manifest/, "without the event's data");

  const approve = await post(origin, viewer, "/api/call/plugin.approve", { pluginId: "wordcount", capabilities: "all" });
  t.equal(approve.status, 403, "a viewer cannot approve");
  const rows = await post(origin, viewer, "/api/call/views.plugins", {});
  t.equal(rows.status, 200, "a viewer reads (over OPS)");
  const submit = await post(origin, viewer, "/api/call/task.submit", { taskType: "text.wordcount", params: { text: "a b" } });
  t.equal(submit.status, 422, "a viewer may submit; this one the core refuses: the plugin is still pending");
  t.match(await submit.json(), { ok: false, error: { message: /wordcount/ } });
});
