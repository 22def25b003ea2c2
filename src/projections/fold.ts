import { decodeFor, indexKey } from "./view.js";
import type { AfterOp, AnyView, Decoded, ViewDecoder, ViewEvent } from "./view.js";

/**
 * A row as the runner stores it: the view's row plus where the last event applied to it sits in
 * the log (`lastPosition`, and `lastIndex` within that commit).
 */
export type StoredRow<Row = unknown> = Row & { readonly lastPosition: number; readonly lastIndex: number };

/** Was event `e` already applied to a row stored at `r`? */
export const applied = (r: { lastPosition: number; lastIndex: number }, e: { position: number; index: number }) =>
  r.lastPosition > e.position || (r.lastPosition === e.position && r.lastIndex >= e.index);

/** Rows of one view, by key, as the log says they are. */
export type Rows = Map<string, StoredRow<Record<string, unknown>>>;

/**
 * Folds one event into in-memory rows, with the runner's rules: an event at or below a row's
 * `lastPosition` changes nothing (redelivery), `null` from evolve deletes the row. Returns the
 * decode errors of an event the view should fold but cannot read (the caller logs them).
 */
export const applyEvent = (view: AnyView, rows: Rows, raw: ViewEvent, decode: ViewDecoder = decodeFor): string[] | undefined => {
  const d = decode(view, raw);
  if (d._tag === "Invalid") return d.errors;
  if (d._tag === "Ignored") return undefined;
  const e = d.event;
  const ik = view.index?.key(e);
  const irow = ik === undefined ? undefined : rows.get(indexKey(ik));
  const indexed = irow && typeof irow["value"] === "string" ? irow["value"] : undefined;
  const settled = view.after ? rows.get(view.after.guard) : undefined;
  for (const key of view.keys(e, indexed)) {
    const cur = rows.get(key);
    if (cur && applied(cur, e)) continue;
    // Past the `after` step's guard, an absent row was removed by it (`View.after`): not made again.
    if (!cur && settled && applied(settled, e)) continue;
    // The row goes to evolve with its position fields (views copy rows with a spread, and the
    // fields are set again below): stripping them copied every row once more per event.
    const next = view.evolve(key, cur ?? null, e, indexed) as Record<string, unknown> | null;
    if (next === null) rows.delete(key);
    else rows.set(key, Object.assign(next === cur ? { ...next } : next, { lastPosition: e.position, lastIndex: e.index }));
  }
  if (ik !== undefined && !(irow && applied(irow, e))) {
    const value = view.index!.next(e, indexed);
    if (value === null) rows.delete(indexKey(ik));
    else if (value !== undefined && value !== indexed) rows.set(indexKey(ik), { value, lastPosition: e.position, lastIndex: e.index });
  }
  if (view.after)
    runAfter(
      view,
      e,
      (k) => rows.get(k) ?? null,
      (k, r) => (r === null ? rows.delete(k) : rows.set(k, r)),
    );
  return undefined;
};

/**
 * Runs a view's `after` step for one event (see `View.after`) over rows read and written
 * through `get`/`set`; skipped when its guard entry already holds the event. Synchronous: the
 * live runner, whose reads are not, drives the same generator itself (`runner/rows.ts`).
 */
export const runAfter = (
  view: AnyView,
  e: Decoded<{ type: string; data: unknown }>,
  get: (key: string) => Record<string, unknown> | null,
  set: (key: string, row: StoredRow<Record<string, unknown>> | null) => void,
) => {
  const guard = get(view.after!.guard) as StoredRow<Record<string, unknown>> | null;
  if (guard && applied(guard, e)) return;
  const g = view.after!.run(e);
  let r = g.next();
  while (!r.done) {
    const op: AfterOp = r.value;
    if ("read" in op) r = g.next(get(op.read));
    else {
      set(op.write, op.row === null ? null : { ...op.row, lastPosition: e.position, lastIndex: e.index });
      r = g.next();
    }
  }
};

/** Folds a whole log from nothing: what `projections verify` compares the buckets with. */
export const foldAll = (view: AnyView, events: Iterable<ViewEvent>): Rows => {
  const rows: Rows = new Map();
  for (const e of events) applyEvent(view, rows, e);
  return rows;
};

export const stripPosition = <R extends { lastPosition?: number; lastIndex?: number }>(r: R): Omit<R, "lastPosition" | "lastIndex"> => {
  const { lastPosition: _p, lastIndex: _i, ...rest } = r;
  return rest;
};

/** Canonical JSON (sorted keys): two rows are equal when their canonical forms are. */
export const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) =>
    x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );

export type RowDiff =
  | { readonly kind: "missing"; readonly key: string; readonly expected: unknown }
  | { readonly kind: "unexpected"; readonly key: string; readonly actual: unknown }
  | { readonly kind: "different"; readonly key: string; readonly expected: unknown; readonly actual: unknown };

/** Differences between the rows the log gives (`expected`) and the rows a bucket holds. */
export const diffRows = (expected: ReadonlyMap<string, unknown>, actual: ReadonlyMap<string, unknown>): RowDiff[] => {
  const out: RowDiff[] = [];
  for (const [key, e] of expected) {
    if (!actual.has(key)) out.push({ kind: "missing", key, expected: e });
    // Same text is the same row; only rows whose text differs pay for sorting their keys.
    else if (JSON.stringify(e) !== JSON.stringify(actual.get(key)) && canonical(e) !== canonical(actual.get(key)))
      out.push({ kind: "different", key, expected: e, actual: actual.get(key) });
  }
  for (const [key, a] of actual) if (!expected.has(key)) out.push({ kind: "unexpected", key, actual: a });
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
};
