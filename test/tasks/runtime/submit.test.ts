import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { taskCommands } from "../../../src/tasks/runtime/commands.js";
import { dispatch } from "../../../src/tasks/runtime/dispatch.js";
import { schemas } from "../../../src/tasks/runtime/schemas.js";
import { limitsOf } from "../../../src/tasks/runtime/state.js";
import { admit, submitter } from "../../../src/tasks/runtime/submit.js";
import { installed, manifest, testCtx } from "./fakes.js";

const withPlugins = (...ids: string[]) => testCtx({ plugins: ids.flatMap((id) => installed(manifest(id, { limits: { rate: "2/s" } }))) });

t.test("refusals come before anything is appended, each with its code and the offending path", async (t) => {
  const { ctx, state } = withPlugins("alpha");
  const sch = schemas();
  t.match(admit(ctx, sch, { taskType: "Work.Do", params: {} }), E.left({ code: "InvalidRequest", paths: ["taskType"] }));
  const big = testCtx({ options: { maxPayloadBytes: 10 }, plugins: installed(manifest("alpha")) });
  t.match(
    admit(big.ctx, sch, { taskType: "work.do", params: { n: 123456789 } }),
    E.left({ code: "PayloadTooLarge", paths: ["params"], message: /limit is 10/ }),
  );
  t.match(admit(ctx, sch, { taskType: "nope.nope", params: {} }), E.left({ code: "UnknownTaskType" }));
  t.match(admit(ctx, sch, { taskType: "work.do", params: { n: 1 }, pluginId: "ghost" }), E.left({ code: "NoProvider", details: { candidates: ["alpha"] } }));
  // Paths in `paths`, reasons in the message.
  t.same(
    admit(ctx, sch, { taskType: "work.do", params: { n: "one" } }),
    E.left({ code: "InvalidParams", message: "params do not match the params schema of work.do: params/n: must be number", paths: ["params/n"] }),
  );
  t.match(
    admit(ctx, sch, { taskType: "work.do", params: {} }),
    E.left({ code: "InvalidParams", message: /params\/n: must have required property 'n'/, paths: ["params/n"] }),
  );
  t.equal(state.buckets.size, 0, "no refusal before the rate limit took a token");
});

t.test("routing: two active providers is ambiguous until one is named", async (t) => {
  const { ctx } = withPlugins("alpha", "beta");
  const sch = schemas();
  t.match(admit(ctx, sch, { taskType: "work.do", params: { n: 1 } }), E.left({ code: "Ambiguous", details: { candidates: ["alpha", "beta"] } }));
  t.match(admit(ctx, sch, { taskType: "work.do", params: { n: 1 }, pluginId: "beta" }), E.right({ pluginId: "beta" }));
});

t.test("rate limit: the burst, then RateLimited with when to retry, then a token again on the clock", async (t) => {
  const { ctx, clock } = withPlugins("alpha");
  const sch = schemas();
  const req = { taskType: "work.do", params: { n: 1 } };
  t.ok(E.isRight(admit(ctx, sch, req)));
  t.ok(E.isRight(admit(ctx, sch, req)));
  const third = admit(ctx, sch, req);
  t.match(third, E.left({ code: "RateLimited", retryAfterMs: 500, message: /accepts 2 tasks per 1000 ms/ }));
  await clock.advance(400);
  t.match(admit(ctx, sch, req), E.left({ code: "RateLimited", retryAfterMs: 100 }));
  await clock.advance(100);
  t.ok(E.isRight(admit(ctx, sch, req)), "a token came back on the runtime's clock");
});

t.test("limits: the operator's override, else the core's options, else the manifest", async (t) => {
  const { ctx, state } = testCtx({
    options: { limitOverrides: { alpha: { rate: { count: 7, perMs: 1000 } } } },
    plugins: installed(manifest("alpha", { limits: { concurrency: 3, rate: "2/s" } })),
  });
  const p = state.providers.get("alpha")!;
  t.same(limitsOf(state, ctx.config, p), {
    pluginId: "alpha",
    concurrency: 3,
    rate: { count: 7, perMs: 1000 },
    source: { concurrency: "manifest", rate: "config" },
  });
  state.overrides.set("alpha", { concurrency: 9 });
  t.same(limitsOf(state, ctx.config, p).source, { concurrency: "override", rate: "config" });
  t.equal(limitsOf(state, ctx.config, p).concurrency, 9);
});

t.test("an admitted submission appends task.submitted (stamped) and queues attempt 1 on TASKS", async (t) => {
  const { ctx, store, io, clock } = withPlugins("alpha");
  const out = dispatch(ctx);
  const { execute } = taskCommands(ctx, out.effects);
  const submit = submitter(ctx, { schemas: schemas(), execute, newId: () => "task1" });
  const r = await submit({ taskType: "work.do", params: { n: 1 } }, { actor: "operator:ann", correlationId: "c-1" });
  t.same(r, E.right({ taskId: "task1", pluginId: "alpha" }));
  const [e] = store.events("task-task1");
  t.match(e, {
    type: "task.submitted",
    data: {
      taskId: "task1",
      pluginId: "alpha",
      taskType: "work.do",
      params: { n: 1 },
      at: clock.iso(),
      correlationId: "c-1",
      timeouts: { startToCloseMs: 10_000 },
    },
  });
  t.same(e!.metadata, { actor: "operator:ann", time: clock.iso(), correlationId: "c-1" });
  t.match(io.messages, [
    {
      subject: "task.alpha.work.do",
      msgID: "task1.1",
      payload: '{"n":1}',
      headers: { "Ganglion-Task-Id": "task1", "Ganglion-Attempt": "1", "Ganglion-Start-To-Close-Ms": "10000" },
    },
  ]);
  t.same(ctx.state.queued.get("task1"), { pluginId: "alpha", attempt: 1, seq: 1 });
  const again = await submitter(ctx, { schemas: schemas(), execute, newId: () => "task1" })(
    { taskType: "work.do", params: { n: 1 } },
    { actor: "operator:ann" },
  );
  t.match(again, E.left({ code: "AlreadyExists" }), "an id already used is a rejection, answered as such");
});

t.test("formats in a params schema are checked at submit (date-time, email)", async (t) => {
  const m = manifest(
    "dated",
    {},
    { params: { type: "object", properties: { at: { type: "string", format: "date-time" }, to: { type: "string", format: "email" } } } },
  );
  const { ctx } = testCtx({ plugins: installed(m) });
  const out = dispatch(ctx);
  const { execute } = taskCommands(ctx, out.effects);
  const submit = submitter(ctx, { schemas: schemas(), execute, newId: () => "taskf" });
  t.match(await submit({ taskType: "work.do", params: { at: "yesterday" } }, { actor: "operator:ann" }), E.left({ code: "InvalidParams", paths: [/\/at/] }));
  t.match(await submit({ taskType: "work.do", params: { to: "nobody" } }, { actor: "operator:ann" }), E.left({ code: "InvalidParams" }));
  t.match(
    await submit({ taskType: "work.do", params: { at: "2026-12-01T10:00:00Z", to: "ops@example.org" } }, { actor: "operator:ann" }),
    E.right({ taskId: "taskf" }),
  );
});
