import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds, fromSeed } from "@nats-io/jwt";
import type { Permissions } from "@nats-io/jwt";
import type { KeyPair } from "@nats-io/nkeys";
import { nativeKeyPair } from "./nativeKeys.js";

/**
 * The key material of one Ganglion installation: an operator, the system account (SYS) and the
 * bus account (BUS) with a signing key. Seeds live in `<dataDir>/keys` (mode 0600) and never
 * leave the data dir; events only ever mention public keys.
 */
export type Authority = {
  readonly dataDir: string;
  readonly operator: KeyPair;
  readonly sys: KeyPair;
  readonly bus: KeyPair;
  /** Signs every user of the BUS account, so the account identity key is never used for users. */
  readonly busSigner: KeyPair;
  readonly operatorJwt: string;
  readonly sysJwt: string;
};

export class AuthorityError extends Error {
  override name = "AuthorityError";
}

const KEY_FILES = {
  operator: "operator.nk",
  sys: "sys.nk",
  bus: "bus.nk",
  busSigner: "bus-signer.nk",
} as const;

const PREFIX: Record<keyof typeof KEY_FILES, string> = { operator: "SO", sys: "SA", bus: "SA", busSigner: "SA" };

/** Unlimited, but explicit: nats-server 2.9.10 refuses connects (as a timeout) without them. */
export const unlimitedAccount = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
} as const;

export const unlimitedJetStream = {
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
} as const;

export const keysDir = (dataDir: string) => join(dataDir, "keys");
export const credsDir = (dataDir: string) => join(dataDir, "creds");
export const adminCredsPath = (dataDir: string) => join(credsDir(dataDir), "admin.creds");
export const sysCredsPath = (dataDir: string) => join(credsDir(dataDir), "sys.creds");
export const busJwtPath = (dataDir: string) => join(keysDir(dataDir), "bus.jwt");

/** Writes a file atomically (temp + rename) with the given mode: never a half-written secret. */
export const writeSecret = async (path: string, data: string | Uint8Array, mode = 0o600) => {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
};

const readSeed = async (path: string, expectedPrefix: string): Promise<KeyPair | undefined> => {
  let text: string;
  try {
    text = (await readFile(path, "utf8")).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AuthorityError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (!text.startsWith(expectedPrefix)) {
    throw new AuthorityError(
      `${path} is not a ${expectedPrefix} seed (corrupt or foreign key). Restore it from a backup, or move the data dir aside to start a fresh installation.`,
    );
  }
  try {
    return fromSeed(new TextEncoder().encode(text));
  } catch (err) {
    throw new AuthorityError(
      `${path} holds a corrupt seed (${(err as Error).message}). Restore it from a backup, or move the data dir aside to start a fresh installation.`,
    );
  }
};

/**
 * Loads the installation's keys from `<dataDir>/keys`, creating them on first start. Either all
 * keys exist or none do: a partial key set is refused rather than silently completed, because a
 * new operator would orphan every credential already minted.
 */
export const loadOrCreateAuthority = async (dataDir: string, opts: { create?: boolean } = {}): Promise<Authority> => {
  const dir = keysDir(dataDir);
  const loaded = {} as Record<keyof typeof KEY_FILES, KeyPair | undefined>;
  for (const [k, file] of Object.entries(KEY_FILES) as [keyof typeof KEY_FILES, string][]) {
    loaded[k] = await readSeed(join(dir, file), PREFIX[k]);
  }
  const present = Object.values(loaded).filter(Boolean).length;
  if (present > 0 && present < Object.keys(KEY_FILES).length) {
    const missing = Object.entries(loaded)
      .filter(([, v]) => !v)
      .map(([k]) => KEY_FILES[k as keyof typeof KEY_FILES]);
    throw new AuthorityError(
      `the key set in ${dir} is incomplete (missing ${missing.join(", ")}). Restore the missing files from a backup; Ganglion will not replace part of an installation's keys.`,
    );
  }
  if (present === 0) {
    if (opts.create === false) {
      throw new AuthorityError(`no Ganglion keys in ${dir}: run \`ganglion up --data-dir ${dataDir}\` first, or pass --nats URL --creds FILE`);
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await mkdir(credsDir(dataDir), { recursive: true, mode: 0o700 });
    const fresh = { operator: createOperator(), sys: createAccount(), bus: createAccount(), busSigner: createAccount() };
    for (const [k, kp] of Object.entries(fresh) as [keyof typeof KEY_FILES, KeyPair][]) {
      await writeSecret(join(dir, KEY_FILES[k]), new TextDecoder().decode(kp.getSeed()));
      loaded[k] = kp;
    }
  }
  // Derived once, signed natively: every account push signs with these (src/auth/nativeKeys.ts).
  const operator = nativeKeyPair(loaded.operator!);
  const sys = nativeKeyPair(loaded.sys!);
  const operatorJwt = await encodeOperator("ganglion", operator, { system_account: sys.getPublicKey() });
  const sysJwt = await encodeAccount("SYS", sys, { limits: { ...unlimitedAccount } }, { signer: operator });
  return { dataDir, operator, sys, bus: nativeKeyPair(loaded.bus!), busSigner: nativeKeyPair(loaded.busSigner!), operatorJwt, sysJwt };
};

export type MintedUser = { readonly publicKey: string; readonly jwt: string; readonly creds: string };

/**
 * Mints a user of the BUS account, signed by the account's signing key. `expiresInSec` sets the
 * JWT's `exp`; without it the JWT does not expire (revocation still applies).
 */
export const mintBusUser = async (
  a: Authority,
  name: string,
  permissions: Permissions,
  opts: { expiresInSec?: number; tags?: string[] } = {},
): Promise<MintedUser> => {
  const ukp = createUser();
  const exp = opts.expiresInSec ? Math.floor(Date.now() / 1000) + opts.expiresInSec : undefined;
  const jwt = await encodeUser(
    name,
    ukp,
    a.bus,
    { ...permissions, ...(opts.tags ? { tags: opts.tags } : {}) } as never,
    exp ? { signer: a.busSigner, exp } : { signer: a.busSigner },
  );
  return { publicKey: ukp.getPublicKey(), jwt, creds: new TextDecoder().decode(fmtCreds(jwt, ukp)) };
};

/** Mints a user of the SYS account (used only to push account JWTs). */
export const mintSysUser = async (a: Authority): Promise<MintedUser> => {
  const ukp = createUser();
  const jwt = await encodeUser("ganglion-sys", ukp, a.sys);
  return { publicKey: ukp.getPublicKey(), jwt, creds: new TextDecoder().decode(fmtCreds(jwt, ukp)) };
};

/** Full access within BUS: the core and the operator CLI. */
export const adminPermissions: Permissions = { pub: { allow: [">"] }, sub: { allow: [">"] } };
