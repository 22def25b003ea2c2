import t from "tap";
import { readFile } from "node:fs/promises";
import { pino } from "pino";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, errors } from "@nats-io/transport-node";
import { PluginEvent, pluginStreamName } from "../../src/events/plugin.js";
import { defaultCatalog } from "../../src/plugins/catalog.js";
import { mintPluginCredentials } from "../../src/plugins/credentials.js";
import { startPlugins } from "../../src/plugins/runtime.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { applyDefinitions, loadDefinitions } from "../../src/store/streamDefinitions.js";
import { pluginInboxPrefix } from "../../src/store/subjects.js";
import { startTestServer } from "../support/natsServer.js";

const server = await startTestServer();
t.teardown(server.stop);
const admin = await server.connectAdmin();
t.teardown(() => admin.close());
await applyDefinitions(admin, await jetstreamManager(admin), await loadDefinitions());
const log = pino({ level: "silent" });

t.test("credentials the log says are revoked are revoked again at start (a restored data dir)", async (t) => {
  const authority = server.installation.authority;
  const creds = await mintPluginCredentials(authority, defaultCatalog(), "delta", []);
  // The log says these were revoked, but the account JWT in force does not list them.
  const store = natsEventStore(admin, { codec: PluginEvent });
  await store.appendToStream(pluginStreamName("delta"), [
    { type: "plugin.credentials.revoked", data: { pluginId: "delta", publicKeys: [creds.publicKey], reason: "disabled: test" }, metadata: { actor: "operator:test" } },
  ]);
  const nc = await server.connectWith(creds.creds, { inboxPrefix: pluginInboxPrefix("delta"), name: "delta" });
  t.teardown(() => nc.close());
  const disconnected = (async () => {
    for await (const s of nc.status()) if (s.type === "disconnect") return true;
    return false;
  })();

  const plugins = await startPlugins({ nc: admin, log, authority, sysCreds: await readFile(server.installation.sysCreds, "utf8") });
  t.teardown(plugins.stop);
  t.ok(await disconnected, "the live connection is closed");
  await t.rejects(
    connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds.creds)), reconnect: false }),
    errors.AuthorizationError,
    "and the credentials are refused",
  );
});

t.test("without keys it starts and says it cannot revoke", async (t) => {
  const lines: string[] = [];
  const p = await startPlugins({ nc: admin, log: pino({ level: "warn" }, { write: (s: string) => void lines.push(s) }) });
  await p.stop();
  t.match(lines.join(""), /cannot revoke plugin credentials/);
});
