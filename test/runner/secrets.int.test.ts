import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import type { SecretResolver } from "../../src/runner/ports.js";
import { runnerBus, sleeperManifest, until } from "./support.js";

// `secret://` references in run.env: resolved at start through the configured resolver (the
// interface of src/secrets/resolver.ts), given to the process, written to no file.

const VALUE = "s3cr3t-value-9f1c2e";
const asked: { name: string; plugin: string }[] = [];
const secrets: SecretResolver = {
  resolve: async (name, forPlugin) => {
    asked.push({ name, plugin: forPlugin });
    if (name !== "api-token") throw new Error(`no secret ${name}`);
    return { value: VALUE, version: 1 };
  },
};
const bus = await runnerBus({ secrets });
t.teardown(bus.stop);
await bus.newCore();

t.test("a resolved secret reaches the process's environment and no file", async (t) => {
  await bus.call("plugin.install", { manifest: sleeperManifest("vault-user", { env: { API_TOKEN: "secret://api-token" } }), grant: "all" });
  const pid = await until("the instance", async () => {
    const i = (await bus.call("worker.ps", { pluginId: "vault-user" })).plugins[0]?.instances.find((x) => x.running);
    return i ? Number(i.ref) : undefined;
  });
  const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
  t.ok(environ.includes(`API_TOKEN=${VALUE}`), "resolved into its environment");
  t.same(asked[0], { name: "api-token", plugin: "vault-user" }, "asked for the plugin that uses it");
  const walk = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
  const holding = walk(bus.dataDir).filter((f) => {
    try {
      return readFileSync(f).includes(VALUE);
    } catch {
      return false;
    }
  });
  t.same(holding, [], "no file of the data dir (runner state, logs, the JetStream store) holds the value");
  const events = await bus.eventsOf("vault-user", "");
  t.notOk(JSON.stringify(events.map((e) => e.data)).includes(VALUE), "no event holds it");
});

t.test("a reference the resolver cannot resolve is refused at start", async (t) => {
  await bus.call("plugin.install", { manifest: sleeperManifest("vault-miss", { instances: 0, env: { X: "secret://missing" } }), grant: "all" });
  const err = await bus.call("worker.start", { pluginId: "vault-miss", instances: 1 }).catch((e: Error) => e);
  t.match(err, { code: "NotApplicable", message: /run.env.X \(secret:\/\/missing\) could not be resolved: no secret missing/ });
});
