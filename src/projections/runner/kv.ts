import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { Buckets } from "../../contract/subjects.js";
import { stripPosition } from "../fold.js";
import type { ViewManifest } from "../manifest.js";
import { isIndexKey } from "../view.js";

/**
 * The buckets around the views, as queries and the runner read them: where a view's live
 * bucket is (`ganglion-projections`), how far each bucket has folded (`ganglion-checkpoints`),
 * and whole-bucket reads. Nothing here writes a view's rows (see `rows.ts`).
 */

/**
 * Where operators find the live bucket of a view: key `<view>` of the `ganglion-projections`
 * bucket. A new view version is built into its own bucket and this pointer moves to it only once
 * the new bucket has caught up with the log.
 */
export const ViewPointer = t.type({
  view: t.string,
  version: t.number,
  bucket: t.string,
  switchedAt: t.string,
  previousBucket: t.union([t.string, t.null]),
});
export type ViewPointer = t.TypeOf<typeof ViewPointer>;

/** Key `<bucket>` of `ganglion-checkpoints`: every event at or below `position` is in the bucket. */
export const Checkpoint = t.type({ position: t.number, updatedAt: t.string });
export type Checkpoint = t.TypeOf<typeof Checkpoint>;

/** JetStream API error 10058: a stream of that name exists with another configuration. */
const STREAM_NAME_IN_USE = 10058;

/** Opens (creating when missing) a bucket, entries expiring after `ttlMs` when given; an existing bucket with other settings is used as is. */
export const openBucket = async (nc: NatsConnection, bucket: string, history = 1, replicas = 1, ttlMs?: number): Promise<KV> => {
  const kvm = new Kvm(nc);
  try {
    return await kvm.create(bucket, { history, replicas, ...(ttlMs ? { ttl: ttlMs } : {}) });
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE) return kvm.open(bucket);
    throw err;
  }
};

/** A stored JSON value decoded with `codec`; errors are readable paths. */
export const readJson = <A>(codec: t.Type<A, unknown, unknown>, value: Uint8Array): E.Either<string[], A> => {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(value));
  } catch (err) {
    return E.left([`not JSON: ${(err as Error).message}`]);
  }
  return E.mapLeft(failure)(codec.decode(raw));
};

/** A bucket's entry, or undefined when the key or the whole bucket does not exist (no bucket is created). */
export const getEntry = async (nc: NatsConnection, bucket: string, key: string) => {
  try {
    const e = await (await new Kvm(nc).open(bucket)).get(key);
    return e && e.operation === "PUT" ? e : undefined;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return undefined;
    throw err;
  }
};

export const readPointer = async (nc: NatsConnection, view: string): Promise<ViewPointer | undefined> => {
  const e = await getEntry(nc, Buckets.Projections, view);
  if (!e) return undefined;
  const d = readJson(ViewPointer, e.value);
  return E.isRight(d) ? d.right : undefined;
};

/** The bucket a query should read for a view: the pointer's, or the manifest's before any switch. */
export const liveBucket = async (nc: NatsConnection, m: ViewManifest): Promise<string> => (await readPointer(nc, m.name))?.bucket ?? m.bucket;

export const readCheckpoint = async (nc: NatsConnection, bucket: string): Promise<number | undefined> => {
  const e = await getEntry(nc, Buckets.Checkpoints, bucket);
  if (!e) return undefined;
  const d = readJson(Checkpoint, e.value);
  return E.isRight(d) ? d.right.position : undefined;
};

/** `kv` is the `ganglion-checkpoints` bucket. */
export const writeCheckpoint = async (kv: KV, bucket: string, position: number) => {
  await kv.put(bucket, JSON.stringify({ position, updatedAt: new Date().toISOString() } satisfies Checkpoint));
};

/**
 * Every row of a bucket, parsed (a value that is not JSON is kept as its text): one ordered
 * consumer over the last value per key, not a request per key. `revisions` (when given) gets
 * each key's revision, deleted keys included.
 */
export const readBucket = async (kv: KV, revisions?: Map<string, number>): Promise<Map<string, unknown>> => {
  const out = new Map<string, unknown>();
  if ((await kv.status()).values === 0) return out;
  const w = await kv.watch({ include: KvWatchInclude.LastValue });
  try {
    for await (const e of w) {
      revisions?.set(e.key, e.revision);
      if (e.operation === "PUT") {
        const text = new TextDecoder().decode(e.value);
        try {
          out.set(e.key, JSON.parse(text));
        } catch {
          out.set(e.key, text);
        }
      } else out.delete(e.key);
      // `delta` counts the initial values still to come: 0 on the last one.
      if (!e.delta) break;
    }
  } finally {
    w.stop();
  }
  return out;
};

/** A view's rows read from its live bucket, without index entries and runner fields. */
export const stripRow = (v: unknown): unknown =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? stripPosition(v as { lastPosition?: number; lastIndex?: number }) : v;
export { isIndexKey };
