import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { api } from "../../../src/tasks/runtime/api.js";
import { consumers, nanos } from "../../../src/tasks/runtime/consumers.js";
import { harness, installed, manifest, settle, testCtx } from "./fakes.js";

const grants = ["topic.subscribe:orders.created"];

t.test("a plugin's TASKS stream and consumer follow its limits; its topic grants get TOPICS consumers", async (t) => {
  const m = manifest("alpha", { limits: { concurrency: 3 }, capabilities: grants });
  const { ctx, state, io } = testCtx({ plugins: installed(m, grants), options: { ackWaitMs: 7000, maxDeliver: 4 } });
  const c = consumers(ctx);
  await c.ensureConsumers(state.providers.get("alpha")!);
  t.ok(io.streams.has("TASKS_alpha"));
  t.match(io.consumers.get("TASKS_alpha/task_alpha_work_ddo"), {
    filter_subject: "task.alpha.work.do",
    ack_wait: nanos(7000),
    max_ack_pending: 3,
    max_deliver: 4,
  });
  t.match(io.consumers.get("TOPICS/top_alpha_orders_dcreated"), { filter_subject: "top.orders.created", deliver_policy: "new", ack_wait: nanos(7000) });
  await c.ensureConsumers(state.providers.get("alpha")!);
  t.same(io.updates, [], "nothing to change the second time");
  state.overrides.set("alpha", { concurrency: 10 });
  await c.ensureConsumers(state.providers.get("alpha")!);
  t.match(io.updates, [{ stream: "TASKS_alpha", consumer: "task_alpha_work_ddo", patch: { max_ack_pending: 10 } }], "a new limit is applied in place");
});

t.test("a pending plugin gets nothing; the legacy shared TASKS stream is retired", async (t) => {
  const m = manifest("alpha");
  const { ctx, state, io, log } = testCtx({ plugins: installed(m).slice(0, 1) });
  const c = consumers(ctx);
  await c.ensureConsumers(state.providers.get("alpha")!);
  t.equal(io.streams.size + io.consumers.size, 0);
  await c.retireLegacyTasks();
  t.notOk(
    log.messages().some((x) => x.startsWith("removed the shared TASKS")),
    "nothing to retire",
  );
  io.streams.set("TASKS", { name: "TASKS" });
  await c.retireLegacyTasks();
  t.notOk(io.streams.has("TASKS"));
  t.ok(log.messages().some((x) => x.startsWith("removed the shared TASKS")));
});

t.test("setLimits appends the override, resets the bucket and applies it; the limits fold does the same for another core's", async (t) => {
  const h = await harness({ plugins: installed(manifest("alpha", { limits: { concurrency: 2 } })) });
  t.teardown(h.stop);
  await h.cons.ensureConsumers(h.state.providers.get("alpha")!);
  const a = api(h.ctx, { execute: h.cmds.execute, load: h.cmds.load, consumers: h.cons });
  t.match(await a.setLimits("alpha", { concurrency: 0 }, "operator:ann"), E.left({ code: "InvalidRequest", paths: ["concurrency"] }));
  t.match(await a.setLimits("ghost", {}, "operator:ann"), E.left({ code: "NotFound" }));
  h.state.buckets.set("alpha", { tokens: 0, at: 0 });
  t.match(await a.setLimits("alpha", { concurrency: 5 }, "operator:ann"), E.right({ concurrency: 5, source: { concurrency: "override" } }));
  t.match(h.store.events("tasklimits-alpha"), [
    { type: "task.limits.overridden", data: { pluginId: "alpha", concurrency: 5 }, metadata: { actor: "operator:ann", time: h.clock.iso() } },
  ]);
  t.notOk(h.state.buckets.has("alpha"));
  t.match(h.io.consumers.get("TASKS_alpha/task_alpha_work_ddo"), { max_ack_pending: 5 });
  await h.store.race("tasklimits-alpha", { type: "task.limits.overridden", data: { pluginId: "alpha", concurrency: 8 } });
  await settle();
  t.match(h.io.consumers.get("TASKS_alpha/task_alpha_work_ddo"), { max_ack_pending: 8 }, "another core's override, from the log");
  t.match(a.limits("alpha"), E.right({ concurrency: 8 }));
});

t.test("topic consumer names are injective; a consumer with the wrong filter is replaced", async (t) => {
  const { topicConsumer } = await import("../../../src/contract/subjects.js");
  t.not(topicConsumer("news", "feed-secret"), topicConsumer("news-feed", "secret"), "news + feed-secret vs news-feed + secret");
  t.not(topicConsumer("a", "b.c"), topicConsumer("a", "b_c"));
  t.not(topicConsumer("a", "b_dc"), topicConsumer("a", "b.c"));
  t.notMatch(topicConsumer("a", "x.y_z"), /[.*> ]/, "a valid consumer name");
});

t.test("a found consumer whose filter is not the grant's topic is replaced, not tuned", async (t) => {
  const m = manifest("alpha", { capabilities: grants });
  const { ctx, state, io } = testCtx({ plugins: installed(m, grants), options: { ackWaitMs: 7000, maxDeliver: 4 } });
  // Planted under the name the grant uses, reading a topic alpha was never granted.
  await ctx.io.addConsumer("TOPICS", { durable_name: "top_alpha_orders_dcreated", filter_subject: "top.payroll", ack_wait: nanos(7000), max_deliver: 4 });
  await consumers(ctx).ensureConsumers(state.providers.get("alpha")!);
  t.match(io.consumers.get("TOPICS/top_alpha_orders_dcreated"), { filter_subject: "top.orders.created" }, "it now reads only the granted topic");
});
