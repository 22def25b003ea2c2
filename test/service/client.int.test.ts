import t from "tap";
import { readFile } from "node:fs/promises";
import * as E from "fp-ts/lib/Either.js";
import { serviceClient } from "../../src/contract/client.js";
import type { Requester } from "../../src/contract/client.js";
import { ENDPOINT_NAMES } from "../../src/contract/endpoints.js";
import type { EndpointName, RequestOf, ResponseOf } from "../../src/contract/endpoints.js";
import { createTestBus } from "../../src/testing/testBus.js";
import { eventually } from "../support/ops.js";

/*
 * The typed client against a real core (createTestBus: nats-server and the whole core): every
 * reply decodes with its endpoint's response codec, and a reply that does not is an Internal error.
 */
const bus = await createTestBus();
t.teardown(bus.stop);
const client = serviceClient(bus.nc, { actor: "operator:wire" });

const ok = async <N extends EndpointName>(endpoint: N, req: RequestOf<N>): Promise<ResponseOf<N>> => {
  const r = await client.call(endpoint, req);
  if (E.isLeft(r)) throw new Error(`${endpoint}: ${r.left.code}: ${r.left.message}`);
  return r.right;
};

t.test("the core's $SRV.INFO lists exactly the table's endpoints", async (t) => {
  const info = (await bus.nc.request("$SRV.INFO.ganglion", "", { timeout: 5000 })).json<{ endpoints: { subject: string }[] }>();
  t.same(info.endpoints.map((e) => e.subject).sort(), ENDPOINT_NAMES.map((n) => `ganglion.v1.${n}`).sort());
});

t.test("plugin.* replies decode", async (t) => {
  const manifestText = await readFile(new URL("../../examples/ts-worker/manifest.yaml", import.meta.url), "utf8");
  const installed = await ok("plugin.install", { manifestText });
  t.equal(installed.plugin.status, "pending");
  t.same(installed.events, ["plugin.registered"]);
  const approved = await ok("plugin.approve", { pluginId: "wordcount", capabilities: "all" });
  t.equal(approved.plugin.status, "active");
  const shown = await ok("plugin.show", { pluginId: "wordcount" });
  t.equal(shown.manifest.id, "wordcount");
  t.equal(shown.manifest.provides[0]!.timeout, 30_000, "the manifest decodes as stored: durations in ms");
  const creds = await ok("plugin.creds", { pluginId: "wordcount", ttl: "1h" });
  t.match(creds.creds, /BEGIN NATS USER JWT/);
  t.type(creds.expiresAt, "string");
  const list = await ok("plugin.list", {});
  t.same(
    list.plugins.map((p) => p.pluginId),
    ["wordcount"],
  );
  t.equal(list.plugins[0]!.liveCredentials.length, 1);
  t.match(await client.call("plugin.enable", { pluginId: "nobody" }), E.left({ code: "NotFound" }));
});

t.test("task.* replies decode", async (t) => {
  const submitted = await ok("task.submit", { taskType: "text.wordcount", params: { text: "a b" } });
  t.match(submitted, { pluginId: "wordcount" });
  const got = await ok("task.get", { taskId: submitted.taskId });
  t.equal(got.status, "scheduled");
  t.same(got.params, { text: "a b" });
  const limits = await ok("task.limits", { pluginId: "wordcount" });
  t.match(limits, { concurrency: 4, rate: { count: 100, perMs: 1000 }, source: { concurrency: "manifest" } });
  const cancelled = await ok("task.cancel", { taskId: submitted.taskId, reason: "wire test" });
  t.equal(cancelled.status, "cancelled");
  t.equal(cancelled.cancelReason, "wire test");
  t.match(await client.call("task.retry", { taskId: submitted.taskId }), E.left({ code: "NotDeadLettered" }));
  t.match(await client.call("task.submit", { taskType: "text.wordcount", params: { words: 1 } }), E.left({ code: "InvalidParams" }));
});

t.test("views, projections.status and audit.query replies decode", async (t) => {
  await eventually("the views caught up", async () => (await ok("projections.status", {})).every((v) => v.behind === 0));
  const plugins = await ok("views.plugins", {});
  t.same(
    plugins.map((p) => [p.pluginId, p.status]),
    [["wordcount", "active"]],
  );
  t.equal((await ok("views.plugin", { pluginId: "wordcount" })).credentials.length, 1);
  const tasks = await ok("views.tasks", { pluginId: "wordcount" });
  t.equal(tasks.length, 1);
  t.equal(tasks[0]!.status, "cancelled");
  const task = await ok("views.task", { taskId: tasks[0]!.taskId });
  t.same(
    task.history.map((e) => e.type),
    ["task.submitted", "task.cancelled"],
  );
  t.equal(task.history[1]!.actor, "operator:wire");
  t.match(await ok("views.workers", {}), [{ pluginId: "wordcount", online: 0, inFlightCount: 0, live: {} }]);
  t.match(await ok("views.capabilities", {}), { byCapability: {}, byPlugin: {} });
  t.match(await ok("views.totals", {}), { tasks: { total: 1, byStatus: { cancelled: 1 } }, plugins: { total: 1 } });
  const page = await ok("audit.query", { pluginId: "wordcount", limit: 2 });
  t.equal(page.events.length, 2);
  t.equal(page.truncated, true);
});

t.test("a reply that does not match the response codec is an Internal error naming the path", async (t) => {
  // A stand-in core on other subjects, reached through a requester that renames them.
  const sub = bus.nc.subscribe("fake.v1.>", {
    callback: (_err, m) => {
      m.respond(JSON.stringify({ ok: true, result: { byStatus: {}, total: 0 } }));
    },
  });
  t.teardown(() => sub.unsubscribe());
  const renamed: Requester = { request: (subject, payload, opts) => bus.nc.request(subject.replace(/^ganglion\./, "fake."), payload, opts) };
  const r = await serviceClient(renamed).call("views.totals", {});
  t.match(r, E.left({ code: "Internal", message: /views\.totals does not match the contract/, paths: ["result.tasks", "result.plugins"] }));
});
