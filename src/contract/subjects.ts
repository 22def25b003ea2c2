/**
 * Every subject, stream, consumer and bucket name Ganglion uses is built here and nowhere else.
 * This module mirrors `subjects.md` line for line: change both in the same commit.
 */

/** A subject token Ganglion accepts from the outside: plugin ids, task types' parts, topic parts. */
export const TOKEN = /^[a-z0-9][a-z0-9_-]*$/;
/** Plugin ids: lower-case letters, digits and `-` (manifests say the same). */
export const PLUGIN_ID = /^[a-z][a-z0-9-]{0,63}$/;
/** Dotted names (task types, topics): one or more tokens joined by `.`. */
export const DOTTED = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;

export class InvalidNameError extends Error {
  override name = "InvalidNameError";
}

const check = (re: RegExp, what: string, v: string, hint: string) => {
  if (!re.test(v)) throw new InvalidNameError(`${what} ${JSON.stringify(v)} is not valid: ${hint}`);
  return v;
};
export const assertPluginId = (id: string) => check(PLUGIN_ID, "plugin id", id, "use lower-case letters, digits and '-', starting with a letter (at most 64)");
export const assertDotted = (what: string, v: string) => check(DOTTED, what, v, "use lower-case tokens of letters, digits, '-' or '_', joined by '.'");

// ---- streams, KV buckets -------------------------------------------------------------------

export const Streams = {
  Events: "EVENTS",
  /**
   * The single shared work queue of the one-account topology (before 0.2). It is gone: a forged
   * ack on any consumer of a work queue deletes that sequence, so every plugin now has its own
   * stream (`tasksStream`). Named here only so the upgrade can find and retire it.
   */
  LegacyTasks: "TASKS",
  Results: "RESULTS",
  Topics: "TOPICS",
  DeadLetters: "DEADLETTERS",
} as const;

export const Buckets = {
  Plugins: "plugins",
  Workers: "workers",
  Capabilities: "capabilities",
  Tasks: "tasks",
  Totals: "totals",
  Checkpoints: "ganglion-checkpoints",
  /** Key `<view>` → the view's live bucket and version (moves when a new version caught up). */
  Projections: "ganglion-projections",
  /** Key `<duty>` → the core process doing a duty one core does at a time (the live views); entries expire (`max_age`). */
  Leases: "ganglion-leases",
} as const;

/**
 * The internal bucket of a view's bucket: the fold's bookkeeping (index entries `_idx.*`,
 * retention entries `_ret.*`), which operators need not see. Not copied to OPS.
 */
export const internalBucket = (bucket: string) => `ganglion-internal-${bucket}`;

// ---- the event log: ev.<category>.<id> ------------------------------------------------------

export const EVENTS_ALL = "ev.>";
/** Event-store stream name `<category>-<id>` ↔ subject `ev.<category>.<id>`. */
export const eventSubject = (category: string, id: string) => `ev.${category}.${id}`;
export const eventCategory = (category: string) => `ev.${category}.>`;

// ---- tasks: task.<plugin>.<taskType...> -----------------------------------------------------

/**
 * The work-queue stream of one plugin: `TASKS_<plugin>`, subjects `task.<plugin>.>`. One per
 * plugin on purpose: on a work queue *any* ack of a sequence removes it, and a plugin may publish
 * acks on its own consumer's ack subject with any sequence, so it must share its stream with no one.
 */
export const tasksStream = (pluginId: string) => `TASKS_${pluginId}`;
/** Stream names of the per-plugin work queues start with this. */
export const TASKS_STREAM_PREFIX = "TASKS_";
export const taskSubject = (pluginId: string, taskType: string) => `task.${pluginId}.${taskType}`;
export const pluginTasks = (pluginId: string) => `task.${pluginId}.>`;
/**
 * A consumer-name token for a dotted name: `_` written `_u`, `.` written `_d`. Injective, and
 * what is left are letters, digits, `-` and `_`, valid in every consumer name.
 */
export const escapeDotted = (name: string) => name.replaceAll("_", "_u").replaceAll(".", "_d");
/**
 * The durable pull consumer of one task type of a plugin on TASKS_<plugin>, filter
 * `task.<plugin>.<taskType>`: `task_<plugin>_<taskType escaped>`, shared by the instances that
 * serve that type (an instance pulls only the types it has handlers for). Injective as topic
 * consumers are: plugin ids hold no `_`.
 */
export const taskConsumer = (pluginId: string, taskType: string) => `task_${pluginId}_${escapeDotted(taskType)}`;
/** The single consumer of a plugin of 0.1/0.2 (`tasks-<plugin>`, filter `task.<plugin>.>`): removed on upgrade. */
export const legacyTaskConsumer = (pluginId: string) => `tasks-${pluginId}`;
/** Task types are at most this long, so a task consumer's name stays well under the 255 bytes a file name may hold. */
export const MAX_TASK_TYPE = 64;

// ---- results: res.<plugin>.<taskId> ---------------------------------------------------------

export const resultSubject = (pluginId: string, taskId: string) => `res.${pluginId}.${taskId}`;
export const pluginResults = (pluginId: string) => `res.${pluginId}.>`;
export const RESULTS_ALL = "res.>";
/** The core's durable consumer on RESULTS (shared by core replicas). */
export const RESULTS_CONSUMER = "core-results";

// ---- dead letters: dlq.<plugin>.<taskId> ----------------------------------------------------

export const deadLetterSubject = (pluginId: string, taskId: string) => `dlq.${pluginId}.${taskId}`;

// ---- task control: ctl.<plugin> (core NATS, core → every instance of a plugin) ----------------

/**
 * Cancellations reach workers here. BUS exports `ctl.>` as a stream; a plugin's account imports
 * only `ctl.<plugin>`, under the same name, so a worker subscribes to `ctl.<its id>`.
 */
export const controlSubject = (pluginId: string) => `ctl.${pluginId}`;
export const CONTROL_ALL = "ctl.>";

// ---- topics: top.<topic...> -----------------------------------------------------------------

export const topicSubject = (topic: string) => `top.${topic}`;
/** A plugin's durable consumer on TOPICS for one granted topic. */
/**
 * `top_<plugin>_<topic>` with the topic's `_` written `_u` and its `.` written `_d`. Injective on
 * purpose: plugin ids hold no `_`, so the first `_` after `top_` ends the id, and the escaping
 * decodes one way only. (The earlier `top-<plugin>-<topic with . as _>` was not: plugin `news`
 * granted `feed-secret` and plugin `news-feed` granted `secret` shared a consumer.)
 */
export const topicConsumer = (pluginId: string, topic: string) => `top_${pluginId}_${escapeDotted(topic)}`;

// ---- heartbeats: hb.<plugin>.<instance> (core NATS) ------------------------------------------

export const heartbeatSubject = (pluginId: string, instance: string) => `hb.${pluginId}.${instance}`;
export const HEARTBEATS_ALL = "hb.*.*";

// ---- the BUS JetStream API as other accounts see it -------------------------------------------

/**
 * An account without JetStream answers `$JS.API.>` itself ("JetStream not enabled for account"),
 * so the consumer API subjects BUS exports are imported under this prefix instead: a worker opens
 * JetStream with `apiPrefix: "$JS.BUS.API"` (nats.go `nats.APIPrefix`, cnats `jsOptions.Prefix`).
 */
export const JS_BUS_API = "$JS.BUS.API";
/** `$JS.API.<rest>` as seen from another account (`$JS.BUS.API.<rest>`). */
export const busApiLocal = (apiSubject: string) => `${JS_BUS_API}${apiSubject.slice("$JS.API".length)}`;

// ---- the core's NATS micro service ----------------------------------------------------------

export const SERVICE_NAME = "ganglion";
export const SERVICE_PREFIX = "ganglion.v1";
export const serviceSubject = (endpoint: string) => `${SERVICE_PREFIX}.${endpoint}`;

// ---- JetStream API subjects a plugin's credentials may use -----------------------------------

export const jsConsumerInfo = (stream: string, consumer: string) => `$JS.API.CONSUMER.INFO.${stream}.${consumer}`;
export const jsConsumerNext = (stream: string, consumer: string) => `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`;
export const jsAck = (stream: string, consumer: string) => `$JS.ACK.${stream}.${consumer}.>`;
/** Every consumer of `stream` (a plugin's own TASKS stream: all of them are its task consumers). */
export const jsConsumerInfoAll = (stream: string) => `$JS.API.CONSUMER.INFO.${stream}.*`;
export const jsConsumerNextAll = (stream: string) => `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`;
export const jsAckAll = (stream: string) => `$JS.ACK.${stream}.>`;
export const kvSubject = (bucket: string, key: string) => `$KV.${bucket}.${key}`;

// ---- capability subjects (catalog/capabilities.json says which capability opens which) --------

// A capability subject exists twice: as the plugin sends it in its own account (`submit.<type>`),
// and as it arrives in BUS, where the import put the plugin's id in front (`submit.<plugin>.<type>`).
// The core reads the caller from that token: the server wrote it, the plugin cannot.

/** Request, in the plugin's account: submit a task of `taskType` (granted `task.submit:<taskType>`). */
export const submitSubject = (taskType: string) => `submit.${taskType}`;
/** The same request as it arrives in BUS. */
export const busSubmitSubject = (pluginId: string, taskType: string) => `submit.${pluginId}.${taskType}`;
/** The core serves every plugin submission here (queue group `ganglion-core`). */
export const SUBMIT_ALL = "submit.*.>";
/** Request, in the plugin's account: the value of secret `name` (granted `secret.read:<name>`). */
export const secretSubject = (name: string) => `secret.${name}`;
export const busSecretSubject = (pluginId: string, name: string) => `secret.${pluginId}.${name}`;
/** Request, in the plugin's account: the core's model provider of `kind` (`chat`, `embedding`). */
export const providerSubject = (kind: string) => `prov.${kind}`;
export const busProviderSubject = (pluginId: string, kind: string) => `prov.${pluginId}.${kind}`;
/** Request, in the plugin's account (every active plugin imports it): the plugin's config in force. */
export const CONFIG_SUBJECT = "cfg";
export const busConfigSubject = (pluginId: string) => `cfg.${pluginId}`;
/** The core serves every plugin's config request here (queue group `ganglion-core`). */
export const CONFIG_REQUESTS = "cfg.*";
/** The micro service endpoint a worker holding the dev bootstrap credentials may call. */
export const PLUGIN_REGISTER_ENDPOINT = "plugin.register";

// ---- OPS: read-only operators ---------------------------------------------------------------

/**
 * Deliver subjects (in BUS) of the consumers that feed the OPS account's mirrors of `stream`.
 * BUS exports `deliver.ops.>` as a stream that only the OPS account imports.
 */
export const opsDeliverSubject = (stream: string) => `deliver.ops.${stream}`;
export const OPS_DELIVER_ALL = "deliver.ops.>";

// ---- system ---------------------------------------------------------------------------------

export const CLAIMS_UPDATE = "$SYS.REQ.CLAIMS.UPDATE";
/** The accounts the server's full resolver holds (`{data: [key…]}`), asked by a SYS user. */
export const CLAIMS_LIST = "$SYS.REQ.CLAIMS.LIST";
/** The account JWT the server holds for `account` (full resolver), asked by a SYS user. */
export const claimsLookupSubject = (account: string) => `$SYS.REQ.ACCOUNT.${account}.CLAIMS.LOOKUP`;

// ---- applications: app.<app>.… in BUS, app.… in the application's account ----------------------

/**
 * Application ids (`ganglion app add <name>`): as plugin ids, but at most 30 characters, so that a
 * task id `<app>_<32 hex>` stays within the 64 characters of a task id. No `_`: the first `_` of
 * a task id ends the id of the application that owns it.
 */
export const APP_ID = /^[a-z][a-z0-9-]{0,29}$/;
export const assertAppId = (id: string) => check(APP_ID, "application id", id, "use lower-case letters, digits and '-', starting with a letter (at most 30)");
/** Task ids of an application's submissions start with this (nothing else mints a `_`). */
export const appTaskPrefix = (appId: string) => `${appId}_`;
/** The application that owns a task id, if one does. */
export const appOfTask = (taskId: string): string | undefined => {
  const i = taskId.indexOf("_");
  const app = i > 0 ? taskId.slice(0, i) : "";
  return APP_ID.test(app) ? app : undefined;
};
/** Request, in the application's account: submit a task of `taskType` (granted `task.submit:<taskType>`). */
export const appSubmitSubject = (taskType: string) => `app.submit.${taskType}`;
/** The same request as it arrives in BUS (the import put the application's id in). */
export const busAppSubmitSubject = (appId: string, taskType: string) => `app.${appId}.submit.${taskType}`;
/** What an application may ask about its own tasks (`app.call.<verb>`), besides submitting. */
export const APP_VERBS = ["info", "get", "cancel", "list", "run"] as const;
export type AppVerb = (typeof APP_VERBS)[number];
/** Request, in the application's account. */
export const appCallSubject = (verb: AppVerb) => `app.call.${verb}`;
export const busAppCallSubject = (appId: string, verb: AppVerb) => `app.${appId}.call.${verb}`;
/** The core serves every application's requests here (queue group `ganglion-core`). */
export const APP_SUBMIT_ALL = "app.*.submit.>";
export const APP_CALL_ALL = "app.*.call.*";
/** BUS exports `app.>` (service) and `appev.>` (stream); an application imports only its own. */
export const APP_SERVICE_EXPORT = "app.>";
/** Changes of an application's tasks, published by the core (core NATS): `appev.<app>.<taskId>`. */
export const appChangeSubject = (appId: string, taskId: string) => `appev.${appId}.${taskId}`;
export const appChanges = (appId: string) => `appev.${appId}.>`;
export const APP_CHANGES_ALL = "appev.>";
// ---- applications: pipelines (granted `pipeline.run:<name>`) ------------------------------------
/** Request, in the application's account: start a run of pipeline `name` (granted `pipeline.run:<name>`). */
export const appPipelineSubject = (name: string) => `app.pipeline.${name}`;
/** The same request as it arrives in BUS. */
export const busAppPipelineSubject = (appId: string, name: string) => `app.${appId}.pipeline.${name}`;
export const APP_PIPELINE_ALL = "app.*.pipeline.*";

// ---- artifacts (issue 18): art.<verb> → art.<verb>.<plugin>, artup.<upload> → artup.<plugin>.<upload> ----

/** The object store bucket of artifacts (stream `OBJ_artifacts`, `streams/artifacts.json`), BUS only. */
export const ARTIFACT_BUCKET = "artifacts";
/** The stream of upload chunks in flight (`streams/artifact-uploads.json`). */
export const ARTIFACT_UPLOADS_STREAM = "ARTIFACT_UPLOADS";
/** What a worker asks the core about artifacts: `get` (one chunk), `put` (commit an upload). */
export const ARTIFACT_VERBS = ["get", "put"] as const;
export type ArtifactVerb = (typeof ARTIFACT_VERBS)[number];
/** Request, in the plugin's account (every active plugin imports both verbs). */
export const artifactSubject = (verb: ArtifactVerb) => `art.${verb}`;
/** The same request as it arrives in BUS: the import put the plugin's id last. */
export const busArtifactSubject = (verb: ArtifactVerb, pluginId: string) => `art.${verb}.${pluginId}`;
/** The core serves every plugin's artifact requests here (queue group `ganglion-core`). */
export const artifactRequests = (verb: ArtifactVerb) => `art.${verb}.*`;
/** A JetStream publish of one upload chunk, in the plugin's account. */
export const artifactUploadSubject = (upload: string) => `artup.${upload}`;
/** The same chunk as ARTIFACT_UPLOADS stores it. */
export const busArtifactUploadSubject = (pluginId: string, upload: string) => `artup.${pluginId}.${upload}`;
/** Upload ids: a subject token the worker makes up (a nuid, a UUID without dashes is fine). */
export const ARTIFACT_UPLOAD_ID = /^[A-Za-z0-9_-]{8,64}$/;
/** BUS exports `art.>` (service, long response threshold: a commit copies the whole object) and `artup.>`. */
export const ARTIFACT_SERVICE_EXPORT = "art.>";
export const ARTIFACT_UPLOADS_EXPORT = "artup.>";
/** Request, in an application's account: one chunk of an artifact its own tasks' params or results reference. */
export const APP_ARTIFACT_GET = "app.art.get";
export const busAppArtifactGet = (appId: string) => `app.${appId}.art.get`;
export const APP_ARTIFACT_GET_ALL = "app.*.art.get";
/**
 * Published by a core once its changes feed is live (at its start), to every active application:
 * events recorded before that were not published, so a client re-reads the tasks it awaits.
 * (`resume` cannot be a task id: an application's task ids start with `<app>_`.)
 */
export const appFeedResumeSubject = (appId: string) => `appev.${appId}.resume`;
