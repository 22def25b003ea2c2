import t from "tap";
import { startTestServer } from "../support/natsServer.js";
import { waitProjections, installEcho, spawnEchoWorker, startCoreProcess, submitAll, verifyViews, waitAllEnded } from "./support.js";

const TASKS = 1500;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin({ name: "fault-nats-restart" });
t.teardown(() => nc.close());

t.test(
  "nats-server (single node, file storage) stopped and restarted under load: core and workers reconnect by themselves, nothing acknowledged is lost",
  async (t) => {
    const core = await startCoreProcess({ url: server.url, dataDir: server.dataDir, adminCreds: server.installation.adminCreds });
    t.teardown(() => core.kill());
    const creds = await installEcho(nc, server.dataDir, "restartnats");
    const workers = await Promise.all(["w1", "w2"].map((instance) => spawnEchoWorker({ servers: server.url, creds, plugin: "restartnats", instance })));
    t.teardown(() => Promise.all(workers.map((w) => w.kill())));

    let restarted: Promise<void> | undefined;
    const { acked, unanswered } = await submitAll(nc, TASKS, 32, {
      onAck: (n) => {
        if (n === Math.floor(TASKS / 3) && !restarted) {
          restarted = (async () => {
            await server.kill();
            await sleep(1500);
            await server.restart();
          })();
        }
      },
    });
    await restarted;
    t.ok(restarted, "nats-server was stopped and started again during the load");
    t.equal(new Set(acked).size, TASKS, `${TASKS} submissions acknowledged (${unanswered} unanswered while the server was down, then resent)`);

    const audit = await waitAllEnded(nc, acked, 90_000);
    t.same(
      acked.filter((id) => !audit.tasks.has(id)),
      [],
      "every acknowledged task is in the log",
    );
    const notOnce = [...audit.tasks].filter(([, a]) => a.completed !== 1).map(([id, a]) => `${id}: ${a.types.join(" > ")}`);
    t.same(notOnce, [], "every task in the log completed exactly once");
    t.equal(core.proc.exitCode, null, "the core process is still running: it reconnected by itself");
    for (const w of workers) t.equal(w.proc.exitCode, null, "a worker process is still running: it reconnected by itself");

    await waitProjections(nc, 60_000);
    const reports = await verifyViews(nc);
    for (const r of reports) t.same(r.differences, [], `projection ${r.view} verifies clean against the log (head ${r.head})`);
  },
);
