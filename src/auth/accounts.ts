import { createHmac } from "node:crypto";
import { encodeAccount } from "@nats-io/jwt";
import type { Account, Export, Import } from "@nats-io/jwt";
import { fromSeed, Prefix } from "@nats-io/nkeys";
import type { KeyPair } from "@nats-io/nkeys";
// The seed codec is not re-exported by the package's index; it is the same module `createAccount` uses.
import { Codec } from "@nats-io/nkeys/lib/codec.js";
import {
  APP_CHANGES_ALL,
  APP_SERVICE_EXPORT,
  busApiLocal,
  busProviderSubject,
  busConfigSubject,
  CONFIG_SUBJECT,
  busSecretSubject,
  busSubmitSubject,
  CONTROL_ALL,
  controlSubject,
  heartbeatSubject,
  jsAck,
  jsConsumerInfo,
  jsConsumerNext,
  jsAckAll,
  jsConsumerInfoAll,
  jsConsumerNextAll,
  OPS_DELIVER_ALL,
  PLUGIN_REGISTER_ENDPOINT,
  pluginResults,
  providerSubject,
  secretSubject,
  SERVICE_PREFIX,
  serviceSubject,
  Streams,
  submitSubject,
  tasksStream,
  topicConsumer,
  topicSubject,
  assertPluginId,
  ARTIFACT_SERVICE_EXPORT,
  ARTIFACT_UPLOADS_EXPORT,
  artifactSubject,
  artifactUploadSubject,
  busArtifactSubject,
  busArtifactUploadSubject,
} from "../contract/subjects.js";
import type { Authority } from "./authority.js";
import { nativeKeyPair } from "./nativeKeys.js";
import { unlimitedAccount, unlimitedJetStream } from "./authority.js";

/**
 * The account topology (subjects.md, "Accounts"). The account is the trust boundary: subject
 * permissions never see a reply subject or a consumer's deliver subject, but across an account
 * boundary the server remaps every reply to an `_R_` subject of the requester's own account, and
 * a consumer created in another account delivers there. So:
 *
 * - **BUS** holds the log, the views, every stream and the `ganglion` service; only the core and
 *   the admin credentials connect to it. It exports exactly what other accounts may import.
 * - **one account per plugin**, with no JetStream, whose imports are its baseline (its own task
 *   consumer, reports, heartbeats, control) plus one import per granted capability. A grant or a
 *   revocation is an account JWT push: live, with no new credentials.
 * - **OPS** for read-only operators (mirrors of the views and the log, the query endpoints).
 * - **DEV** for the dev bootstrap credentials (only `plugin.register`).
 *
 * Account identity keys are derived from the operator seed (HMAC-SHA256 over a label), so every
 * core holding the data dir's keys computes the same account for the same plugin without storing
 * anything, and the derivation is stable forever: changing a label orphans that account.
 */

export type AccountRole = "bus" | "ops" | "dev" | "plugin";

/** Derived keys kept per authority: at most this many labels each (oldest dropped first). */
const DERIVED_KEYS_KEPT = 4096;
const derived = new WeakMap<Authority, Map<string, KeyPair>>();

/**
 * Derives the account key pair for `label` from the operator's seed. Kept once derived: nkeys
 * derives the public key in pure JavaScript (about 15 ms of CPU), and every application request
 * checks its caller against its account's key, so a derivation per request held 2,000 submissions
 * to about 100/s, 60% of the core's CPU in tweetnacl (a CPU profile of test/client/bulk.int).
 */
export const deriveAccountKey = (a: Authority, label: string): KeyPair => {
  let keys = derived.get(a);
  if (!keys) derived.set(a, (keys = new Map()));
  const kept = keys.get(label);
  if (kept) return kept;
  const raw = createHmac("sha256", a.operator.getSeed()).update(`ganglion/account/v1/${label}`).digest();
  const kp = nativeKeyPair(fromSeed(Codec.encodeSeed(Prefix.Account, new Uint8Array(raw))));
  if (keys.size >= DERIVED_KEYS_KEPT) keys.delete(keys.keys().next().value!);
  keys.set(label, kp);
  return kp;
};

export const pluginAccountKey = (a: Authority, pluginId: string): KeyPair => deriveAccountKey(a, `plugin:${assertPluginId(pluginId)}`);
export const opsAccountKey = (a: Authority): KeyPair => deriveAccountKey(a, "ops");
export const devAccountKey = (a: Authority): KeyPair => deriveAccountKey(a, "dev");

/** The account name a plugin's account carries in its JWT (shown by `nats server report`). */
export const pluginAccountName = (pluginId: string) => `plugin:${pluginId}`;

/**
 * Limits of a plugin's account. Explicit, as nats-server 2.9.10 requires (without `subs` a client
 * is cut at its first subscription, without `payload` it cannot publish, without any a connect
 * times out). No JetStream: a plugin reaches BUS's streams only through its imports.
 */
export const PLUGIN_ACCOUNT_LIMITS = {
  conn: 256,
  subs: 10_000,
  payload: 8 * 1024 * 1024,
  data: -1,
  imports: -1,
  exports: 0,
  wildcards: true,
  leaf: 0,
  mem_storage: 0,
  disk_storage: 0,
  streams: 0,
  consumer: 0,
} as const;

/** Limits of the DEV account: a handful of workers registering themselves. */
export const DEV_ACCOUNT_LIMITS = { ...PLUGIN_ACCOUNT_LIMITS, conn: 64, subs: 1_000, payload: 2 * 1024 * 1024 } as const;

/** What a plugin's account JWT is computed from: the log's view of the plugin. */
export type PluginAccess = {
  /** Approved and enabled: only then does the account import anything. */
  readonly active: boolean;
  /** Granted capabilities (catalog names with their parameter). */
  readonly granted: readonly string[];
};

export const NO_ACCESS: PluginAccess = { active: false, granted: [] };

/** The access both `a` and `b` allow (what is safe to push before the log records a change). */
export const meetAccess = (a: PluginAccess, b: PluginAccess): PluginAccess => ({
  active: a.active && b.active,
  granted: a.granted.filter((c) => b.granted.includes(c)),
});

export const sameAccess = (a: PluginAccess, b: PluginAccess): boolean =>
  a.active === b.active && a.granted.length === b.granted.length && a.granted.every((c) => b.granted.includes(c));

const service = (bus: string, name: string, subject: string, localSubject?: string): Import => ({
  name,
  type: "service",
  account: bus,
  subject,
  ...(localSubject && localSubject !== subject ? { local_subject: localSubject } : {}),
});

/** Imports that let an account without JetStream pull and ack one durable consumer of BUS. */
const pullImports = (bus: string, name: string, stream: string, consumer: string): Import[] => [
  service(bus, `${name} info`, jsConsumerInfo(stream, consumer), busApiLocal(jsConsumerInfo(stream, consumer))),
  service(bus, `${name} next`, jsConsumerNext(stream, consumer), busApiLocal(jsConsumerNext(stream, consumer))),
  service(bus, `${name} ack`, jsAck(stream, consumer)),
];

/**
 * Pull and ack every consumer of the plugin's own TASKS stream: one per task type it provides
 * (`task_<plugin>_<type>`). Whole-token wildcards over a stream that holds only this plugin's
 * messages and only the core's consumers, so a manifest upgrade that adds a type needs no push.
 */
const taskImports = (bus: string, stream: string): Import[] => [
  service(bus, "tasks info", jsConsumerInfoAll(stream), busApiLocal(jsConsumerInfoAll(stream))),
  service(bus, "tasks next", jsConsumerNextAll(stream), busApiLocal(jsConsumerNextAll(stream))),
  service(bus, "tasks ack", jsAckAll(stream)),
];

/** Splits `name:param` (catalog capabilities); the catalog decided the grant, so it is well formed. */
const splitCapability = (cap: string): { name: string; param: string } => {
  const i = cap.indexOf(":");
  return i < 0 ? { name: cap, param: "" } : { name: cap.slice(0, i), param: cap.slice(i + 1) };
};

/**
 * The imports one granted capability adds to a plugin's account. Capabilities that open nothing
 * on the bus (`filesystem.read.scoped`, withdrawn from the catalog because no runner could enforce it,
 * kept here so a grant stored before opens nothing instead of failing the account push) add none. Throws on a capability this table does not know: the catalog and this
 * table must change together (a test walks the catalog).
 */
export const capabilityImports = (bus: string, pluginId: string, capability: string): Import[] => {
  const { name, param } = splitCapability(capability);
  switch (name) {
    case "task.submit":
      return [service(bus, capability, busSubmitSubject(pluginId, param), submitSubject(param))];
    case "topic.publish":
      return [service(bus, capability, topicSubject(param))];
    case "topic.subscribe":
      return pullImports(bus, capability, Streams.Topics, topicConsumer(pluginId, param));
    case "secret.read":
      return [service(bus, capability, busSecretSubject(pluginId, param), secretSubject(param))];
    case "provider.chat":
      return [service(bus, capability, busProviderSubject(pluginId, "chat"), providerSubject("chat"))];
    case "provider.embedding":
      return [service(bus, capability, busProviderSubject(pluginId, "embedding"), providerSubject("embedding"))];
    case "filesystem.read.scoped":
      return [];
    default:
      throw new Error(`capability ${name} has no imports in src/auth/accounts.ts`);
  }
};

/**
 * Artifacts (subjects.md, "Artifacts"), for every active plugin: `art.get` / `art.put` arrive as
 * `art.<verb>.<plugin>` (the core serves them and checks what the plugin may read), and upload
 * chunks published on `artup.<upload>` are stored as `artup.<plugin>.<upload>` (the JetStream ack
 * comes back). The plugin never names its own id: the server writes it.
 */
const artifactImports = (bus: string, pluginId: string): Import[] => [
  service(bus, "artifact get", busArtifactSubject("get", pluginId), artifactSubject("get")),
  service(bus, "artifact put", busArtifactSubject("put", pluginId), artifactSubject("put")),
  service(bus, "artifact upload", busArtifactUploadSubject(pluginId, ">"), artifactUploadSubject(">")),
];

/**
 * Every import of a plugin's account: its baseline (pull and ack its own task consumers, its
 * reports `res.<id>.>`, its heartbeats `hb.<id>.*`, its control stream `ctl.<id>`) and one import
 * per granted capability. An inactive plugin (pending, disabled, removed) imports nothing: a
 * connection that survived its revocation could still reach nothing.
 */
export const pluginImports = (bus: string, pluginId: string, access: PluginAccess): Import[] => {
  if (!access.active) return [];
  return [
    ...taskImports(bus, tasksStream(pluginId)),
    service(bus, "reports", pluginResults(pluginId)),
    service(bus, "heartbeats", heartbeatSubject(pluginId, "*")),
    { name: "control", type: "stream", account: bus, subject: controlSubject(pluginId) },
    service(bus, "config", busConfigSubject(pluginId), CONFIG_SUBJECT),
    ...artifactImports(bus, pluginId),
    ...[...new Set(access.granted)].sort().flatMap((c) => capabilityImports(bus, pluginId, c)),
  ];
};

/** A plugin's account JWT: signed by the operator, its users signed by the account key itself. */
export const encodePluginAccount = (a: Authority, pluginId: string, access: PluginAccess, revocations: Record<string, number>): Promise<string> =>
  encodeAccount(
    pluginAccountName(pluginId),
    pluginAccountKey(a, pluginId),
    { limits: { ...PLUGIN_ACCOUNT_LIMITS }, imports: pluginImports(a.bus.getPublicKey(), pluginId, access), revocations } as Partial<Account>,
    { signer: a.operator },
  );

/** The DEV account: its users (the dev bootstrap credentials) reach `plugin.register` and nothing else. */
export const encodeDevAccount = (a: Authority, revocations: Record<string, number> = {}): Promise<string> =>
  encodeAccount(
    "DEV",
    devAccountKey(a),
    {
      limits: { ...DEV_ACCOUNT_LIMITS },
      imports: [service(a.bus.getPublicKey(), "register", serviceSubject(PLUGIN_REGISTER_ENDPOINT))],
      revocations,
    } as Partial<Account>,
    { signer: a.operator },
  );

/**
 * What BUS exports. Exports are public within this operator: only the operator's key signs
 * account JWTs, so only the imports Ganglion writes exist. Each import names a subject within one
 * of these; wildcards in exports are whole tokens (`$JS.API.CONSUMER.INFO.*.*`).
 */
export const busExports = (extra: readonly Export[] = []): Export[] => [
  { name: "consumer info", type: "service", subject: "$JS.API.CONSUMER.INFO.*.*" },
  { name: "consumer next", type: "service", subject: "$JS.API.CONSUMER.MSG.NEXT.*.*", response_type: "Stream" },
  { name: "acks", type: "service", subject: "$JS.ACK.>" },
  { name: "reports", type: "service", subject: "res.>" },
  { name: "heartbeats", type: "service", subject: "hb.>" },
  { name: "submissions", type: "service", subject: "submit.>" },
  { name: "topics", type: "service", subject: "top.>" },
  { name: "secrets", type: "service", subject: "secret.>" },
  { name: "providers", type: "service", subject: "prov.>" },
  { name: "config", type: "service", subject: "cfg.*" },
  { name: "control", type: "stream", subject: CONTROL_ALL },
  { name: "service", type: "service", subject: `${SERVICE_PREFIX}.>` },
  { name: "service discovery", type: "service", subject: "$SRV.>", response_type: "Stream" },
  // The OPS account's mirrors: its JetStream creates their source consumers here (imports name
  // each mirrored stream), the consumers deliver on `deliver.ops.<stream>`, flow control comes back.
  { name: "mirror consumers", type: "service", subject: "$JS.API.CONSUMER.CREATE.*" },
  { name: "mirror consumers (named)", type: "service", subject: "$JS.API.CONSUMER.CREATE.*.>" },
  { name: "mirror flow control", type: "service", subject: "$JS.FC.>" },
  { name: "ops deliveries", type: "stream", subject: OPS_DELIVER_ALL },
  // Applications (src/auth/appAccounts.ts): each imports its own `app.<app>.…` and `appev.<app>.>`.
  { name: "applications", type: "service", subject: APP_SERVICE_EXPORT },
  { name: "application task changes", type: "stream", subject: APP_CHANGES_ALL },
  // Artifacts: a commit copies a whole upload before it answers, so its reply may come minutes later.
  { name: "artifacts", type: "service", subject: ARTIFACT_SERVICE_EXPORT, response_threshold: 15 * 60 * 1e9 } as Export,
  { name: "artifact uploads", type: "service", subject: ARTIFACT_UPLOADS_EXPORT },
  ...extra,
];

/** BUS: JetStream on, unlimited (it is the bus), its exports, and the revocations in force. */
export const encodeBusAccountJwt = (a: Authority, revocations: Record<string, number>, extraExports: readonly Export[] = []): Promise<string> =>
  encodeAccount(
    "BUS",
    a.bus,
    {
      limits: { ...unlimitedAccount, ...unlimitedJetStream },
      signing_keys: [a.busSigner.getPublicKey()],
      exports: busExports(extraExports),
      revocations,
    } as Partial<Account>,
    { signer: a.operator },
  );
