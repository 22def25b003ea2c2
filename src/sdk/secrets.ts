import * as E from "fp-ts/lib/Either.js";
import { createCurve } from "@nats-io/nkeys";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { secretSubject } from "../contract/subjects.js";
import { SecretNotice, SecretReply } from "../contract/secrets.js";
import { onControl } from "./control.js";

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
  /**
   * Compares what the core says is in force (`live.versions`, the `cfg` answer) with what is held:
   * asks again for each secret whose version is newer (listeners hear it), forgets each one not
   * listed (removed, or no longer granted).
   */
  readonly reconcile: (inForce: Readonly<Record<string, number>>) => void;
  /** Asks again for every cached secret and tells listeners of any new version (after a reconnect to a core that does not list versions). */
  readonly refresh: () => Promise<void>;
  readonly close: () => void;
};

/**
 * The SDK half of the secret contract (subjects.md, "Secrets"): a curve key made in this process
 * (its seed never leaves it), a request `{publicKey}` on `secret.<name>`, an answer sealed to that
 * key, and `secret.rotated` / `secret.removed` notices on `ctl.<plugin>`. Without the grant the
 * plugin's account has no route for `secret.<name>`: the request fails (no responders / timeout).
 * A value is asked again only when the core names a newer version than the one held: each read is
 * an event and rate-limited.
 */
export const secretsClient = (nc: NatsConnection, plugin: string, log: Logger, opts: { timeoutMs?: number } = {}): Secrets => {
  const kp = createCurve();
  const publicKey = kp.getPublicKey();
  /** Answers asked for (pending or not); a failure is not kept. */
  const cache = new Map<string, Promise<{ value: string; version: number }>>();
  /** The version of each value this process holds. */
  let held = new Map<string, number>();
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
      const q = fetch(name);
      cache.set(name, (p = q));
      q.then(
        (v) => cache.get(name) === q && held.set(name, v.version),
        () => cache.get(name) === q && cache.delete(name),
      );
    }
    return p;
  };

  const forget = (name: string) => {
    cache.delete(name);
    held.delete(name);
  };

  /** Asks again for a secret that changed (a held one, or one somebody listens to); listeners hear a new version. */
  const reload = (name: string, why: string) => {
    const before = held.get(name);
    const ls = listeners.get(name);
    cache.delete(name);
    if (before === undefined && !ls?.size) return;
    load(name).then(
      (v) => {
        if (v.version !== before) ls?.forEach((l) => l(v.value, v.version));
      },
      (e: unknown) => log.warn({ secret: name, why, err: (e as Error).message }, "changed secret could not be read"),
    );
  };

  const sub = onControl(nc, plugin, SecretNotice, ({ name, type, version }) => {
    if (type === "secret.removed") return forget(name);
    if ((held.get(name) ?? 0) >= version) return; // already holds it (a repeated notice)
    reload(name, `rotated to version ${version}`);
  });

  return {
    get: async (name, onRotated) => {
      if (onRotated) listeners.set(name, (listeners.get(name) ?? new Set()).add(onRotated));
      return (await load(name)).value;
    },
    version: (name) => held.get(name),
    reconcile: (inForce) => {
      for (const [name, version] of [...held]) {
        const now = Object.hasOwn(inForce, name) ? inForce[name] : undefined;
        if (now === undefined) forget(name);
        else if (now > version) reload(name, `version ${now} in force`);
      }
    },
    refresh: async () => {
      for (const name of [...held.keys()]) {
        const before = held.get(name);
        cache.delete(name);
        try {
          const v = await load(name);
          if (v.version !== before) listeners.get(name)?.forEach((l) => l(v.value, v.version));
        } catch (e) {
          log.warn({ secret: name, err: (e as Error).message }, "secret could not be read again after a reconnect");
        }
      }
    },
    close: () => {
      sub.unsubscribe();
      cache.clear();
      held = new Map();
    },
  };
};
