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
  Tasks: "TASKS",
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
} as const;

// ---- the event log: ev.<category>.<id> ------------------------------------------------------

export const EVENTS_ALL = "ev.>";
/** Event-store stream name `<category>-<id>` ↔ subject `ev.<category>.<id>`. */
export const eventSubject = (category: string, id: string) => `ev.${category}.${id}`;
export const eventCategory = (category: string) => `ev.${category}.>`;

// ---- tasks: task.<plugin>.<taskType...> -----------------------------------------------------

export const taskSubject = (pluginId: string, taskType: string) => `task.${pluginId}.${taskType}`;
export const pluginTasks = (pluginId: string) => `task.${pluginId}.>`;
export const TASKS_ALL = "task.>";
/** The one durable pull consumer of a plugin on TASKS; shared by all its instances. */
export const taskConsumer = (pluginId: string) => `tasks-${pluginId}`;

// ---- results: res.<plugin>.<taskId> ---------------------------------------------------------

export const resultSubject = (pluginId: string, taskId: string) => `res.${pluginId}.${taskId}`;
export const pluginResults = (pluginId: string) => `res.${pluginId}.>`;
export const RESULTS_ALL = "res.>";
/** The core's durable consumer on RESULTS (shared by core replicas). */
export const RESULTS_CONSUMER = "core-results";

// ---- dead letters: dlq.<plugin>.<taskId> ----------------------------------------------------

export const deadLetterSubject = (pluginId: string, taskId: string) => `dlq.${pluginId}.${taskId}`;

// ---- task control: _INBOX.<plugin>.ctl (core NATS, core → every instance of a plugin) --------

/**
 * Cancellations reach workers here. It lives under the plugin's inbox prefix on purpose: the
 * minimum permission set (`sub: _INBOX.<plugin>.>`) already covers it.
 */
export const controlSubject = (pluginId: string) => `_INBOX.${pluginId}.ctl`;

// ---- topics: top.<topic...> -----------------------------------------------------------------

export const topicSubject = (topic: string) => `top.${topic}`;
/** A plugin's durable consumer on TOPICS for one granted topic. */
export const topicConsumer = (pluginId: string, topic: string) => `top-${pluginId}-${topic.replaceAll(".", "_")}`;

// ---- heartbeats: hb.<plugin>.<instance> (core NATS) ------------------------------------------

export const heartbeatSubject = (pluginId: string, instance: string) => `hb.${pluginId}.${instance}`;
export const HEARTBEATS_ALL = "hb.*.*";

// ---- inboxes --------------------------------------------------------------------------------

/** The only reply inbox a plugin may subscribe to; its client must set `inboxPrefix` to this. */
export const pluginInboxPrefix = (pluginId: string) => `_INBOX.${pluginId}`;

// ---- the core's NATS micro service ----------------------------------------------------------

export const SERVICE_NAME = "ganglion";
export const SERVICE_PREFIX = "ganglion.v1";
export const serviceSubject = (endpoint: string) => `${SERVICE_PREFIX}.${endpoint}`;

// ---- JetStream API subjects a plugin's credentials may use -----------------------------------

export const jsConsumerInfo = (stream: string, consumer: string) => `$JS.API.CONSUMER.INFO.${stream}.${consumer}`;
export const jsConsumerNext = (stream: string, consumer: string) => `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`;
export const jsAck = (stream: string, consumer: string) => `$JS.ACK.${stream}.${consumer}.>`;
export const kvSubject = (bucket: string, key: string) => `$KV.${bucket}.${key}`;

// ---- capability subjects (catalog/capabilities.json says which capability opens which) --------

/** Request: submit a task of `taskType` (a plugin granted `task.submit:<taskType>`); reply = task id. */
export const submitSubject = (taskType: string) => `submit.${taskType}`;
/** The core serves every plugin submission here (queue group `ganglion-core`). */
export const SUBMIT_ALL = "submit.>";
/** Request: the value of secret `name`, answered only to plugins granted `secret.read:<name>`. */
export const secretSubject = (name: string) => `secret.${name}`;
/** Request: the core's model provider of `kind` (`chat`, `embedding`). */
export const providerSubject = (kind: string) => `prov.${kind}`;
/** Requests from the core to a plugin granted `mcp.server` (tool calls). */
export const mcpSubjects = (pluginId: string) => `mcp.${pluginId}.>`;
/** The micro service endpoint a worker holding the dev bootstrap credentials may call. */
export const PLUGIN_REGISTER_ENDPOINT = "plugin.register";
/** Inbox prefix of the dev bootstrap credentials (`_` cannot start a plugin id: no clash). */
export const DEV_BOOTSTRAP_INBOX = "_INBOX._bootstrap";

// ---- system ---------------------------------------------------------------------------------

export const CLAIMS_UPDATE = "$SYS.REQ.CLAIMS.UPDATE";
