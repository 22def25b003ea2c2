import * as E from "fp-ts/lib/Either.js";
import type { SecretStore } from "./store.js";

/**
 * Resolves `secret://<name>` references for a plugin (the process runner puts them in a worker's
 * environment). Every resolution goes through the store's `read`: the plugin must be active and
 * granted `secret.read:<name>`, the read is rate-limited and recorded as a `secret.read` event
 * naming the plugin, the secret and the version, exactly as a read over the bus.
 */
export interface SecretResolver {
  resolve(name: string, forPlugin: string): Promise<{ value: string; version: number }>;
}

export class SecretResolveError extends Error {
  override name = "SecretResolveError";
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** The prefix of a secret reference in a manifest's config or a worker's environment. */
export const SECRET_REF_PREFIX = "secret://";

/** The name in a `secret://<name>` reference, or undefined when `s` is not one. */
export const secretRef = (s: string): string | undefined => (s.startsWith(SECRET_REF_PREFIX) ? s.slice(SECRET_REF_PREFIX.length) : undefined);

/** A resolver over the core's secret store; refusals throw a `SecretResolveError` with the service code (`Forbidden`, `NotFound`, `RateLimited`). */
export const secretResolver = (store: Pick<SecretStore, "read">): SecretResolver => ({
  resolve: async (name, forPlugin) => {
    const r = await store.read(name, forPlugin);
    if (E.isLeft(r)) throw new SecretResolveError(r.left.message, r.left.code);
    return { value: new TextDecoder().decode(r.right.value), version: r.right.version };
  },
});
