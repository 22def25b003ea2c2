import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { readFile } from "node:fs/promises";
import { prepareInstallation, runEmbeddedServer } from "../../src/embedded/installation.js";
import type { Installation, TlsSetup } from "../../src/embedded/installation.js";
import { tlsConnectOption } from "../../src/contract/tls.js";
import type { ClientTls } from "../../src/contract/tls.js";

/**
 * Waits until the BUS account's JetStream answers. Right after a restart the server loads the
 * account (and recovers its streams) on the first connect; a request sent in that window can
 * time out, which would make tests race the server's warm-up instead of testing Ganglion.
 */
export const jetStreamReady = async (url: string, creds: string, timeoutMs = 20_000, tls?: ClientTls): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nc = await connect({
      servers: url,
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
      name: "ready-probe",
      ...tlsConnectOption(tls),
    }).catch(() => undefined);
    try {
      if (nc) {
        await nc.request("$JS.API.INFO", "", { timeout: 1000 });
        return;
      }
    } catch {
      /* not yet */
    } finally {
      await nc?.close();
    }
    if (Date.now() > deadline) throw new Error(`JetStream at ${url} did not answer within ${timeoutMs} ms of a restart`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** Waits until JetStream answers on this very connection (it may still be reconnecting after a restart). */
export const jetStreamAnswers = async (nc: NatsConnection, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await nc.request("$JS.API.INFO", "", { timeout: 1000 });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
};

export type TestServer = {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly installation: Installation;
  /** A connection with the admin (full BUS) credentials. */
  connectAdmin: (opts?: { name?: string }) => Promise<NatsConnection>;
  connectWith: (creds: string, opts?: { inboxPrefix?: string; name?: string; maxReconnectAttempts?: number }) => Promise<NatsConnection>;
  /** Stops the server, keeping its data dir (for restart tests). */
  kill: () => Promise<void>;
  /** Starts the server again on the same port and data dir. */
  restart: () => Promise<void>;
  stop: () => Promise<void>;
};

/**
 * A real nats-server per test file, in operator mode with the project's own generated config
 * (the same one `ganglion up` runs): a temp data dir, the port chosen by the server.
 */
export const startTestServer = async (opts: { dataDir?: string; tls?: TlsSetup } = {}): Promise<TestServer> => {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), "ganglion-test-")));
  const tls = opts.tls ? { tls: opts.tls } : {};
  let installation = await prepareInstallation({ dataDir, host: "127.0.0.1", port: 0, ...tls });
  let server = await runEmbeddedServer(installation, { host: "127.0.0.1", port: 0, env: process.env });
  const port = server.port;
  const url = server.url;
  const connectWith: TestServer["connectWith"] = async (creds, o = {}) =>
    connect({
      servers: url,
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
      ...(o.inboxPrefix ? { inboxPrefix: o.inboxPrefix } : {}),
      ...tlsConnectOption(installation.tls?.client),
      name: o.name ?? "test",
      maxReconnectAttempts: o.maxReconnectAttempts ?? -1,
      reconnectTimeWait: 100,
    });
  return {
    url,
    port,
    dataDir,
    get installation() {
      return installation;
    },
    connectAdmin: async (o = {}) => connectWith(await readFile(installation.adminCreds, "utf8"), o),
    connectWith,
    kill: async () => {
      await server.stop();
    },
    restart: async () => {
      installation = await prepareInstallation({ dataDir, host: "127.0.0.1", port, ...tls });
      server = await runEmbeddedServer(installation, { host: "127.0.0.1", port, env: process.env });
      await jetStreamReady(url, await readFile(installation.adminCreds, "utf8"), 20_000, installation.tls?.client);
    },
    stop: async () => {
      await server.stop();
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
};
