export { natsEventStore, streamNameToSubject, subjectToStreamName, REVISION_HEADER, COUNT_HEADER, TYPE_HEADER } from "./eventStore.js";
export {
  ANY,
  END,
  InvalidEventError,
  InvalidStreamNameError,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StoreUnavailableError,
  WrongExpectedVersionError,
} from "./types.js";
export { applyDefinitions, loadDefinitions } from "./streamDefinitions.js";

export type { NatsEventStoreOptions } from "./eventStore.js";
export type {
  AppendResult,
  Direction,
  EventData,
  EventFilter,
  EventStore,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  Skipped,
  StreamState,
  SubscribeOptions,
  Subscription,
} from "./types.js";
