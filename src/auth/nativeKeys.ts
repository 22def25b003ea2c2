import { createPrivateKey, sign } from "node:crypto";
import type { KeyPair } from "@nats-io/nkeys";
// The seed codec is not re-exported by the package's index; it is the module the package's own keys use.
import { Codec } from "@nats-io/nkeys/lib/codec.js";

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/**
 * The same key pair, with its keys derived once and signatures made by Node's native Ed25519.
 * nkeys derives the public key from the seed in pure JavaScript on every `getPublicKey()`, and
 * `@nats-io/jwt` calls it several times per JWT: encoding one account JWT took 30–50 ms, most of a
 * revocation's time (bench/README.md, revocation). With this it takes about 0.1 ms. Signatures
 * are the same bytes (Ed25519 is deterministic); a test checks them against nkeys.
 */
export const nativeKeyPair = (kp: KeyPair): KeyPair => {
  const seed = kp.getSeed();
  const raw = Codec.decodeSeed(seed).buf;
  const key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, Buffer.from(raw)]), format: "der", type: "pkcs8" });
  const publicKey = kp.getPublicKey();
  const privateKey = kp.getPrivateKey();
  return {
    getPublicKey: () => publicKey,
    getPrivateKey: () => privateKey,
    getSeed: () => seed,
    sign: (data: Uint8Array) => new Uint8Array(sign(null, data, key)),
    verify: (data: Uint8Array, sig: Uint8Array) => kp.verify(data, sig),
    clear: () => kp.clear(),
    seal: (...a: Parameters<KeyPair["seal"]>) => kp.seal(...a),
    open: (...a: Parameters<KeyPair["open"]>) => kp.open(...a),
  } as KeyPair;
};
