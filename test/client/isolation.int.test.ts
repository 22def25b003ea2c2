import { readFile } from "node:fs/promises";
import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { appCallSubject, appSubmitSubject, busAppSubmitSubject, appChangeSubject } from "../../src/contract/subjects.js";
import { appSetup } from "./support.js";

/**
 * What an application's credentials reach, checked on the server's side: requests it is not
 * granted never arrive in BUS (an admin subscription on `app.>` sees them or not), the actor of
 * what it causes is its account's, whatever the body says, and grants and removal act on the live
 * connection.
 */
const s = await appSetup("shop", ["task.submit:app.echo"]);
t.teardown(s.stop);
const seen: string[] = [];
const spy = s.bus.nc.subscribe("app.>", {
  callback: (_e, m) => {
    seen.push(m.subject);
  },
});
t.teardown(() => spy.unsubscribe());
await s.bus.nc.flush();

type Raw = { ok?: boolean; result?: any; error?: { code: string }; transport?: string };
const raw = async (nc: NatsConnection, subject: string, body: unknown, timeout = 5000): Promise<Raw> => {
  try {
    const m = await nc.request(subject, JSON.stringify(body), { timeout });
    return m.json() as Raw;
  } catch (err) {
    return { transport: (err as Error).name + ": " + (err as Error).message };
  }
};
const shop = await s.bus.connectWith(await readFile(s.appCreds, "utf8"));
t.teardown(() => shop.close());

t.test("an ungranted type has no route: the request never reaches BUS", async (t) => {
  seen.length = 0;
  const r = await raw(shop, appSubmitSubject("app.other"), { params: { n: 1 } });
  t.match(r, { transport: /no responders|503/i });
  // Every other application's subjects and BUS's own are out of reach too.
  for (const subject of [
    busAppSubmitSubject("shop", "app.other"),
    busAppSubmitSubject("rival", "app.echo"),
    "ganglion.v1.task.submit",
    "submit.appwork.app.echo",
  ]) {
    t.match(await raw(shop, subject, { params: { n: 1 }, taskType: "app.echo" }, 1000), { transport: /./ }, `${subject}: no route`);
  }
  await s.bus.nc.flush();
  t.same(
    seen.filter((x) => !x.endsWith(".call.info")),
    [],
    "nothing arrived on app.> in BUS",
  );
});

t.test("the actor is the application's account, whatever the body says", async (t) => {
  const r = await raw(shop, appSubmitSubject("app.echo"), { params: { n: 5 }, actor: "operator:root", waitMs: 20_000 });
  t.equal(r.ok, true);
  t.match(r.result.taskId, /^shop_/);
  const shown = await s.bus.call("views.task", { taskId: r.result.taskId });
  if (E.isLeft(shown)) throw new Error(shown.left.message);
  t.same([...new Set(shown.right.history.filter((e) => e.type === "task.submitted" || e.type === "task.cancelled").map((e) => e.actor))], ["app:shop"]);
});

t.test("a request from inside BUS on app.<app>.… is not served (only an application's account speaks there)", async (t) => {
  const r = await raw(s.bus.nc, busAppSubmitSubject("shop", "app.echo"), { params: { n: 1 } }, 1500);
  t.match(r, { transport: /timeout|TimeoutError/i }, "left unanswered");
});

t.test("another application reads, cancels and watches none of shop's tasks", async (t) => {
  const added = await s.bus.call("app.add", { appId: "rival", grants: [] });
  if (E.isLeft(added)) throw new Error(added.left.message);
  const rival = await s.bus.connectWith(added.right.creds);
  t.teardown(() => rival.close());
  const mine = await raw(shop, appSubmitSubject("app.echo"), { params: { n: 6 }, waitMs: 20_000 });
  const taskId = mine.result.taskId as string;
  t.match(await raw(rival, appCallSubject("get"), { taskId }), { ok: false, error: { code: "NotFound" } });
  t.match(await raw(rival, appCallSubject("cancel"), { taskId }), { ok: false, error: { code: "NotFound" } });
  t.match(await raw(rival, appSubmitSubject("app.echo"), { params: { n: 1 } }, 1000), { transport: /./ }, "rival is granted nothing");
  // Changes: BUS publishes on appev.shop.…; rival's account imports only appev.rival.>.
  const got: string[] = [];
  const sub = rival.subscribe("appev.>", {
    callback: (_e, m) => {
      got.push(m.subject);
    },
  });
  await rival.flush();
  s.bus.nc.publish(appChangeSubject("shop", taskId), "{}");
  s.bus.nc.publish(appChangeSubject("rival", "rival_x"), "{}");
  await s.bus.nc.flush();
  await new Promise((r) => setTimeout(r, 300));
  sub.unsubscribe();
  t.same(got, [appChangeSubject("rival", "rival_x")]);
});

t.test("revoke is live on the open connection; remove closes it", async (t) => {
  const ok = await raw(shop, appSubmitSubject("app.echo"), { params: { n: 1 } });
  t.equal(ok.ok, true);
  const r = await s.bus.call("app.revoke", { appId: "shop", capabilities: ["task.submit:app.echo"] });
  if (E.isLeft(r)) throw new Error(r.left.message);
  t.same(r.right.grants, []);
  let after = await raw(shop, appSubmitSubject("app.echo"), { params: { n: 1 } }, 1000);
  for (let i = 0; i < 20 && after.transport === undefined; i++) after = await raw(shop, appSubmitSubject("app.echo"), { params: { n: 1 } }, 1000);
  t.match(after, { transport: /./ }, "no route once revoked");
  const closed = shop.closed();
  const removed = await s.bus.call("app.remove", { appId: "shop", reason: "test" });
  if (E.isLeft(removed)) throw new Error(removed.left.message);
  t.equal(removed.right.status, "removed");
  const outcome = await Promise.race([closed.then(() => "closed"), new Promise((r) => setTimeout(() => r("open"), 10_000))]);
  t.equal(outcome, "closed", "the server closed the removed application's connection");
  const list = await s.bus.call("app.list", { all: true });
  if (E.isLeft(list)) throw new Error(list.left.message);
  t.same(
    list.right.map((a) => [a.appId, a.status]),
    [
      ["rival", "active"],
      ["shop", "removed"],
    ],
  );
});
