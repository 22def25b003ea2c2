import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { REPUBLISH_EVERY_MS, REPUBLISH_TRIES } from "../../../src/tasks/runtime/dispatch.js";
import { harness, installed, manifest } from "./fakes.js";

const plugins = installed(manifest("alpha", {}, { retry: { maxAttempts: 1 } }));

t.test("cancel: the queued message is deleted and every instance told to abort", async (t) => {
  const h = await harness({ plugins });
  t.teardown(h.stop);
  const id = await h.submitted();
  t.same(h.state.queued.get(id), { pluginId: "alpha", attempt: 1, seq: 1 });
  const r = await h.cmds.execute(id, { type: "cancel", reason: "no longer needed", at: h.clock.iso() }, "operator:ann");
  t.ok(E.isRight(r));
  t.same(h.io.deleted, [{ stream: "TASKS_alpha", seq: 1 }]);
  t.same(h.io.notified, [{ subject: "ctl.alpha", payload: { type: "cancel", taskId: id, attempt: 1, reason: "cancelled: no longer needed" } }]);
  await h.cmds.execute(id, { type: "cancel", at: h.clock.iso() }, "operator:ann");
  t.equal(h.io.notified.length, 1, "a rejected command has no side effect");
});

t.test("a dead letter is published with its failure chain; a manual retry purges it and queues a fresh attempt", async (t) => {
  const h = await harness({ plugins });
  t.teardown(h.stop);
  const id = await h.submitted();
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "failed", error: { message: "boom" } });
  const [letter] = h.io.published("dlq.");
  t.match(letter, { subject: `dlq.alpha.${id}`, msgID: `${id}.dlq.1` });
  t.match(JSON.parse(letter!.payload), {
    taskId: id,
    pluginId: "alpha",
    taskType: "work.do",
    params: { n: 1 },
    attempts: 1,
    failures: [{ attempt: 1, error: { message: "boom", kind: "handler" } }],
  });
  const r = await h.cmds.execute(id, { type: "resubmit", at: h.clock.iso() }, "operator:ann");
  t.ok(E.isRight(r));
  t.same(h.io.purged, [{ stream: "DEADLETTERS", filter: `dlq.alpha.${id}` }]);
  t.match(h.io.published("task.alpha."), [{ msgID: `${id}.1` }, { msgID: `${id}.2` }]);
  t.same(h.state.queued.get(id), { pluginId: "alpha", attempt: 2, seq: 3 });
});

t.test("a failed publish is retried on the clock while the attempt is the current, unstarted one", async (t) => {
  const h = await harness({ plugins });
  t.teardown(h.stop);
  h.io.failNextPublishes(2);
  const id = await h.submitted();
  t.equal(h.io.published("task.").length, 0, "the first publish failed");
  t.ok(h.log.messages().includes("publishing a task message failed; retrying"));
  await h.clock.advance(REPUBLISH_EVERY_MS);
  t.equal(h.io.published("task.").length, 0, "the second too");
  await h.clock.advance(REPUBLISH_EVERY_MS);
  t.match(h.io.published("task."), [{ msgID: `${id}.1` }], "the third got through");
  t.equal(h.clock.pending(), 0, "no more retries (and a task without timeouts but start-to-close has no timer while queued)");
});

t.test("a retry stops once the attempt has moved on, and after its budget", async (t) => {
  const h = await harness({ plugins });
  t.teardown(h.stop);
  h.io.failNextPublishes(1);
  const id = await h.submitted();
  // A minimal worker got attempt 1 some other way (an earlier publish that did reach the stream).
  await h.reportOn("alpha", { taskId: id, attempt: 1, instance: "i1", status: "started" });
  await h.clock.advance(REPUBLISH_EVERY_MS * 3);
  t.equal(h.io.published("task.").length, 0, "a started attempt is not queued again");

  h.io.failNextPublishes(REPUBLISH_TRIES + 5);
  const other = await h.submitted();
  await h.clock.advance(REPUBLISH_EVERY_MS * (REPUBLISH_TRIES + 5));
  t.equal(h.io.published("task.").length, 0);
  h.io.failNextPublishes(0);
  await h.clock.advance(REPUBLISH_EVERY_MS * 5);
  t.equal(h.io.published("task.").length, 0, `gave up after ${REPUBLISH_TRIES} tries (the start-up reconcile of a later core queues it)`);
  t.equal(h.state.open.get(other)?.status, "scheduled");
});

t.test("a failed first publish is not retried for a task that ended meanwhile (it would queue the ended task again)", async (t) => {
  const h = await harness({ plugins });
  t.teardown(h.stop);
  h.io.failNextPublishes(1);
  const id = await h.submitted();
  t.equal(h.io.published("task.").length, 0, "the first publish failed");
  const r = await h.cmds.execute(id, { type: "cancel", reason: "changed my mind", at: h.clock.iso() }, "operator:ann");
  t.ok(E.isRight(r));
  t.notOk(h.state.open.has(id), "ended, so no longer open");
  await h.clock.advance(REPUBLISH_EVERY_MS * 3);
  t.equal(h.io.published("task.").length, 0, "the retry read the log, saw it cancelled, and published nothing");
});
