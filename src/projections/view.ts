import * as t from "io-ts";
import { literalTypeOf } from "../events/dispatch.js";
import { failure } from "io-ts/lib/PathReporter.js";
import type { EventMetadata } from "../events/envelope.js";
import { eventDataSniff } from "./sniff.js";
import type { Sniff } from "./sniff.js";

/**
 * What a view sees of one recorded event. The runner hands views this shape whatever the
 * event store's own record looks like, so views stay pure and testable without a server.
 */
export type ViewEvent = {
  readonly type: string;
  readonly data: unknown;
  /** `<category>-<id>` (e.g. `plugin-echo`, `task-01J…`). */
  readonly streamName: string;
  /** Position of the commit in the EVENTS stream: the checkpoint unit. */
  readonly position: number;
  /** Index of the event within its commit (events of one commit share a position). */
  readonly index: number;
  readonly metadata: EventMetadata;
  /** Time the server stored the commit (ISO-8601). */
  readonly created: string;
};

/** A decoded event of type `Ev` (`{ type, data }` of a family codec) with its place in the log. */
export type Decoded<Ev extends { type: string; data: unknown }> = Ev & Omit<ViewEvent, "type" | "data">;

/** Codecs of the events a view folds, by event type: any other type is not the view's business. */
export type EventCodecs = Readonly<Record<string, t.Mixed>>;

/** The `type` literal of an event codec declared as `t.type({ type: t.literal(...), data })`. */
export const codecsByType = (codecs: readonly t.Mixed[]): EventCodecs => {
  const out: Record<string, t.Mixed> = {};
  for (const c of codecs) {
    const lit = literalTypeOf(c);
    if (lit === undefined) throw new Error(`codec ${c.name} has no literal \`type\` field`);
    out[lit] = c;
  }
  return out;
};

/**
 * A view is pure: given the current row an event touches, it returns the new row.
 *
 * - `events` lists the codecs of the events the view folds; the runner decodes each event with
 *   the codec of its type (an event that fails is logged and skipped, other types are ignored).
 * - `keys(e)` names the rows an event touches. Keys are KV keys (see `kvKey`).
 * - `evolve(key, row, e)` folds the event into one row; `null` in means "no row yet", `null`
 *   out means "delete the row". It must be deterministic: replaying the log gives the same rows,
 *   so times come from the event (`metadata.time`), never from a clock.
 * - `row` is the codec of a stored row (without the runner's `lastPosition` field).
 */
export type View<Row, Ev extends { type: string; data: unknown } = { type: string; data: unknown }> = {
  readonly name: string;
  readonly row: t.Type<Row, unknown, unknown>;
  readonly events: EventCodecs;
  readonly keys: (e: Decoded<Ev>, indexed: string | undefined) => readonly string[];
  readonly evolve: (key: string, row: Row | null, e: Decoded<Ev>, indexed: string | undefined) => Row | null;
  /**
   * For views that need a fact later events do not carry: the workers view keys by plugin, but
   * `task.started` names only the task; the totals view needs a task's previous status. `key(e)`
   * names the index entry an event reads (a KV key: build it with `kvKey`) (its value, or undefined, is passed to `keys` and
   * `evolve` as `indexed`), `next(e, indexed)` its value after the event (undefined: unchanged;
   * null: the entry is deleted, for a fact no later event needs).
   * Index entries are internal keys `_idx.<key>`, written after the event's rows: they are part
   * of the fold, so replay and verify cover them too, but they live in the view's internal bucket
   * (`internalBucket`), never in the operator-facing one.
   */
  readonly index?: {
    readonly key: (e: Decoded<Ev>) => string | undefined;
    readonly next: (e: Decoded<Ev>, indexed: string | undefined) => string | null | undefined;
  };
  /**
   * A step after each event's rows (retention): `run(e)` is a generator that yields `{ read }`
   * to get a row or internal entry (with its position fields; null when absent) and `{ write,
   * row }` to set one (null deletes). Its writes may touch any key, internal keys included. It
   * is skipped for an event already applied to the `guard` entry (an internal key the step
   * writes last, whenever it changed anything): a replayed batch redoes only what was lost. For
   * the same reason a row that is absent when the guard already holds the event is not created
   * from it (the step removed it later; a replay from an older checkpoint must not bring it back:
   * rows are written before the guard, so every row up to the guard's position was written).
   */
  readonly after?: {
    readonly guard: string;
    readonly run: (e: Decoded<Ev>) => Generator<AfterOp, void, Record<string, unknown> | null>;
  };
  /**
   * Parameters the fold depends on (the tasks view's retention rule). The core records them in
   * the view's internal bucket (key `settings`), and `projections verify`/`rebuild` fold with
   * what is recorded; `with(raw)` is the view with recorded settings (undefined: unreadable).
   * Starting with other settings rebuilds the view (`runner/settings.ts`).
   */
  readonly settings?: { readonly value: unknown; readonly with: (raw: unknown) => AnyView | undefined };
};

/** What a view's `after` step asks of the runner. */
export type AfterOp = { readonly read: string } | { readonly write: string; readonly row: Record<string, unknown> | null };

/** Bucket key of an index entry (see `View.index`). */
export const indexKey = (key: string) => `_idx.${key}`;
/**
 * Internal keys (`_` first, e.g. `_idx.`, `_ret.`): the fold's bookkeeping, kept in the view's
 * internal bucket (`internalBucket`), which is not copied to OPS. View rows never start with `_`
 * (`kvKey` escapes nothing into it, and view keys are ids or fixed names).
 */
export const isInternalKey = (key: string) => key.startsWith("_");
/** @deprecated name: every internal key, not only index entries. */
export const isIndexKey = isInternalKey;

/**
 * The order a batch's writes go in: rows, then internal entries, then a step's guard entry. A
 * crash in between replays the batch; what was written is skipped by position.
 */
export const writeOrder = (view: AnyView, key: string): number => (!isInternalKey(key) ? 0 : key === view.after?.guard ? 2 : 1);

// Views are heterogeneous: the runner only moves rows and events between them and KV.
export type AnyView = View<any, any>;

export type DecodeOutcome =
  | { readonly _tag: "Ignored" }
  | { readonly _tag: "Invalid"; readonly errors: string[] }
  | { readonly _tag: "Decoded"; readonly event: Decoded<{ type: string; data: unknown }> };

/** Decodes a log event for a view with the codec of its type. */
export const decodeFor = (view: AnyView, e: ViewEvent): DecodeOutcome => {
  const codec = view.events[e.type];
  if (!codec) return { _tag: "Ignored" };
  const d = codec.decode({ type: e.type, data: e.data });
  if (d._tag === "Left") return { _tag: "Invalid", errors: failure(d.left) };
  return { _tag: "Decoded", event: { ...e, ...(d.right as { type: string; data: unknown }) } };
};

const sniffs = new WeakMap<AnyView, ReadonlyMap<string, Sniff>>();
const sniffsOf = (view: AnyView): ReadonlyMap<string, Sniff> => {
  let m = sniffs.get(view);
  if (!m) {
    m = new Map(Object.entries(view.events).map(([type, c]) => [type, eventDataSniff(c)]));
    sniffs.set(view, m);
  }
  return m;
};

/**
 * Decodes an event read back from the log ("trust the log"): only the core appends to EVENTS and
 * the store decoded every event with its full codec before storing it, so a known type tag and a
 * data object of the right shape (`sniff.ts`: required fields present, primitives of their kind)
 * stand for a decode. An event that fails the sniff gets the full decode, and its errors.
 */
export const trustedDecodeFor = (view: AnyView, e: ViewEvent): DecodeOutcome => {
  const sniff = sniffsOf(view).get(e.type);
  if (!sniff) return { _tag: "Ignored" };
  return sniff(e.data) ? { _tag: "Decoded", event: e } : decodeFor(view, e);
};

/**
 * The event store's `trustLog` check for a reader that uses events as decoded (the tasks
 * runtime): an event of one of `codecs` whose data sniffs right is taken as decoded. Only for
 * codecs whose decode gives back what their encode wrote (plain JSON types: no defaults, no
 * parsed durations); any other event gets the full decode.
 */
export const trustedEventsOf = (codecs: readonly t.Mixed[]) => {
  const m = new Map(Object.entries(codecsByType(codecs)).map(([type, c]) => [type, eventDataSniff(c)]));
  return (e: { readonly type: string; readonly data: unknown }) => m.get(e.type)?.(e.data) ?? false;
};

/** How a reader turns a log event into a view's event: `decodeFor` (full) or `trustedDecodeFor`. */
export type ViewDecoder = (view: AnyView, e: ViewEvent) => DecodeOutcome;

/** KV keys accept `[-/_=.a-zA-Z0-9]+`; anything else in an id is escaped so a key is always valid. */
export const kvKey = (...parts: string[]): string =>
  parts
    .map((p) => p.replace(/[^-/_=a-zA-Z0-9]/g, (c) => `=${c.charCodeAt(0).toString(16).padStart(2, "0")}`))
    .join(".")
    // A leading `_` marks an internal key (`isInternalKey`): a row's key never starts with one.
    .replace(/^_/, "=5f");

/** Sorted, de-duplicated: rows must be deterministic for `projections verify`. */
export const sortedSet = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();
