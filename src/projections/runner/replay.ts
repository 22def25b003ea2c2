import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { Buckets } from "../../contract/subjects.js";
import type { EventStore, RecordedEvent } from "../../store/types.js";
import { applyEvent, diffRows } from "../fold.js";
import type { RowDiff, Rows } from "../fold.js";
import { loadManifests } from "../manifest.js";
import type { ViewManifest } from "../manifest.js";
import { isInternalKey, trustedDecodeFor } from "../view.js";
import type { AnyView, ViewEvent } from "../view.js";
import { allViews } from "../views.js";
import { openBucket, readCheckpoint, writeCheckpoint } from "./kv.js";
import { asRecorded, LEGACY, purgeLegacy, readViewBuckets, viewBuckets } from "./settings.js";
import { writeRows } from "./bulk.js";
import { rowWriter } from "./rows.js";
import { indexer, readerStore, resolveViews, sleep } from "./source.js";
import type { AnyEvent } from "./source.js";

/** Replay: the whole log folded in memory, to compare with the buckets (verify) or to repair them (rebuild). */

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
  const one = (r: RecordedEvent<AnyEvent>) => {
    const e = toView(r);
    const errors = applyEvent(view, rows, e, trustedDecodeFor);
    if (errors) opts.onInvalid?.(e, errors);
    if (e.position !== last) {
      last = e.position;
      opts.onProgress?.({ view: m.name, phase: "fold", done: e.position, total: head });
    }
  };
  if (store.scanAll) {
    // One callback per commit (no async iterator per event); the scan may pass `head`.
    await store.scanAll({ filter: m.filter }, (evs) => {
      for (const r of evs) if (Number(r.position) <= head) one(r);
    });
  } else {
    for await (const r of store.readAll({ filter: m.filter })) {
      if (Number(r.position) > head) break;
      one(r);
    }
  }
  opts.onProgress?.({ view: m.name, phase: "fold", done: head, total: head });
  return { rows, head };
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

const select = async (nc: NatsConnection, o: ReplayOpts) => {
  // Views fold with the settings the core recorded (the tasks view's retention), unless given.
  const pairs = o.views
    ? resolveViews(o.manifests ?? (await loadManifests()), o.views)
    : await asRecorded(nc, resolveViews(o.manifests ?? (await loadManifests()), allViews));
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
  for (const { manifest: m, view } of await select(nc, o)) {
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
    // Rows and internal entries (`legacy:<key>`: an internal key left in the operator bucket).
    const actual = await readViewBuckets(await viewBuckets(nc, m, view));
    const ahead = [...actual].filter(([, v]) => lastPositionOf(v) > head).map(([k]) => k);
    // The view's `after` step (retention) already ran past the head: the rows and entries it
    // removed meanwhile are missing for that reason, not drift.
    if (view.after && ahead.includes(view.after.guard)) ahead.push(...[...rows.keys()].filter((k) => !actual.has(k)));
    for (const k of ahead) {
      actual.delete(k);
      rows.delete(k);
    }
    out.push({ view: m.name, bucket: m.bucket, head, rows: rows.size, differences: diffRows(rows, actual), ahead, behindAt: cp < head ? cp : null });
  }
  return out;
};

/** Row writes a rebuild keeps in flight. */
const REBUILD_WRITES_IN_FLIGHT = 1024;

/**
 * Rebuilds views from the log: folds it from scratch in memory, then makes each bucket hold
 * exactly those rows (compare-and-set row by row, so a live runner can keep going meanwhile),
 * and moves the checkpoint to the folded head. Returns what it changed.
 */
export const rebuildProjections = async (
  nc: NatsConnection,
  o: ReplayOpts,
): Promise<{ view: string; bucket: string; head: number; rows: number; changed: number }[]> => {
  const store = readerStore(nc, o.log);
  const out = [];
  for (const { manifest: m, view } of await select(nc, o)) {
    const log = o.log.child({ projection: m.name });
    const { rows, head } = await foldLog(store, m, view, {
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      onInvalid: (e, errors) => log.warn({ position: e.position, type: e.type, errors }, "undecodable event skipped"),
    });
    const b = await viewBuckets(nc, m, view);
    const revisions = new Map<string, number>();
    const actual = await readViewBuckets(b, revisions);
    // Internal keys an older version left in the operator bucket go first (OPS follows the purges).
    const legacy = [...actual.keys()].filter((k) => k.startsWith(LEGACY));
    await purgeLegacy(b.rows, legacy);
    for (const k of legacy) actual.delete(k);
    const diffs = diffRows(rows, actual);
    // The bucket was just read whole: each write goes without a read of its own, as a
    // compare-and-set publish against the revision read; a row changed since (a live runner),
    // an internal entry (it lives in the internal bucket) or a deletion goes through the row
    // writer's read-and-retry.
    const writer = rowWriter(b.rows, view, log, Math.max(20_000, diffs.length), { kv: b.internal, ...(b.drop ? { drop: b.drop } : {}) });
    const todo = diffs.map((d) => {
      const cur = actual.get(d.key);
      const past =
        typeof cur === "object" &&
        cur !== null &&
        typeof (cur as { lastPosition?: unknown }).lastPosition === "number" &&
        (cur as { lastPosition: number }).lastPosition > head;
      return { key: d.key, want: rows.get(d.key), revision: revisions.get(d.key) ?? 0, skip: past || isInternalKey(d.key) };
    });
    let done = 0;
    await writeRows(
      nc,
      b.rows,
      todo,
      async (key, want) => {
        writer.prime(key, actual.get(key), revisions.get(key) ?? 0);
        await writer.reconcile(key, want, head);
      },
      REBUILD_WRITES_IN_FLIGHT,
      () => o.onProgress?.({ view: m.name, phase: "write", done: ++done, total: diffs.length }),
    );
    const cp = (await readCheckpoint(nc, m.bucket)) ?? 0;
    if (cp < head) await writeCheckpoint(await openBucket(nc, Buckets.Checkpoints), m.bucket, head);
    out.push({ view: m.name, bucket: m.bucket, head, rows: rows.size, changed: diffs.length + legacy.length });
  }
  return out;
};
