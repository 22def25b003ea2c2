import t from "tap";
import { Client } from "../../src/index.js";
import type { TaskHandle } from "../../src/index.js";
import { appSetup } from "./support.js";

// 10,000 tasks through a core, a worker process and the client on a shared 2-core machine: past
// tap's default when the machine is loaded. The suite's 2,000 take under a minute alone.
t.setTimeout(Number(process.env.BULK_N ?? 2_000) > 2_000 ? 2_700_000 : 600_000);

type Tasks = { "app.echo": { params: { n: number }; result: { n: number } } };

/** Awaits every handle's result, `window` at a time; answers the results in order. */
const allResults = async <R>(hs: readonly TaskHandle<R>[], window: number): Promise<R[]> => {
  const out: R[] = new Array(hs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      for (let i = next++; i < hs.length; i = next++) out[i] = await hs[i]!.result({ timeoutMs: 600_000 });
    }),
  );
  return out;
};

// The suite runs 2,000 (BULK_N=10000 for the full figure). Results come from the
// application's change feed (awaiting 2,000 took 70 s when result() polled the core per task).
t.test("an application with its own credentials submits BULK_N tasks (2,000 in the suite) with submitMany and awaits every result", async (t) => {
  const s = await appSetup("batch", ["task.submit:app.echo"], { bus: { tasks: { ackWaitMs: 30_000 } } });
  t.teardown(s.stop);
  // A loaded machine answers slowly, not wrongly: long request timeouts and retry windows (every
  // submission is keyed, so a repeat is safe), or an overloaded core turns slowness into refusals.
  const client = await Client.connect<Tasks>({ servers: s.bus.url, creds: s.appCreds, requestTimeoutMs: 60_000, retryForMs: 600_000 });
  t.teardown(() => client.close());
  const N = Number(process.env.BULK_N ?? 2_000);
  const started = Date.now();
  const reports = await client.submitMany(
    Array.from({ length: N }, (_, n) => ({ taskType: "app.echo" as const, params: { n } })),
    { concurrency: 128 },
  );
  const submittedMs = Date.now() - started;
  t.comment(`submitted ${N} in ${submittedMs} ms`);
  const refused = reports.filter((r) => !r.ok);
  t.same(
    refused.slice(0, 3).map((r) => (r.ok ? "" : r.error.message)),
    [],
    "no item refused",
  );
  const handles = reports.flatMap((r) => (r.ok ? [r.handle] : []));
  t.equal(new Set(handles.map((h) => h.id)).size, N, `${N} distinct tasks`);
  const awaiting = Date.now();
  const results = await allResults(handles, 256);
  const totalMs = Date.now() - started;
  t.comment(`awaited ${N} results in ${Date.now() - awaiting} ms after the last submission`);
  t.ok(
    results.every((r, i) => r.n === i),
    "every result is its own item's",
  );
  t.comment(
    `submitted ${N} in ${submittedMs} ms (${Math.round((N / submittedMs) * 1000)}/s); all results in ${totalMs} ms (${Math.round((N / totalMs) * 1000)}/s)`,
  );
});

t.test("submitMany honours RateLimited: it waits retryAfterMs and sends the item again instead of failing it", async (t) => {
  const s = await appSetup("throttled", ["task.submit:app.echo"], { rate: "20/s" });
  t.teardown(s.stop);
  const client = await Client.connect<Tasks>({ servers: s.bus.url, creds: s.appCreds });
  t.teardown(() => client.close());
  const reports = await client.submitMany(
    Array.from({ length: 60 }, (_, n) => ({ taskType: "app.echo" as const, params: { n } })),
    { concurrency: 16 },
  );
  t.ok(
    reports.every((r) => r.ok),
    "every item submitted",
  );
  t.ok(
    reports.some((r) => r.rateLimitedFor > 0),
    `some items waited on RateLimited (${reports.filter((r) => r.rateLimitedFor > 0).length})`,
  );
  const results = await allResults(
    reports.flatMap((r) => (r.ok ? [r.handle] : [])),
    16,
  );
  t.equal(results.length, 60);
});
