import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { eventSubject } from "../contract/subjects.js";
import type { Commit } from "../events/envelope.js";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { RecordedEvent } from "./types.js";
import { InvalidStreamNameError, StoreUnavailableError, WrongExpectedVersionError } from "./types.js";
import type { Skipped, StreamState } from "./types.js";
import type { StoredMsg } from "@nats-io/jetstream";
import type * as t from "io-ts";

/* How the store names streams and marks commits (subjects.md, "The event log"). */

/** Header with the revision of the first event of a commit. */
export const REVISION_HEADER = "Ganglion-Revision";
/** Header with the number of events in a commit. */
export const COUNT_HEADER = "Ganglion-Count";
/** Header with the types of a commit's events, one value per distinct type, the first event's first (lets tools filter without parsing). */
export const TYPE_HEADER = "Ganglion-Type";

const STREAM_NAME = /^([a-z][a-z0-9_]*)-([A-Za-z0-9_][A-Za-z0-9_-]*)$/;

/** `plugin-foo` → `ev.plugin.foo`; anything that is not `<category>-<id>` is refused. */
export const streamNameToSubject = (name: string): string => {
  const m = STREAM_NAME.exec(name);
  if (!m || name.length > 200) throw new InvalidStreamNameError(name);
  return eventSubject(m[1]!, m[2]!);
};

/** `ev.plugin.foo` → `plugin-foo`. */
export const subjectToStreamName = (subject: string): string => {
  const [, category, ...rest] = subject.split(".");
  return `${category}-${rest.join(".")}`;
};

export type Head = { seq: number; lastRevision: bigint };

export const isWrongLastSequence = (err: unknown) => err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;

export const isNotFound = (err: unknown) =>
  err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.NoMessageFound || err.code === JetStreamApiCodes.StreamNotFound);

/** Any failure of a store operation that is not already typed is the store being out of reach. */
export const wrap = async <T>(f: () => Promise<T>): Promise<T> => {
  try {
    return await f();
  } catch (err) {
    throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(err);
  }
};

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u);

/**
 * The cheap check a trusting reader runs instead of the `Commit` codec: the envelope's fields of
 * the right kinds (what the store itself wrote after a full decode), not a walk of the data.
 */
export const trustedCommit = (u: unknown): u is Commit => {
  if (!isRecord(u) || !Array.isArray(u["events"]) || u["events"].length === 0) return false;
  for (const ev of u["events"] as unknown[]) {
    if (!isRecord(ev) || typeof ev["id"] !== "string" || typeof ev["type"] !== "string" || typeof ev["schemaVersion"] !== "number" || !("data" in ev))
      return false;
    const md = ev["metadata"];
    if (!isRecord(md) || typeof md["actor"] !== "string" || typeof md["time"] !== "string") return false;
  }
  return true;
};

/** The records of a commit `trustedCommit` accepted, as the store's readers hand them out. */
export const trustedRecords = <A extends { type: string; data: unknown }>(
  c: Commit,
  subject: string,
  seq: number,
  hdrs: MsgHdrs | undefined,
  time: Date,
): RecordedEvent<A>[] => {
  const first = BigInt(hdrs?.get(REVISION_HEADER) || "0");
  const streamName = subjectToStreamName(subject);
  const position = BigInt(seq);
  return c.events.map(
    (ev, i) =>
      ({
        type: ev.type,
        data: ev.data,
        id: ev.id,
        streamName,
        revision: first + BigInt(i),
        position,
        schemaVersion: ev.schemaVersion,
        metadata: ev.metadata,
        created: time,
      }) as RecordedEvent<A>,
  );
};

export type NatsEventStoreOptions<A extends { type: string; data: unknown }> = {
  /** The union of `{ type, data }` codecs this store accepts and decodes. */
  readonly codec: t.Type<A, unknown, unknown>;
  /** Schema version recorded per event type (default 1). */
  readonly schemaVersions?: Readonly<Record<string, number>>;
  /** Actor recorded when an append names none. */
  readonly defaultActor?: string;
  readonly clock?: () => Date;
  readonly newId?: () => string;
  /** Called for each stored message that cannot be decoded; readers skip it and carry on. */
  readonly onSkipped?: (s: Skipped) => void;
  readonly stream?: string;
  /** How many streams' last revisions to remember (saves a round trip per append). */
  readonly cacheSize?: number;
  /**
   * Trust the log on reads: a commit whose shape sniffs right (`trustedCommit`) is not decoded
   * again by the io-ts codecs. Only for readers of a log the core alone appends to, through this
   * store's full decode (the projections); appends are validated in full whatever this says.
   * A function trusts a commit only when every event passes it (a cheap check of its type and
   * data, for readers that use the decoded values as they are: the tasks runtime).
   */
  readonly trustLog?: boolean | ((e: { readonly type: string; readonly data: unknown }) => boolean);
};

export const headOf = (m: StoredMsg): Head => {
  const rev = BigInt(m.header?.get(REVISION_HEADER) || "0");
  const count = BigInt(m.header?.get(COUNT_HEADER) || "1");
  return { seq: m.seq, lastRevision: rev + count - 1n };
};

/** Throws the conflict when a stream at `head` is not in the state the caller expects. */
export const checkState = (name: string, state: StreamState, head: Head | undefined) => {
  const actual = head ? head.lastRevision : ("no_stream" as const);
  const ok =
    state === "any" ||
    (state === "no_stream" && !head) ||
    (state === "stream_exists" && !!head) ||
    (typeof state === "bigint" && !!head && head.lastRevision === state);
  if (!ok) throw new WrongExpectedVersionError(name, state, actual);
};
