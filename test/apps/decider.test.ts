import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { appDecider } from "../../src/apps/decider.js";
import type { App, AppCommand } from "../../src/apps/decider.js";

const at = "2026-12-03T00:00:00.000Z";
const run = (cmds: AppCommand[]) =>
  cmds.reduce<{ state: App; events: string[]; rejected?: string }>(
    (acc, c) => {
      if (acc.rejected) return acc;
      const d = appDecider.decide(c, acc.state);
      if (E.isLeft(d)) return { ...acc, rejected: d.left._tag };
      return { state: d.right.reduce(appDecider.evolve, acc.state), events: [...acc.events, ...d.right.map((e) => e.type)] };
    },
    { state: appDecider.initialState(), events: [] },
  );
const add: AppCommand = { type: "add", appId: "shop", grants: ["task.submit:b", "task.submit:a", "task.submit:a"], account: "ACC", at };

t.test("add, grant, revoke, credentials, remove", async (t) => {
  const r = run([
    add,
    { type: "grant", capabilities: ["task.submit:c", "task.submit:a"], at },
    { type: "issueCredentials", publicKey: "UKEY", expiresAt: null, at },
    { type: "revoke", capabilities: ["task.submit:b"], at },
    { type: "remove", at },
  ]);
  t.same(r.events, ["app.added", "app.granted", "app.credentials.issued", "app.revoked", "app.removed"]);
  t.match(r.state, { status: "removed", grants: [], liveKeys: [] });
});

t.test("grants are sorted and de-duplicated; granting what it holds appends nothing", async (t) => {
  const r = run([add, { type: "grant", capabilities: ["task.submit:a"], at }]);
  t.same(r.events, ["app.added"]);
  t.match(r.state, { status: "active", grants: ["task.submit:a", "task.submit:b"] });
});

t.test("rejections: a second add, a revoke of what it does not hold, anything on an absent or removed application", async (t) => {
  t.equal(run([add, add]).rejected, "AlreadyExists");
  t.equal(run([add, { type: "revoke", capabilities: ["task.submit:z"], at }]).rejected, "NotGranted");
  t.equal(run([{ type: "grant", capabilities: ["task.submit:a"], at }]).rejected, "NotFound");
  t.equal(run([add, { type: "remove", at }, { type: "issueCredentials", publicKey: "U", expiresAt: null, at }]).rejected, "NotFound");
});

t.test("remove names the live credentials it revokes; adding again after a removal starts over", async (t) => {
  const d = appDecider.decide({ type: "remove", at }, run([add, { type: "issueCredentials", publicKey: "U1", expiresAt: null, at }]).state);
  t.match(d, E.right([{ type: "app.removed", data: { revokedKeys: ["U1"] } }]));
  const again = run([add, { type: "remove", at }, { ...add, grants: [] }]);
  t.match(again.state, { status: "active", grants: [], liveKeys: [] });
});
