import t from "tap";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { fromSeed } from "@nats-io/nkeys";
import { nuid } from "@nats-io/nats-core";
import { alive, natsServerPid, waitNoneMentioning, runCli, startCli, waitGone } from "./cliProcess.js";

const dataDir = await mkdtemp(join(tmpdir(), "ganglion-up-"));
t.teardown(() => rm(dataDir, { recursive: true, force: true }));

const operatorPublicKey = async () => fromSeed(new TextEncoder().encode((await readFile(join(dataDir, "keys", "operator.nk"), "utf8")).trim())).getPublicKey();
const adminConnect = async (url: string) =>
  connect({ servers: url, authenticator: credsAuthenticator(await readFile(join(dataDir, "creds", "admin.creds"))), maxReconnectAttempts: 0 });
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

t.test("up prints its ready line, serves the CLI, and keeps data and keys across a restart", async (t) => {
  const first = await startCli(["up", "--port", "0", "--data-dir", dataDir]);
  t.teardown(() => first.stop());
  const [ready, credsLine] = first.lines();
  t.match(ready, /^ganglion ready nats:\/\/127\.0\.0\.1:\d+$/, "exactly the ready line first");
  t.equal(credsLine, `admin credentials: ${join(dataDir, "creds", "admin.creds")}`);
  t.equal((await readFile(join(dataDir, "nats", "url"), "utf8")).trim(), first.url, "clients find the URL in the data dir");
  const operator = await operatorPublicKey();

  // Until the event store lands: a plain JetStream publish into the EVENTS stream.
  const subject = `ev.test.${nuid.next()}`;
  const body = JSON.stringify({ hello: "world", n: 42 });
  const nc = await adminConnect(first.url);
  const ack = await jetstream(nc).publish(subject, body);
  t.equal(ack.stream, "EVENTS");
  await nc.close();

  const status = await runCli(["status", "--json", "--data-dir", dataDir]);
  t.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout) as { url: string; streams: { name: string; messages: number }[] };
  t.equal(s.url, first.url);
  t.ok(
    s.streams.find((x) => x.name === "EVENTS" && x.messages >= 1),
    "status sees the event",
  );

  const twice = await runCli(["up", "--port", "0", "--data-dir", dataDir]);
  t.equal(twice.code, 4, "a second up on the same data dir is refused");
  t.match(twice.stderr, /already runs on the data dir/);
  t.equal((await readFile(join(dataDir, "nats", "url"), "utf8")).trim(), first.url, "and leaves the running one alone");

  const serverPid = await natsServerPid(dataDir);
  t.same(await first.stop(), { code: 0, signal: null }, "SIGTERM is a clean exit");
  t.notOk(alive(serverPid), "nats-server stopped with it");
  t.notOk(await exists(join(dataDir, "nats", "url")), "the URL file is gone with the bus");
  const noBus = await runCli(["status", "--data-dir", dataDir]);
  t.equal(noBus.code, 3, "no bus: exit code 3");
  t.match(noBus.stderr, /ganglion up/);

  const second = await startCli(["up", "--port", "0", "--data-dir", dataDir]);
  t.teardown(() => second.stop());
  t.equal(await operatorPublicKey(), operator, "the keys are reused");
  const nc2 = await adminConnect(second.url);
  t.teardown(() => nc2.close());
  const m = await (await jetstreamManager(nc2)).streams.getMessage("EVENTS", { seq: ack.seq });
  t.equal(m?.subject, subject);
  t.equal(m?.string(), body, "the event survived the restart");
  await nc2.close();
  second.child.kill("SIGINT");
  t.same(await second.exited, { code: 0, signal: null }, "Ctrl-C is a clean exit too");
});

t.test("a SIGKILLed `ganglion up` leaves no nats-server behind", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ganglion-orphan-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const up = await startCli(["up", "--port", "0", "--data-dir", dir]);
  const serverPid = await natsServerPid(dir);
  t.ok(alive(serverPid), "the server runs");
  up.child.kill("SIGKILL");
  t.same(await up.exited, { code: null, signal: "SIGKILL" });
  t.ok(await waitGone(serverPid), "the watchdog ended nats-server");
  t.same(await waitNoneMentioning(join(dir, "nats")), [], "and nothing else of it runs");
});

t.test("a core that fails to start stops the server and exits non-zero with the reason", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ganglion-corefail-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const up = await startCli(["up", "--port", "0", "--data-dir", dir]);
  // Replace EVENTS with a stream whose retention the core cannot change in place.
  const nc = await connect({
    servers: up.url,
    authenticator: credsAuthenticator(await readFile(join(dir, "creds", "admin.creds"))),
    maxReconnectAttempts: 0,
  });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete("EVENTS");
  await jsm.streams.add({ name: "EVENTS", subjects: ["ev.>"], retention: "workqueue" as never, storage: "file" as never });
  await nc.close();
  t.equal((await up.stop()).code, 0);

  const again = await runCli(["up", "--port", "0", "--data-dir", dir]);
  t.equal(again.code, 1, again.stderr);
  t.match(again.stderr, /core failed to start.*retention/);
  t.notMatch(again.stderr, /^\s+at /m, "no stack trace");
  t.same(await waitNoneMentioning(join(dir, "nats")), [], "its nats-server is gone");
  t.notOk(await exists(join(dir, "nats", "url")), "no URL file for a bus that never got ready");
});
