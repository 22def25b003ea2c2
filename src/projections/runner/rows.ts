import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import { applied, canonical, stripPosition } from "../fold.js";
import type { StoredRow } from "../fold.js";
import { indexKey, isInternalKey, writeOrder } from "../view.js";
import type { AfterOp, AnyView, Decoded } from "../view.js";
import { readJson } from "./kv.js";
import type { RowKv } from "./bulk.js";

const Positioned = t.type({ lastPosition: t.number, lastIndex: t.number });
const IndexRow = t.intersection([t.type({ value: t.string }), Positioned]);

const isCasConflict = (err: unknown) => err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;

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

/** Row writes a flush keeps in flight (a large batch must not flood the server the tasks also use). */
const WRITES_IN_FLIGHT = 64;

/** A batch lost a compare-and-set: fold the batch again over fresh rows (`writer.stage`, `writer.flush`). */
export class RowConflictError extends Error {
  override name = "RowConflictError";
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
export const rowWriter = (
  rowsKv: RowKv,
  view: AnyView,
  log: Logger,
  cacheSize = 20_000,
  internal: { kv: RowKv; drop?: (key: string) => Promise<void> } = { kv: rowsKv },
) => {
  // Internal keys (index entries, retention) live in the view's internal bucket, not copied to OPS.
  const kvOf = (key: string) => (isInternalKey(key) ? internal.kv : rowsKv);
  /** Deletes a key: an internal one without a marker left behind (`settings.ts` `viewBuckets`). */
  const remove = async (key: string, revision: number) => {
    if (isInternalKey(key) && internal.drop) await internal.drop(key);
    else await kvOf(key).delete(key, { previousSeq: revision });
  };
  const cache = new Map<string, Cached>();
  const rowCodec = t.intersection([view.row, Positioned]);

  const load = async (key: string): Promise<Cached> => {
    const e = await kvOf(key).get(key);
    if (!e || e.operation !== "PUT") return { row: null, revision: e?.revision ?? 0, exists: false };
    const d = readJson(key.startsWith("_idx.") ? (IndexRow as t.Mixed) : isInternalKey(key) ? Positioned : rowCodec, e.value);
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
          await remove(key, cur.revision);
          cache.delete(key);
        } else {
          const payload = JSON.stringify(next);
          const kv = kvOf(key);
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

  // The batch being folded: each touched key's row after the batch so far (null: deleted).
  const staged = new Map<string, StoredRow<Record<string, unknown>> | null>();
  const current = async (key: string) => (staged.has(key) ? staged.get(key)! : (await get(key)).row);

  /**
   * Folds one event into the batch in memory (events at or below a row's position are skipped; the index entry is read before and set after the rows): a key touched by many
   * events of a batch is written once, by `flush`.
   */
  const stage = async (e: Decoded<{ type: string; data: unknown }>) => {
    const ik = pure(() => view.index?.key(e));
    const ikey = ik === undefined ? undefined : indexKey(ik);
    const irow = ikey === undefined ? null : await current(ikey);
    const v = irow?.["value"];
    const indexed = typeof v === "string" ? v : undefined;
    const settled = view.after ? await current(view.after.guard) : null;
    for (const key of pure(() => view.keys(e, indexed))) {
      const cur = await current(key);
      if (cur && applied(cur, e)) continue;
      // Past the `after` step's guard, an absent row was removed by it (`View.after`): not made again.
      if (!cur && settled && applied(settled, e)) continue;
      const next = pure(() => view.evolve(key, cur ? stripPosition(cur) : null, e, indexed));
      if (next !== null) staged.set(key, { ...next, lastPosition: e.position, lastIndex: e.index });
      else if (cur) staged.set(key, null);
    }
    if (ikey !== undefined && !(irow && applied(irow, e))) {
      const value = pure(() => view.index!.next(e, indexed));
      if (value === null) staged.set(ikey, null);
      else if (value !== undefined && value !== indexed) staged.set(ikey, { value, lastPosition: e.position, lastIndex: e.index });
    }
    if (view.after) await after(e);
  };

  /** The view's `after` step (`View.after`, `fold.ts` `runAfter`), its reads awaited. */
  const after = async (e: Decoded<{ type: string; data: unknown }>) => {
    const guard = await current(view.after!.guard);
    if (guard && applied(guard, e)) return;
    const g = pure(() => view.after!.run(e));
    let r = pure(() => g.next());
    while (!r.done) {
      const op: AfterOp = r.value;
      if ("read" in op) {
        const row = await current(op.read);
        r = pure(() => g.next(row));
      } else {
        staged.set(op.write, op.row === null ? null : { ...op.row, lastPosition: e.position, lastIndex: e.index });
        r = pure(() => g.next());
      }
    }
  };

  const write = async (key: string, next: StoredRow<Record<string, unknown>> | null) => {
    const base = await get(key);
    try {
      if (next === null) {
        if (!base.exists) return;
        await remove(key, base.revision);
        cache.delete(key);
      } else {
        const payload = JSON.stringify(next);
        const kv = kvOf(key);
        const revision = base.exists ? await kv.update(key, payload, base.revision) : await kv.create(key, payload);
        remember(key, { row: next, revision, exists: true });
      }
    } catch (err) {
      cache.delete(key);
      throw err;
    }
  };

  /**
   * Writes the batch: each touched row once (compare-and-set, all in flight together), then the
   * internal entries, then the `after` step's guard (`writeOrder`; a crash in between replays
   * the batch, whose rows are then skipped). A lost
   * compare-and-set throws `RowConflictError` after the other writes settled: stage the batch
   * again (what was written is skipped by position) and flush again.
   */
  const flush = async () => {
    const batch = [...staged];
    staged.clear();
    for (const pass of [0, 1, 2]) {
      const todo = batch.filter(([k]) => writeOrder(view, k) === pass);
      const failed: unknown[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(WRITES_IN_FLIGHT, todo.length) }, async () => {
          while (next < todo.length) {
            const [k, row] = todo[next++]!;
            await write(k, row).catch((err: unknown) => void failed.push(err));
          }
        }),
      );
      if (failed.length === 0) continue;
      throw failed.every(isCasConflict) ? new RowConflictError(`${failed.length} row(s) changed under the fold`) : failed[0];
    }
  };

  /** Makes the bucket hold exactly `want` for `key`, unless the row is already past `head`. */
  const reconcile = async (key: string, want: StoredRow<Record<string, unknown>> | undefined, head: number) =>
    upsert(key, (cur) => {
      if (cur && cur.lastPosition > head) return NoChange;
      if (!want) return null;
      return cur && canonical(cur) === canonical(want) ? NoChange : want;
    });

  /**
   * What a whole-bucket read just saw of `key` (`value` undefined: no value, at `revision`), so
   * the write after it needs no read of its own; a stale guess is caught by the compare-and-set.
   */
  const prime = (key: string, value: unknown, revision: number) => {
    const row = typeof value === "object" && value !== null && !Array.isArray(value) ? (value as StoredRow<Record<string, unknown>>) : null;
    remember(key, { row, revision, exists: value !== undefined });
  };

  return {
    stage,
    flush,
    reconcile,
    prime,
    clear: () => {
      cache.clear();
      staged.clear();
    },
  };
};
