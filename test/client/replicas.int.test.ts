import { readFile } from "node:fs/promises";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import t from "tap";
import { Client } from "../../src/index.js";
import type { TaskChange } from "../../src/contract/app.js";
import { appSetup } from "./support.js";

// Awaiting results rides the application's change feed: no `get` per task while the feed is
// whole. And every core replica publishes that feed: a second publisher of the same events (here
// a connection in BUS that republishes each one, as a second core would) changes nothing the
// application sees.

t.setTimeout(300_000);

type Tasks = {
  "app.echo": { params: { n: number }; result: { n: number } };
  "app.slow": { params: { n: number; steps?: number; ms?: number }; result: { n: number } };
};

t.test("results come from the change feed, each change once though two publishers send it", async (t) => {
  const s = await appSetup("replicas", ["task.submit:app.echo", "task.submit:app.slow"]);
  t.teardown(s.stop);
  // Every `get` the application sends arrives in BUS as `app.<app>.call.get`.
  let gets = 0;
  const getSub = s.bus.nc.subscribe("app.replicas.call.get", { callback: () => void gets++ });
  t.teardown(() => getSub.unsubscribe());
  const client = await Client.connect<Tasks>({ servers: s.bus.url, creds: s.appCreds, requestTimeoutMs: 60_000 });
  t.teardown(() => client.close());

  const N = 40;
  const reports = await client.submitMany(
    Array.from({ length: N }, (_, n) => ({ taskType: "app.echo" as const, params: { n } })),
    { concurrency: 8 },
  );
  const results = await Promise.all(reports.map((r) => (r.ok ? r.handle.result({ timeoutMs: 120_000 }) : Promise.reject(r.error))));
  t.ok(
    results.every((r, i) => r.n === i),
    "every result is its own",
  );
  t.equal(gets, 0, "no task was read: every end came from the feed");

  // A second replica's feed: each change of the application's tasks published again.
  const replica = await connect({
    servers: s.bus.url,
    authenticator: credsAuthenticator(new TextEncoder().encode(await readFile(s.bus.installation.adminCreds, "utf8"))),
    noEcho: true,
    name: "second replica",
  });
  t.teardown(() => replica.close());
  let republished = 0;
  replica.subscribe("appev.replicas.>", {
    callback: (_e, m) => {
      republished++;
      replica.publish(m.subject, m.data);
    },
  });
  await replica.flush();

  const changes: TaskChange[] = [];
  const watching = (async () => {
    for await (const c of client.watch({ types: ["task.submitted", "task.progress", "task.completed"] })) {
      changes.push(c);
      if (c.type === "task.completed") break;
    }
  })();
  await new Promise((r) => setTimeout(r, 200)); // the watch's subscription reaches the server
  const h = await client.submit("app.slow", { n: 5, steps: 3, ms: 300 });
  const seen: number[] = [];
  for await (const p of h.progress()) seen.push(p.done);
  t.same(await h.result({ timeoutMs: 60_000 }), { n: 5 });
  await watching;
  t.ok(republished > 0, `the second publisher sent ${republished} copies`);
  t.same(seen, [...new Set(seen)].sort(), `each progress report once (${seen.join(",")})`);
  const keys = changes.map((c) => `${c.type}@${c.revision}`);
  t.same(keys, [...new Set(keys)], `watch yields each change once (${keys.join(", ")})`);
  t.ok(
    changes.every((c) => typeof c.revision === "number"),
    "each change names its revision",
  );
  t.equal(changes.filter((c) => c.type === "task.completed").length, 1);
});
