import t from "tap";
import { createTestBus } from "../../src/testing/testBus.js";
import { serviceClient } from "../../src/service/client.js";
import { controlSubject } from "../../src/contract/subjects.js";
import { ConfigAnswer, LiveVersions } from "../../src/contract/pluginConfig.js";
import { sealTo } from "../secrets/support.js";

/**
 * The core's `live.versions` on the wire, as a plugin's own connection sees it: repeated every
 * `liveAnnounceEveryMs`, naming the plugin's config version and the versions of the secrets it is
 * granted that exist, nothing of other plugins' secrets; a plugin with neither gets nothing; the
 * `cfg` answer lists the same versions.
 */
const bus = await createTestBus({ liveAnnounceEveryMs: 300 });
t.teardown(bus.stop);
const admin = serviceClient(bus.nc);
const plugin = (id: string, capabilities: string[], config = true) => ({
  id,
  version: "1.0.0",
  description: id,
  provides: [],
  capabilities,
  ...(config ? { config: { type: "object", properties: { n: { type: "integer" } } } } : {}),
});

t.test("live.versions names the plugin's own config and granted secrets, again and again; a plugin with neither gets none", async (t) => {
  const told = await bus.install(plugin("told", ["secret.read:told.a", "secret.read:told.unset"]));
  const quiet = await bus.install(plugin("quiet", [], false));
  await bus.install(plugin("other", ["secret.read:other.b"]));
  const key = await admin.call("secret.key", {});
  if (key._tag === "Left") throw new Error(key.left.message);
  t.match(await admin.call("secret.set", { name: "told.a", ...sealTo(key.right.publicKey, "va") }), { right: { version: 1 } });
  t.match(await admin.call("secret.rotate", { name: "told.a", ...sealTo(key.right.publicKey, "va2") }), { right: { version: 2 } });
  t.match(await admin.call("secret.set", { name: "other.b", ...sealTo(key.right.publicKey, "vb") }), { right: { version: 1 } });
  t.match(await admin.call("plugin.config.set", { pluginId: "told", set: { n: 1 } }), { right: { version: 1 } });

  const nc = await bus.connectWith(told.creds);
  t.teardown(() => nc.close());
  const seen: unknown[] = [];
  const sub = nc.subscribe(controlSubject("told"), { callback: (_e, m) => void seen.push(m.json()) });
  const quietNc = await bus.connectWith(quiet.creds);
  t.teardown(() => quietNc.close());
  const quietSeen: unknown[] = [];
  quietNc.subscribe(controlSubject("quiet"), { callback: (_e, m) => void quietSeen.push(m.json()) });

  for (let i = 0; i < 600 && seen.filter((m) => LiveVersions.is(m)).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  sub.unsubscribe();
  const rounds = seen.filter((m) => LiveVersions.is(m));
  t.ok(rounds.length >= 2, `repeated (${rounds.length} rounds seen)`);
  t.same(rounds.at(-1), { type: "live.versions", config: 1, secrets: { "told.a": 2 } }, "its config version and its existing granted secret, nothing else");
  t.same(
    quietSeen.filter((m) => LiveVersions.is(m)),
    [],
    "a plugin with no config and no secret is told nothing",
  );

  const answer = ConfigAnswer.decode((await nc.request("cfg", "{}", { timeout: 5000 })).json());
  t.match(answer, { right: { pluginId: "told", version: 1, config: { n: 1 }, secrets: { "told.a": 2 } } }, "the cfg answer lists the same versions");
  t.notOk(JSON.stringify(answer).includes("other.b"), "no other plugin's secret");
});
