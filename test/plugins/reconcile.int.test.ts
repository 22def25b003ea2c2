import t from "tap";
import { readFile } from "node:fs/promises";
import { pino } from "pino";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, errors } from "@nats-io/transport-node";
import { PluginEvent, pluginStreamName } from "../../src/events/plugin.js";
import { jetstream } from "@nats-io/jetstream";
import { mintPluginCredentials } from "../../src/plugins/credentials.js";
import { startPlugins } from "../../src/plugins/runtime.js";
import { natsEventStore } from "../../src/store/eventStore.js";
import { applyDefinitions, loadDefinitions } from "../../src/store/streamDefinitions.js";
import { Streams, topicSubject } from "../../src/contract/subjects.js";
import { pluginParts } from "../support/core.js";
import { startTestServer } from "../support/natsServer.js";

const server = await startTestServer();
t.teardown(server.stop);
const admin = await server.connectAdmin();
t.teardown(() => admin.close());
await applyDefinitions(admin, await jetstreamManager(admin), await loadDefinitions());
const log = pino({ level: "silent" });

const parts = await pluginParts(server, admin, (f) => t.teardown(f));
void readFile;

t.test("credentials the log says are revoked are revoked again at start (a restored data dir)", async (t) => {
  const creds = await mintPluginCredentials(parts.accounts, "delta");
  // The log says these were revoked, but the account JWT in force does not list them.
  await parts.accounts.applyPlugin("delta", { active: true, granted: [] });
  const store = natsEventStore(admin, { codec: PluginEvent });
  await store.appendToStream(pluginStreamName("delta"), [
    {
      type: "plugin.credentials.revoked",
      data: { pluginId: "delta", publicKeys: [creds.publicKey], reason: "disabled: test" },
      metadata: { actor: "operator:test" },
    },
  ]);
  const nc = await server.connectWith(creds.creds, { name: "delta" });
  t.teardown(() => nc.close());
  const disconnected = (async () => {
    for await (const s of nc.status()) if (s.type === "disconnect") return true;
    return false;
  })();

  const plugins = await startPlugins({ log, store: parts.store, accounts: parts.accounts });
  t.teardown(plugins.stop);
  t.ok(await disconnected, "the live connection is closed");
  await t.rejects(
    connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds.creds)), reconnect: false }),
    errors.AuthorizationError,
    "and the credentials are refused",
  );
});

t.test("a grant pushed to the server but never recorded (a crash in between) is withdrawn at start", async (t) => {
  const m = await (
    await import("../../src/plugins/manifest.js")
  ).decodeManifestValue({
    id: "echo",
    version: "1.0.0",
    description: "echo",
    capabilities: ["topic.publish:news"],
  });
  if (m._tag === "Left") return t.fail(m.left.join("; "));
  await parts.app.execute("echo", { type: "install", manifest: m.right, grant: [] }, { actor: "operator:test", time: new Date() });
  const creds = await parts.app.issueCredentials("echo", {}, { actor: "operator:test", time: new Date() });
  if (creds._tag === "Left") return t.fail(creds.left.message);
  // The account says more than the log: topic.publish:news was pushed, its event never appended.
  await parts.accounts.applyPlugin("echo", { active: true, granted: ["topic.publish:news"] });
  const nc = await server.connectWith(creds.right.creds, { name: "echo" });
  t.teardown(() => nc.close());
  const stored = async () => (await (await jetstreamManager(admin)).streams.info(Streams.Topics)).state.messages;
  const before = await stored();
  await jetstream(nc).publish(topicSubject("news"), "while the account said so");
  t.equal(await stored(), before + 1);
  const plugins = await startPlugins({ log, store: parts.store, accounts: parts.accounts });
  t.teardown(plugins.stop);
  await t.rejects(jetstream(nc).publish(topicSubject("news"), "after the start", { timeout: 1000 }), "the grant the log never recorded is gone");
  t.equal(await stored(), before + 1);
});

t.test("without keys it starts and says it cannot change plugin accounts", async (t) => {
  const lines: string[] = [];
  const p = await startPlugins({ log: pino({ level: "warn" }, { write: (s: string) => void lines.push(s) }), store: parts.store });
  await p.stop();
  t.match(lines.join(""), /cannot change plugin accounts/);
});
