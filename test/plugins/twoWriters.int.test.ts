import t from "tap";
import * as E from "fp-ts/lib/Either.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { PluginEvent } from "../../src/events/plugin.js";
import { pluginApp } from "../../src/plugins/app.js";
import { decodeManifestValue } from "../../src/plugins/manifest.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { applyDefinitions, loadDefinitions } from "../../src/store/streamDefinitions.js";
import { pluginParts } from "../support/core.js";
import { startTestServer } from "../support/natsServer.js";

/**
 * Two writers of one plugin's stream, each with its own event store (and its own cached stream
 * heads), as the health monitor and the operator's commands were: after one appended, the other's
 * cached head is stale. Its next command must refresh and succeed, never answer Internal
 * ("expected 4, but it is at 2" made `plugin enable` fail after an automatic disable until the
 * core restarted).
 */
const server = await startTestServer();
t.teardown(server.stop);
const nc = await server.connectAdmin();
t.teardown(() => nc.close());
await applyDefinitions(nc, await jetstreamManager(nc), await loadDefinitions());
const parts = await pluginParts(server, nc, (f) => t.teardown(f));
const meta = () => ({ actor: "operator:test", time: new Date() });

t.test("a stale cached head is refreshed and the command retried", async (t) => {
  const m = decodeManifestValue({ id: "shared", version: "1.0.0", description: "two writers", capabilities: [] });
  if (E.isLeft(m)) return t.fail(m.left.join("; "));
  const operator = parts.app;
  const health = pluginApp({ store: natsEventStore(nc, { codec: PluginEvent }), catalog: parts.catalog, accounts: parts.accounts });
  t.ok(E.isRight(await operator.execute("shared", { type: "install", manifest: m.right, grant: "all" }, meta())));
  // The operator's store caches the head; the other writer moves it twice.
  t.ok(E.isRight(await operator.execute("shared", { type: "disable", pluginId: "shared", reason: "first" }, meta())));
  t.ok(E.isRight(await health.execute("shared", { type: "enable", pluginId: "shared" }, meta())));
  t.ok(E.isRight(await health.execute("shared", { type: "disable", pluginId: "shared", reason: "automatic: probe", automatic: true }, meta())));
  const enabled = await operator.execute("shared", { type: "enable", pluginId: "shared" }, meta());
  t.match(enabled, E.right({ events: [{ type: "plugin.enabled" }] }), "the operator's enable after the other writer's disable works");
  const creds = await operator.issueCredentials("shared", {}, meta());
  t.ok(E.isRight(creds), "and credentials can be minted again");
});
