import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { Kvm } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { SecretEvent, secretStreamName, SECRET_CATEGORY } from "../events/secret.js";
import { natsEventStore } from "../store/eventStore.js";
import { WrongExpectedVersionError } from "../store/types.js";
import type { SecretRow } from "../contract/secrets.js";
import type { ServiceError } from "../contract/errors.js";
import type { PluginApp } from "../plugins/app.js";
import { take } from "../tasks/limits.js";
import type { Bucket, Rate } from "../tasks/limits.js";
import { fromBase64, toBase64 } from "./keys.js";
import type { SecretKey } from "./keys.js";

/** The bucket of sealed values, key = the secret's name. Only BUS reaches it; OPS gets no copy. */
export const SECRETS_BUCKET = "secrets";
/** Largest value a secret may hold. */
export const MAX_SECRET_BYTES = 64 * 1024;
/** Reads a plugin may make of one secret: 30 a minute (a worker asks once, then again on rotation). */
export const DEFAULT_READ_RATE: Rate = { count: 30, perMs: 60_000 };

/** What the bucket holds for a secret: its value sealed by the core's key to itself. */
const Stored = t.type({ version: t.number, fingerprint: t.string, sealed: t.string, updatedAt: t.string });
type Stored = t.TypeOf<typeof Stored>;

export const secretReadCapability = (name: string) => `secret.read:${name}`;

type Meta = { readonly actor: string; readonly time: Date; readonly correlationId?: string };
const metaOf = (m: Meta) => ({ actor: m.actor, time: m.time.toISOString(), ...(m.correlationId ? { correlationId: m.correlationId } : {}) });

export type SecretStore = {
  readonly publicKey: string;
  /** Opens a value the CLI sealed to the core's key (from `sender`). */
  readonly unseal: (sealed: string, sender: string) => E.Either<ServiceError, Uint8Array>;
  /** Creates (`rotate: false`) or replaces (`rotate: true`) a value; answers the row. */
  readonly put: (name: string, value: Uint8Array, rotate: boolean, meta: Meta) => Promise<E.Either<ServiceError, SecretRow>>;
  readonly remove: (name: string, meta: Meta) => Promise<E.Either<ServiceError, SecretRow>>;
  readonly list: () => Promise<SecretRow[]>;
  /** The plugins granted `secret.read:<name>` now (active ones). */
  readonly readers: (name: string) => Promise<string[]>;
  /**
   * A plugin's read: refused unless the plugin is active and granted `secret.read:<name>`, and
   * within its rate; recorded as `secret.read` before the value is handed out.
   */
  readonly read: (name: string, pluginId: string) => Promise<E.Either<ServiceError, { value: Uint8Array; version: number }>>;
  /** The version in the bucket of each of `names` that exists (what a read would answer now); no read is recorded, no value opened. */
  readonly versions: (names: readonly string[]) => Promise<Record<string, number>>;
};

type Folded = { version: number; fingerprint: string; removed: boolean; updatedAt: string; lastRead: Record<string, { version: number; at: string }> };

export const secretStore = async (deps: {
  nc: NatsConnection;
  key: SecretKey;
  plugins: PluginApp;
  log: Logger;
  replicas?: number;
  readRate?: Rate;
  now?: () => number;
}): Promise<SecretStore> => {
  const kvm = new Kvm(deps.nc);
  const kv: KV = await kvm.create(SECRETS_BUCKET, { history: 1, ...(deps.replicas ? { replicas: deps.replicas } : {}) });
  const events = natsEventStore(deps.nc, {
    codec: SecretEvent,
    defaultActor: "core",
    onSkipped: (s) => deps.log.warn({ skipped: s }, "undecodable secret event"),
  });
  const key = deps.key;
  const rate = deps.readRate ?? DEFAULT_READ_RATE;
  const now = deps.now ?? Date.now;
  const buckets = new Map<string, Bucket>();

  const fold = async (name: string): Promise<{ folded?: Folded; revision: bigint | "no_stream" }> => {
    let f: Folded | undefined;
    let revision: bigint | "no_stream" = "no_stream";
    for await (const e of events.readStream(secretStreamName(name))) {
      revision = e.revision;
      const at = e.metadata.time;
      if (e.type === "secret.read") {
        if (f) f.lastRead[e.data.pluginId] = { version: e.data.version, at };
      } else if (e.type === "secret.removed") {
        if (f) f = { ...f, removed: true, updatedAt: at };
      } else f = { version: e.data.version, fingerprint: e.data.fingerprint, removed: false, updatedAt: at, lastRead: f?.lastRead ?? {} };
    }
    return { ...(f ? { folded: f } : {}), revision };
  };

  const readers = async (name: string) =>
    (await deps.plugins.list()).filter((p) => p.status === "active" && p.granted.includes(secretReadCapability(name))).map((p) => p.pluginId);

  const rowOf = async (name: string, f: Folded): Promise<SecretRow> => ({ name, ...f, readers: await readers(name) });

  const put: SecretStore["put"] = async (name, value, rotate, meta) => {
    if (value.length === 0) return E.left({ code: "InvalidRequest", message: `secret ${name}: the value is empty`, paths: ["sealed"] });
    if (value.length > MAX_SECRET_BYTES)
      return E.left({ code: "PayloadTooLarge", message: `secret ${name}: ${value.length} bytes; at most ${MAX_SECRET_BYTES}` });
    const { folded, revision } = await fold(name);
    const exists = folded !== undefined && !folded.removed;
    if (rotate && !exists) return E.left({ code: "NotFound", message: `secret ${name} does not exist: create it with \`ganglion secret set ${name}\`` });
    if (!rotate && exists)
      return E.left({
        code: "AlreadyExists",
        message: `secret ${name} exists (version ${folded.version}): give it a new value with \`ganglion secret rotate ${name}\``,
      });
    const version = (folded?.version ?? 0) + 1;
    const fingerprint = key.fingerprint(value);
    const type = rotate ? ("secret.rotated" as const) : ("secret.set" as const);
    try {
      // The event first, at the revision read: two concurrent writers cannot both win, and the
      // log never misses a change (at worst it names a version the bucket did not get yet).
      await events.appendToStream(secretStreamName(name), { type, data: { name, version, fingerprint }, metadata: metaOf(meta) }, { streamState: revision });
    } catch (err) {
      if (err instanceof WrongExpectedVersionError) return E.left({ code: "AlreadyExists", message: `secret ${name} changed meanwhile; try again` });
      throw err;
    }
    const updatedAt = meta.time.toISOString();
    const stored: Stored = { version, fingerprint, sealed: toBase64(key.pair.seal(value, key.publicKey)), updatedAt };
    await kv.put(name, JSON.stringify(stored));
    return E.right(await rowOf(name, { version, fingerprint, removed: false, updatedAt, lastRead: folded?.lastRead ?? {} }));
  };

  const remove: SecretStore["remove"] = async (name, meta) => {
    const { folded, revision } = await fold(name);
    if (!folded || folded.removed) return E.left({ code: "NotFound", message: `secret ${name} does not exist` });
    await events.appendToStream(
      secretStreamName(name),
      { type: "secret.removed", data: { name, version: folded.version }, metadata: metaOf(meta) },
      { streamState: revision },
    );
    await kv.purge(name);
    return E.right(await rowOf(name, { ...folded, removed: true, updatedAt: meta.time.toISOString() }));
  };

  const list: SecretStore["list"] = async () => {
    const names = new Set<string>();
    for await (const e of events.readAll({ filter: { categories: [SECRET_CATEGORY] } })) names.add(e.data.name);
    const rows: SecretRow[] = [];
    for (const n of [...names].sort()) {
      const { folded } = await fold(n);
      if (folded) rows.push(await rowOf(n, folded));
    }
    return rows;
  };

  const read: SecretStore["read"] = async (name, pluginId) => {
    const p = await deps.plugins.load(pluginId);
    const s = p.state;
    if (s.status !== "active" || !s.granted.includes(secretReadCapability(name))) {
      return E.left({ code: "Forbidden", message: `plugin ${pluginId} is not granted ${secretReadCapability(name)}` });
    }
    const k = `${pluginId}\u0000${name}`;
    const lim = take(buckets.get(k), rate, now());
    buckets.set(k, lim.bucket);
    if (!lim.ok)
      return E.left({
        code: "RateLimited",
        message: `plugin ${pluginId} may read secret ${name} ${rate.count} times per ${rate.perMs} ms`,
        retryAfterMs: lim.retryAfterMs,
      });
    const entry = await kv.get(name);
    if (!entry || entry.operation !== "PUT") return E.left({ code: "NotFound", message: `secret ${name} does not exist` });
    const d = Stored.decode(entry.json());
    if (E.isLeft(d)) return E.left({ code: "Unavailable", message: `secret ${name}: the stored record is unreadable` });
    const value = key.pair.open(fromBase64(d.right.sealed), key.publicKey);
    if (!value) return E.left({ code: "Unavailable", message: `secret ${name} was sealed with another key than this core's (keys/secrets.xk)` });
    await events.appendToStream(secretStreamName(name), {
      type: "secret.read",
      data: { name, version: d.right.version, pluginId },
      metadata: { actor: `plugin:${pluginId}`, time: new Date(now()).toISOString() },
    });
    return E.right({ value, version: d.right.version });
  };

  const unseal: SecretStore["unseal"] = (sealed, sender) => {
    let v: Uint8Array | null = null;
    try {
      v = key.pair.open(fromBase64(sealed), sender);
    } catch {
      v = null;
    }
    return v
      ? E.right(v)
      : E.left({ code: "InvalidRequest", message: "the value does not open with the core's key: seal it to the public key of secret.key", paths: ["sealed"] });
  };

  const versions: SecretStore["versions"] = async (names) => {
    const out: Record<string, number> = {};
    for (const n of names) {
      const entry = await kv.get(n);
      if (!entry || entry.operation !== "PUT") continue;
      const d = Stored.decode(entry.json());
      if (E.isRight(d)) out[n] = d.right.version;
    }
    return out;
  };

  return { publicKey: key.publicKey, unseal, put, remove, list, readers, read, versions };
};
