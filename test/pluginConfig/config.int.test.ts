import t from "tap";
import { createTestBus } from "../../src/testing/testBus.js";
import { serviceClient } from "../../src/service/client.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { ConfigEvent, configStreamName } from "../../src/events/config.js";
import { runCli } from "../cli/cliProcess.js";
import { spawnWorker } from "../tasks/support.js";

/**
 * Live config end to end: the manifest declares a schema; a change is validated, appended (who,
 * what), and reaches a running worker (a real child process) without a restart; a new worker gets
 * the config in force at start; a plugin reaches only its own config.
 */
const bus = await createTestBus();
t.teardown(bus.stop);
const admin = serviceClient(bus.nc);
const FIXTURE = new URL("./fixtures/configWorker.ts", import.meta.url).pathname;
const cli = (args: string[]) => runCli([...args, "--nats", bus.url, "--creds", bus.installation.adminCreds]);

const tuner = await bus.install({
  id: "tuner",
  version: "1.0.0",
  description: "has a config",
  provides: [{ type: "tuner.peek", description: "its config", params: { type: "object" }, result: { type: "object" }, timeout: "10s" }],
  capabilities: ["secret.read:tuner.key"],
  config: {
    type: "object",
    properties: { threshold: { type: "number", maximum: 100 }, apiKey: { type: "string" }, mode: { enum: ["fast", "slow"] } },
    additionalProperties: false,
  },
});
const plain = await bus.install({ id: "plain", version: "1.0.0", description: "no config schema", provides: [], capabilities: [] });

t.test("a change reaches a running worker without a restart; invalid ones are refused and reach nothing", async (t) => {
  const w = await spawnWorker(bus, { plugin: "tuner", creds: tuner.creds, instance: "t1", fixture: FIXTURE });
  t.teardown(() => w.kill());
  t.match(
    w.lines.find((l) => l.event === "ready"),
    { version: 0, config: {} },
    "no config yet: {} at version 0",
  );

  const r = await admin.call("plugin.config.set", { pluginId: "tuner", set: { threshold: 5, apiKey: "secret://tuner.key" } });
  t.match(r, { right: { version: 1, config: { threshold: 5, apiKey: "secret://tuner.key" } } });
  t.match(await w.waitFor((l) => l.event === "config" && l.version === 1, "version 1"), { config: { threshold: 5, apiKey: "secret://tuner.key" } });

  t.match(await admin.call("plugin.config.set", { pluginId: "tuner", set: { threshold: 500 } }), { left: { code: "InvalidRequest", paths: [/threshold/] } });
  t.match(await admin.call("plugin.config.set", { pluginId: "tuner", set: { other: 1 } }), { left: { code: "InvalidRequest" } }, "the schema's closed set");
  t.match(await admin.call("plugin.config.set", { pluginId: "tuner", set: { apiKey: "secret://NOT A NAME" } }), { left: { code: "InvalidRequest" } });
  t.match(await admin.call("plugin.config.set", { pluginId: "plain", set: { x: 1 } }), { left: { code: "InvalidRequest", message: /declares no config/ } });
  t.match(await admin.call("plugin.config.set", { pluginId: "tuner", set: { mode: "x".repeat(70_000) } }), { left: { code: "PayloadTooLarge" } });

  const set = await cli(["plugin", "config", "set", "tuner", "threshold=7", "mode=fast"]);
  t.equal(set.code, 0, set.stderr);
  t.match(await w.waitFor((l) => l.event === "config" && l.version === 2, "version 2"), {
    config: { threshold: 7, mode: "fast", apiKey: "secret://tuner.key" },
  });
  t.notOk(
    w.lines.some((l) => l.event === "config" && (l.config as { threshold?: number }).threshold === 500),
    "refused changes reached no worker",
  );

  // A task started now sees the config in force; meanwhile `plugin show` prints it.
  const [task, show] = await Promise.all([admin.call("task.submit", { taskType: "tuner.peek", params: {}, waitMs: 20_000 }), cli(["plugin", "show", "tuner"])]);
  t.match(task, { right: { status: "completed", result: { config: { threshold: 7, mode: "fast" } } } });
  t.equal(show.code, 0, show.stderr);
  t.match(show.stdout, /config \(version 2\)/);
  t.match(show.stdout, /"threshold": 7/);
});

t.test("a worker started later gets the config in force; the log says who changed what", async (t) => {
  const w = await spawnWorker(bus, { plugin: "tuner", creds: tuner.creds, instance: "t2", fixture: FIXTURE });
  t.teardown(() => w.kill());
  t.match(
    w.lines.find((l) => l.event === "ready"),
    { version: 2, config: { threshold: 7, mode: "fast" } },
  );
  const store = natsEventStore(bus.nc, { codec: ConfigEvent });
  const evs = [];
  for await (const e of store.readStream(configStreamName("tuner"))) evs.push(e);
  t.equal(evs.length, 2, "one event per accepted change, none for refusals");
  t.match(evs[1], { type: "plugin.config.set", data: { version: 2, changed: ["mode", "threshold"] }, metadata: { actor: /^operator/ } });
});

t.test("a plugin reaches only its own config", async (t) => {
  const nc = await bus.connectWith(plain.creds);
  t.teardown(() => nc.close());
  t.match((await nc.request("cfg", "{}", { timeout: 5000 })).json(), { pluginId: "plain", version: 0, config: {} });
  await t.rejects(nc.request("cfg.tuner", "{}", { timeout: 1000 }), "another plugin's subject reaches nothing");
  await t.rejects(bus.nc.request("cfg.tuner", "{}", { timeout: 1000 }), "from inside BUS the core does not answer");
});
