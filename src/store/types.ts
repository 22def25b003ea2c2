import type { EventMetadata } from "../events/envelope.js";

/**
 * A KurrentDB-shaped event store (names from `@kurrent/kurrentdb-client` v1). The JetStream
 * implementation is `natsEventStore`; `test/store/contract.ts` is the suite any backend must pass.
 *
 * Revisions count events within a stream from 0; positions are JetStream stream sequences of
 * commits in the EVENTS stream (gap-free, monotonic: a natural checkpoint). Events appended in one
 * call share one position.
 */
export type StreamState = "any" | "no_stream" | "stream_exists" | bigint;

/**
 * KurrentDB v1's named stream states and positions, as values of this store (`appendToStream(s,
 * events, { streamState: NO_STREAM })`, `readAll({ fromPosition: START })`). KurrentDB exports
 * them as string constants of the same meaning.
 */
export const ANY = "any" as const;
export const NO_STREAM = "no_stream" as const;
export const STREAM_EXISTS = "stream_exists" as const;
export const START = "start" as const;
export const END = "end" as const;

/** An event as the caller hands it in; `type` + `data` must pass the store's codec. */
export type EventData<E extends { type: string; data: unknown } = { type: string; data: unknown }> = E & {
  /** Unique id; a retried append with the same ids is not duplicated. Generated when absent. */
  readonly id?: string;
  readonly metadata?: Partial<EventMetadata>;
};

export type RecordedEvent<E extends { type: string; data: unknown } = { type: string; data: unknown }> = E & {
  readonly id: string;
  readonly streamName: string;
  readonly revision: bigint;
  readonly position: bigint;
  readonly schemaVersion: number;
  readonly metadata: EventMetadata;
  /** Time the server stored the commit. */
  readonly created: Date;
};

export type AppendResult = {
  readonly success: true;
  readonly nextExpectedRevision: bigint;
  readonly position: bigint;
};

export type Direction = "forwards" | "backwards";

export type ReadStreamOptions = {
  readonly fromRevision?: bigint | "start" | "end";
  readonly direction?: Direction;
  readonly maxCount?: number;
};

/** Filters apply to subjects (categories, streams) and to event types (prefixes). */
export type EventFilter = {
  /** Stream categories (`plugin`, `task`): the part before the first `-` of a stream name. */
  readonly categories?: readonly string[];
  /** A single stream. */
  readonly streamName?: string;
  /** Event type prefixes, such as `plugin.` or `task.completed`. */
  readonly eventTypePrefixes?: readonly string[];
};

export type ReadAllOptions = {
  readonly fromPosition?: bigint | "start" | "end";
  readonly direction?: Direction;
  readonly maxCount?: number;
  readonly filter?: EventFilter;
};

export type SubscribeOptions = {
  /** Deliver events after this position (a checkpoint); "start" (default) or "end". */
  readonly fromPosition?: bigint | "start" | "end";
  readonly filter?: EventFilter;
};

/** A stored message that could not be decoded: reported, then skipped. */
export type Skipped = { readonly position: bigint; readonly subject: string; readonly errors: string[] };

export type Subscription<E extends { type: string; data: unknown }> = AsyncIterable<RecordedEvent<E>> & {
  /**
   * Resolves as the last event stored when the subscription started is handed out (so a handler
   * may await it), or at once when there is nothing to replay. It resolves while iterating.
   */
  readonly caughtUp: Promise<bigint>;
  /** Position of the last event handed out (0n before the first). */
  readonly lastPosition: () => bigint;
  readonly unsubscribe: () => Promise<void>;
};

export type EventStore<E extends { type: string; data: unknown }> = {
  appendToStream: (streamName: string, events: EventData<E> | readonly EventData<E>[], options?: { streamState?: StreamState }) => Promise<AppendResult>;
  readStream: (streamName: string, options?: ReadStreamOptions) => AsyncIterable<RecordedEvent<E>>;
  readAll: (options?: ReadAllOptions) => AsyncIterable<RecordedEvent<E>>;
  subscribeToAll: (options?: SubscribeOptions) => Subscription<E>;
  /**
   * Optional (the NATS store has it): `readAll` forwards, from `fromPosition` up to the head as it
   * is when called, handing the events of each commit to a synchronous callback; answers that
   * head. For folds over the whole log, where an async iterator per event costs more than the fold.
   */
  scanAll?: (
    options: { readonly fromPosition?: bigint | "start"; readonly filter?: EventFilter },
    onEvents: (events: RecordedEvent<E>[]) => void,
  ) => Promise<bigint>;
  subscribeToStream: (streamName: string, options?: Omit<SubscribeOptions, "filter">) => Subscription<E>;
  /** The revision of the last event of a stream, or "no_stream". */
  streamRevision: (streamName: string) => Promise<bigint | "no_stream">;
  /** Position of the last commit in the log (0n when empty). */
  headPosition: () => Promise<bigint>;
};

// ---- errors: tagged Error subclasses, matched by `_tag`, never by message --------------------

export class WrongExpectedVersionError extends Error {
  override name = "WrongExpectedVersionError";
  readonly _tag = "WrongExpectedVersion" as const;
  constructor(
    readonly streamName: string,
    readonly expectedState: StreamState,
    readonly actualState: bigint | "no_stream",
  ) {
    super(`stream ${streamName}: expected ${String(expectedState)}, but it is at ${String(actualState)}`);
  }
}

export class InvalidEventError extends Error {
  override name = "InvalidEventError";
  readonly _tag = "InvalidEvent" as const;
  constructor(
    readonly index: number,
    readonly eventType: string,
    readonly errors: string[],
  ) {
    super(`event [${index}] (${eventType}) is invalid: ${errors.join("; ")}`);
  }
}

export class InvalidStreamNameError extends Error {
  override name = "InvalidStreamNameError";
  readonly _tag = "InvalidStreamName" as const;
  constructor(readonly streamName: string) {
    super(
      `stream name ${JSON.stringify(streamName)} is not <category>-<id> with a category of lower-case letters/digits and an id of letters, digits, '-' or '_'`,
    );
  }
}

export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
  readonly _tag = "StoreUnavailable" as const;
  constructor(override readonly cause: unknown) {
    super(`the event store is unavailable: ${(cause as Error)?.message ?? String(cause)}`);
  }
}
