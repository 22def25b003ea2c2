import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createCurve, fromCurveSeed } from "@nats-io/nkeys";
import type { KeyPair } from "@nats-io/nkeys";
import { keysDir, writeSecret } from "../auth/authority.js";

/**
 * The core's secret key: one curve (xkey) key pair in `<dataDir>/keys/secrets.xk` (mode 0600),
 * made on first use. Values at rest in the `secrets` bucket are sealed with it (to itself), a
 * worker's answer is sealed with it to the worker's key, and the CLI seals new values to its
 * public key. Whoever holds the data dir's keys holds the secrets; nobody else does (not the
 * JetStream store, not a reader of the log, not a copy of the bucket).
 */
export type SecretKey = {
  readonly pair: KeyPair;
  readonly publicKey: string;
  /** HMAC-SHA256 of a value under a key derived from the seed: equal values, equal prints; no guessing from the log. */
  readonly fingerprint: (value: Uint8Array) => string;
};

export const secretKeyPath = (dataDir: string) => join(keysDir(dataDir), "secrets.xk");

const fromPair = (pair: KeyPair): SecretKey => {
  const macKey = createHmac("sha256", pair.getSeed()).update("ganglion/secret-fingerprint/v1").digest();
  return {
    pair,
    publicKey: pair.getPublicKey(),
    fingerprint: (value) => `hmac-sha256:${createHmac("sha256", macKey).update(value).digest("hex").slice(0, 32)}`,
  };
};

/** Loads the core's secret key from the data dir, creating it (atomically, 0600) the first time. */
export const loadOrCreateSecretKey = async (dataDir: string): Promise<SecretKey> => {
  const path = secretKeyPath(dataDir);
  try {
    const text = (await readFile(path, "utf8")).trim();
    if (!text.startsWith("SX")) throw new Error(`${path} is not a curve seed (SX…): restore it from a backup; without it no secret can be opened`);
    return fromPair(fromCurveSeed(new TextEncoder().encode(text)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const pair = createCurve();
  await writeSecret(path, new TextDecoder().decode(pair.getSeed()));
  // Another core on the same data dir may have won the race: use what is on disk.
  return fromPair(fromCurveSeed(new TextEncoder().encode((await readFile(path, "utf8")).trim())));
};

export const toBase64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
export const fromBase64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
