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
// The core's service: the endpoint table, its closed error codes, and the typed client.
export { Endpoints, ENDPOINT_NAMES } from "./contract/endpoints.js";
export type { EndpointAccess, EndpointName, EndpointSpec, RequestOf, ResponseOf } from "./contract/endpoints.js";
export { ErrorCode, Reply, ServiceError } from "./contract/errors.js";
export { decodeReply, serviceClient } from "./contract/client.js";
export type { CallOptions, Requester, ServiceClient, ServiceClientOptions } from "./contract/client.js";

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

// The application client (`Client.connect({ servers, creds })`): submit, follow and read tasks with an application's credentials.
export { Client } from "./client/client.js";
export type { ClientOptions, ListFilter, SubmitOptions, TaskMap, WatchFilter } from "./client/client.js";
export { TaskHandle } from "./client/handle.js";
export { PipelineHandle, PipelineFailedError, PipelineTimeoutError } from "./client/pipeline.js";
export type { Progress } from "./client/handle.js";
export type { BulkItem, BulkOptions, BulkReport } from "./client/bulk.js";
export {
  BusUnavailableError,
  GanglionError,
  NotGrantedError,
  ResultTimeoutError,
  TaskCancelledError,
  TaskDeadLetteredError,
  TaskFailedError,
  TaskTimedOutError,
} from "./client/errors.js";
export { ContextError, readNatsContext } from "./client/context.js";
export type { TaskChange, AppInfo } from "./contract/app.js";
export type { TaskRow, TaskView } from "./contract/responses.js";
