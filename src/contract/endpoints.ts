import * as t from "io-ts";
import { AppAddRequest, AppCredentials, AppCredsRequest, AppGrantsRequest, AppIdRequest, AppView } from "./app.js";
import { Cidr, PluginId } from "./manifest.js";
import {
  AuditPage,
  Capabilities,
  LimitsView,
  PluginCommandResult,
  PluginCredentials,
  PluginList,
  PluginRegistered,
  PluginRow,
  PluginShown,
  PluginStatus,
  ProjectionStatus,
  TaskRow,
  TaskShown,
  TaskStatus,
  TaskSubmitted,
  TaskView,
  Totals,
  WorkerWithLive,
} from "./responses.js";
import { CurvePublicKey, SecretNameRequest, SecretRow, SecretValueRequest } from "./secrets.js";
import { ConfigGetRequest, ConfigSetRequest, PluginConfig } from "./pluginConfig.js";
import { RunnerLogs, RunnerPluginState, RunnerPs } from "./runner.js";
import { MAX_RUN_INSTANCES } from "./manifest.js";
import {
  DefineRequest,
  DefinitionRow,
  PipelineDefined,
  PipelineDefinition,
  PipelineName,
  RunId,
  RunIdRequest,
  RunRequest,
  RunStatus,
  RunsRequest,
  RunView,
} from "./pipeline.js";
import { ArtifactIdRequest, ArtifactListRequest, ArtifactRemoveRequest, ArtifactRow, ArtifactShareRequest } from "./artifacts.js";

/**
 * The endpoints of the core's micro service `ganglion`, on `ganglion.v1.<name>`: for each its
 * request codec (the handler sees only what it decoded), its response codec (what `result`
 * holds; the typed client decodes it), and who may call it. `src/service/` serves exactly this
 * table; `serviceClient` (`./client.ts`) calls it. Every request may also carry `actor`.
 */

/** Who may call an endpoint: BUS only (`command`), also OPS (`read`), also DEV (`register`). */
export type EndpointAccess = "command" | "read" | "register";

export type EndpointSpec<Req = any, Res = any> = {
  readonly name: string;
  readonly description: string;
  readonly access: EndpointAccess;
  readonly request: t.Type<Req, any, unknown>;
  readonly response: t.Type<Res, any, unknown>;
};

// ---- bounds and request fields ----------------------------------------------------------------

/** Free text an operator writes into the log (`reason`, descriptions of a change). */
export const MAX_TEXT = 1_000;

/** A string of at most `max` characters (operators' free text). */
export const BoundedText = (max: number, name = `Text(${max})`) =>
  new t.Type<string, string, unknown>(
    name,
    (u): u is string => typeof u === "string" && u.length <= max,
    (u, c) =>
      typeof u !== "string"
        ? t.failure(u, c, "expected a string")
        : u.length > max
          ? t.failure(u, c, `at most ${max} characters (got ${u.length})`)
          : t.success(u),
    (a) => a,
  );

const intIn = (lo: number, hi: number) => t.refinement(t.number, (n) => Number.isInteger(n) && n >= lo && n <= hi, `an integer in ${lo}..${hi}`);
const Reason = BoundedText(MAX_TEXT, "Reason");
/** A row key from a request: an empty one is not a KV key. */
const Id = t.refinement(t.string, (s) => s.length > 0, "a non-empty string");
const Grant = t.union([t.literal("all"), t.array(t.string)]);
const PluginIdField = t.type({ pluginId: PluginId });
const TaskIdField = t.type({ taskId: t.string });
const Wait = t.partial({ waitMs: t.number });
const Empty = t.type({});

// ---- requests ---------------------------------------------------------------------------------

/** A manifest given as an object, or as YAML/JSON text (what the CLI reads from a file). */
export const ManifestInput = t.union([t.type({ manifest: t.UnknownRecord }), t.type({ manifestText: t.string })]);
export const InstallRequest = t.intersection([ManifestInput, t.partial({ grant: Grant })]);
export const ApproveRequest = t.intersection([PluginIdField, t.type({ capabilities: Grant }), t.partial({ allowFrom: t.array(Cidr) })]);
export const RevokeRequest = t.intersection([PluginIdField, t.type({ capabilities: t.array(t.string) }), t.partial({ reason: Reason })]);
export const ReasonRequest = t.intersection([PluginIdField, t.partial({ reason: Reason })]);
export const CredsRequest = t.intersection([PluginIdField, t.partial({ ttl: t.string, allowFrom: t.array(Cidr) })]);
export const ListRequest = t.partial({ all: t.boolean });

export const SubmitTaskRequest = t.intersection([t.type({ taskType: t.string, params: t.unknown }), t.partial({ pluginId: t.string }), Wait]);
export const GetTaskRequest = t.intersection([TaskIdField, Wait]);
export const CancelTaskRequest = t.intersection([TaskIdField, t.partial({ reason: Reason })]);
export const RetryTaskRequest = TaskIdField;
export const LimitsRequest = t.intersection([t.type({ pluginId: t.string }), t.partial({ concurrency: t.number, rate: t.string, reset: t.boolean })]);

/** What `audit.query` keeps; all given filters must match. `since`/`until`: ISO-8601, or a duration back from now (`15m`). */
export const AuditFilter = t.partial({ pluginId: t.string, taskId: t.string, type: t.string, since: t.string, until: t.string });
export const AuditRequest = t.intersection([AuditFilter, t.partial({ limit: intIn(1, 100_000) })]);

/** `worker.*` (the runner): how many instances; which instance's log, from which offset. */
export const WorkerScaleRequest = t.intersection([PluginIdField, t.type({ instances: intIn(0, MAX_RUN_INSTANCES) })]);
export const WorkerStartRequest = t.intersection([PluginIdField, t.partial({ instances: intIn(0, MAX_RUN_INSTANCES) })]);
export const WorkerLogsRequest = t.intersection([
  PluginIdField,
  t.partial({ instance: BoundedText(200, "Instance"), from: intIn(0, Number.MAX_SAFE_INTEGER), maxBytes: intIn(1, 256 * 1024) }),
]);

// ---- the table --------------------------------------------------------------------------------

type Spec = Omit<EndpointSpec, "name">;
const named = <T extends Record<string, Spec>>(table: T): { readonly [K in keyof T]: T[K] & { readonly name: K } } =>
  Object.fromEntries(Object.entries(table).map(([name, s]) => [name, { name, ...s }])) as never;
const spec = <Req, Res>(access: EndpointAccess, description: string, request: t.Type<Req, any, unknown>, response: t.Type<Res, any, unknown>) => ({
  access,
  description,
  request,
  response,
});

export const Endpoints = named({
  "plugin.install": spec(
    "command",
    "Install (or upgrade) a plugin from its manifest; grant all or some capabilities at once, or leave it pending",
    InstallRequest,
    PluginCommandResult,
  ),
  "plugin.register": spec(
    "register",
    "A worker registers its own manifest (dev bootstrap credentials): approved automatically in dev mode, pending otherwise",
    ManifestInput,
    PluginRegistered,
  ),
  "plugin.approve": spec(
    "command",
    'Grant capabilities a plugin asks for ("all", or a list; an empty list approves the plugin with none); allowFrom sets the networks its credentials may connect from',
    ApproveRequest,
    PluginCommandResult,
  ),
  "plugin.revoke": spec(
    "command",
    "Withdraw granted capabilities; the plugin's account loses them at once (live connections included, no new credentials)",
    RevokeRequest,
    PluginCommandResult,
  ),
  "plugin.disable": spec(
    "command",
    "Disable a plugin: its account loses every import and its live credentials are revoked (connections closed); no new ones are minted",
    ReasonRequest,
    PluginCommandResult,
  ),
  "plugin.enable": spec("command", "Enable a disabled plugin (it needs new credentials)", PluginIdField, PluginCommandResult),
  "plugin.remove": spec("command", "Remove a plugin: its live credentials are revoked; installing it again starts over", ReasonRequest, PluginCommandResult),
  "plugin.list": spec("command", "Every installed plugin with its status, grants and pending capabilities", ListRequest, PluginList),
  "plugin.show": spec("command", "One plugin: its state, its manifest, and its capabilities in plain words", PluginIdField, PluginShown),
  "plugin.creds": spec(
    "command",
    "Mint credentials for an approved, enabled plugin (answers the .creds text; only its public key is recorded)",
    CredsRequest,
    PluginCredentials,
  ),

  "task.submit": spec(
    "command",
    "Submit a task: params are validated against the provider's schema; routed to the named plugin or the one that provides the type",
    SubmitTaskRequest,
    // `{taskId, pluginId}`; with `waitMs`, the task once it ended or the wait ran out.
    t.union([TaskView, TaskSubmitted]),
  ),
  "task.get": spec("command", "A task's state, attempts, progress, result or failures; waitMs waits for its end", GetTaskRequest, TaskView),
  "task.cancel": spec("command", "Cancel an open task; its running handler receives an abort signal", CancelTaskRequest, TaskView),
  "task.limits": spec(
    "command",
    "A plugin's task limits (concurrency, submission rate); with concurrency / rate (\"10/s\") / reset, override its manifest's",
    LimitsRequest,
    LimitsView,
  ),
  "task.retry": spec("command", "Send a dead-lettered task again, with a fresh attempt budget", RetryTaskRequest, TaskView),

  "plugin.config.set": spec(
    "command",
    "Change a plugin's live config: set/unset top-level keys or replace it; validated against its manifest's config schema; running workers get it at once",
    ConfigSetRequest,
    PluginConfig,
  ),
  "plugin.config.get": spec("command", "A plugin's config in force and its version (secret references as references)", ConfigGetRequest, PluginConfig),
  "secret.key": spec(
    "command",
    "The core's secret public key (a curve xkey): the CLI seals a new value to it, so no value crosses the bus in clear",
    Empty,
    t.type({ publicKey: CurvePublicKey }),
  ),
  "secret.set": spec("command", "Create a secret from a value sealed to the core's key (refused when it exists: rotate it)", SecretValueRequest, SecretRow),
  "secret.rotate": spec(
    "command",
    "Give an existing secret a new value (sealed to the core's key); plugins that read it are told at once",
    SecretValueRequest,
    SecretRow,
  ),
  "secret.remove": spec("command", "Remove a secret: its sealed value is purged; its events stay", SecretNameRequest, SecretRow),
  "secret.list": spec("command", "Every secret: version, fingerprint, who may read it, each reader's last read. Never a value.", Empty, t.array(SecretRow)),
  // Applications (`ganglion app …`): principals with an account of their own (subjects.md, "Applications").
  "app.add": spec(
    "command",
    "Add an application (a principal with its own account) granted task.submit:<type>…; answers its first credentials (.creds text)",
    AppAddRequest,
    AppCredentials,
  ),
  "app.grant": spec("command", "Grant an application more task.submit:<type> capabilities (live: no new credentials)", AppGrantsRequest, AppView),
  "app.revoke": spec("command", "Withdraw task.submit:<type> capabilities from an application (live, connections included)", AppGrantsRequest, AppView),
  "app.remove": spec("command", "Remove an application: its account imports nothing and every credential of it is revoked", AppIdRequest, AppView),
  "app.creds": spec("command", "Mint new credentials for an application (only the public key is recorded)", AppCredsRequest, AppCredentials),
  "app.list": spec("command", "Every application with its grants and live credentials", t.partial({ all: t.boolean }), t.array(AppView)),
  // Artifacts (subjects.md, "Artifacts"): operators list, inspect, share and remove them; bytes travel on art.get / art.put.
  "artifact.list": spec(
    "command",
    "Artifacts: id, size, content type, creator, expiry, who it is shared with. Request {creator?, limit?}.",
    ArtifactListRequest,
    t.array(ArtifactRow),
  ),
  "artifact.show": spec("command", "One artifact's row. Request {id} (the sha256 or artifact://<sha256>).", ArtifactIdRequest, ArtifactRow),
  "artifact.remove": spec(
    "command",
    "Remove an artifact (its bytes are purged; recorded as artifact.removed with the actor)",
    ArtifactRemoveRequest,
    ArtifactRow,
  ),
  "artifact.share": spec("command", "Let a plugin read an artifact (recorded as artifact.shared)", ArtifactShareRequest, ArtifactRow),

  "views.plugins": spec(
    "read",
    "Plugins from the plugins view: status, version, granted and pending capabilities. Request {status?}.",
    t.partial({ status: PluginStatus }),
    t.array(PluginRow),
  ),
  "views.plugin": spec("read", "One plugin's row of the plugins view. Request {pluginId}.", t.type({ pluginId: Id }), PluginRow),
  "views.workers": spec(
    "read",
    "Workers by plugin: instances online, last heartbeat, tasks in flight, recent failures. Request {pluginId?}.",
    t.partial({ pluginId: t.string }),
    t.array(WorkerWithLive),
  ),
  "views.tasks": spec(
    "read",
    "Tasks from the tasks view, newest first. Request {status?, pluginId?, limit? (default 100)}.",
    t.partial({ status: TaskStatus, pluginId: t.string, limit: intIn(1, 10_000) }),
    t.array(TaskRow),
  ),
  "views.task": spec("read", "One task: its row of the tasks view and its full event history. Request {taskId}.", t.type({ taskId: Id }), TaskShown),
  "views.capabilities": spec("read", "Who may do what: capability → plugins and plugin → capabilities. Request {}.", Empty, Capabilities),
  "views.totals": spec("read", "Counts by status of tasks and plugins. Request {}.", Empty, Totals),
  // The pipelines view for read-only callers (the console's Pipelines page; `pipeline.*` is operators').
  "views.pipelines": spec(
    "read",
    "Pipeline runs from the pipelines view, newest first. Request {name?, status?, limit? (default 100)}.",
    t.partial({ name: PipelineName, status: RunStatus, limit: intIn(1, 10_000) }),
    t.array(RunView),
  ),
  "views.pipeline": spec(
    "read",
    "One pipeline run's row of the pipelines view: each step's status, attempt and task id. Request {runId}.",
    t.type({ runId: RunId }),
    RunView,
  ),
  "projections.status": spec(
    "read",
    "Each view: its live bucket and version, checkpoint, and the head of the log. Request {}.",
    Empty,
    t.array(ProjectionStatus),
  ),
  "worker.ps": spec(
    "command",
    "The runner's instances: per plugin the desired and running count, and per instance its pid or container, start, restarts and last exit. Request {pluginId?}.",
    t.partial({ pluginId: PluginId }),
    RunnerPs,
  ),
  "worker.start": spec(
    "command",
    "Start a plugin's workers (its manifest's run.instances, or instances); recorded as runner.scaled",
    WorkerStartRequest,
    RunnerPluginState,
  ),
  "worker.stop": spec(
    "command",
    "Stop every worker of a plugin (SIGTERM, then SIGKILL after run.stopGrace); recorded as runner.scaled 0",
    PluginIdField,
    RunnerPluginState,
  ),
  "worker.scale": spec("command", "Run exactly N workers of a plugin; recorded as runner.scaled", WorkerScaleRequest, RunnerPluginState),
  "worker.logs": spec(
    "command",
    "An instance's stdout and stderr (default: the plugin's first): the tail, or from a byte offset (`next` of the previous answer, for --follow)",
    WorkerLogsRequest,
    RunnerLogs,
  ),
  // Pipelines (`ganglion pipeline …`; README, "Pipelines"): operators only, for now.
  "pipeline.define": spec(
    "command",
    "Define (or change) a pipeline from its definition (YAML/JSON text or object): validated against the installed plugins first, errors naming the step and the path",
    DefineRequest,
    PipelineDefined,
  ),
  "pipeline.run": spec(
    "command",
    "Start a run of a defined pipeline with params valid against its params schema; waitMs waits for its end",
    RunRequest,
    RunView,
  ),
  "pipeline.get": spec("command", "A run: its status, each step's status, task id and result; waitMs waits for its end", RunIdRequest, RunView),
  "pipeline.runs": spec("command", "Runs, newest first. Request {name?, status?, limit? (default 100)}.", RunsRequest, t.array(RunView)),
  "pipeline.list": spec("command", "Every defined pipeline: name, version, step ids", Empty, t.array(DefinitionRow)),
  "pipeline.show": spec("command", "A pipeline's definition in force. Request {name}.", t.type({ name: PipelineName }), PipelineDefinition),
  "pipeline.cancel": spec(
    "command",
    "Cancel a running run; the task of its running step is cancelled too",
    t.intersection([t.type({ runId: RunId }), t.partial({ reason: Reason })]),
    RunView,
  ),
  "audit.query": spec(
    "read",
    "The event log, filtered: {pluginId?, taskId?, type? (prefix), since?, until? (ISO or 15m/2h/7d back), limit?}.",
    AuditRequest,
    AuditPage,
  ),
});

export type Endpoints = typeof Endpoints;
export type EndpointName = keyof Endpoints;
export type RequestOf<N extends EndpointName> = t.TypeOf<Endpoints[N]["request"]>;
export type ResponseOf<N extends EndpointName> = t.TypeOf<Endpoints[N]["response"]>;

export const ENDPOINT_NAMES = Object.keys(Endpoints) as EndpointName[];

/** The endpoints a caller with `access` may reach besides BUS (`read`: the OPS account's imports). */
export const endpointsWith = (access: EndpointAccess): EndpointName[] => ENDPOINT_NAMES.filter((n) => Endpoints[n].access === access);

/** The entry of a name, when the table has it. */
export const endpointSpec = (name: string): EndpointSpec | undefined => (Object.hasOwn(Endpoints, name) ? Endpoints[name as EndpointName] : undefined);
