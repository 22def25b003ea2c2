import t from "tap";
import { BACKLOG_POLL_MS, reconcile } from "../../../src/tasks/runtime/reconcile.js";
import { harness, installed, manifest, settle } from "./fakes.js";

const start = async (t: { teardown: (f: () => unknown) => void }, options = {}) => {
  const h = await harness({ plugins: installed(manifest("alpha")), options });
  t.teardown(h.stop);
  await h.cons.ensureConsumers(h.state.providers.get("alpha")!);
  await h.cons.ensureResultsConsumer();
  return h;
};

t.test("a scheduled attempt recorded but never queued is queued; those on TASKS are remembered, not sent twice", async (t) => {
  const h = await start(t);
  const queued = await h.submitted();
  h.io.failNextPublishes(1);
  const lost = await h.submitted(); // the core "stopped" between the append and the publish
  h.state.queued.clear(); // a new core knows nothing of what is queued
  await reconcile(h.ctx, h.out)();
  t.same(
    h.io.published("task.alpha.").map((m) => m.msgID),
    [`${queued}.1`, `${lost}.1`],
    "only the missing one was published again",
  );
  t.same(h.state.queued.get(queued), { pluginId: "alpha", attempt: 1, seq: 1 }, "found on the stream");
  t.same(h.state.queued.get(lost), { pluginId: "alpha", attempt: 1, seq: 2 });
  t.ok(h.log.messages().includes("queued again the attempts that were recorded but never published"));
});

t.test("it waits for the RESULTS backlog (on the clock), at most the ack wait", async (t) => {
  const h = await start(t, { ackWaitMs: 1000 });
  const id = await h.submitted();
  h.io.messages.length = 0; // its message is gone from the stream (e.g. a worker took and acked it)
  h.io.resultsBacklog.pending = 3;
  let done = false;
  const run = reconcile(h.ctx, h.out)().then(() => (done = true));
  await h.clock.advance(BACKLOG_POLL_MS * 3);
  t.notOk(done, "still waiting: the reports of a finished attempt may be in the backlog");
  h.io.resultsBacklog.pending = 0;
  await h.clock.advance(BACKLOG_POLL_MS);
  await run;
  t.match(h.io.published("task.alpha."), [{ msgID: `${id}.1` }, { msgID: `${id}.1` }], "then queued again (the stream de-duplicates)");

  h.io.resultsBacklog.ackPending = 1;
  let late = false;
  const run2 = reconcile(h.ctx, h.out)().then(() => (late = true));
  await h.clock.advance(999);
  t.notOk(late);
  await h.clock.advance(BACKLOG_POLL_MS * 2);
  await settle();
  await run2;
  t.ok(late, "gave up waiting after the ack wait");
});
