import { access } from "node:fs/promises";
import { join } from "node:path";

/** The file fields of nats.js's `TlsFiles` (declared here so the contract needs no NATS client). */
export type TlsFiles = { caFile?: string; certFile?: string; keyFile?: string };

/**
 * Client-side TLS: what a connection to a TLS bus needs, as file paths. Shared by the core, the
 * CLI, the SDK worker and the test bus; nothing here generates certificates (see `./pki.ts`).
 */
export type ClientTls = {
  /** PEM file of the CA that signed the server certificate (omit to trust the system roots). */
  readonly ca?: string | undefined;
  /** PEM client certificate, for a server that verifies clients (`ganglion up --tls-verify`). */
  readonly cert?: string | undefined;
  /** PEM private key of `cert`. */
  readonly key?: string | undefined;
};

/** The nats.js `tls` option for `t` (files are read at every connect, so renewed files are picked up). */
export const natsTls = (t: ClientTls): TlsFiles => ({
  ...(t.ca ? { caFile: t.ca } : {}),
  ...(t.cert ? { certFile: t.cert } : {}),
  ...(t.key ? { keyFile: t.key } : {}),
});

/** `{ tls }` to spread into nats.js connect options, or nothing when `t` is undefined (plain, or the server's choice). */
export const tlsConnectOption = (t: ClientTls | undefined): { tls?: TlsFiles } => (t ? { tls: natsTls(t) } : {});

/** True when any of the URLs asks for TLS (`tls://host:port`). */
export const isTlsUrl = (servers: string | readonly string[]): boolean =>
  (typeof servers === "string" ? servers.split(",") : servers).some((s) => /^\s*tls:\/\//i.test(s));

/**
 * The TLS files of a data dir (`<dataDir>/tls/`), made by `ganglion up --tls`: the CA (its key
 * only when Ganglion generated it), the server's certificate, and with `--tls-verify` the client
 * certificate of the core and the CLI. Keys are mode 0600, certificates 0644.
 */
export const tlsDir = (dataDir: string) => join(dataDir, "tls");
export const tlsPaths = (dataDir: string) => {
  const d = tlsDir(dataDir);
  return {
    dir: d,
    caCert: join(d, "ca-cert.pem"),
    caKey: join(d, "ca-key.pem"),
    serverCert: join(d, "server-cert.pem"),
    serverKey: join(d, "server-key.pem"),
    adminCert: join(d, "admin-cert.pem"),
    adminKey: join(d, "admin-key.pem"),
  } as const;
};

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/**
 * The client TLS a data dir offers: its CA, and the admin client certificate when there is one.
 * Undefined when the data dir has no CA.
 */
export const dataDirClientTls = async (dataDir: string): Promise<ClientTls | undefined> => {
  const p = tlsPaths(dataDir);
  if (!(await exists(p.caCert))) return undefined;
  const admin = (await exists(p.adminCert)) && (await exists(p.adminKey));
  return { ca: p.caCert, ...(admin ? { cert: p.adminCert, key: p.adminKey } : {}) };
};

/**
 * The client TLS of a connection, from explicit settings (flags, environment) over the data
 * dir's files. TLS is on when anything was set explicitly or the URL says `tls://`; otherwise
 * undefined (plain, unless the server insists, in which case nats.js upgrades and checks the
 * server against the system roots).
 */
export const resolveClientTls = async (opts: { url: string | readonly string[]; explicit: ClientTls; dataDir: string }): Promise<ClientTls | undefined> => {
  const e = opts.explicit;
  const explicit = Boolean(e.ca || e.cert || e.key);
  if (!explicit && !isTlsUrl(opts.url)) return undefined;
  const fromDir = (await dataDirClientTls(opts.dataDir)) ?? {};
  // A cert and its key come together: never the explicit cert with the data dir's key.
  const pair = e.cert || e.key ? { cert: e.cert, key: e.key } : { cert: fromDir.cert, key: fromDir.key };
  const t = { ca: e.ca ?? fromDir.ca, ...pair };
  return Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)) as ClientTls;
};
