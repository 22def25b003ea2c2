import * as t from "io-ts";
import { WorkerRunnerState } from "./runner.js";
import { EventMetadata } from "../events/envelope.js";
import { AttemptFailure, TaskError } from "../events/task.js";
import { StoredManifest } from "./manifest.js";

/*
 * What the service's endpoints answer (`result` of an `{ok: true}` reply), as io-ts codecs. The
 * core's own types are these (`t.TypeOf`) or are checked against them at compile time: the
 * handlers are typed by the endpoint table (`./endpoints.ts`), and the views' row codecs in
 * `src/projections/` must have the same types as the rows here (`src/service/endpoints/queries.ts`).
 */

const Nullable = <C extends t.Mixed>(c: C) => t.union([c, t.null]);
const strings = t.readonlyArray(t.string);

// ---- plugins ----------------------------------------------------------------------------------

/** The status of an installed plugin (`src/plugins/status.ts`, less `absent`). */
export const PluginStatus = t.keyof({ pending: null, active: null, disabled: null, removed: null }, "PluginStatus");
export type PluginStatus = t.TypeOf<typeof PluginStatus>;

/** One plugin as the `plugin.*` commands answer it: its state folded from its own stream. */
export const PluginView = t.intersection([
  t.type({
    pluginId: t.string,
    version: t.string,
    description: t.string,
    status: PluginStatus,
    granted: strings,
    pending: strings,
    selfRegistered: t.boolean,
    /** Minted credentials not revoked (public keys only). */
    liveCredentials: t.readonlyArray(t.type({ publicKey: t.string, expiresAt: Nullable(t.string) })),
    provides: strings,
    /** The stream revision, a decimal string. */
    revision: t.string,
  }),
  t.partial({ disabledReason: t.string }),
]);
export type PluginView = t.TypeOf<typeof PluginView>;

/** What a `plugin.*` command answers: the plugin after it, and the event types appended (`[]`: nothing changed). */
export const PluginCommandResult = t.type({ plugin: PluginView, events: strings });
export type PluginCommandResult = t.TypeOf<typeof PluginCommandResult>;

export const PluginRegistered = t.intersection([
  PluginCommandResult,
  t.union([t.type({ approved: t.literal(false), message: t.string }), t.type({ approved: t.literal(true), creds: t.string, publicKey: t.string })]),
]);

export const PluginList = t.type({ plugins: t.readonlyArray(PluginView) });

export const PluginShown = t.type({
  plugin: PluginView,
  manifest: StoredManifest,
  capabilities: t.readonlyArray(t.type({ capability: t.string, meaning: t.string, granted: t.boolean })),
});
export type PluginShown = t.TypeOf<typeof PluginShown>;

/** `plugin.creds`: the `.creds` text (never logged nor stored) and what it allows. */
export const PluginCredentials = t.type({
  creds: t.string,
  publicKey: t.string,
  expiresAt: Nullable(t.string),
  capabilities: strings,
  allowFrom: strings,
});
export type PluginCredentials = t.TypeOf<typeof PluginCredentials>;

// ---- tasks ------------------------------------------------------------------------------------

/** The status of a submitted task (`src/tasks/status.ts`, less `absent`). */
export const TaskStatus = t.keyof({ scheduled: null, running: null, retry_wait: null, completed: null, cancelled: null, dead_lettered: null }, "TaskStatus");
export type TaskStatus = t.TypeOf<typeof TaskStatus>;

export const TaskProgress = t.intersection([t.type({ done: t.number, total: t.number, at: t.string }), t.partial({ message: t.string })]);

/** A task as `task.get`, `task.cancel`, `task.retry` (and `task.submit` with `waitMs`) answer it. */
export const TaskView = t.intersection([
  t.type({
    taskId: t.string,
    pluginId: t.string,
    taskType: t.string,
    status: TaskStatus,
    attempt: t.number,
    maxAttempts: t.number,
    params: t.unknown,
    submittedAt: t.string,
    failures: t.readonlyArray(AttemptFailure),
  }),
  t.partial({
    instance: t.string,
    progress: TaskProgress,
    /** Set once completed. */
    result: t.unknown,
    retryAt: t.string,
    deadlineAt: t.string,
    endedAt: t.string,
    cancelReason: t.string,
  }),
]);
export type TaskView = t.TypeOf<typeof TaskView>;

export const TaskSubmitted = t.type({ taskId: t.string, pluginId: t.string });
export type TaskSubmitted = t.TypeOf<typeof TaskSubmitted>;

/** A plugin's task limits in force; `source` says where each comes from (`override`, `config`, `manifest`). */
export const LimitsView = t.type({
  pluginId: t.string,
  concurrency: t.number,
  rate: t.type({ count: t.number, perMs: t.number }),
  source: t.type({ concurrency: t.string, rate: t.string }),
});
export type LimitsView = t.TypeOf<typeof LimitsView>;

// ---- views (rows of the KV buckets, without the runner's lastPosition/lastIndex) -------------

export const PluginRow = t.type({
  pluginId: t.string,
  status: PluginStatus,
  version: t.string,
  description: t.string,
  selfRegistered: t.boolean,
  taskTypes: t.array(t.string),
  requested: t.array(t.string),
  granted: t.array(t.string),
  pending: t.array(t.string),
  credentials: t.array(t.string),
  disabledReason: Nullable(t.string),
  registeredAt: t.string,
  updatedAt: t.string,
});
export type PluginRow = t.TypeOf<typeof PluginRow>;

export const WorkerRow = t.intersection([
  t.type({
    pluginId: t.string,
    instances: t.record(t.string, t.type({ version: t.string, onlineSince: t.string, lastSeenAt: t.string })),
    online: t.number,
    inFlight: t.record(t.string, t.type({ attempt: t.number, instance: t.string, startedAt: t.string })),
    inFlightCount: t.number,
    recentFailures: t.array(t.type({ taskId: t.string, attempt: t.number, at: t.string, message: t.string, kind: t.string })),
    completed: t.number,
    failed: t.number,
    lastOfflineAt: Nullable(t.string),
    updatedAt: t.string,
  }),
  // Present once the core's runner did something for the plugin (`src/projections/workersRunner.ts`).
  t.partial({ runner: WorkerRunnerState }),
]);
export type WorkerRow = t.TypeOf<typeof WorkerRow>;

/** The last heartbeat this core saw from one instance (live state, not in the bucket). */
export const LiveInstance = t.type({ lastHeartbeatAt: t.string, inFlight: Nullable(t.number), state: Nullable(t.string) });
export type LiveInstance = t.TypeOf<typeof LiveInstance>;

export const WorkerWithLive = t.intersection([WorkerRow, t.type({ live: t.record(t.string, LiveInstance) })]);

export const TaskRow = t.type({
  taskId: t.string,
  pluginId: t.string,
  pluginVersion: t.string,
  taskType: t.string,
  status: TaskStatus,
  attempt: t.number,
  maxAttempts: t.number,
  instance: Nullable(t.string),
  submittedAt: t.string,
  dispatchedAt: t.string,
  startedAt: Nullable(t.string),
  finishedAt: Nullable(t.string),
  retryAt: Nullable(t.string),
  durationMs: Nullable(t.number),
  progress: Nullable(t.intersection([t.type({ done: t.number, total: t.number }), t.partial({ message: t.string })])),
  result: t.unknown,
  error: Nullable(TaskError),
  failures: t.array(t.type({ attempt: t.number, at: t.string, error: TaskError, instance: Nullable(t.string) })),
  correlationId: Nullable(t.string),
  updatedAt: t.string,
});
export type TaskRow = t.TypeOf<typeof TaskRow>;

export const TotalsRow = t.type({ byStatus: t.record(t.string, t.number), total: t.number });
export type TotalsRow = t.TypeOf<typeof TotalsRow>;

/** One line of the audit trail; `position` and `revision` are decimal strings. */
export const AuditEntry = t.type({
  position: t.string,
  stream: t.string,
  revision: t.string,
  id: t.string,
  type: t.string,
  time: t.string,
  stored: t.string,
  actor: t.string,
  metadata: EventMetadata,
  data: t.unknown,
});
export type AuditEntry = t.TypeOf<typeof AuditEntry>;

export const TaskShown = t.type({ task: Nullable(TaskRow), history: t.array(AuditEntry) });

export const Capabilities = t.type({ byCapability: t.record(t.string, t.array(t.string)), byPlugin: t.record(t.string, t.array(t.string)) });

export const Totals = t.type({ tasks: TotalsRow, plugins: TotalsRow });

export const ProjectionStatus = t.type({
  view: t.string,
  version: t.number,
  bucket: t.string,
  liveBucket: t.string,
  liveVersion: t.number,
  checkpoint: t.number,
  head: t.number,
  behind: t.number,
});
export type ProjectionStatus = t.TypeOf<typeof ProjectionStatus>;

export const AuditPage = t.type({ events: t.array(AuditEntry), truncated: t.boolean });
