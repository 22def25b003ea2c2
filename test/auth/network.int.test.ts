import t from "tap";
import { createConnection } from "node:net";
import * as E from "fp-ts/lib/Either.js";
import { parseCreds } from "@nats-io/jwt";
import { jetstreamManager } from "@nats-io/jetstream";
import { fromSeed } from "@nats-io/nkeys";
import { applyDefinitions, loadDefinitions } from "../../src/store/streamDefinitions.js";
import { decodeManifestValue } from "../../src/plugins/manifest.js";
import { pluginParts } from "../support/core.js";
import { startTestServer } from "../support/natsServer.js";

/**
 * Per-plugin network restrictions: a plugin's user JWT carries the source networks (`src`) the
 * server accepts its connections from, from the manifest's `network.allowFrom` or from
 * `plugin creds --allow-from`. The server enforces it; the test connects from two loopback
 * addresses with a raw NATS client (nats.js cannot pick its local address).
 */
const server = await startTestServer();
t.teardown(server.stop);
const admin = await server.connectAdmin();
t.teardown(() => admin.close());
await applyDefinitions(admin, await jetstreamManager(admin), await loadDefinitions());
const parts = await pluginParts(server, admin, (f) => t.teardown(f));
const meta = () => ({ actor: "operator:test", time: new Date() });

/** Connects from `localAddress` with the credentials and answers the server's verdict: PONG or its -ERR. */
const rawConnect = async (creds: string, localAddress: string): Promise<string> => {
  const { jwt, key: seed } = await parseCreds(new TextEncoder().encode(creds));
  const key = fromSeed(new TextEncoder().encode(seed));
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: "127.0.0.1", port: server.port, localAddress });
    let buf = "";
    let sent = false;
    const done = (v: string) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(5000, () => done("timeout"));
    sock.on("error", (err) => (sent ? done(`closed: ${err.message}`) : reject(err)));
    sock.on("close", () => done(buf.includes("-ERR") ? buf.slice(buf.indexOf("-ERR")).split("\r\n")[0]! : "closed"));
    sock.on("data", (d) => {
      buf += d.toString();
      if (!sent && buf.includes("\r\n")) {
        const info = JSON.parse(buf.slice(buf.indexOf("{"), buf.indexOf("\r\n"))) as { nonce: string };
        const sig = Buffer.from(key.sign(new TextEncoder().encode(info.nonce))).toString("base64url");
        sock.write(`CONNECT ${JSON.stringify({ jwt, sig, verbose: false, pedantic: false, protocol: 1, headers: true })}\r\nPING\r\n`);
        sent = true;
        buf = "";
        return;
      }
      if (buf.includes("PONG")) done("PONG");
      else if (buf.includes("-ERR")) done(buf.slice(buf.indexOf("-ERR")).split("\r\n")[0]!);
    });
  });
};

const install = async (id: string, network?: { allowFrom: string[] }) => {
  const m = decodeManifestValue({ id, version: "1.0.0", description: id, capabilities: [], ...(network ? { network } : {}) });
  if (E.isLeft(m)) throw new Error(m.left.join("; "));
  const r = await parts.app.execute(id, { type: "install", manifest: m.right, grant: "all" }, meta());
  if (E.isLeft(r)) throw new Error(r.left.message);
};

t.test("the manifest's network.allowFrom: refused from 127.0.0.2, accepted from 127.0.0.1", async (t) => {
  await install("fenced", { allowFrom: ["127.0.0.1/32"] });
  const c = await parts.app.issueCredentials("fenced", {}, meta());
  if (E.isLeft(c)) return t.fail(c.left.message);
  t.same(c.right.allowFrom, ["127.0.0.1/32"]);
  t.equal(await rawConnect(c.right.creds, "127.0.0.1"), "PONG", "from an allowed address");
  t.match(await rawConnect(c.right.creds, "127.0.0.2"), /Authorization Violation/, "from 127.0.0.2 the server refuses");
  const events = [];
  for await (const e of parts.store.readStream("plugin-fenced")) events.push(e);
  const issued = events.find((e) => e.type === "plugin.credentials.issued");
  t.match(issued?.data, { allowFrom: ["127.0.0.1/32"] }, "the log records where the credentials may connect from");
});

t.test("--allow-from at minting overrides the manifest; without either, any address", async (t) => {
  await install("open");
  const any = await parts.app.issueCredentials("open", {}, meta());
  if (E.isLeft(any)) return t.fail(any.left.message);
  t.equal(await rawConnect(any.right.creds, "127.0.0.2"), "PONG");
  const narrowed = await parts.app.issueCredentials("open", { allowFrom: ["127.0.0.3/32"] }, meta());
  if (E.isLeft(narrowed)) return t.fail(narrowed.left.message);
  t.match(await rawConnect(narrowed.right.creds, "127.0.0.1"), /Authorization Violation/);
  t.equal(await rawConnect(narrowed.right.creds, "127.0.0.3"), "PONG");
});

t.test("--allow-from at approval: recorded in the log, carried by every credential minted after", async (t) => {
  await install("approved");
  const r = await parts.app.execute("approved", { type: "approve", pluginId: "approved", capabilities: [], allowFrom: ["127.0.0.4/32"] }, meta());
  t.same(E.isRight(r) && r.right.events.map((e) => e.type), ["plugin.network.restricted"]);
  const c = await parts.app.issueCredentials("approved", {}, meta());
  if (E.isLeft(c)) return t.fail(c.left.message);
  t.same(c.right.allowFrom, ["127.0.0.4/32"]);
  t.match(await rawConnect(c.right.creds, "127.0.0.1"), /Authorization Violation/);
  t.equal(await rawConnect(c.right.creds, "127.0.0.4"), "PONG");
  const same = await parts.app.execute("approved", { type: "approve", pluginId: "approved", capabilities: [], allowFrom: ["127.0.0.4/32"] }, meta());
  t.same(E.isRight(same) && same.right.events, [], "the same list again changes nothing");
  const lifted = await parts.app.execute("approved", { type: "approve", pluginId: "approved", capabilities: [], allowFrom: [] }, meta());
  t.same(E.isRight(lifted) && lifted.right.events.map((e) => e.type), ["plugin.network.restricted"]);
  const open = await parts.app.issueCredentials("approved", {}, meta());
  t.same(E.isRight(open) && open.right.allowFrom, [], "lifted: credentials from anywhere again");
});

t.test("a malformed network in a manifest is refused with its path", async (t) => {
  for (const bad of ["10.0.0.0/33", "not-an-ip", "::1/129", "1.2.3.4/8/1", "a".repeat(100)]) {
    const m = decodeManifestValue({ id: "bad", version: "1.0.0", description: "x", network: { allowFrom: [bad] } });
    t.ok(E.isLeft(m), bad);
    if (E.isLeft(m)) t.match(m.left.join("\n"), /network\.allowFrom\[0\]/);
  }
  const ok = decodeManifestValue({ id: "good", version: "1.0.0", description: "x", network: { allowFrom: ["10.1.2.3", "::1"] } });
  t.ok(E.isRight(ok) && ok.right.network?.allowFrom.join(" ") === "10.1.2.3/32 ::1/128", "a bare address is one host");
});
