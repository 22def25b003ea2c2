import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { natsEventStore } from "../store/eventStore.js";
import { Buckets } from "../store/subjects.js";
import type { EventStore, RecordedEvent } from "../store/types.js";
import { applied, applyEvent, canonical, diffRows, stripPosition } from "./fold.js";
import type { RowDiff, Rows, StoredRow } from "./fold.js";
import { loadManifests } from "./manifest.js";
import type { ViewManifest } from "./manifest.js";
import { decodeFor, indexKey, isIndexKey } from "./view.js";
import type { AnyView, Decoded, ViewEvent } from "./view.js";
import { allViews } from "./views.js";

/** Any stored event: the runner reads everything and lets each view decode what it folds. */
export const AnyEvent = t.type({ type: t.string, data: t.unknown });
export type AnyEvent = t.TypeOf<typeof AnyEvent>;

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

const Positioned = t.type({ lastPosition: t.number, lastIndex: t.number });
const IndexRow = t.intersection([t.type({ value: t.string }), Positioned]);

export const toViewEvent = (r: RecordedEvent<AnyEvent>, index: number): ViewEvent => ({
  type: r.type,
  data: r.data,
  streamName: r.streamName,
  position: Number(r.position),
  index,
  metadata: r.metadata,
  created: r.created.toISOString(),
});

/** Numbers the events of each commit (they share a position) as they go by. */
export const indexer = () => {
  let pos = -1;
  let i = 0;
  return (r: RecordedEvent<AnyEvent>): ViewEvent => {
    const p = Number(r.position);
    i = p === pos ? i + 1 : 0;
    pos = p;
    return toViewEvent(r, i);
  };
};

/** A read-only store that hands out every event, whatever its type (views decode). */
export const readerStore = (nc: NatsConnection, log?: Logger): EventStore<AnyEvent> =>
  natsEventStore(nc, {
    codec: AnyEvent,
    onSkipped: (s) => log?.warn({ position: String(s.position), subject: s.subject, errors: s.errors }, "undecodable commit skipped"),
  });

const isCasConflict = (err: unknown) =>
  err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;

/** JetStream API error 10058: a stream of that name exists with another configuration. */
const STREAM_NAME_IN_USE = 10058;

/** Opens (creating when missing) a bucket; an existing bucket with other settings is used as is. */
export const openBucket = async (nc: NatsConnection, bucket: string, history = 1, replicas = 1): Promise<KV> => {
  const kvm = new Kvm(nc);
  try {
    return await kvm.create(bucket, { history, replicas });
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE) return kvm.open(bucket);
    throw err;
  }
};

const readJson = <A>(codec: t.Type<A, unknown, unknown>, value: Uint8Array): E.Either<string[], A> => {
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

const writeCheckpoint = async (kv: KV, bucket: string, position: number) => {
  await kv.put(bucket, JSON.stringify({ position, updatedAt: new Date().toISOString() } satisfies Checkpoint));
};

/** A view's pure code threw on an event: logged, and the event is skipped for that view. */
export class ViewBugError extends Error {
  override name = "ViewBugError";
  constructor(
    readonly view: string,
    override readonly cause: unknown,
  ) {
    super(`view ${view} threw: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

/** `exists`: the key holds a value (possibly one this version cannot read, then `row` is null). */
type Cached = { row: StoredRow<Record<string, unknown>> | null; revision: number; exists: boolean };
const NoChange = Symbol("NoChange");

/**
 * The only code that writes view rows: compare-and-set on every write (`create` for a new row,
 * `update(key, value, revision)` otherwise); a conflict (another core replica, a rebuild) re-reads
 * the row and tries again. Rows are cached with their revision, so a steady fold costs one write
 * per row touched.
 */
export const rowWriter = (kv: KV, view: AnyView, log: Logger, cacheSize = 20_000) => {
  const cache = new Map<string, Cached>();
  const rowCodec = t.intersection([view.row, Positioned]);

  const load = async (key: string): Promise<Cached> => {
    const e = await kv.get(key);
    if (!e || e.operation !== "PUT") return { row: null, revision: e?.revision ?? 0, exists: false };
    const d = readJson(isIndexKey(key) ? (IndexRow as t.Mixed) : rowCodec, e.value);
    if (E.isLeft(d)) {
      // A row this version cannot read: fold it again from what the events say from here on;
      // `projections verify` reports the drift and `projections rebuild` repairs it.
      log.error({ key, errors: d.left }, "unreadable row: treated as absent");
      return { row: null, revision: e.revision, exists: true };
    }
    return { row: d.right as StoredRow<Record<string, unknown>>, revision: e.revision, exists: true };
  };

  const remember = (key: string, c: Cached) => {
    cache.delete(key);
    cache.set(key, c);
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
  };

  const get = async (key: string): Promise<Cached> => {
    const hit = cache.get(key);
    if (hit) return hit;
    const c = await load(key);
    remember(key, c);
    return c;
  };

  /** Writes `f(current)` with compare-and-set, re-reading on a conflict. */
  const upsert = async (key: string, f: (cur: Cached["row"]) => Cached["row"] | typeof NoChange) => {
    for (let attempt = 0; ; attempt++) {
      const cur = await get(key);
      const next = f(cur.row);
      if (next === NoChange) return;
      try {
        if (next === null) {
          if (!cur.exists) return;
          await kv.delete(key, { previousSeq: cur.revision });
          cache.delete(key);
        } else {
          const payload = JSON.stringify(next);
          const revision = cur.exists ? await kv.update(key, payload, cur.revision) : await kv.create(key, payload);
          remember(key, { row: next, revision, exists: true });
        }
        return;
      } catch (err) {
        cache.delete(key);
        if (isCasConflict(err) && attempt < 20) continue;
        throw err;
      }
    }
  };

  /** Runs the view's pure code; a throw there is a bug in the view, not an outage. */
  const pure = <A>(f: () => A): A => {
    try {
      return f();
    } catch (err) {
      throw new ViewBugError(view.name, err);
    }
  };

  /** Folds one decoded event into the rows it touches; events at or below a row's position are skipped. */
  const apply = async (e: Decoded<{ type: string; data: unknown }>) => {
    const ik = pure(() => view.index?.key(e));
    const v = ik === undefined ? undefined : (await get(indexKey(ik))).row?.["value"];
    const indexed = typeof v === "string" ? v : undefined;
    for (const key of pure(() => view.keys(e, indexed))) {
      await upsert(key, (cur) => {
        if (cur && applied(cur, e)) return NoChange;
        const next = pure(() => view.evolve(key, cur ? stripPosition(cur) : null, e, indexed));
        return next === null ? (cur ? null : NoChange) : { ...next, lastPosition: e.position, lastIndex: e.index };
      });
    }
    // The index entry last: a crash in between replays the event, whose rows are then skipped.
    if (ik !== undefined) {
      const value = pure(() => view.index!.next(e, indexed));
      if (value !== undefined && value !== indexed) {
        await upsert(indexKey(ik), (cur) => (cur && applied(cur, e) ? NoChange : { value, lastPosition: e.position, lastIndex: e.index }));
      }
    }
  };

  /** Makes the bucket hold exactly `want` for `key`, unless the row is already past `head`. */
  const reconcile = async (key: string, want: StoredRow<Record<string, unknown>> | undefined, head: number) =>
    upsert(key, (cur) => {
      if (cur && cur.lastPosition > head) return NoChange;
      if (!want) return null;
      return cur && canonical(cur) === canonical(want) ? NoChange : want;
    });

  return { apply, reconcile, clear: () => cache.clear() };
};

export type ViewStatus = {
  readonly view: string;
  readonly version: number;
  readonly bucket: string;
  readonly position: number;
  readonly caughtUp: boolean;
};

export type ProjectionsDeps = {
  readonly nc: NatsConnection;
  readonly log: Logger;
  /** Manifests to run (default: `projections/*.json`). */
  readonly manifests?: readonly ViewManifest[];
  /** Views by name (default: the built-in views). */
  readonly views?: Readonly<Record<string, AnyView>>;
  /** Replicas of the buckets this creates (3 on a cluster, like the streams). */
  readonly replicas?: number;
  /** Checkpoint after this many applied events (and at least every second when behind). */
  readonly checkpointEvery?: number;
};

export type Projections = {
  /** Resolves once every view has folded the log as it was at start (and switched its pointer). */
  readonly caughtUp: Promise<void>;
  readonly status: () => ViewStatus[];
  readonly stop: () => Promise<void>;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pairs manifests with their views; a manifest without code is a deployment error. */
export const resolveViews = (manifests: readonly ViewManifest[], views: Readonly<Record<string, AnyView>>) =>
  manifests.map((m) => {
    const view = views[m.name];
    if (!view) throw new Error(`projections/${m.name}.json declares view "${m.name}", but no such view is built in (${Object.keys(views).join(", ")})`);
    return { manifest: m, view };
  });

/**
 * Starts one checkpointed fold per view: EVENTS → KV. Each view subscribes from its checkpoint;
 * a redelivered event is skipped per row; an event a view cannot decode is logged and skipped;
 * a lost server or a failed write restarts the fold from the last applied position.
 */
export const startProjections = async (deps: ProjectionsDeps): Promise<Projections> => {
  const manifests = deps.manifests ?? (await loadManifests());
  const pairs = resolveViews(manifests, deps.views ?? allViews);
  const store = readerStore(deps.nc, deps.log);
  const replicas = deps.replicas ?? 1;
  const cpKv = await openBucket(deps.nc, Buckets.Checkpoints, 1, replicas);
  const ptrKv = await openBucket(deps.nc, Buckets.Projections, 1, replicas);
  const every = deps.checkpointEvery ?? 500;
  let stopped = false;
  const runs = await Promise.all(
    pairs.map(async ({ manifest: m, view }) => {
      const log = deps.log.child({ projection: m.name, bucket: m.bucket });
      const kv = await openBucket(deps.nc, m.bucket, m.history ?? 1, replicas);
      const writer = rowWriter(kv, view, log);
      const st = { position: (await readCheckpoint(deps.nc, m.bucket)) ?? 0, saved: 0, caughtUp: false };
      st.saved = st.position;
      let sub: ReturnType<EventStore<AnyEvent>["subscribeToAll"]> | undefined;
      // While the loop waits for the next event, every commit the subscription has read (even
      // those this view filters out) is done: the checkpoint may move up to it.
      let busy = false;
      let markCaughtUp!: () => void;
      const caughtUp = new Promise<void>((r) => (markCaughtUp = r));

      const save = async () => {
        if (st.position === st.saved) return;
        const p = st.position;
        await writeCheckpoint(cpKv, m.bucket, p);
        st.saved = Math.max(st.saved, p);
      };
      const switchPointer = async () => {
        const cur = await readPointer(deps.nc, m.name);
        if (cur && (cur.bucket === m.bucket || cur.version > m.version)) return;
        const p: ViewPointer = { view: m.name, version: m.version, bucket: m.bucket, switchedAt: new Date().toISOString(), previousBucket: cur?.bucket ?? null };
        await ptrKv.put(m.name, JSON.stringify(p));
        log.info({ previous: p.previousBucket }, "view switched to its new bucket");
      };
      const onCaughtUp = async () => {
        await save();
        await switchPointer();
        st.caughtUp = true;
        markCaughtUp();
      };

      const loop = async () => {
        while (!stopped) {
          try {
            sub = store.subscribeToAll({ fromPosition: st.position > 0 ? BigInt(st.position) : "start", filter: m.filter });
            const s = sub;
            // `caughtUp` resolves (with the last stored position) once the loop asked for the event
            // after it: every commit up to there has been applied.
            void s.caughtUp
              .then((p) => {
                st.position = Math.max(st.position, Number(p));
                return st.caughtUp || stopped ? undefined : onCaughtUp();
              })
              .catch((err) => log.warn({ err }, "caught-up bookkeeping failed"));
            let n = 0;
            let inCommit = st.position;
            const toView = indexer();
            for await (const r of s) {
              if (stopped) break;
              busy = true;
              const e = toView(r);
              // A commit is done when the next one starts: only then may the checkpoint pass it.
              if (e.position !== inCommit) st.position = Math.max(st.position, inCommit);
              inCommit = e.position;
              const d = decodeFor(view, e);
              if (d._tag === "Invalid") log.warn({ position: e.position, type: e.type, stream: e.streamName, errors: d.errors }, "undecodable event skipped");
              else if (d._tag === "Decoded") {
                try {
                  await writer.apply(d.event);
                } catch (err) {
                  // Retrying cannot help a bug: skip the event (verify will show the drift).
                  if (!(err instanceof ViewBugError)) throw err;
                  log.error({ err: err.cause, position: e.position, type: e.type, stream: e.streamName }, "view failed on an event; skipped");
                }
              }
              if (++n % every === 0) await save();
              busy = false;
            }
            if (!stopped) throw new Error("the event subscription ended");
          } catch (err) {
            busy = false;
            await sub?.unsubscribe().catch(() => undefined);
            // The broken subscription's last position may be a commit whose write just failed:
            // the checkpoint timer must not move past it while we wait to resume.
            sub = undefined;
            if (stopped) break;
            log.warn({ err, position: st.position }, "projection fold interrupted; resuming from the last applied position");
            writer.clear();
            await sleep(1000);
          }
        }
      };
      const timer = setInterval(() => {
        if (!busy && sub) st.position = Math.max(st.position, Number(sub.lastPosition()));
        void save().catch((err) => log.warn({ err }, "checkpoint write failed"));
      }, 1000);
      const done = loop();
      return {
        m,
        st,
        caughtUp,
        stop: async () => {
          clearInterval(timer);
          await sub?.unsubscribe();
          await done;
          await save().catch((err) => log.warn({ err }, "final checkpoint write failed"));
        },
      };
    }),
  );
  return {
    caughtUp: Promise.all(runs.map((r) => r.caughtUp)).then(() => undefined),
    status: () => runs.map((r) => ({ view: r.m.name, version: r.m.version, bucket: r.m.bucket, position: r.st.position, caughtUp: r.st.caughtUp })),
    stop: async () => {
      stopped = true;
      await Promise.all(runs.map((r) => r.stop()));
    },
  };
};

// ---- replay, verify, rebuild -----------------------------------------------------------------

export type Progress = { readonly view: string; readonly phase: "fold" | "write"; readonly done: number; readonly total: number };

/** Folds the whole log (up to its head when called) in memory for one view. */
export const foldLog = async (
  store: EventStore<AnyEvent>,
  m: ViewManifest,
  view: AnyView,
  opts: { onProgress?: (p: Progress) => void; onInvalid?: (e: ViewEvent, errors: string[]) => void } = {},
): Promise<{ rows: Rows; head: number }> => {
  const head = Number(await store.headPosition());
  const rows: Rows = new Map();
  let last = 0;
  const toView = indexer();
  for await (const r of store.readAll({ filter: m.filter })) {
    const e = toView(r);
    if (e.position > head) break;
    const errors = applyEvent(view, rows, e);
    if (errors) opts.onInvalid?.(e, errors);
    if (e.position !== last) {
      last = e.position;
      opts.onProgress?.({ view: m.name, phase: "fold", done: e.position, total: head });
    }
  }
  opts.onProgress?.({ view: m.name, phase: "fold", done: head, total: head });
  return { rows, head };
};

/**
 * Every row of a bucket, parsed (a value that is not JSON is kept as its text): one ordered
 * consumer over the last value per key, not a request per key.
 */
export const readBucket = async (kv: KV): Promise<Map<string, unknown>> => {
  const out = new Map<string, unknown>();
  if ((await kv.status()).values === 0) return out;
  const w = await kv.watch({ include: KvWatchInclude.LastValue });
  try {
    for await (const e of w) {
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

export type ViewReport = {
  readonly view: string;
  readonly bucket: string;
  readonly head: number;
  readonly rows: number;
  readonly differences: RowDiff[];
  /** Rows already past the folded head (the live runner moved on meanwhile): not compared. */
  readonly ahead: string[];
  /** The bucket's checkpoint, when it is still below `head`: differences may be lag, not drift. */
  readonly behindAt: number | null;
};

type ReplayOpts = {
  readonly log: Logger;
  readonly manifests?: readonly ViewManifest[];
  readonly views?: Readonly<Record<string, AnyView>>;
  /** Only these views (default all). */
  readonly only?: readonly string[];
  readonly onProgress?: (p: Progress) => void;
};

/** A view name that no manifest declares (a usage error in the CLI). */
export class UnknownViewError extends Error {
  override name = "UnknownViewError";
}

const select = async (o: ReplayOpts) => {
  const pairs = resolveViews(o.manifests ?? (await loadManifests()), o.views ?? allViews);
  if (o.only?.length) {
    const unknown = o.only.filter((n) => !pairs.some((p) => p.manifest.name === n));
    if (unknown.length) throw new UnknownViewError(`unknown view ${unknown.join(", ")}: the views are ${pairs.map((p) => p.manifest.name).join(", ")}`);
    return pairs.filter((p) => o.only!.includes(p.manifest.name));
  }
  return pairs;
};

const lastPositionOf = (v: unknown) => {
  const p = typeof v === "object" && v !== null ? (v as { lastPosition?: unknown }).lastPosition : undefined;
  return typeof p === "number" ? p : 0;
};

/**
 * Folds the whole log from scratch in memory and diffs it with each view's bucket (the bucket
 * of the manifest's version). Rows the live runner already moved past the folded head are
 * listed as `ahead`, not as differences.
 */
export const verifyProjections = async (nc: NatsConnection, o: ReplayOpts): Promise<ViewReport[]> => {
  const store = readerStore(nc, o.log);
  const out: ViewReport[] = [];
  for (const { manifest: m, view } of await select(o)) {
    const { rows, head } = await foldLog(store, m, view, o.onProgress ? { onProgress: o.onProgress } : {});
    // Give a live runner a moment to reach the head we folded to before comparing.
    // (Only while the checkpoint moves: with no core running, there is nothing to wait for.)
    let cp = (await readCheckpoint(nc, m.bucket)) ?? 0;
    for (let i = 0; i < 5 && cp < head; i++) {
      await sleep(1200);
      const next = (await readCheckpoint(nc, m.bucket)) ?? 0;
      if (next === cp) break;
      cp = next;
    }
    const actual = await readBucket(await openBucket(nc, m.bucket, m.history ?? 1));
    const ahead = [...actual].filter(([, v]) => lastPositionOf(v) > head).map(([k]) => k);
    for (const k of ahead) {
      actual.delete(k);
      rows.delete(k);
    }
    out.push({ view: m.name, bucket: m.bucket, head, rows: rows.size, differences: diffRows(rows, actual), ahead, behindAt: cp < head ? cp : null });
  }
  return out;
};

/**
 * Rebuilds views from the log: folds it from scratch in memory, then makes each bucket hold
 * exactly those rows (compare-and-set row by row, so a live runner can keep going meanwhile),
 * and moves the checkpoint to the folded head. Returns what it changed.
 */
/** Row writes a rebuild keeps in flight. */
const REBUILD_WRITES_IN_FLIGHT = 256;

export const rebuildProjections = async (nc: NatsConnection, o: ReplayOpts): Promise<{ view: string; bucket: string; head: number; rows: number; changed: number }[]> => {
  const store = readerStore(nc, o.log);
  const out = [];
  for (const { manifest: m, view } of await select(o)) {
    const log = o.log.child({ projection: m.name });
    const { rows, head } = await foldLog(store, m, view, {
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      onInvalid: (e, errors) => log.warn({ position: e.position, type: e.type, errors }, "undecodable event skipped"),
    });
    const kv = await openBucket(nc, m.bucket, m.history ?? 1);
    const actual = await readBucket(kv);
    const diffs = diffRows(rows, actual);
    const writer = rowWriter(kv, view, log);
    let done = 0;
    // Each differing row is its own key: the writes are independent, so keep many in flight
    // instead of paying one round trip per row (the write phase dominated a rebuild).
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(REBUILD_WRITES_IN_FLIGHT, diffs.length) }, async () => {
        while (next < diffs.length) {
          const d = diffs[next++]!;
          await writer.reconcile(d.key, rows.get(d.key), head);
          o.onProgress?.({ view: m.name, phase: "write", done: ++done, total: diffs.length });
        }
      }),
    );
    const cp = (await readCheckpoint(nc, m.bucket)) ?? 0;
    if (cp < head) await writeCheckpoint(await openBucket(nc, Buckets.Checkpoints), m.bucket, head);
    out.push({ view: m.name, bucket: m.bucket, head, rows: rows.size, changed: diffs.length });
  }
  return out;
};

/** A view's rows read from its live bucket, without index entries and runner fields. */
export const stripRow = (v: unknown): unknown =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? stripPosition(v as { lastPosition?: number; lastIndex?: number }) : v;
export { isIndexKey };
