import t from "tap";
import { createConnection } from "node:net";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import type { TlsOptions } from "@nats-io/nats-core";
import { startEmbeddedBus } from "../../src/host/main.js";
import { prepareServerTls } from "../../src/tls/pki.js";
import { createTestBus } from "../../src/testing/testBus.js";
import { Worker } from "../../src/sdk/worker.js";
import { repoRoot, runCli, startCli } from "../cli/cliProcess.js";
import { startTestServer } from "../support/natsServer.js";
import { COMPOSE } from "../../src/host/main.js";

/**
 * TLS end to end on the real nats-server: `ganglion up --tls` (generated CA and server
 * certificate, reused on restart), `--tls-verify` (clients need a certificate of the CA; `ganglion
 * tls client` mints one), the CLI, the core's own connections (account pushes) and a Worker over
 * TLS, and certificates the operator brings.
 */

const quietLog = pino({ level: "silent" });
const tmp = (prefix: string) => mkdtemp(join(tmpdir(), prefix));
const mode = async (p: string) => (await stat(p)).mode & 0o777;
const creds = async (dir: string) => credsAuthenticator(await readFile(join(dir, "creds", "admin.creds")));

/** One connect attempt with the admin credentials: the connection, or the error it failed with. */
const tryConnect = async (url: string, dataDir: string, tls?: TlsOptions): Promise<{ nc?: NatsConnection; err?: Error }> => {
  try {
    const nc = await connect({
      servers: url,
      authenticator: await creds(dataDir),
      maxReconnectAttempts: 0,
      reconnect: false,
      timeout: 5000,
      ...(tls ? { tls } : {}),
    });
    return { nc };
  } catch (err) {
    return { err: err as Error };
  }
};

/** JetStream answers on `nc` (the account works, not just the handshake), then closes it. */
const jetStreamWorks = async (nc: NatsConnection) => {
  try {
    const m = await nc.request("$JS.API.INFO", "", { timeout: 5000 });
    return typeof (m.json() as { streams?: number }).streams === "number";
  } finally {
    await nc.close();
  }
};

/**
 * A client that speaks plain NATS, with no TLS at all: reads INFO, sends CONNECT and PING in
 * clear text, and reports what the server sent after INFO before it closed the socket. (nats.js cannot do
 * this: it upgrades by itself when the server requires TLS.)
 */
const plainClient = (url: string): Promise<{ info: Record<string, unknown>; after: string }> =>
  new Promise((resolve, reject) => {
    const u = new URL(url.replace(/^tls:/, "http:"));
    const s = createConnection({ host: u.hostname, port: Number(u.port) });
    let buf = "";
    let info: Record<string, unknown> | undefined;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`the server neither answered nor closed: ${buf}`));
    }, 10_000);
    s.on("data", (b) => {
      buf += b.toString("latin1");
      if (!info && buf.includes("\r\n")) {
        const line = buf.slice(0, buf.indexOf("\r\n"));
        info = JSON.parse(line.replace(/^INFO\s+/, "")) as Record<string, unknown>;
        buf = buf.slice(line.length + 2);
        s.write('CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"lang":"raw","version":"0"}\r\nPING\r\n');
      }
    });
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      if (!info) reject(new Error(`no INFO from ${url}: ${buf}`));
      else resolve({ info, after: buf });
    });
  });

/** The first `n` stdout lines of a live `ganglion up` (they may arrive just after the ready line). */
const firstLines = async (cli: { lines: () => string[] }, n: number, limitMs = 10_000) => {
  const end = Date.now() + limitMs;
  while (cli.lines().length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  return cli.lines();
};

t.test("up --tls: generated certificates, TLS clients and the CLI get in, plain ones do not, files are reused on restart", async (t) => {
  const dir = await tmp("ganglion-tls-up-");
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = await startCli(["up", "--tls", "--port", "0", "--data-dir", dir]);
  t.teardown(() => first.stop());
  const [ready, credsLine, caLine] = await firstLines(first, 3);
  t.match(ready, /^ganglion ready tls:\/\/127\.0\.0\.1:\d+$/, "the ready line says tls://");
  t.equal(credsLine, `admin credentials: ${join(dir, "creds", "admin.creds")}`);
  const ca = join(dir, "tls", "ca-cert.pem");
  t.equal(caLine, `tls ca: ${ca}`);
  t.equal((await readFile(join(dir, "nats", "url"), "utf8")).trim(), first.url, "clients find the tls:// URL in the data dir");

  t.equal(await mode(join(dir, "tls", "ca-key.pem")), 0o600, "the CA key is private");
  t.equal(await mode(join(dir, "tls", "server-key.pem")), 0o600, "the server key is private");
  const server = new X509Certificate(await readFile(join(dir, "tls", "server-cert.pem")));
  const caCert = new X509Certificate(await readFile(ca));
  t.ok(server.checkIssued(caCert) && server.verify(caCert.publicKey), "the server certificate is signed by the CA");
  for (const ip of ["127.0.0.1", "::1"]) t.ok(server.checkIP(ip), `it covers ${ip}`);
  t.ok(server.checkHost("localhost"), "it covers localhost");
  const conf = await readFile(join(dir, "nats", "nats-server.conf"), "utf8");
  t.match(
    conf,
    /tls: \{\n {2}cert_file: ".*server-cert\.pem"\n {2}key_file: ".*server-key\.pem"\n {2}ca_file: ".*ca-cert\.pem"\n {2}verify: false\n {2}timeout: 2\n\}/,
    "the config has the tls block",
  );

  const withCa = await tryConnect(first.url, dir, { caFile: ca });
  t.ok(withCa.nc, `a TLS connection with the CA succeeds ${withCa.err?.message ?? ""}`);
  t.ok(withCa.nc && (await jetStreamWorks(withCa.nc)), "and reaches the account's JetStream");

  const status = await runCli(["status", "--json", "--data-dir", dir]);
  t.equal(status.code, 0, status.stderr);
  t.equal((JSON.parse(status.stdout) as { url: string }).url, first.url, "the CLI connects over TLS with the data dir's CA");
  const elsewhere = await runCli(
    [
      "status",
      "--json",
      "--data-dir",
      join(dir, "nowhere"),
      "--nats",
      first.url.replace("127.0.0.1", "localhost"),
      "--creds",
      join(dir, "creds", "admin.creds"),
    ],
    {
      GANGLION_TLS_CA: ca,
    },
  );
  t.equal(elsewhere.code, 0, `GANGLION_TLS_CA names the CA for a bus outside the data dir ${elsewhere.stderr}`);

  const plain = await plainClient(first.url);
  t.equal(plain.info.tls_required, true, "the server announces that TLS is required");
  // nats-server takes the clear-text CONNECT for a broken TLS handshake and hangs up.
  t.notMatch(plain.after, /PONG|\+OK/, "a plain-text client is refused: no PONG, the server closed the connection");
  const untrusted = await tryConnect(first.url.replace("tls://", "nats://"), dir);
  t.ok(untrusted.err, "a client that does not know the CA is refused");
  t.match(untrusted.err?.message, /certificate/i);
  const cliPlain = await runCli([
    "status",
    "--data-dir",
    join(dir, "nowhere"),
    "--nats",
    first.url.replace("tls://", "nats://"),
    "--creds",
    join(dir, "creds", "admin.creds"),
  ]);
  t.equal(cliPlain.code, 3, "the CLI without the CA cannot reach it: exit 3");
  t.match(cliPlain.stderr, /speaks TLS.*--tls-ca/, "and says what to pass");

  const context = await runCli(["nats-context", "--name", "tlstest", "--data-dir", dir, "--json"], { XDG_CONFIG_HOME: join(dir, "xdg") });
  t.equal(context.code, 0, context.stderr);
  const file = JSON.parse(await readFile(join(dir, "xdg", "nats", "context", "tlstest.json"), "utf8")) as { url: string; ca?: string; cert?: string };
  t.equal(file.url, first.url);
  t.equal(file.ca, ca, "the nats CLI context names the CA");
  t.notOk(file.cert, "and no client certificate when the bus does not verify clients");

  const before = { ca: await readFile(ca, "utf8"), server: await readFile(join(dir, "tls", "server-cert.pem"), "utf8") };
  t.equal((await first.stop()).code, 0);
  const second = await startCli(["up", "--tls", "--port", "0", "--data-dir", dir]);
  t.teardown(() => second.stop());
  t.equal(await readFile(ca, "utf8"), before.ca, "the CA is reused");
  t.equal(await readFile(join(dir, "tls", "server-cert.pem"), "utf8"), before.server, "the server certificate is reused");
  const again = await tryConnect(second.url, dir, { caFile: ca });
  t.ok(again.nc && (await jetStreamWorks(again.nc)), "clients holding the CA connect after the restart");
  t.equal((await second.stop()).code, 0);
});

t.test("up --tls --tls-verify: a client needs a certificate of the CA; `tls client` mints one a Worker runs with", async (t) => {
  const dir = await tmp("ganglion-tls-verify-");
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const up = await startCli(["up", "--tls", "--tls-verify", "--port", "0", "--data-dir", dir]);
  t.teardown(() => up.stop());
  const ca = join(dir, "tls", "ca-cert.pem");
  t.match((await firstLines(up, 4))[3], /^tls verify: clients need a certificate signed by that CA/);
  t.equal(await mode(join(dir, "tls", "admin-key.pem")), 0o600, "the admin client key is private");
  t.match(await readFile(join(dir, "nats", "nats-server.conf"), "utf8"), /verify: true/);

  const noCert = await tryConnect(up.url, dir, { caFile: ca });
  t.ok(noCert.err, "a client with the CA but no certificate is refused");
  t.notOk(noCert.nc);
  await noCert.nc?.close();

  const foreignDir = await tmp("ganglion-tls-foreign-");
  t.teardown(() => rm(foreignDir, { recursive: true, force: true }));
  const foreign = await prepareServerTls({ dataDir: foreignDir, host: "127.0.0.1", verify: true });
  const foreignCert = await tryConnect(up.url, dir, { caFile: ca, certFile: foreign.client.cert!, keyFile: foreign.client.key! });
  t.ok(foreignCert.err, "a client certificate of another CA is refused");
  await foreignCert.nc?.close();

  // The CLI presents the data dir's admin certificate; installing pushes the plugin's account
  // over the core's own TLS connection.
  const install = await runCli(["plugin", "install", join(repoRoot, "examples/ts-worker/manifest.yaml"), "--yes", "--data-dir", dir]);
  t.equal(install.code, 0, install.stderr);
  const credsFile = join(dir, "wordcount.creds");
  const c = await runCli(["plugin", "creds", "wordcount", "-o", credsFile, "--data-dir", dir]);
  t.equal(c.code, 0, c.stderr);

  const out = join(dir, "worker-tls");
  const minted = await runCli(["tls", "client", "wordcount", "-o", out, "--data-dir", dir]);
  t.equal(minted.code, 0, minted.stderr);
  t.match(minted.stdout, /client certificate for wordcount/);
  const files = { cert: join(out, "wordcount-cert.pem"), key: join(out, "wordcount-key.pem"), ca: join(out, "ca.pem") };
  t.equal(await mode(files.key), 0o600, "the minted key is private");
  t.equal(await readFile(files.ca, "utf8"), await readFile(ca, "utf8"), "ca.pem is the bus's CA");
  const withCert = await tryConnect(up.url, dir, { caFile: files.ca, certFile: files.cert, keyFile: files.key });
  t.ok(withCert.nc && (await jetStreamWorks(withCert.nc)), `a client with the minted certificate gets in ${withCert.err?.message ?? ""}`);

  const worker = new Worker({ plugin: "wordcount", creds: credsFile, servers: up.url, tls: files, instance: "tls-w1", logger: quietLog });
  worker.onTask("text.wordcount", async (p: { text: string }) => ({ words: p.text.split(/\s+/).filter(Boolean).length }));
  await worker.run();
  t.teardown(() => worker.stop({ graceMs: 1000 }));
  const task = await runCli(["task", "submit", "text.wordcount", "--data", '{"text":"over tls at last"}', "--wait", "--json", "--data-dir", dir]);
  t.equal(task.code, 0, task.stderr);
  t.match(JSON.parse(task.stdout), { status: "completed", result: { words: 4 }, instance: "tls-w1" }, "the worker over mutual TLS completed the task");

  const context = await runCli(["nats-context", "--name", "mtls", "--data-dir", dir], { XDG_CONFIG_HOME: join(dir, "xdg") });
  t.equal(context.code, 0, context.stderr);
  const file = JSON.parse(await readFile(join(dir, "xdg", "nats", "context", "mtls.json"), "utf8")) as { ca?: string; cert?: string; key?: string };
  t.same(
    { ca: file.ca, cert: file.cert, key: file.key },
    { ca, cert: join(dir, "tls", "admin-cert.pem"), key: join(dir, "tls", "admin-key.pem") },
    "the context carries the CA and a client certificate",
  );

  await worker.stop({ graceMs: 1000 });
  t.equal((await up.stop()).code, 0);
});

t.test("certificates the operator brings: checked, used where they are; half a set is a usage error", async (t) => {
  const pki = await tmp("ganglion-tls-own-");
  const dir = await tmp("ganglion-tls-given-");
  t.teardown(() => Promise.all([rm(pki, { recursive: true, force: true }), rm(dir, { recursive: true, force: true })]));
  const own = await prepareServerTls({ dataDir: pki, host: "127.0.0.1", verify: false });
  const given = { cert: own.server.certFile, key: own.server.keyFile, ca: own.server.caFile };

  const half = await runCli(["up", "--tls-cert", given.cert, "--port", "0", "--data-dir", dir]);
  t.equal(half.code, 2, "--tls-cert alone: usage error");
  t.match(half.stderr, /--tls-cert FILE --tls-key FILE --tls-ca FILE/);
  const wrongKey = await runCli([
    "up",
    "--tls-cert",
    given.cert,
    "--tls-key",
    join(pki, "tls", "ca-key.pem"),
    "--tls-ca",
    given.ca,
    "--port",
    "0",
    "--data-dir",
    dir,
  ]);
  t.equal(wrongKey.code, 4, "a key that is not the certificate's: set-up error");
  t.match(wrongKey.stderr, /is not the key of/);

  const bus = await startEmbeddedBus({ dataDir: dir, host: "127.0.0.1", port: 0, dev: false, env: process.env, log: quietLog, tls: { given } });
  t.teardown(() => bus.stop());
  t.match(bus.url, /^tls:\/\//);
  const conf = await readFile(join(dir, "nats", "nats-server.conf"), "utf8");
  t.ok(conf.includes(`cert_file: ${JSON.stringify(given.cert)}`), "the config points at the given certificate");
  const c = await tryConnect(bus.url, dir, { caFile: given.ca });
  t.ok(c.nc && (await jetStreamWorks(c.nc)), "clients connect with the given CA");
  await bus.stop();
});

t.test("serve --nats tls://… --tls-ca --tls-cert --tls-key: the core runs against a TLS server that verifies clients", async (t) => {
  const server = await startTestServer({ tls: { verify: true } });
  t.teardown(() => server.stop());
  t.match(server.url, /^tls:\/\//);
  const p = join(server.dataDir, "tls");
  const tlsFlags = ["--tls-ca", join(p, "ca-cert.pem"), "--tls-cert", join(p, "admin-cert.pem"), "--tls-key", join(p, "admin-key.pem")];
  const remote = ["--nats", server.url, "--creds", server.installation.adminCreds];
  const serve = await startCli(["serve", ...remote, ...tlsFlags, "--data-dir", server.dataDir]);
  t.teardown(() => serve.stop());
  t.equal(serve.lines()[0], `ganglion ready ${server.url}`);
  // Installing pushes the plugin's account JWT over the core's own connection with SYS credentials.
  const install = await runCli(
    ["plugin", "install", join(repoRoot, "examples/ts-worker/manifest.yaml"), "--yes", ...remote, "--data-dir", join(server.dataDir, "nowhere")],
    {
      GANGLION_TLS_CA: join(p, "ca-cert.pem"),
      GANGLION_TLS_CERT: join(p, "admin-cert.pem"),
      GANGLION_TLS_KEY: join(p, "admin-key.pem"),
    },
  );
  t.equal(install.code, 0, `GANGLION_TLS_* reach it too ${install.stderr}`);
  const halfPair = await runCli(["status", ...remote, "--tls-ca", join(p, "ca-cert.pem"), "--tls-cert", join(p, "admin-cert.pem")]);
  t.equal(halfPair.code, 2, "a client certificate without its key is a usage error");
  t.equal((await serve.stop()).code, 0);
});

t.test("compose init --tls: the same tls block, with the container's paths, and a certificate for the service name", async (t) => {
  const dir = await tmp("ganglion-tls-compose-");
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await runCli(["compose", "init", dir, "--tls", "--tls-verify", "--json"]);
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { tlsCa: join(dir, "tls", "ca-cert.pem"), tls: /--nats tls:\/\/nats:4222 --tls-ca \/ganglion\/tls\/ca-cert\.pem --tls-cert/ });
  const conf = await readFile(join(dir, COMPOSE.configInDataDir), "utf8");
  t.ok(conf.includes(`cert_file: "${COMPOSE.tlsDirInContainer}/server-cert.pem"`), "the server finds its certificate in the container");
  t.ok(conf.includes(`ca_file: "${COMPOSE.tlsDirInContainer}/ca-cert.pem"`));
  t.match(conf, /verify: true/);
  const cert = new X509Certificate(await readFile(join(dir, "tls", "server-cert.pem")));
  t.ok(cert.checkHost(COMPOSE.natsHost), `the server certificate covers "${COMPOSE.natsHost}"`);
  t.equal(await mode(join(dir, "tls", "admin-key.pem")), 0o600);
});

t.test("createTestBus({ tls: { verify: true } }): a plugin's own tests run over mutual TLS", async (t) => {
  const bus = await createTestBus({ tls: { verify: true }, logger: quietLog });
  t.teardown(() => bus.stop());
  t.match(bus.url, /^tls:\/\//);
  t.ok(bus.tls?.ca && bus.tls.cert && bus.tls.key, "workers get the CA and a client certificate");
  const { creds: pluginCreds } = await bus.install({
    id: "echo",
    version: "1.0.0",
    description: "echoes",
    provides: [{ type: "text.echo", description: "echo", params: { type: "object" }, result: { type: "object" }, timeout: "10s" }],
    capabilities: [],
  });
  const worker = new Worker({ plugin: "echo", creds: pluginCreds, servers: bus.url, tls: bus.tls!, logger: quietLog });
  worker.onTask("text.echo", async (p: Record<string, unknown>) => p);
  await worker.run();
  t.teardown(() => worker.stop({ graceMs: 1000 }));
  const task = await bus.submit("text.echo", { hi: "tls" }, { waitMs: 10_000 });
  t.equal(task.status, "completed");
  t.same(task.result, { hi: "tls" });
  await worker.stop({ graceMs: 1000 });
});
