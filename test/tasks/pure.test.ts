import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { take } from "../../src/tasks/limits.js";
import { healthy, record, verdict } from "../../src/tasks/health.js";
import { decideWorker, evolveWorkers, initialWorkers } from "../../src/tasks/workers.js";
import { evolveProviders, route } from "../../src/tasks/providers.js";
import type { Providers } from "../../src/tasks/providers.js";
import type { PluginEvent } from "../../src/events/plugin.js";
import type { Manifest } from "../../src/plugins/manifest.js";

t.test("token bucket: the burst, then a retry-after until a token is due", async (t) => {
  const rate = { count: 2, perMs: 1000 };
  let b = take(undefined, rate, 0);
  t.ok(b.ok);
  b = take(b.bucket, rate, 0);
  t.ok(b.ok);
  const third = take(b.bucket, rate, 100);
  t.notOk(third.ok);
  t.equal(!third.ok && third.retryAfterMs, 400);
  t.ok(take(third.bucket, rate, 500).ok, "a token came back after 500 ms");
});

t.test("health: consecutive failures, and a ratio only once the window holds enough outcomes", async (t) => {
  const policy = { maxConsecutiveFailures: 3, failureRatio: 0.5, window: 10_000 };
  let h = healthy();
  h = record(h, false, 0, policy);
  t.equal(verdict(h, policy, 0), undefined, "one failure of one is no verdict");
  h = record(h, false, 1, policy);
  h = record(h, false, 2, policy);
  t.match(verdict(h, policy, 2), /3 consecutive/);
  let r = healthy();
  for (const [i, ok] of [true, false, true, false].entries()) r = record(r, ok, i, policy);
  t.match(verdict(r, policy, 4), /2 of the last 4 tasks failed/);
  t.equal(verdict(r, policy, 20_000), undefined, "old outcomes leave the window");
});

t.test("workers: online and offline only on transitions", async (t) => {
  const hb = { type: "heartbeat", pluginId: "p", instance: "i", version: "1", at: "x" } as const;
  const on = decideWorker(hb, initialWorkers());
  t.ok(E.isRight(on));
  const s = E.isRight(on) ? on.right.reduce(evolveWorkers, initialWorkers()) : initialWorkers();
  t.match(decideWorker(hb, s), E.left({ _tag: "NoChange" }));
  t.match(decideWorker({ type: "lost", pluginId: "p", instance: "i", reason: "silent", at: "y" }, s), E.right([{ type: "worker.offline" }]));
  t.match(decideWorker({ type: "lost", pluginId: "p", instance: "j", reason: "silent", at: "y" }, s), E.left({ _tag: "NoChange" }));
});

t.test("routing: the one enabled provider, or a clear error listing the candidates", async (t) => {
  const m = (id: string) => ({ id, version: "1.0.0", description: "", provides: [{ type: "x.do" }], capabilities: [] }) as unknown as Manifest;
  const reg = (id: string): PluginEvent => ({ type: "plugin.registered", data: { pluginId: id, version: "1.0.0", manifest: m(id), selfRegistered: false } });
  const grant = (id: string): PluginEvent => ({ type: "plugin.capabilities.granted", data: { pluginId: id, capabilities: [] } });
  let ps: Providers = new Map();
  ps = [reg("a")].reduce(evolveProviders, ps);
  t.match(route(ps, "x.do"), { ok: false, error: { _tag: "NoProvider", candidates: ["a"] } }, "pending is not enabled");
  ps = [grant("a")].reduce(evolveProviders, ps);
  t.match(route(ps, "x.do"), { ok: true, provider: { pluginId: "a" } });
  ps = [reg("b"), grant("b")].reduce(evolveProviders, ps);
  t.match(route(ps, "x.do"), { ok: false, error: { _tag: "Ambiguous", candidates: ["a", "b"] } });
  t.match(route(ps, "x.do", "b"), { ok: true, provider: { pluginId: "b" } });
  ps = [{ type: "plugin.disabled", data: { pluginId: "b", reason: "r" } } as PluginEvent].reduce(evolveProviders, ps);
  t.match(route(ps, "x.do"), { ok: true, provider: { pluginId: "a" } });
  t.match(route(ps, "x.do", "b"), { ok: false, error: { _tag: "NoProvider" } });
  t.match(route(ps, "y.do"), { ok: false, error: { _tag: "UnknownTaskType" } });
});
