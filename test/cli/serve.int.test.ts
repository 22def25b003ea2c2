import t from "tap";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { jetstreamManager } from "@nats-io/jetstream";
import { startTestServer } from "../support/natsServer.js";
import { runCli, startCli } from "./cliProcess.js";

const server = await startTestServer();
t.teardown(server.stop);

t.test("serve runs the core against an existing server and stops on SIGTERM", async (t) => {
  const serve = await startCli(["serve", "--nats", server.url, "--creds", server.installation.adminCreds, "--data-dir", server.dataDir]);
  t.teardown(() => serve.stop());
  t.equal(serve.lines()[0], `ganglion ready ${server.url}`);
  const nc = await server.connectAdmin();
  t.teardown(() => nc.close());
  const info = await (await jetstreamManager(nc)).streams.info("EVENTS");
  t.equal(info.config.subjects?.[0], "ev.>", "the core applied streams/");

  // A client command through the same flags, as for a remote bus.
  const status = await runCli(["status", "--json", "--nats", server.url, "--creds", server.installation.adminCreds]);
  t.equal(status.code, 0, status.stderr);
  t.equal((JSON.parse(status.stdout) as { url: string }).url, server.url);
  const viaEnv = await runCli(["status", "--json"], { GANGLION_NATS_URL: server.url, GANGLION_CREDS: server.installation.adminCreds });
  t.equal(viaEnv.code, 0, `GANGLION_NATS_URL / GANGLION_CREDS work too: ${viaEnv.stderr}`);

  t.same(await serve.stop(), { code: 0, signal: null });
});

t.test("serve without credentials the server accepts cannot reach the bus: exit 3", async (t) => {
  const r = await runCli(["serve", "--nats", server.url, "--data-dir", server.dataDir]);
  t.equal(r.code, 3, r.stderr);
  t.match(r.stderr, /cannot reach the bus/);
});

t.test("serve against a port where nothing listens: exit 3", async (t) => {
  const s = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  const r = await runCli(["serve", "--nats", `nats://127.0.0.1:${port}`, "--creds", server.installation.adminCreds]);
  t.equal(r.code, 3, r.stderr);
  t.notMatch(r.stderr, /^\s+at /m);
});

t.test("serve needs a URL: usage error 2", async (t) => {
  const r = await runCli(["serve"]);
  t.equal(r.code, 2);
  t.match(r.stderr, /--nats URL/);
});

t.test("serve with an explicit data dir holding no keys is a set-up error", async (t) => {
  const r = await runCli(["serve", "--nats", server.url, "--creds", server.installation.adminCreds, "--data-dir", "/nonexistent/ganglion"]);
  t.equal(r.code, 4, r.stderr);
  t.match(r.stderr, /no Ganglion keys/);
});
