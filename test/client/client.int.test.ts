import t from "tap";
import { Client, GanglionError, NotGrantedError, TaskCancelledError, TaskDeadLetteredError } from "../../src/index.js";
import { appSetup } from "./support.js";

type Echo = { params: { n: number }; result: { n: number } };
type Tasks = { "app.echo": Echo; "app.slow": { params: { n: number; steps?: number; ms?: number }; result: { n: number } }; "app.fail": Echo };

const s = await appSetup("shop", ["task.submit:app.echo", "task.submit:app.slow", "task.submit:app.fail"]);
t.teardown(s.stop);
const client = await Client.connect<Tasks>({ servers: s.bus.url, creds: s.appCreds });
t.teardown(() => client.close());

t.test("the core tells the application who it is and what it may submit", async (t) => {
  t.same(client.info, { appId: "shop", grants: ["task.submit:app.echo", "task.submit:app.fail", "task.submit:app.slow"] });
});

t.test("submit → result; the task id is the application's, and the log names it as the actor", async (t) => {
  const h = await client.submit("app.echo", { n: 7 });
  t.match(h.id, /^shop_[0-9a-f]{32}$/);
  t.equal(h.pluginId, "appwork");
  t.same(await h.result({ timeoutMs: 30_000 }), { n: 7 });
  const v = await client.get(h.id);
  t.equal(v.status, "completed");
  const shown = await s.bus.call("views.task", { taskId: h.id });
  if (shown._tag === "Left") throw new Error(shown.left.message);
  const submitted = shown.right.history.find((e) => e.type === "task.submitted");
  t.equal(submitted?.actor, "app:shop", "task.submitted names the application as its actor");
});

t.test("the same idempotency key answers the same task, sent in sequence or at once, and the key is in the log", async (t) => {
  const first = await client.submit("app.echo", { n: 1 }, { idempotencyKey: "order-42" });
  const again = await client.submit("app.echo", { n: 1 }, { idempotencyKey: "order-42" });
  const racing = await Promise.all(Array.from({ length: 8 }, () => client.submit("app.echo", { n: 1 }, { idempotencyKey: "order-43" })));
  t.equal(again.id, first.id);
  t.equal(first.existing, false);
  t.equal(again.existing, true);
  t.equal(new Set(racing.map((h) => h.id)).size, 1, "eight racing submissions under one key: one task");
  await first.result({ timeoutMs: 30_000 });
  await racing[0]!.result({ timeoutMs: 30_000 });
  const shown = await s.bus.call("views.task", { taskId: racing[0]!.id });
  if (shown._tag === "Left") throw new Error(shown.left.message);
  t.equal(shown.right.history.filter((e) => e.type === "task.submitted").length, 1, "one task.submitted");
  t.match(JSON.stringify(shown.right.history.find((e) => e.type === "task.submitted")), /order-43/, "the key is recorded on task.submitted");
});

t.test("progress() yields the worker's reports and ends with the task", async (t) => {
  const h = await client.submit("app.slow", { n: 3, steps: 3, ms: 400 });
  const seen = [];
  for await (const p of h.progress()) seen.push(p.done);
  t.ok(seen.length >= 1, `progress reports arrived (${seen.join(",")})`);
  t.same(seen, [...seen].sort(), "in order");
  t.same(await h.result({ timeoutMs: 30_000 }), { n: 3 });
});

t.test("cancel(): result() throws TaskCancelledError; a failing task throws TaskDeadLetteredError", async (t) => {
  const h = await client.submit("app.slow", { n: 1, steps: 50, ms: 200 });
  await h.cancel("changed my mind");
  const err = await h.result({ timeoutMs: 30_000 }).catch((e: unknown) => e);
  t.type(err, TaskCancelledError);
  t.match((err as TaskCancelledError).task.cancelReason, /changed my mind/);
  const f = await client.submit("app.fail", { n: 1 });
  const ferr = await f.result({ timeoutMs: 30_000 }).catch((e: unknown) => e);
  t.type(ferr, TaskDeadLetteredError);
  t.match((ferr as Error).message, /refused on purpose/);
});

t.test("refusals are typed: invalid params with paths; an ungranted type has no route on the server", async (t) => {
  const bad = await client.submit("app.echo", { n: "x" } as never).catch((e: unknown) => e);
  t.type(bad, GanglionError);
  t.equal((bad as GanglionError).code, "InvalidParams");
  const ungranted = await (client as unknown as Client).submit("app.other", { n: 1 }).catch((e: unknown) => e);
  t.type(ungranted, NotGrantedError);
});

t.test("list, get and watch see only the application's own tasks", async (t) => {
  const admins = await s.bus.submit("app.echo", { n: 99 }, { waitMs: 30_000 });
  const seen: string[] = [];
  const watching = (async () => {
    for await (const c of client.watch({ types: ["task.completed"] })) {
      seen.push(c.taskId);
      if (seen.length === 2) break;
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  const hs = await Promise.all([client.submit("app.echo", { n: 10 }), client.submit("app.echo", { n: 11 })]);
  await Promise.all(hs.map((h) => h.result({ timeoutMs: 30_000 })));
  await watching;
  t.same(seen.sort(), hs.map((h) => h.id).sort(), "watch delivered both completions");
  const notMine = await client.get(admins.taskId).catch((e: unknown) => e);
  t.equal((notMine as GanglionError).code, "NotFound", "another principal's task is not found");
  const cancelOther = await client
    .handle(admins.taskId)
    .cancel()
    .catch((e: unknown) => e);
  t.equal((cancelOther as GanglionError).code, "NotFound", "nor can it be cancelled");
  let rows = await client.list({ limit: 1000 });
  for (let i = 0; i < 50 && !hs.every((h) => rows.some((r) => r.taskId === h.id)); i++) {
    await new Promise((r) => setTimeout(r, 200));
    rows = await client.list({ limit: 1000 });
  }
  t.ok(
    rows.every((r) => r.taskId.startsWith("shop_")),
    "list has only the application's tasks",
  );
  t.ok(
    hs.every((h) => rows.some((r) => r.taskId === h.id)),
    "and has the ones just submitted",
  );
});
