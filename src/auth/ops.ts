import { decode, encodeAccount } from "@nats-io/jwt";
import type { Account, ClaimsData, Import, Permissions } from "@nats-io/jwt";
import type { TlsOptions } from "@nats-io/nats-core";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { endpointsWith } from "../contract/endpoints.js";
import { busApiLocal, CLAIMS_LIST, claimsLookupSubject, JS_BUS_API, opsDeliverSubject, OPS_DELIVER_ALL, serviceSubject } from "../contract/subjects.js";
import { mergeRevocations, mintAccountUser, revocationsOf } from "./accountAuthority.js";
import type { AccountAuthority } from "./accountAuthority.js";
import { opsAccountKey } from "./accounts.js";
import type { Authority, MintedUser } from "./authority.js";

/**
 * The OPS account: where read-only operators (`ganglion nats-context`, the `nats` CLI) live
 * (subjects.md, "The OPS account").
 *
 * OPS holds copies of what operators read, kept by the core (`opsStreams.ts`): a native mirror of
 * EVENTS, filled through BUS's exports by OPS's own JetStream, and a copy of the live bucket of
 * every view and of the `ganglion-projections` pointers. It imports the read-only endpoints of the
 * `ganglion` service and `$SRV.>`. An OPS user reads with its own account's JetStream API: every
 * consumer it creates lives in OPS and delivers there, every reply it sets names an OPS subject.
 * Nothing it does reaches BUS except through the imports below, and its permissions keep it away
 * from the one import that is not a read (the BUS consumer API of the mirror, `$JS.BUS.API`).
 *
 * Limits are explicit (nats-server 2.9.10 needs them). The copies are file streams as big as their
 * sources: `disk_storage` defaults to unbounded because a mirror that reaches the account's disk
 * limit stops following its source without any error (only a server log warning). A bound, when
 * set (`startCore({ ops: { diskStorage } })`), must leave headroom over EVENTS plus the view buckets.
 */

export const OPS_ACCOUNT_NAME = "OPS";

/** Default `disk_storage` of OPS: unbounded (see above). */
export const OPS_DISK_STORAGE_DEFAULT = -1;

export const OPS_ACCOUNT_LIMITS = {
  /** Operators' connections (each nats CLI call is one). */
  conn: 128,
  subs: 10_000,
  /** What an OPS client may publish: requests and acks (the server fills the mirror, the core's own user the copies). */
  payload: 1024 * 1024,
  data: -1,
  imports: -1,
  exports: 0,
  wildcards: true,
  leaf: 0,
  /** No memory streams: every OPS stream is a file stream (memory consumers of reads do not count here; verified). */
  mem_storage: 0,
  /** The mirror and the copies, with headroom for views moving to new buckets. */
  streams: 64,
  /** Ephemeral consumers of operators' reads (`kv ls`, watches, `stream view`). */
  consumer: 1_000,
} as const;

/** The endpoints an OPS caller may reach: the ones declared `access: "read"`. */
export const OPS_READ_ENDPOINTS: readonly string[] = endpointsWith("read");

/** What the OPS account JWT is computed from. */
export type OpsSpec = {
  /** Names of the BUS streams OPS mirrors natively (EVENTS; each mirror has the same name in OPS). */
  readonly streams: readonly string[];
  /** The account's `disk_storage` (bytes, -1 unbounded). */
  readonly diskStorage: number;
};

const service = (bus: string, name: string, subject: string, localSubject?: string): Import => ({
  name,
  type: "service",
  account: bus,
  subject,
  ...(localSubject && localSubject !== subject ? { local_subject: localSubject } : {}),
});

const consumerCreate = (stream: string) => `$JS.API.CONSUMER.CREATE.${stream}`;

/**
 * The imports of OPS. Per natively mirrored stream S exactly what its mirror needs, no more: the
 * consumer create of S (ephemeral and named forms) under `$JS.BUS.API`, the flow control of S's
 * consumers, and the stream of deliveries `deliver.ops.S.>` (nats-server 2.9.10 makes the mirror's
 * deliver subject `deliver.ops.S.M.<random>`). Then the read-only endpoints and `$SRV.>`.
 */
export const opsImports = (bus: string, streams: readonly string[], endpoints: readonly string[] = OPS_READ_ENDPOINTS): Import[] => [
  ...[...new Set(streams)].sort().flatMap((s): Import[] => [
    service(bus, `mirror ${s}: consumer`, consumerCreate(s), busApiLocal(consumerCreate(s))),
    service(bus, `mirror ${s}: consumer (named)`, `${consumerCreate(s)}.>`, busApiLocal(`${consumerCreate(s)}.>`)),
    service(bus, `mirror ${s}: flow control`, `$JS.FC.${s}.>`),
    // The mirror's consumer delivers on `<deliver prefix>.M.<random>`, not on the prefix itself.
    { name: `mirror ${s}: deliveries`, type: "stream", account: bus, subject: `${opsDeliverSubject(s)}.>` },
  ]),
  ...[...new Set(endpoints)].sort().map((e) => service(bus, `query ${e}`, serviceSubject(e))),
  service(bus, "service discovery", "$SRV.>"),
];

/** The OPS account JWT: signed by the operator, its users signed by the OPS account key. */
export const encodeOpsAccount = (a: Authority, spec: OpsSpec, revocations: Record<string, number>): Promise<string> =>
  encodeAccount(
    OPS_ACCOUNT_NAME,
    opsAccountKey(a),
    {
      description: "Ganglion read-only operators: a mirror of the log, copies of the views, the query endpoints",
      limits: { ...OPS_ACCOUNT_LIMITS, disk_storage: spec.diskStorage },
      imports: opsImports(a.bus.getPublicKey(), spec.streams),
      revocations,
    } as Partial<Account>,
    { signer: a.operator },
  );

/** The spec an OPS account JWT was made from (its mirrored streams, its disk bound). */
export const opsSpecOf = (jwt: string): OpsSpec => {
  const claims = decode<Account>(jwt) as ClaimsData<Account>;
  const prefix = OPS_DELIVER_ALL.slice(0, -1);
  const streams = (claims.nats.imports ?? [])
    .filter((i) => i.type === "stream" && i.subject.startsWith(prefix) && i.subject.endsWith(".>"))
    .map((i) => i.subject.slice(prefix.length, -2));
  const disk = (claims.nats.limits as { disk_storage?: number } | undefined)?.disk_storage;
  return { streams: [...new Set(streams)].sort(), diskStorage: typeof disk === "number" ? disk : OPS_DISK_STORAGE_DEFAULT };
};

const sameSpec = (a: OpsSpec, b: OpsSpec) =>
  a.diskStorage === b.diskStorage && a.streams.length === b.streams.length && a.streams.every((s, i) => b.streams[i] === s);
const sameRevocations = (a: Record<string, number>, b: Record<string, number>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/**
 * The permissions of an OPS user (`ganglion nats-context`). Within OPS: the read verbs of OPS's
 * own JetStream (every OPS stream is a read-only copy: wildcards over stream names keep the JWT far below
 * the 4 KiB CONNECT line however many views there are), flow control and acks of its own
 * consumers, discovery and the read endpoints; subscriptions on inboxes only.
 *
 * Denied outright: `$JS.BUS.API.>` (the BUS consumer API the mirror uses: a consumer created
 * there lives in BUS and would deliver wherever its config says), stream management, `$KV.>`,
 * `ev.>` and the mirror's delivery subjects.
 */
export const opsUserPermissions = (endpoints: readonly string[] = OPS_READ_ENDPOINTS): Permissions => ({
  pub: {
    allow: [
      "$JS.API.INFO",
      "$JS.API.STREAM.NAMES",
      "$JS.API.STREAM.LIST",
      "$JS.API.STREAM.INFO.*",
      "$JS.API.STREAM.MSG.GET.*",
      "$JS.API.DIRECT.GET.*",
      "$JS.API.DIRECT.GET.*.>",
      "$JS.API.CONSUMER.CREATE.*",
      "$JS.API.CONSUMER.CREATE.*.>",
      "$JS.API.CONSUMER.INFO.*.*",
      "$JS.API.CONSUMER.NAMES.*",
      "$JS.API.CONSUMER.LIST.*",
      "$JS.API.CONSUMER.MSG.NEXT.*.*",
      "$JS.API.CONSUMER.DELETE.*.*",
      "$JS.FC.>",
      "$JS.ACK.>",
      "$SRV.>",
      ...endpoints.map(serviceSubject),
    ],
    deny: [
      `${JS_BUS_API}.>`,
      "$JS.API.STREAM.CREATE.>",
      "$JS.API.STREAM.UPDATE.>",
      "$JS.API.STREAM.DELETE.>",
      "$JS.API.STREAM.PURGE.>",
      "$JS.API.STREAM.MSG.DELETE.>",
      "$JS.API.CONSUMER.DURABLE.CREATE.>",
      "$KV.>",
      "ev.>",
      OPS_DELIVER_ALL,
    ],
  },
  sub: { allow: ["_INBOX.>"] },
});

/**
 * Inbox prefix of the core's own OPS connection. OPS users may subscribe to `_INBOX.>` only, so
 * they never see the core's replies nor learn its inbox (a push consumer delivering into it would
 * feed the core false JetStream answers).
 */
export const OPS_CORE_INBOX = "_GANGLION_OPS_CORE";

/**
 * The core's own OPS user (short-lived, minted again for every connection): OPS's JetStream API,
 * to manage the OPS streams, and `$KV.>`, to write the bucket copies; never the BUS API the
 * mirror uses.
 */
export const opsAdminPermissions: Permissions = {
  pub: { allow: ["$JS.API.>", "$KV.>"], deny: [`${JS_BUS_API}.>`] },
  sub: { allow: [`${OPS_CORE_INBOX}.>`] },
};

/** Mints the core's own OPS user. */
export const mintOpsAdmin = (a: Authority, ttlMs: number): Promise<MintedUser & { expiresAt: string | null }> =>
  mintAccountUser(opsAccountKey(a), "ganglion-core-ops", { ...opsAdminPermissions, tags: ["ops-admin"] }, { ttlMs });

/**
 * Inbox prefix written into the nats CLI context. OPS holds no plugin, so any `_INBOX.` works;
 * this one (also the 0.1 one) keeps operators' inboxes recognisable in `nats server report`.
 */
export const READ_ONLY_INBOX = "_INBOX._ops";

/** nats-server's default `max_control_line`: a CONNECT line (JWT included) must fit in it. */
export const MAX_CONTROL_LINE = 4096;

/** Mints an OPS user for an operator; `ttlMs` sets the JWT's expiry (the server refuses it after). */
export const mintOpsUser = (a: Authority, name: string, opts: { ttlMs?: number } = {}): Promise<MintedUser & { expiresAt: string | null }> =>
  mintAccountUser(opsAccountKey(a), name, { ...opsUserPermissions(), tags: ["ops"] }, opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {});

// ---- the account JWT in force ---------------------------------------------------------------

/**
 * The account JWT the server holds (`$SYS.REQ.ACCOUNT.<key>.CLAIMS.LOOKUP`, full resolver), or
 * undefined when it has none. Read before every OPS push so that a push from another process
 * (the CLI revoking operators while the core refreshes OPS) is not undone.
 */
export const lookupAccountJwt = async (
  servers: string | string[],
  sysCreds: string,
  accountKey: string,
  opts: { timeoutMs?: number; tls?: TlsOptions } = {},
): Promise<string | undefined> => {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const nc = await connect({
    servers,
    authenticator: credsAuthenticator(new TextEncoder().encode(sysCreds)),
    name: "ganglion-accounts",
    maxReconnectAttempts: 0,
    ...(opts.tls ? { tls: opts.tls } : {}),
  });
  try {
    // A lookup of an account the resolver does not hold goes unanswered on 2.9.10 (and logs an
    // error): ask for the list first.
    const list = (await nc.request(CLAIMS_LIST, "", { timeout: timeoutMs })).json<{ data?: unknown }>();
    if (!Array.isArray(list.data) || !list.data.includes(accountKey)) return undefined;
    const text = (await nc.request(claimsLookupSubject(accountKey), "", { timeout: timeoutMs })).string().trim();
    if (!text.startsWith("ey")) return undefined;
    return decode<Account>(text).sub === accountKey ? text : undefined;
  } finally {
    await nc.close().catch(() => undefined);
  }
};

export type OpsPushDeps = {
  readonly accounts: AccountAuthority;
  readonly sysCreds: string;
  readonly servers: string | string[];
  readonly tls?: TlsOptions | undefined;
};

/** The OPS JWT in force (the server's, else the last this data dir pushed) with every revocation either holds. */
export const currentOps = async (d: OpsPushDeps): Promise<{ jwt: string | undefined; revocations: Record<string, number> }> => {
  const key = opsAccountKey(d.accounts.authority).getPublicKey();
  const [server, local] = await Promise.all([lookupAccountJwt(d.servers, d.sysCreds, key, d.tls ? { tls: d.tls } : {}), d.accounts.lastPushed(key)]);
  return { jwt: server ?? local, revocations: mergeRevocations(server ? revocationsOf(server) : {}, local ? revocationsOf(local) : {}) };
};

/** Pushes the OPS account for `spec` unless the server already holds exactly that; answers whether it pushed. */
export const applyOpsAccount = async (d: OpsPushDeps, spec: OpsSpec, revoke: Record<string, number> = {}): Promise<boolean> => {
  const cur = await currentOps(d);
  const revocations = mergeRevocations(cur.revocations, revoke);
  if (cur.jwt && sameSpec(opsSpecOf(cur.jwt), spec) && sameRevocations(revocationsOf(cur.jwt), revocations)) return false;
  await d.accounts.push(opsAccountKey(d.accounts.authority).getPublicKey(), await encodeOpsAccount(d.accounts.authority, spec, revocations));
  return true;
};

export class OpsNotReadyError extends Error {
  override name = "OpsNotReadyError";
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the clock is in a later second than `at` (a user JWT with `iat <= at` is revoked by `*: at`). */
export const waitPastSecond = async (at: number | undefined, clock: () => Date = () => new Date()) => {
  if (at === undefined) return;
  while (Math.floor(clock().getTime() / 1000) <= at) await sleep(50);
};

/**
 * New read-only operator credentials, every earlier OPS user revoked: the OPS JWT in force is
 * pushed again with `revocations: {"*": now}` (every other revocation carried forward), then the
 * user is minted in a later second. Needs the OPS account the core set up.
 */
export const issueOpsCredentials = async (
  d: OpsPushDeps & { readonly name: string; readonly ttlMs?: number; readonly clock?: () => Date },
): Promise<MintedUser & { expiresAt: string | null; revokedAt: number }> => {
  const clock = d.clock ?? (() => new Date());
  const cur = await currentOps(d);
  if (!cur.jwt) {
    throw new OpsNotReadyError(
      "the OPS account has not been set up on this server yet: start the core (`ganglion up` or `ganglion serve` with the data dir's keys) once, then run this again",
    );
  }
  const at = Math.floor(clock().getTime() / 1000);
  await applyOpsAccount(d, opsSpecOf(cur.jwt), { "*": at });
  await waitPastSecond(at, clock);
  const user = await mintOpsUser(d.accounts.authority, d.name, d.ttlMs !== undefined ? { ttlMs: d.ttlMs } : {});
  return { ...user, revokedAt: at };
};
