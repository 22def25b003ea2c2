import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { eventSubject } from "../contract/subjects.js";
import { InvalidStreamNameError, StoreUnavailableError } from "./types.js";

/* How the store names streams and marks commits (subjects.md, "The event log"). */

/** Header with the revision of the first event of a commit. */
export const REVISION_HEADER = "Ganglion-Revision";
/** Header with the number of events in a commit. */
export const COUNT_HEADER = "Ganglion-Count";
/** Header with the type of the first event of a commit (lets tools filter without parsing). */
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
