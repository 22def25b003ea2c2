import t from "tap";
import type { TaskView } from "../../src/contract/responses.js";
import { appChangeSubject, appFeedResumeSubject } from "../../src/contract/subjects.js";
import { ChangeFeed } from "../../src/client/feed.js";
import { startTestServer } from "../support/natsServer.js";
import { eventually } from "../support/ops.js";

// The client's change feed on a real nats-server, with the core's side played by the test: it
// publishes task changes as the core does (twice, as two core replicas would), and answers `get`
// from a map. What is checked: result() needs no read while the feed is whole, repeats are
// dropped, and every way a change can be lost (a reconnect, a core's restart, a gap in the
// revisions) ends in one read of the task instead of a wait that never ends.

t.setTimeout(180_000);

const APP = "feedapp";
const view = (taskId: string, status: string, result?: unknown): TaskView =>
  ({ taskId, status, failures: [], ...(result !== undefined ? { result } : {}) }) as unknown as TaskView;

t.test("the change feed", async (t) => {
  const server = await startTestServer();
  t.teardown(server.stop);
  const core = await server.connectAdmin({ name: "core" });
  const nc = await server.connectAdmin({ name: "client" });
  t.teardown(async () => {
    await nc.close();
    await core.close();
  });
  const tasks = new Map<string, TaskView>();
  const reads: string[] = [];
  const feed = new ChangeFeed(nc, APP, async (id) => {
    reads.push(id);
    return tasks.get(id) ?? view(id, "running");
  });
  t.teardown(() => feed.close(new Error("closed")));
  /** One event of a task, published once per replica (`copies`). */
  const publish = async (taskId: string, revision: number, type: string, data: Record<string, unknown> = {}, copies = 2) => {
    for (let i = 0; i < copies; i++)
      core.publish(appChangeSubject(APP, taskId), JSON.stringify({ taskId, type, data: { taskId, ...data }, at: "x", revision }));
    await core.flush();
  };

  await t.test("a task submitted while the feed was live: its end comes from the feed alone, each event once", async (t) => {
    const mark = await feed.start();
    const id = `${APP}_one`;
    const seen: string[] = [];
    const stop = feed.listen(id, (c) => seen.push(`${c.type}@${c.revision}`));
    const ended = feed.waitEnd(id, { until: Infinity, mark });
    await publish(id, 0, "task.submitted");
    await publish(id, 1, "task.started");
    await publish(id, 2, "task.completed", { result: { n: 7 } });
    t.same(await ended, { status: "completed", result: { n: 7 } });
    await eventually("every change seen", async () => seen.length >= 3);
    stop();
    t.same(seen, ["task.submitted@0", "task.started@1", "task.completed@2"], "two replicas' copies, one change each");
    t.same(reads, [], "no read of the task");
    t.same(await feed.waitEnd(id, { until: Infinity, mark }), { status: "completed", result: { n: 7 } }, "awaited again: the kept end");
  });

  await t.test("a handle with no mark (not submitted by this client) reads the task once", async (t) => {
    reads.length = 0;
    const id = `${APP}_old`;
    tasks.set(id, view(id, "completed", { n: 1 }));
    const v = await feed.waitEnd(id, { until: Infinity });
    t.equal(v?.status, "completed");
    t.same(reads, [id]);
  });

  await t.test("an end lost while a core restarted: its `resume` makes the client read what it awaits", async (t) => {
    reads.length = 0;
    const mark = await feed.start();
    const id = `${APP}_lost`;
    const ended = feed.waitEnd(id, { until: Infinity, mark });
    await publish(id, 0, "task.submitted");
    tasks.set(id, view(id, "completed", { n: 2 })); // its completion was recorded, never published
    core.publish(appFeedResumeSubject(APP), JSON.stringify({ at: "x" }));
    t.same(await ended, view(id, "completed", { n: 2 }));
    t.same(reads, [id]);
    t.not((await feed.start()).epoch, mark.epoch, "a later submission gets a new mark");
  });

  await t.test("a revision past the next one (an event lost): the task is read", async (t) => {
    reads.length = 0;
    const mark = await feed.start();
    const id = `${APP}_gap`;
    const ended = feed.waitEnd(id, { until: Infinity, mark });
    await publish(id, 0, "task.submitted", {}, 1);
    tasks.set(id, view(id, "dead_lettered"));
    await publish(id, 3, "task.progress", { attempt: 1, done: 1, total: 2, at: "x" }, 1);
    t.equal((await ended)?.status, "dead_lettered");
    t.same(reads, [id]);
  });

  await t.test("a failed end on the feed is read for its failures", async (t) => {
    reads.length = 0;
    const mark = await feed.start();
    const id = `${APP}_cancelled`;
    const ended = feed.waitEnd(id, { until: Infinity, mark });
    tasks.set(id, view(id, "cancelled"));
    await publish(id, 0, "task.cancelled", { reason: "r" });
    t.equal((await ended)?.status, "cancelled");
    t.same(reads, [id]);
  });

  await t.test("an end published while the client was disconnected: read after the reconnect", async (t) => {
    reads.length = 0;
    const mark = await feed.start();
    const id = `${APP}_restart`;
    const ended = feed.waitEnd(id, { until: Infinity, mark });
    await server.kill();
    tasks.set(id, view(id, "completed", { n: 3 })); // recorded and published while the server was down: lost
    await server.restart();
    t.same(await ended, view(id, "completed", { n: 3 }));
    t.ok(reads.includes(id), "read after the reconnect");
    t.not((await feed.start()).epoch, mark.epoch);
  });

  await t.test("a wait ends at its deadline, and close ends every wait", async (t) => {
    const mark = await feed.start();
    t.equal(await feed.waitEnd(`${APP}_never`, { until: Date.now() + 200, mark }), undefined);
    const ac = new AbortController();
    const aborted = feed.waitEnd(`${APP}_never`, { until: Infinity, mark, signal: ac.signal });
    ac.abort();
    t.equal(await aborted, undefined);
    const pending = feed.waitEnd(`${APP}_never`, { until: Infinity, mark });
    feed.close(new Error("the client is closed"));
    await t.rejects(pending, /closed/);
  });
});
