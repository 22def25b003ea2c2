import * as t from "io-ts";
import { DOTTED } from "./subjects.js";

/**
 * The secret wire contract (subjects.md, "Secrets"): what a worker in any language sends on
 * `secret.<name>` and gets back, what the core sends on `ctl.<plugin>` when a secret it reads
 * changes, and the rows of `ganglion secret list`. No value ever travels in clear: a worker's
 * answer is sealed to the curve (xkey) public key it sent; the CLI seals a new value to the
 * core's secret public key (`secret.key`).
 */

/** A secret name: dotted lower-case tokens, as every capability param (`secret.read:<name>`). */
export const SecretName = t.refinement(t.string, (s) => s.length <= 128 && DOTTED.test(s), "SecretName");
/** A curve (xkey) public key: `X` + 55 base32 characters. */
export const CurvePublicKey = t.refinement(t.string, (s) => /^X[A-Z2-7]{55}$/.test(s), "CurvePublicKey");
/** Base64 of a sealed box (nkeys xkey `seal`: a version header, the nonce and the box). 64 KiB of value at most. */
export const Sealed = t.refinement(t.string, (s) => s.length <= 90_000 && /^[A-Za-z0-9+/]*={0,2}$/.test(s), "Sealed");

/** Request on `secret.<name>` (through the plugin's import): the key the answer is sealed to. */
export const SecretRequest = t.type({ publicKey: CurvePublicKey });
export type SecretRequest = t.TypeOf<typeof SecretRequest>;

/** The core's answer: `sealed` opens with the worker's curve seed and the core's key `sender`. */
export const SecretGranted = t.type({ name: t.string, version: t.number, sealed: t.string, sender: t.string });
export type SecretGranted = t.TypeOf<typeof SecretGranted>;
/** A refusal (`InvalidRequest`, `NotFound`, `Forbidden`, `RateLimited`, `Unavailable`). */
export const SecretRefused = t.type({ error: t.intersection([t.type({ code: t.string, message: t.string }), t.partial({ retryAfterMs: t.number })]) });
export type SecretRefused = t.TypeOf<typeof SecretRefused>;
export const SecretReply = t.union([SecretGranted, SecretRefused]);
export type SecretReply = t.TypeOf<typeof SecretReply>;

/** On `ctl.<plugin>`, to every plugin granted `secret.read:<name>`: ask again (rotated) or forget it (removed). */
export const SecretNotice = t.type({
  type: t.keyof({ "secret.rotated": null, "secret.removed": null }),
  name: t.string,
  version: t.number,
});
export type SecretNotice = t.TypeOf<typeof SecretNotice>;

/** What `secret.set` / `secret.rotate` carry: the value sealed by `sender` to the core's key. */
export const SecretValueRequest = t.type({ name: SecretName, sealed: Sealed, sender: CurvePublicKey });
export const SecretNameRequest = t.type({ name: SecretName });

/** One secret as `secret list` shows it: never its value. */
export const SecretRow = t.type({
  name: t.string,
  version: t.number,
  fingerprint: t.string,
  removed: t.boolean,
  updatedAt: t.string,
  /** Plugins granted `secret.read:<name>` now. */
  readers: t.array(t.string),
  /** Each plugin's last read: the version it got and when. */
  lastRead: t.record(t.string, t.type({ version: t.number, at: t.string })),
});
export type SecretRow = t.TypeOf<typeof SecretRow>;
