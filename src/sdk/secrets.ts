import * as E from "fp-ts/lib/Either.js";
import { createCurve } from "@nats-io/nkeys";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { controlSubject, secretSubject } from "../contract/subjects.js";
import { SecretNotice, SecretReply } from "../contract/secrets.js";

/** A secret request the core refused: `code` is `Forbidden`, `NotFound`, `RateLimited`, `InvalidRequest` or `Unavailable`. */
export class SecretError extends Error {
  override name = "SecretError";
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export type SecretListener = (value: string, version: number) => void;

/** A worker's secrets (`worker.live.secrets`, `ctx.secret(name)`). */
export type Secrets = {
  /** The value of `name` (granted `secret.read:<name>`); cached, and fetched again once the core says it rotated. `onRotated` hears each new version. */
  readonly get: (name: string, onRotated?: SecretListener) => Promise<string>;
  /** The version of the cached value, if any. */
  readonly version: (name: string) => number | undefined;
  /** Asks again for every cached secret and tells listeners of any new version (after a reconnect, when a notice may have been missed). */
  readonly refresh: () => Promise<void>;
  readonly close: () => void;
};

/**
 * The SDK half of the secret contract (subjects.md, "Secrets"): a curve key made in this process
 * (its seed never leaves it), a request `{publicKey}` on `secret.<name>`, an answer sealed to that
 * key, and `secret.rotated` / `secret.removed` notices on `ctl.<plugin>`. Without the grant the
 * plugin's account has no route for `secret.<name>`: the request fails (no responders / timeout).
 */
export const secretsClient = (nc: NatsConnection, plugin: string, log: Logger, opts: { timeoutMs?: number } = {}): Secrets => {
  const kp = createCurve();
  const publicKey = kp.getPublicKey();
  const cache = new Map<string, Promise<{ value: string; version: number }>>();
  const listeners = new Map<string, Set<SecretListener>>();

  const fetch = async (name: string): Promise<{ value: string; version: number }> => {
    let m;
    try {
      m = await nc.request(secretSubject(name), JSON.stringify({ publicKey }), { timeout: opts.timeoutMs ?? 5000 });
    } catch (err) {
      throw new SecretError(`secret ${name}: no answer (${(err as Error).message}); is plugin ${plugin} granted secret.read:${name}?`, "Forbidden");
    }
    const d = SecretReply.decode(m.json());
    if (E.isLeft(d)) throw new SecretError(`secret ${name}: the core's answer does not decode`, "Internal");
    const r = d.right;
    if ("error" in r) throw new SecretError(r.error.message, r.error.code);
    const opened = kp.open(new Uint8Array(Buffer.from(r.sealed, "base64")), r.sender);
    if (!opened) throw new SecretError(`secret ${name}: the answer does not open with this worker's key`, "Internal");
    return { value: new TextDecoder().decode(opened), version: r.version };
  };

  const load = (name: string) => {
    let p = cache.get(name);
    if (!p) {
      p = fetch(name);
      cache.set(name, p);
      // A failure is not cached: the next call asks again.
      p.catch(() => cache.get(name) === p && cache.delete(name));
    }
    return p;
  };

  const sub = nc.subscribe(controlSubject(plugin), {
    callback: (err, m) => {
      if (err) return;
      let raw: unknown;
      try {
        raw = m.json();
      } catch {
        return;
      }
      const n = SecretNotice.decode(raw);
      if (E.isLeft(n)) return;
      const { name, type, version } = n.right;
      cache.delete(name);
      if (type === "secret.removed") return;
      const ls = listeners.get(name);
      if (!ls?.size) return;
      load(name).then(
        (v) => ls.forEach((l) => l(v.value, v.version)),
        (e: unknown) => log.warn({ secret: name, version, err: (e as Error).message }, "rotated secret could not be read"),
      );
    },
  });

  let versions = new Map<string, number>();
  return {
    get: async (name, onRotated) => {
      if (onRotated) listeners.set(name, (listeners.get(name) ?? new Set()).add(onRotated));
      const v = await load(name);
      versions.set(name, v.version);
      return v.value;
    },
    version: (name) => versions.get(name),
    refresh: async () => {
      for (const name of [...cache.keys()]) {
        const before = versions.get(name);
        cache.delete(name);
        try {
          const v = await load(name);
          versions.set(name, v.version);
          if (v.version !== before) listeners.get(name)?.forEach((l) => l(v.value, v.version));
        } catch (e) {
          log.warn({ secret: name, err: (e as Error).message }, "secret could not be read again after a reconnect");
        }
      }
    },
    close: () => {
      sub.unsubscribe();
      cache.clear();
      versions = new Map();
    },
  };
};
