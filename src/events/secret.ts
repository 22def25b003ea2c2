import * as t from "io-ts";

/**
 * The life of a secret, on the stream `secret-<name_>` (subject `ev.secret.<name_>`, the name with
 * `_` written `_u` and `.` written `_d`). Appended by the core's secret store only. No event ever
 * holds a value: a version and a fingerprint (HMAC-SHA256 under a key derived from the core's
 * secret key, so a log reader cannot test guesses against it) say which value it was.
 */

/** A secret was created (`version` 1, or the next after a removal: versions never repeat). */
export const SecretSet = t.type({
  type: t.literal("secret.set"),
  data: t.type({ name: t.string, version: t.number, fingerprint: t.string }),
});
export type SecretSet = t.TypeOf<typeof SecretSet>;

/** A secret got a new value; the plugins granted `secret.read:<name>` are told at once. */
export const SecretRotated = t.type({
  type: t.literal("secret.rotated"),
  data: t.type({ name: t.string, version: t.number, fingerprint: t.string }),
});
export type SecretRotated = t.TypeOf<typeof SecretRotated>;

/** A secret was removed: its sealed value is purged from the `secrets` bucket. */
export const SecretRemoved = t.type({
  type: t.literal("secret.removed"),
  data: t.type({ name: t.string, version: t.number }),
});
export type SecretRemoved = t.TypeOf<typeof SecretRemoved>;

/** A plugin (`pluginId`) was given version `version` of the secret (sealed to its own key). */
export const SecretRead = t.type({
  type: t.literal("secret.read"),
  data: t.type({ name: t.string, version: t.number, pluginId: t.string }),
});
export type SecretRead = t.TypeOf<typeof SecretRead>;

export const SecretEvent = t.union([SecretSet, SecretRotated, SecretRemoved, SecretRead]);
export type SecretEvent = t.TypeOf<typeof SecretEvent>;

/** Stream category of every secret's events (`ev.secret.>`). */
export const SECRET_CATEGORY = "secret";
/** Event-store stream of one secret: injective on dotted names (`a_b.c` → `a_ub_dc`). */
export const secretStreamName = (name: string) => `${SECRET_CATEGORY}-${name.replaceAll("_", "_u").replaceAll(".", "_d")}`;
