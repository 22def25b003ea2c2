import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import { applied, canonical, stripPosition } from "../fold.js";
import type { StoredRow } from "../fold.js";
import { indexKey, isIndexKey } from "../view.js";
import type { AnyView, Decoded } from "../view.js";
import { readJson } from "./kv.js";

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
