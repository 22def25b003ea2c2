import type { Permissions } from "@nats-io/jwt";
import * as E from "fp-ts/lib/Either.js";
import { parseCapability } from "../plugins/catalog.js";
import type { Catalog } from "../plugins/catalog.js";
import {
  DEV_BOOTSTRAP_INBOX,
  heartbeatSubject,
  jsAck,
  jsConsumerInfo,
  jsConsumerNext,
  mcpSubjects,
  PLUGIN_REGISTER_ENDPOINT,
  pluginInboxPrefix,
  pluginResults,
  providerSubject,
  secretSubject,
  serviceSubject,
  Streams,
  submitSubject,
  taskConsumer,
  topicConsumer,
  topicSubject,
  assertPluginId,
} from "../store/subjects.js";

/** The subjects one capability opens for one plugin; `responses`: may answer requests it receives. */
export type CapabilitySubjects = { readonly pub: string[]; readonly sub: string[]; readonly responses: boolean };

/** The three JetStream API subjects that let a user pull from one durable consumer, and nothing more. */
export const pullConsumerSubjects = (stream: string, consumer: string): string[] => [
  jsConsumerInfo(stream, consumer),
  jsConsumerNext(stream, consumer),
  jsAck(stream, consumer),
];

/**
 * The subjects a granted capability opens (`catalog/capabilities.json` documents the same list as
 * templates; a test keeps them equal). Throws on a capability the catalog does not know: grants
 * are checked when they are decided, so this is a programming error.
 */
export const capabilitySubjects = (catalog: Catalog, pluginId: string, capability: string): CapabilitySubjects => {
  const parsed = parseCapability(catalog, capability);
  if (E.isLeft(parsed)) throw new Error(parsed.left);
  const { name, param } = parsed.right;
  const p = param ?? "";
  switch (name) {
    case "task.submit":
      return { pub: [submitSubject(p)], sub: [], responses: false };
    case "topic.publish":
      return { pub: [topicSubject(p)], sub: [], responses: false };
    case "topic.subscribe":
      return { pub: pullConsumerSubjects(Streams.Topics, topicConsumer(pluginId, p)), sub: [], responses: false };
    case "secret.read":
      return { pub: [secretSubject(p)], sub: [], responses: false };
    case "provider.chat":
      return { pub: [providerSubject("chat")], sub: [], responses: false };
    case "provider.embedding":
      return { pub: [providerSubject("embedding")], sub: [], responses: false };
    case "mcp.server":
      return { pub: [], sub: [mcpSubjects(pluginId)], responses: true };
    case "filesystem.read.scoped":
      return { pub: [], sub: [], responses: false };
    default:
      throw new Error(`capability ${name} is in the catalog but src/auth/permissions.ts does not map it to subjects`);
  }
};

/**
 * The exact permissions of a plugin's user JWT (the server enforces them):
 *
 * - pub: its own task consumer on TASKS (info, next, ack), its results `res.<id>.>`, its heartbeats
 *   `hb.<id>.*`, and the subjects of its granted capabilities;
 * - sub: `_INBOX.<id>.>` only (replies, and the core's control messages), plus what a granted
 *   capability opens (`mcp.server`).
 *
 * Everything else is denied: `>`, the event log `ev.>`, `$KV.`, JetStream administration, `$SYS`,
 * other plugins' subjects. Plugin ids and capability params are subject tokens without wildcards,
 * so no grant can widen into another plugin's space.
 */
export const pluginPermissions = (catalog: Catalog, pluginId: string, granted: readonly string[]): Permissions => {
  assertPluginId(pluginId);
  const pub = new Set<string>([
    ...pullConsumerSubjects(Streams.Tasks, taskConsumer(pluginId)),
    pluginResults(pluginId),
    heartbeatSubject(pluginId, "*"),
  ]);
  const sub = new Set<string>([`${pluginInboxPrefix(pluginId)}.>`]);
  let responses = false;
  for (const cap of granted) {
    const s = capabilitySubjects(catalog, pluginId, cap);
    s.pub.forEach((x) => pub.add(x));
    s.sub.forEach((x) => sub.add(x));
    responses ||= s.responses;
  }
  return {
    pub: { allow: [...pub] },
    sub: { allow: [...sub] },
    // Answering a request needs no standing pub right on `_INBOX.>`: one reply per request received.
    ...(responses ? { resp: { max: 1, ttl: 0 } } : {}),
  };
};

/**
 * The dev bootstrap credentials (`ganglion up --dev` prints them): a worker may register its own
 * manifest on `ganglion.v1.plugin.register` and read the reply, nothing else. Its client must set
 * `inboxPrefix` to `DEV_BOOTSTRAP_INBOX`.
 */
export const devBootstrapPermissions = (): Permissions => ({
  pub: { allow: [serviceSubject(PLUGIN_REGISTER_ENDPOINT)] },
  sub: { allow: [`${DEV_BOOTSTRAP_INBOX}.>`] },
});
