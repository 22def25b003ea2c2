import { jetstreamManager, JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { internalBucket } from "../../contract/subjects.js";
import { canonical } from "../fold.js";
import type { ViewManifest } from "../manifest.js";
import { isInternalKey } from "../view.js";
import type { AnyView } from "../view.js";
import { openBucket, readBucket } from "./kv.js";

/**
 * A view's internal bucket (`internalBucket`): the fold's bookkeeping, off the operator-facing
 * bucket, and the settings the view was folded with. Not copied to OPS (`auth/opsStreams.ts`
 * copies only the live buckets the manifests name and `ganglion-projections`).
 */

/** Key of the internal bucket holding the view's settings (`View.settings`); not a fold key. */
export const SETTINGS_KEY = "settings";

/** Does the view keep bookkeeping (and so have an internal bucket)? */
export const hasInternal = (view: AnyView) => Boolean(view.index || view.after || view.settings);

/**
 * The view's two buckets (the internal one is the rows bucket for a view without bookkeeping).
 * `drop(key)` removes an internal key for good: a purge of its subject, which leaves no delete
 * marker behind (a KV delete would leave one per key, for ever: the growth this bucket exists to
 * avoid). Internal keys are written once and dropped once, by the same deterministic fold, so they
 * need no compare-and-set on the way out.
 */
export const viewBuckets = async (
  nc: NatsConnection,
  m: ViewManifest,
  view: AnyView,
  replicas = 1,
): Promise<{ rows: KV; internal: KV; drop?: (key: string) => Promise<void> }> => {
  const rows = await openBucket(nc, m.bucket, m.history ?? 1, replicas);
  if (!hasInternal(view)) return { rows, internal: rows };
  const name = internalBucket(m.bucket);
  const jsm = await jetstreamManager(nc);
  return {
    rows,
    internal: await openBucket(nc, name, 1, replicas),
    drop: async (key) => void (await jsm.streams.purge(`KV_${name}`, { filter: `$KV.${name}.${key}` })),
  };
};

/** Prefix under which verify reports internal keys left in an operator bucket (by an older version). */
export const LEGACY = "legacy:";

/**
 * What a view's buckets hold, as one map of fold keys: the rows bucket's rows, the internal
 * bucket's internal keys; internal keys found in the rows bucket (an older version put them
 * there) come back as `legacy:<key>`, which no fold produces. `revisions` gets each key's revision.
 */
export const readViewBuckets = async (b: { rows: KV; internal: KV }, revisions?: Map<string, number>): Promise<Map<string, unknown>> => {
  const rr = new Map<string, number>();
  const rows = await readBucket(b.rows, rr);
  const out = new Map<string, unknown>();
  for (const [k, v] of rows) out.set(isInternalKey(k) ? `${LEGACY}${k}` : k, v);
  for (const [k, r] of rr) revisions?.set(isInternalKey(k) ? `${LEGACY}${k}` : k, r);
  if (b.internal !== b.rows) {
    const ir = new Map<string, number>();
    for (const [k, v] of await readBucket(b.internal, ir)) if (isInternalKey(k)) out.set(k, v);
    for (const [k, r] of ir) if (isInternalKey(k)) revisions?.set(k, r);
  }
  return out;
};

/**
 * Removes internal keys from an operator bucket (left by a version that kept them there): a
 * purge per key, which the OPS copy follows (a roll-up), so OPS loses them too.
 */
export const purgeLegacy = async (rows: KV, keys: Iterable<string>) => {
  for (const k of keys) await rows.purge(k.startsWith(LEGACY) ? k.slice(LEGACY.length) : k);
};

/** Whether the operator bucket holds any internal key (one filtered listing, not a full read). */
export const hasLegacyKeys = async (rows: KV): Promise<boolean> => {
  const it = await rows.keys("_idx.>");
  for await (const _ of it) {
    it.stop();
    return true;
  }
  return false;
};

const notFound = (err: unknown) => err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;

/** The settings recorded for a view's bucket (undefined: none, or no internal bucket yet). */
export const readSettings = async (nc: NatsConnection, bucket: string): Promise<unknown> => {
  try {
    const e = await (await new Kvm(nc).open(internalBucket(bucket))).get(SETTINGS_KEY);
    return e && e.operation === "PUT" ? JSON.parse(new TextDecoder().decode(e.value)) : undefined;
  } catch (err) {
    if (notFound(err)) return undefined;
    throw err;
  }
};

export const writeSettings = async (internal: KV, view: AnyView) => {
  if (view.settings) await internal.put(SETTINGS_KEY, JSON.stringify(view.settings.value));
};

/** Do the recorded settings differ from the view's? (none recorded: only when the view has settings). */
export const settingsDiffer = (view: AnyView, recorded: unknown) =>
  view.settings !== undefined && (recorded === undefined || canonical(recorded) !== canonical(view.settings.value));

/** The views as the core folds them: each with the settings recorded in its bucket, when readable. */
export const asRecorded = async (nc: NatsConnection, pairs: readonly { manifest: ViewManifest; view: AnyView }[]) =>
  Promise.all(
    pairs.map(async ({ manifest, view }) => {
      if (!view.settings) return { manifest, view };
      const raw = await readSettings(nc, manifest.bucket);
      return { manifest, view: (raw === undefined ? undefined : view.settings.with(raw)) ?? view };
    }),
  );
