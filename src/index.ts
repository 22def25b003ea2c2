/**
 * `ganglion`: what an application uses. The event store (KurrentDB-shaped, over JetStream), its
 * errors and constants, and the contract an application shares with the bus (subject builders,
 * wire messages, the manifest). The worker SDK is `ganglion/sdk`; the test bus and the mock task
 * environment are `ganglion/testing`.
 */
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
  natsEventStore,
} from "./store/index.js";
export * as subjects from "./contract/subjects.js";
export { Control, Heartbeat, Report, TaskHeaders } from "./contract/wire.js";
export { GanglionEvent } from "./events/index.js";

export type {
  AppendResult,
  Direction,
  EventData,
  EventFilter,
  EventStore,
  NatsEventStoreOptions,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamState,
  SubscribeOptions,
  Subscription,
} from "./store/index.js";
