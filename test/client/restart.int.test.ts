import t from "tap";
import { Client } from "../../src/index.js";
import { TaskEvent, TASK_CATEGORY } from "../../src/events/task.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { appSetup } from "./support.js";

type Tasks = { "app.echo": { params: { n: number }; result: { n: number } } };

t.setTimeout(600_000);

t.test("a nats-server restart with submissions in flight: nothing acknowledged is lost, nothing is submitted twice under one key", async (t) => {
  const s = await appSetup("resilient", ["task.submit:app.echo"]);
  t.teardown(s.stop);
  const client = await Client.connect<Tasks>({ servers: s.bus.url, creds: s.appCreds });
  t.teardown(() => client.close());
  const N = 300;
  const items = Array.from({ length: N }, (_, n) => ({ taskType: "app.echo" as const, params: { n }, idempotencyKey: `item-${n}` }));
  let settled = 0;
  let restarted: Promise<void> | undefined;
  const reports = await client.submitMany(items, {
    concurrency: 16,
    onReport: () => {
      if (++settled === Math.floor(N / 3)) restarted = s.bus.restartServer();
    },
  });
  await restarted;
  t.ok(restarted, "the server was restarted while submissions were in flight");
  t.same(
    reports.filter((r) => !r.ok).map((r) => (r.ok ? "" : r.error.message)),
    [],
    "every submission was acknowledged (the client repeated those the restart cut)",
  );
  const handles = reports.flatMap((r) => (r.ok ? [r.handle] : []));
  t.equal(new Set(handles.map((h) => h.id)).size, N, "one task per key");
  const results = await Promise.all(handles.map((h) => h.result({ timeoutMs: 300_000 })));
  t.ok(
    results.every((r, i) => r.n === i),
    "every acknowledged task completed with its own result",
  );

  // The same keys again, after the restart: the same tasks, nothing new.
  const again = await client.submitMany(items, { concurrency: 16 });
  t.ok(
    again.every((r, i) => r.ok && r.handle.existing && r.handle.id === handles[i]!.id),
    "resent keys answer the tasks submitted before",
  );
  const submitted = new Map<string, number>();
  for await (const e of natsEventStore(s.bus.nc, { codec: TaskEvent }).readAll({
    filter: { categories: [TASK_CATEGORY], eventTypePrefixes: ["task.submitted"] },
  })) {
    submitted.set(e.streamName, (submitted.get(e.streamName) ?? 0) + 1);
  }
  const mine = [...submitted].filter(([name]) => name.startsWith("task-resilient_"));
  t.equal(mine.length, N, `${N} tasks in the log`);
  t.same(
    mine.filter(([, n]) => n !== 1),
    [],
    "each with exactly one task.submitted",
  );
});

t.test("close() ends when the bus is gone: a client whose server stopped does not hang its process", async (t) => {
  const s = await appSetup("orphan", ["task.submit:app.echo"]);
  const client = await Client.connect({ servers: s.bus.url, creds: s.appCreds });
  const h = await client.submit("app.echo", { n: 1 });
  t.same(await h.result(), { n: 1 });
  await s.stop();
  // A drain needs the server: on a connection reconnecting to nothing it waited forever.
  const closed = await Promise.race([
    client.close().then(() => "closed"),
    new Promise((r) => setTimeout(() => r("still draining after 60 s"), 60_000).unref()),
  ]);
  t.equal(closed, "closed");
});
