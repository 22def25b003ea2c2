import t from "tap";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import { pino } from "pino";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, errors } from "@nats-io/transport-node";
import { loadConfig } from "../../src/config.js";
import { startEmbeddedBus } from "../../src/host/main.js";
import { callService } from "../../src/service/client.js";
import { Streams, tasksStream } from "../../src/contract/subjects.js";
import { Worker } from "../../src/sdk/worker.js";

/**
 * Upgrade in place: `fixtures/datadir-0.1.tgz` is a data dir made by Ganglion 0.1 (the
 * one-account topology, commit eff9960: `ganglion up`, `plugin install legacy --yes`, `plugin
 * install waiting`, `plugin creds legacy`, `task submit echo.it`, then SIGTERM), with the
 * plugin's credentials of then kept as `creds/legacy-old.creds`. Starting the current version on
 * it must keep the log and the views, give every plugin its account, revoke every credential
 * minted before, and leave the queued task to be served by a worker with new credentials.
 */
const fixture = JSON.parse(await readFile(new URL("fixtures/datadir-0.1.json", import.meta.url), "utf8")) as { scheduledTask: string };
const dataDir = await mkdtemp(join(tmpdir(), "ganglion-upgrade-"));
t.teardown(() => rm(dataDir, { recursive: true, force: true }));
await promisify(execFile)("tar", ["-xzf", new URL("fixtures/datadir-0.1.tgz", import.meta.url).pathname, "-C", dataDir]);
const oldAdmin = await readFile(join(dataDir, "creds", "admin.creds"), "utf8");
const oldPlugin = await readFile(join(dataDir, "creds", "legacy-old.creds"), "utf8");

const lines: string[] = [];
const log = pino({ level: "info" }, { write: (s: string) => void lines.push(s) });
const config = loadConfig();
const bus = await startEmbeddedBus({ dataDir, host: "127.0.0.1", port: 0, dev: false, env: { NATS_SERVER_BIN: config.natsServerBin, PATH: config.path }, log });
t.teardown(bus.stop);

const refused = async (creds: string, url = bus.url) => {
  try {
    const nc = await connect({ servers: url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), reconnect: false, timeout: 5000 });
    await nc.close();
    return undefined;
  } catch (err) {
    return err as Error;
  }
};

const admin = await connect({ servers: bus.url, authenticator: credsAuthenticator(new TextEncoder().encode(await readFile(bus.adminCreds, "utf8"))) });
t.teardown(() => admin.close());

t.test("the start says what happened and what to do", async (t) => {
  t.match(lines.join(""), /one-account topology of Ganglion 0\.1[^"]*revoked[^"]*ganglion plugin creds/);
});

t.test("every credential minted before is revoked; the admin credentials were minted again", async (t) => {
  t.ok((await refused(oldPlugin)) instanceof errors.AuthorizationError, "the plugin's old credentials are refused");
  t.ok((await refused(oldAdmin)) instanceof errors.AuthorizationError, "the old admin credentials are refused");
  t.not(await readFile(bus.adminCreds, "utf8"), oldAdmin);
  t.equal(await refused(await readFile(bus.adminCreds, "utf8")), undefined, "the new admin credentials connect");
});

t.test("the log and the views are kept; the shared TASKS queue is gone, its task queued per plugin", async (t) => {
  const plugins = await callService<{ plugins: { pluginId: string; status: string }[] }>(admin, "plugin.list", {});
  t.match(E.isRight(plugins) && plugins.right.plugins, [
    { pluginId: "legacy", status: "active" },
    { pluginId: "waiting", status: "pending" },
  ]);
  const view = await callService<{ plugins: { pluginId: string }[] } | { pluginId: string }[]>(admin, "views.plugins", {});
  t.ok(E.isRight(view) && JSON.stringify(view.right).includes('"legacy"'), "the plugins view still has its rows");
  const jsm = await jetstreamManager(admin);
  await t.rejects(jsm.streams.info(Streams.LegacyTasks), "TASKS is retired");
  let queued = 0;
  for (let i = 0; i < 100 && queued === 0; i++) {
    queued = (await jsm.streams.info(tasksStream("legacy")).catch(() => undefined))?.state.messages ?? 0;
    if (queued === 0) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(queued, 1, "the scheduled task waits in TASKS_legacy");
});

t.test("new credentials belong to the plugin's account and serve the task queued under 0.1", async (t) => {
  const c = await callService<{ creds: string }>(admin, "plugin.creds", { pluginId: "legacy" });
  if (E.isLeft(c)) return t.fail(c.left.message);
  const worker = new Worker({ plugin: "legacy", creds: c.right.creds, servers: bus.url, instance: "upgraded", logger: pino({ level: "silent" }) });
  worker.onTask("echo.it", async (params) => ({ echoed: params }));
  await worker.run();
  t.teardown(() => worker.stop());
  const done = await callService<{ status: string; result?: unknown }>(admin, "task.get", { taskId: fixture.scheduledTask, waitMs: 20_000 });
  t.match(E.isRight(done) && done.right, { status: "completed", result: { echoed: { from: "0.1" } } });
});

t.test("a second start is not an upgrade", async (t) => {
  await bus.stop();
  lines.length = 0;
  const again = await startEmbeddedBus({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    dev: false,
    env: { NATS_SERVER_BIN: config.natsServerBin, PATH: config.path },
    log,
  });
  t.teardown(again.stop);
  t.notMatch(lines.join(""), /one-account topology/);
  t.equal(await refused(await readFile(again.adminCreds, "utf8"), again.url), undefined, "the admin credentials of the upgrade still work");
  t.ok((await refused(oldPlugin, again.url)) instanceof errors.AuthorizationError, "and the old plugin credentials stay refused");
});
