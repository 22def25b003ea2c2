import t from "tap";
import { startTestServer } from "../support/natsServer.js";
import { auditTasks, waitProjections, installEcho, spawnEchoWorker, startCoreProcess, submitAll, verifyViews, waitAllEnded } from "./support.js";

const TASKS = 2000;

const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin({ name: "fault-core-crash" });
t.teardown(() => nc.close());

t.test("the core is SIGKILLed in the middle of thousands of tasks, then restarted: every task completes exactly once, projections verify clean", async (t) => {
  const coreOpts = { url: server.url, dataDir: server.dataDir, adminCreds: server.installation.adminCreds };
  let core = await startCoreProcess(coreOpts);
  t.teardown(() => core.kill());
  const creds = await installEcho(nc, server.dataDir, "crashcore");
  const workers = await Promise.all(["w1", "w2"].map((instance) => spawnEchoWorker({ servers: server.url, creds, plugin: "crashcore", instance })));
  t.teardown(() => Promise.all(workers.map((w) => w.kill())));

  // Kill the core once a third of the submissions were acknowledged: tasks are then queued,
  // running, reported and half-recorded all at once.
  let killed: Promise<void> | undefined;
  const load = submitAll(nc, TASKS, 64, {
    onAck: (n) => {
      if (n === Math.floor(TASKS / 3) && !killed) {
        killed = (async () => {
          t.equal(await core.kill("SIGKILL"), null, "the core died by SIGKILL, mid-load");
          core = await startCoreProcess(coreOpts);
        })();
      }
    },
  });
  const { acked, unanswered } = await load;
  await killed;
  t.ok(killed, "the core was killed during the load");
  t.equal(new Set(acked).size, TASKS, `${TASKS} submissions acknowledged (${unanswered} unanswered while the core was down, then resent)`);

  const audit = await waitAllEnded(nc, acked, 90_000);
  const missing = acked.filter((id) => !audit.tasks.has(id));
  t.same(missing, [], "every acknowledged task is in the log");
  const rows = [...audit.tasks.entries()];
  t.same(
    rows.filter(([, a]) => a.submitted !== 1).map(([id]) => id),
    [],
    "every task was submitted exactly once",
  );
  t.same(
    rows.filter(([, a]) => a.completed !== 1).map(([id, a]) => `${id}: ${a.types.join(" → ")}`),
    [],
    "every task in the log completed exactly once",
  );
  for (const [id, a] of rows.filter(([, a]) => a.completed !== 1).slice(0, 5)) t.comment(`${id}: ${a.types.join(" > ")}`);
  t.ok(audit.tasks.size >= TASKS, "nothing lost: at least the acknowledged tasks are in the log");

  await waitProjections(nc, 60_000);
  const reports = await verifyViews(nc);
  for (const r of reports) t.same(r.differences, [], `projection ${r.view} verifies clean against the log (head ${r.head})`);
  t.equal(core.proc.exitCode, null, "the restarted core is still running");
});

t.test("after the restart the log holds no task left open", async (t) => {
  const audit = await auditTasks(nc);
  t.equal([...audit.tasks.values()].filter((a) => a.terminal === 0).length, 0);
});
