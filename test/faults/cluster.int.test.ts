import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { readFile } from "node:fs/promises";
import { loadConfig } from "../../src/config.js";
import { renderServerConfig } from "../../src/embedded/config.js";
import { preloadedAccounts, prepareInstallation } from "../../src/embedded/installation.js";
import { findNatsServer, startNatsServer } from "../../src/embedded/natsServer.js";
import type { RunningServer } from "../../src/embedded/natsServer.js";
import { TYPE_HEADER } from "../../src/store/eventStore.js";
import { Buckets, eventCategory, Streams, tasksStream } from "../../src/contract/subjects.js";
import { waitProjections, installEcho, spawnEchoWorker, startCoreProcess, submitAll, verifyViews, waitAllEnded } from "./support.js";

/**
 * A 3-node JetStream cluster on loopback, rendered by the same `renderServerConfig` as
 * `ganglion up` (with its `cluster` block), the core run as `ganglion serve --replicas 3`.
 */
const TASKS = 900;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

const dataDir = await mkdtemp(join(tmpdir(), "ganglion-cluster-"));
t.teardown(() => rm(dataDir, { recursive: true, force: true }));
const inst = await prepareInstallation({ dataDir, host: "127.0.0.1", port: 0 });
const a = inst.authority;
const preload = await preloadedAccounts(a);
const bin = await findNatsServer({ NATS_SERVER_BIN: loadConfig().natsServerBin, PATH: loadConfig().path });
const clientPorts = [await freePort(), await freePort(), await freePort()];
const routePorts = [await freePort(), await freePort(), await freePort()];
const nodes = clientPorts.map((port, i) => ({
  name: `n${i + 1}`,
  port,
  dir: join(dataDir, `n${i + 1}`),
  configFile: join(dataDir, `n${i + 1}`, "nats-server.conf"),
}));
for (const [i, n] of nodes.entries()) {
  await mkdir(join(n.dir, "jetstream"), { recursive: true });
  await mkdir(join(n.dir, "resolver"), { recursive: true });
  await writeFile(
    n.configFile,
    renderServerConfig({
      host: "127.0.0.1",
      port: n.port,
      serverName: n.name,
      operatorJwt: a.operatorJwt,
      systemAccount: a.sys.getPublicKey(),
      preload,
      storeDir: join(n.dir, "jetstream"),
      resolverDir: join(n.dir, "resolver"),
      cluster: { name: "ganglion", host: "127.0.0.1", port: routePorts[i]!, routes: routePorts.map((p) => `nats-route://127.0.0.1:${p}`) },
    }),
  );
}
const start = (n: (typeof nodes)[number]) =>
  startNatsServer({ bin, configFile: n.configFile, portsDir: join(n.dir, "ports"), host: "127.0.0.1", port: n.port, logFile: join(n.dir, "nats.log") });
const running: (RunningServer | undefined)[] = await Promise.all(nodes.map(start));
t.teardown(() => Promise.all(running.map((s) => s?.stop())));
const urls = nodes.map((n) => `nats://127.0.0.1:${n.port}`);

const admin = await readFile(inst.adminCreds, "utf8");
const nc = await connect({
  servers: urls,
  authenticator: credsAuthenticator(new TextEncoder().encode(admin)),
  maxReconnectAttempts: -1,
  reconnectTimeWait: 100,
  name: "fault-cluster",
});
t.teardown(() => nc.close());
const jsm = await jetstreamManager(nc, { timeout: 10_000, checkAPI: false });

/** Waits until the cluster accepts an R3 stream (a meta leader is elected and all peers are in). */
const clusterReady = async () => {
  for (let i = 0; ; i++) {
    try {
      await jsm.streams.add({ name: "PROBE", subjects: ["probe.>"], num_replicas: 3 });
      await jsm.streams.delete("PROBE");
      return;
    } catch (err) {
      if (i > 120) throw err;
      await sleep(500);
    }
  }
};

/** The real nats-server pid of a node (its ports file names it), for a SIGKILL. */
const serverPid = async (n: (typeof nodes)[number]) => {
  const f = (await readdir(join(n.dir, "ports"))).find((x) => /^nats-server_\d+\.ports$/.test(x));
  return Number(/_(\d+)\./.exec(f!)![1]);
};

t.test("a 3-node cluster with R3 streams: one node SIGKILLed under load, nothing lost, work continues, the node rejoins", async (t) => {
  await clusterReady();
  const core = await startCoreProcess({ url: urls[0]!, dataDir, adminCreds: inst.adminCreds, replicas: 3 });
  t.teardown(() => core.kill());
  for (const s of [Streams.Events, Streams.Results]) {
    t.equal((await jsm.streams.info(s)).config.num_replicas, 3, `${s} has 3 replicas`);
  }
  // The views and their checkpoints too: a view must not be the one thing a lost node takes away.
  for (const b of [Buckets.Plugins, Buckets.Tasks, Buckets.Checkpoints]) {
    t.equal((await jsm.streams.info(`KV_${b}`)).config.num_replicas, 3, `KV bucket ${b} has 3 replicas`);
  }
  const creds = await installEcho(nc, dataDir, "clustered");
  // The plugin's own work queue is made when it is enabled, with the same replicas.
  for (let i = 0; i < 100 && !(await jsm.streams.info(tasksStream("clustered")).catch(() => undefined)); i++) await sleep(100);
  t.equal((await jsm.streams.info(tasksStream("clustered"))).config.num_replicas, 3, `${tasksStream("clustered")} has 3 replicas`);
  const servers = urls.join(",");
  const workers = await Promise.all(["w1", "w2"].map((instance) => spawnEchoWorker({ servers, creds, plugin: "clustered", instance })));
  t.teardown(() => Promise.all(workers.map((w) => w.kill())));

  const victim = nodes[2]!;
  // Completions appended to the log, seen live (the store's commit type header).
  let completedWhileDown = 0;
  let nodeDown = false;
  const completions = nc.subscribe(eventCategory("task"), {
    callback: (_e, m) => {
      if (nodeDown && m.headers?.values(TYPE_HEADER).includes("task.completed")) completedWhileDown++;
    },
  });
  let killed: Promise<void> | undefined;
  let ackedAfterKill = 0;
  const { acked, unanswered } = await submitAll(nc, TASKS, 32, {
    transient: ["Unavailable", "Internal"],
    onAck: (n) => {
      if (killed) ackedAfterKill++;
      if (n === Math.floor(TASKS / 3) && !killed) {
        killed = (async () => {
          process.kill(await serverPid(victim), "SIGKILL");
          nodeDown = true;
          await running[2]!.exited;
          running[2] = undefined;
        })();
      }
    },
  });
  await killed;
  t.ok(ackedAfterKill > TASKS / 2, `work continued with a node down (${ackedAfterKill} submissions acknowledged after the kill; ${unanswered} resent)`);
  for (let i = 0; i < 100 && completedWhileDown < ackedAfterKill; i++) await sleep(200);
  t.ok(completedWhileDown > TASKS / 3, `tasks kept completing with the node down (${completedWhileDown} completions after the kill)`);
  completions.unsubscribe();

  // The node comes back with its store and catches up as a replica of every stream.
  running[2] = await start(victim);
  const audit = await waitAllEnded(nc, acked, 90_000);
  t.same(
    acked.filter((id) => !audit.tasks.has(id)),
    [],
    "every acknowledged task is in the log",
  );
  t.same(
    [...audit.tasks].filter(([, x]) => x.completed !== 1).map(([id, x]) => `${id}: ${x.types.join(" > ")}`),
    [],
    "every task in the log completed exactly once",
  );
  const caughtUp = async () => {
    for (let i = 0; i < 120; i++) {
      const infos = await Promise.all([Streams.Events, tasksStream("clustered"), Streams.Results].map((s) => jsm.streams.info(s).catch(() => undefined)));
      const ok = infos.every((info) => {
        const c = info?.cluster;
        const peers = [c?.leader, ...(c?.replicas ?? []).filter((r) => r.current && !r.offline).map((r) => r.name)];
        return peers.includes(victim.name) && peers.length === 3;
      });
      if (ok) return true;
      await sleep(500);
    }
    return false;
  };
  t.ok(await caughtUp(), `${victim.name} rejoined and is a current replica of EVENTS, TASKS and RESULTS`);
  const head = (await jsm.streams.info(Streams.Events)).state.last_seq;
  // A live view whose ordered consumer was hosted on the killed node went quiet without an
  // error (its checkpoint stopped until the core restarted). The runner's stall detector makes
  // the subscription again: every view reaches the head with the same core still running.
  const cps = await waitProjections(nc, 60_000);
  t.ok(
    Object.values(cps).every((c) => c >= head),
    `without a core restart every view reached the head (${JSON.stringify(cps)}, log head ${head})`,
  );
  t.comment(core.stderr().includes("live views stalled") ? "the stall detector made the views' subscription again" : "no view stalled in this run");
  const reports = await verifyViews(nc);
  for (const r of reports) t.same(r.differences, [], `projection ${r.view} verifies clean against the log (head ${r.head} ≥ ${head})`);
  t.equal(core.proc.exitCode, null, "the core is still running");
  t.equal(await core.kill(), 0, "the core stops cleanly on SIGTERM");
});
