import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { access, mkdir, readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { writeSecret } from "../auth/authority.js";
import { NatsServerError } from "../embedded/natsServer.js";
import { tlsPaths } from "../contract/tls.js";
import type { ClientTls } from "../contract/tls.js";

/**
 * The small PKI of `ganglion up --tls`: a CA in the data dir, the server certificate it signs for
 * the listen host, and client certificates for the core and for workers (`--tls-verify`).
 * Certificates are built with @peculiar/x509 on Node's WebCrypto (ECDSA P-256, SHA-256), loaded
 * lazily so commands that never touch TLS do not pay for it. Checks of existing files use Node's
 * own `X509Certificate`.
 */

/** A TLS set-up problem (missing, mismatched or expired files): exit code 4, like other set-up errors. */
export class TlsError extends NatsServerError {
  override name = "TlsError";
}

/** What nats-server's `tls {}` block needs. */
export type ServerTls = {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** Clients must present a certificate signed by the CA. */
  readonly verify: boolean;
};

/** Certificates the operator brings (`--tls-cert --tls-key --tls-ca`) instead of generated ones. */
export type GivenTls = { readonly cert: string; readonly key: string; readonly ca: string };

export type PreparedTls = {
  readonly server: ServerTls;
  /** What the core and the CLI on this machine connect with: the CA, and under `verify` the admin client certificate. */
  readonly client: ClientTls;
  /** Files written by this call (certificates issued or re-issued). */
  readonly issued: readonly string[];
};

const DAY = 86_400_000;
const CA_DAYS = 3650;
const LEAF_DAYS = 825;
/** A certificate this close to its end is issued again at start. */
const RENEW_BEFORE_DAYS = 30;

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

type X509 = typeof import("@peculiar/x509");
let lib: Promise<X509> | undefined;
/** @peculiar/x509 needs the Reflect metadata polyfill (its tsyringe container) before it loads. */
const x509 = (): Promise<X509> =>
  (lib ??= (async () => {
    await import("reflect-metadata");
    const m = await import("@peculiar/x509");
    m.cryptoProvider.set(webcrypto as unknown as Parameters<typeof m.cryptoProvider.set>[0]);
    return m;
  })());

const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** The WebCrypto algorithm that signs with `key` (a CA key may be one the operator placed there). */
const signingAlgorithmOf = (key: KeyObject): { name: string; hash: string; namedCurve?: string } => {
  const type = key.asymmetricKeyType;
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const named = curve === "prime256v1" ? "P-256" : curve === "secp384r1" ? "P-384" : curve === "secp521r1" ? "P-521" : undefined;
    if (!named) throw new TlsError(`the CA key uses the curve ${curve}; Ganglion signs with P-256, P-384 or P-521 keys`);
    return { name: "ECDSA", namedCurve: named, hash: named === "P-256" ? "SHA-256" : named === "P-384" ? "SHA-384" : "SHA-512" };
  }
  if (type === "rsa") return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  throw new TlsError(`the CA key is a ${type} key; Ganglion signs with EC or RSA keys`);
};

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SigningAlgorithm = { name: string; hash: string; namedCurve?: string };

const importSigningKey = async (pem: string): Promise<{ key: CryptoKey; algorithm: SigningAlgorithm }> => {
  const ko = createPrivateKey(pem);
  const algorithm = signingAlgorithmOf(ko);
  const der = ko.export({ format: "der", type: "pkcs8" });
  const key = await webcrypto.subtle.importKey("pkcs8", der, algorithm, false, ["sign"]);
  return { key, algorithm };
};

const serial = () => {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive
  return b.toString("hex");
};

const keyPem = async (m: X509, key: CryptoKey) => m.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");

/** A distinguished-name value: no characters that need escaping. */
const dn = (s: string) => s.replace(/[,+="\\<>;#]/g, "_");

const generateCa = async (): Promise<{ cert: string; key: string }> => {
  const m = await x509();
  const keys = (await webcrypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await m.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Ganglion CA ${randomBytes(4).toString("hex")}, O=Ganglion`,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + CA_DAYS * DAY),
    keys,
    signingAlgorithm: EC,
    extensions: [
      new m.BasicConstraintsExtension(true, 0, true),
      new m.KeyUsagesExtension(m.KeyUsageFlags.keyCertSign | m.KeyUsageFlags.cRLSign, true),
      await m.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString("pem"), key: await keyPem(m, keys.privateKey) };
};

/** Issues a leaf certificate signed by the CA: a server one (SANs = `hosts`) or a client one. */
const issueLeaf = async (
  ca: { cert: string; key: string },
  leaf: { commonName: string; kind: "server" | "client"; hosts?: readonly string[]; days: number },
) => {
  const m = await x509();
  const caCert = new m.X509Certificate(ca.cert);
  const signer = await importSigningKey(ca.key);
  const keys = (await webcrypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const notAfter = Math.min(now + leaf.days * DAY, caCert.notAfter.getTime());
  const sans = (leaf.hosts ?? []).map((h) => (isIP(h) ? { type: "ip" as const, value: h } : { type: "dns" as const, value: h }));
  const cert = await m.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${dn(leaf.commonName)}, O=Ganglion`,
    issuer: caCert.subject,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
    extensions: [
      new m.BasicConstraintsExtension(false, undefined, true),
      new m.KeyUsagesExtension(m.KeyUsageFlags.digitalSignature, true),
      new m.ExtendedKeyUsageExtension([leaf.kind === "server" ? m.ExtendedKeyUsage.serverAuth : m.ExtendedKeyUsage.clientAuth], false),
      ...(sans.length ? [new m.SubjectAlternativeNameExtension(sans, false)] : []),
      await m.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await m.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  return { cert: cert.toString("pem"), key: await keyPem(m, keys.privateKey) };
};

/** The names a server certificate covers for `host`: it, 127.0.0.1, localhost and ::1 (and this machine's name for a wildcard host). */
export const serverNames = (host: string, extra: readonly string[] = []): string[] => {
  const wildcard = host === "0.0.0.0" || host === "::" || host === "";
  const names = [...(wildcard ? [hostname()] : [host]), "127.0.0.1", "localhost", "::1", ...extra];
  return [...new Set(names.map((n) => n.replace(/^\[|\]$/g, "")).filter(Boolean))];
};

const readPem = async (path: string, what: string) => {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new TlsError(`cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check the path.`);
  }
};

const parseCert = (pem: string, path: string) => {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new TlsError(`${path} is not a PEM certificate (${(err as Error).message})`);
  }
};

/** Why a leaf certificate must be issued again, or undefined when it is good for `names` and signed by `ca`. */
const leafProblem = (leaf: X509Certificate, keyPemText: string, ca: X509Certificate, names: readonly string[], now: number): string | undefined => {
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return "not signed by the CA";
  if (!leaf.checkPrivateKey(createPrivateKey(keyPemText))) return "its key does not match";
  if (new Date(leaf.validTo).getTime() - now < RENEW_BEFORE_DAYS * DAY) return "it expires soon";
  const missing = names.filter((n) => (isIP(n) ? leaf.checkIP(n) === undefined : leaf.checkHost(n) === undefined));
  return missing.length ? `it does not cover ${missing.join(", ")}` : undefined;
};

/** The data dir's CA, created on first use. Half a CA (certificate without key or the reverse) is refused. */
const loadOrCreateCa = async (dataDir: string, issued: string[]): Promise<{ cert: string; key: string }> => {
  const p = tlsPaths(dataDir);
  const [hasCert, hasKey] = [await exists(p.caCert), await exists(p.caKey)];
  if (hasCert && hasKey) {
    const ca = { cert: await readPem(p.caCert, "CA certificate"), key: await readPem(p.caKey, "CA key") };
    const c = parseCert(ca.cert, p.caCert);
    if (!c.checkPrivateKey(createPrivateKey(ca.key)))
      throw new TlsError(
        `${p.caKey} is not the key of ${p.caCert}. Restore the pair from a backup, or move ${p.dir} aside to start a new CA (every client then needs the new ca-cert.pem).`,
      );
    if (new Date(c.validTo).getTime() < Date.now())
      throw new TlsError(`the CA ${p.caCert} expired on ${c.validTo}. Move ${p.dir} aside to start a new CA (every client then needs the new ca-cert.pem).`);
    return ca;
  }
  if (hasCert !== hasKey) {
    throw new TlsError(
      `${hasCert ? p.caCert : p.caKey} exists but ${hasCert ? p.caKey : p.caCert} does not. Restore the missing file from a backup, or move ${p.dir} aside to start a new CA (every client then needs the new ca-cert.pem).`,
    );
  }
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  const ca = await generateCa();
  await writeSecret(p.caKey, ca.key, 0o600);
  await writeSecret(p.caCert, ca.cert, 0o644);
  issued.push(p.caCert);
  return ca;
};

/** Keeps the leaf at `certPath`/`keyPath` when it is still good, else issues a new one. */
const ensureLeaf = async (
  ca: { cert: string; key: string },
  certPath: string,
  keyPath: string,
  leaf: { commonName: string; kind: "server" | "client"; hosts?: readonly string[] },
  issued: string[],
) => {
  if ((await exists(certPath)) && (await exists(keyPath))) {
    const pem = await readFile(certPath, "utf8");
    const key = await readFile(keyPath, "utf8");
    let problem: string | undefined;
    try {
      problem = leafProblem(new X509Certificate(pem), key, new X509Certificate(ca.cert), leaf.hosts ?? [], Date.now());
    } catch (err) {
      problem = (err as Error).message;
    }
    if (!problem) return;
  }
  const made = await issueLeaf(ca, { ...leaf, days: LEAF_DAYS });
  await writeSecret(keyPath, made.key, 0o600);
  await writeSecret(certPath, made.cert, 0o644);
  issued.push(certPath);
};

/**
 * The server side of `ganglion up --tls`. Generated (`given` absent): the data dir's CA (created
 * once), a server certificate for `host` (kept across restarts, issued again when it no longer
 * covers the host, is about to expire or was signed by another CA) and, with `verify`, the admin
 * client certificate the core and the CLI present. Given: the operator's files are checked
 * (readable, the certificate matches its key and is signed by the CA) and used where they are;
 * with `verify` the admin client certificate must then be in the data dir already, unless the
 * CA's key is there too (`tls/ca-key.pem`) to issue one.
 */
export const prepareServerTls = async (opts: {
  dataDir: string;
  host: string;
  verify: boolean;
  given?: GivenTls;
  extraNames?: readonly string[];
}): Promise<PreparedTls> => {
  const p = tlsPaths(opts.dataDir);
  const issued: string[] = [];
  let server: ServerTls;
  let ca: { cert: string; key?: string };
  if (opts.given) {
    const g = opts.given;
    const cert = parseCert(await readPem(g.cert, "server certificate (--tls-cert)"), g.cert);
    const key = await readPem(g.key, "server key (--tls-key)");
    const caPem = await readPem(g.ca, "CA certificate (--tls-ca)");
    const caCert = parseCert(caPem, g.ca);
    let keyMatches = false;
    try {
      keyMatches = cert.checkPrivateKey(createPrivateKey(key));
    } catch (err) {
      throw new TlsError(`${g.key} is not a PEM private key (${(err as Error).message})`);
    }
    if (!keyMatches) throw new TlsError(`--tls-key ${g.key} is not the key of --tls-cert ${g.cert}`);
    if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey)) throw new TlsError(`--tls-cert ${g.cert} is not signed by --tls-ca ${g.ca}`);
    if (new Date(cert.validTo).getTime() < Date.now()) throw new TlsError(`--tls-cert ${g.cert} expired on ${cert.validTo}`);
    server = { certFile: g.cert, keyFile: g.key, caFile: g.ca, verify: opts.verify };
    ca = { cert: caPem, ...((await exists(p.caKey)) ? { key: await readFile(p.caKey, "utf8") } : {}) };
  } else {
    const own = await loadOrCreateCa(opts.dataDir, issued);
    await ensureLeaf(own, p.serverCert, p.serverKey, { commonName: opts.host, kind: "server", hosts: serverNames(opts.host, opts.extraNames) }, issued);
    server = { certFile: p.serverCert, keyFile: p.serverKey, caFile: p.caCert, verify: opts.verify };
    ca = own;
  }
  if (!opts.verify) return { server, client: { ca: server.caFile }, issued };
  if (ca.key) {
    await ensureLeaf({ cert: ca.cert, key: ca.key }, p.adminCert, p.adminKey, { commonName: "ganglion-admin", kind: "client" }, issued);
  } else if (!((await exists(p.adminCert)) && (await exists(p.adminKey)))) {
    throw new TlsError(
      `--tls-verify with your own certificates: the core needs a client certificate signed by ${opts.given?.ca}. Put it at ${p.adminCert} and its key at ${p.adminKey} (or put the CA's key at ${p.caKey} so Ganglion can issue one).`,
    );
  }
  return { server, client: { ca: server.caFile, cert: p.adminCert, key: p.adminKey }, issued };
};

/**
 * A client certificate for a worker (or any client) signed by the data dir's CA: `ganglion tls
 * client <name>`. Needs the CA's key, so only for a CA Ganglion generated (or whose key was put
 * at `tls/ca-key.pem`).
 */
export const mintClientCertificate = async (
  dataDir: string,
  name: string,
  opts: { days?: number } = {},
): Promise<{ cert: string; key: string; ca: string; notAfter: string }> => {
  const p = tlsPaths(dataDir);
  if (!(await exists(p.caCert))) {
    throw new TlsError(
      `${dataDir} has no CA (${p.caCert} is missing): start the bus once with \`ganglion up --tls --data-dir ${dataDir}\`, or point --data-dir at the data dir that has it.`,
    );
  }
  if (!(await exists(p.caKey))) {
    throw new TlsError(
      `${p.caKey} is missing: this installation uses a CA Ganglion did not make. Issue client certificates with that CA, or put its key at ${p.caKey}.`,
    );
  }
  const ca = { cert: await readPem(p.caCert, "CA certificate"), key: await readPem(p.caKey, "CA key") };
  const made = await issueLeaf(ca, { commonName: name, kind: "client", days: opts.days ?? 365 });
  return { ...made, ca: ca.cert, notAfter: new X509Certificate(made.cert).validTo };
};
