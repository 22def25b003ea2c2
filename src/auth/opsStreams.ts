import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager, StreamConfig, StreamInfo } from "@nats-io/jetstream";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import type { TlsOptions } from "@nats-io/nats-core";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { loadManifests } from "../projections/manifest.js";
import type { ViewManifest } from "../projections/manifest.js";
import { liveBucket } from "../projections/runner/kv.js";
import { Buckets, JS_BUS_API, opsDeliverSubject, Streams } from "../contract/subjects.js";
import type { AccountAuthority } from "./accountAuthority.js";
import { applyOpsAccount, currentOps, mintOpsAdmin, OPS_CORE_INBOX, OPS_DISK_STORAGE_DEFAULT, sleep, waitPastSecond } from "./ops.js";
import type { OpsPushDeps, OpsSpec } from "./ops.js";

/**
 * The streams of the OPS account, kept by the core (subjects.md, "The OPS account"):
 *
 * - **EVENTS** is a native cross-account mirror (`mirror.external.api = $JS.BUS.API`): the server
 *   keeps it, with the same sequence numbers (positions) as the log.
 * - **every KV bucket** operators read (the live bucket of each view, `ganglion-projections`) is a
 *   copy the core writes, `KV_<bucket>` with subjects `$KV.<bucket>.>`, so `Kvm`/`nats kv` open it
 *   as an ordinary bucket. Not a mirror because nats-server 2.9.10 checks the
 *   `Nats-Expected-Last-Subject-Sequence` header of every mirrored message against the mirror's
 *   own store: the views write rows with compare-and-set, so the first message whose expected
 *   revision was trimmed (history 1) before the mirror existed fails ("last sequence by subject
 *   mismatch") and the mirror stalls for good. The copier strips `Nats-Expected-*` and keeps the
 *   KV headers (`KV-Operation`, `Nats-Rollup`). Revisions in OPS are OPS's own; each copied
 *   message carries its BUS sequence in `Ganglion-Source-Sequence`, which is also where a copier
 *   resumes after a restart.
 *
 * EVENTS can be mirrored natively because it is never trimmed (no limits, deny delete/purge): the
 * mirror holds every revision a later append's expectation names.
 */

export { SOURCE_SEQUENCE_HEADER, copyBucket } from "./opsCopy.js";
import { copyBucket } from "./opsCopy.js";
import { pipelinedPublisher } from "../store/publisher.js";

/** The BUS streams OPS holds: EVENTS, the view pointers, and the live bucket of every view. */
export const opsStreamNames = async (nc: NatsConnection, manifests: readonly ViewManifest[]): Promise<string[]> => {
  const buckets = await Promise.all(manifests.map((m) => liveBucket(nc, m)));
  return [...new Set([Streams.Events, `KV_${Buckets.Projections}`, ...buckets.map((b) => `KV_${b}`)])].sort();
};

const isKv = (name: string) => name.startsWith("KV_");

/** The limits every OPS stream takes from its source; always `discard: old` (a copy never refuses). */
const limitsOf = (source: StreamConfig) => ({
  storage: source.storage,
  retention: RetentionPolicy.Limits,
  discard: DiscardPolicy.Old,
  max_age: source.max_age,
  max_msgs: source.max_msgs,
  max_bytes: source.max_bytes,
  max_msg_size: source.max_msg_size,
  max_msgs_per_subject: source.max_msgs_per_subject,
  num_replicas: source.num_replicas,
  allow_direct: true,
});

/** The native OPS mirror of a BUS stream (EVENTS): same name, same limits, delete and purge denied. */
export const mirrorConfig = (source: StreamConfig): Partial<StreamConfig> & { name: string } => ({
  name: source.name,
  description: `OPS mirror of BUS stream ${source.name} (kept by the Ganglion core; read-only)`,
  mirror: { name: source.name, external: { api: JS_BUS_API, deliver: opsDeliverSubject(source.name) } },
  ...limitsOf(source),
  allow_rollup_hdrs: false,
  deny_delete: true,
  deny_purge: true,
});

/**
 * The OPS copy of a BUS bucket: `KV_<bucket>` on `$KV.<bucket>.>` with the bucket's history, roll-ups
 * on (a `kv purge` in BUS is a roll-up; nats-server then requires purges to be allowed: only the
 * core's OPS user may send one), message delete denied.
 */
export const copyConfig = (source: StreamConfig): Partial<StreamConfig> & { name: string } => ({
  name: source.name,
  description: `OPS copy of BUS bucket ${source.name.slice(3)} (kept by the Ganglion core; read-only)`,
  subjects: [`$KV.${source.name.slice(3)}.>`],
  ...limitsOf(source),
  allow_rollup_hdrs: true,
  deny_delete: true,
  deny_purge: false,
});

export const opsConfig = (source: StreamConfig) => (isKv(source.name) ? copyConfig(source) : mirrorConfig(source));

/** Fields of an OPS stream that may be updated in place (the rest need a new stream). */
const UPDATABLE = [
  "description",
  "max_age",
  "max_msgs",
  "max_bytes",
  "max_msg_size",
  "max_msgs_per_subject",
  "num_replicas",
  "allow_direct",
  "allow_rollup_hdrs",
  "deny_delete",
  "deny_purge",
  "discard",
] as const;

/** Whether an OPS stream is the one `want` describes (up to the updatable fields). */
const isOurs = (cfg: StreamConfig, want: Partial<StreamConfig>) =>
  want.mirror
    ? cfg.mirror?.name === want.mirror.name &&
      cfg.mirror.external?.api === want.mirror.external?.api &&
      cfg.mirror.external?.deliver === want.mirror.external?.deliver &&
      (cfg.subjects ?? []).length === 0
    : !cfg.mirror &&
      (cfg.sources ?? []).length === 0 &&
      JSON.stringify(cfg.subjects ?? []) === JSON.stringify(want.subjects ?? []) &&
      cfg.storage === want.storage;

const streamNotFound = (err: unknown) => err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
/** JetStream API error 10058: a stream of that name exists (with another configuration). */
const STREAM_NAME_IN_USE = 10058;

export type StreamsReport = { created: string[]; updated: string[]; replaced: string[]; deleted: string[]; unchanged: string[] };

/**
 * Makes OPS hold exactly one correct stream per source (a mirror of EVENTS, a copy of each bucket):
 * creates the missing, updates the changed, replaces any stream of that name that is not ours, and
 * deletes every other OPS stream (an older view bucket, or anything else).
 */
export const syncOpsStreams = async (ops: JetStreamManager, sources: readonly StreamConfig[]): Promise<StreamsReport> => {
  const r: StreamsReport = { created: [], updated: [], replaced: [], deleted: [], unchanged: [] };
  const want = new Map(sources.map((s) => [s.name, opsConfig(s)]));
  const have = new Map<string, StreamInfo>();
  for await (const si of ops.streams.list()) have.set(si.config.name, si);
  for (const name of have.keys()) {
    if (!want.has(name)) {
      await ops.streams.delete(name);
      r.deleted.push(name);
    }
  }
  for (const [name, cfg] of want) {
    const cur = have.get(name);
    if (cur && isOurs(cur.config, cfg)) {
      const changed = UPDATABLE.filter((k) => cfg[k] !== undefined && cur.config[k] !== cfg[k]);
      if (changed.length === 0) {
        r.unchanged.push(name);
        continue;
      }
      await ops.streams.update(name, Object.fromEntries(changed.map((k) => [k, cfg[k]])) as Partial<StreamConfig>);
      r.updated.push(name);
      continue;
    }
    if (cur) {
      await ops.streams.delete(name);
      r.replaced.push(name);
    }
    try {
      await ops.streams.add(cfg);
    } catch (err) {
      // Another core replica created it meanwhile: fine if it is ours.
      if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE)) throw err;
      if (!isOurs((await ops.streams.info(name)).config, cfg)) throw err;
    }
    if (!cur) r.created.push(name);
  }
  return r;
};

/** The configs of the BUS streams among `names` that exist (a bucket not created yet is left out). */
const sourceConfigs = async (jsm: JetStreamManager, names: readonly string[]): Promise<StreamConfig[]> => {
  const out: StreamConfig[] = [];
  for (const n of names) {
    try {
      out.push((await jsm.streams.info(n)).config);
    } catch (err) {
      if (!streamNotFound(err)) throw err;
    }
  }
  return out;
};

// ---- the bucket copier ------------------------------------------------------------------------

// ---- the component ---------------------------------------------------------------------------

export type OpsDeps = {
  /** The core's BUS connection (reads the pointers, the sources' configs, the buckets it copies). */
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly accounts: AccountAuthority;
  /** Credentials of a SYS user: the OPS JWT in force is looked up before every push. */
  readonly sysCreds: string;
  /** The views whose live buckets are copied (default: `projections/*.json`). */
  readonly manifests?: readonly ViewManifest[];
  /** `disk_storage` of OPS in bytes (default -1: unbounded; see ops.ts). */
  readonly diskStorage?: number;
  /** How often the OPS streams are checked and repaired besides pointer changes (default 60 s). */
  readonly repairEveryMs?: number;
  /** Lifetime of each OPS user the core mints for its own connection (default 1 h; it reconnects). */
  readonly adminTtlMs?: number;
  /** TLS of the host's connection, for the OPS and SYS connections. */
  readonly tls?: TlsOptions;
};

export type OpsReport = { readonly streams: readonly string[]; readonly pushed: boolean } & StreamsReport & { readonly behind: readonly string[] };

export type OpsRuntime = {
  /** Pushes the OPS account if it changed, repairs the OPS streams and (re)starts the copiers; serialised. */
  readonly refresh: () => Promise<OpsReport>;
  /** Resolves once every copy holds its BUS bucket's last sequence of now (tests, `ganglion up`). */
  readonly caughtUp: (timeoutMs?: number) => Promise<void>;
  readonly stop: () => Promise<void>;
};

type Session = { nc: NatsConnection; jsm: JetStreamManager; js: JetStreamClient; pub: ReturnType<typeof pipelinedPublisher>; closed: boolean };
type Copier = { abort: AbortController; done: Promise<void>; sourceSeq: number; session: Session };

/**
 * The OPS component of the core. At start, when a view pointer moves (a watch on
 * `ganglion-projections`) and every `repairEveryMs`, it computes the OPS streams, pushes the OPS
 * account JWT when its imports changed (revocations carried forward, from the server's JWT and the
 * data dir's), makes the OPS streams match, and runs one copier per bucket on a connection of its
 * own OPS user (minted again whenever that connection ends: an operator re-mint revokes every OPS
 * user, ours included). Failures are logged and retried; the bus keeps running without OPS.
 */
export const startOps = async (deps: OpsDeps): Promise<OpsRuntime> => {
  const log = deps.log.child({ component: "ops" });
  const manifests = deps.manifests ?? (await loadManifests());
  const a = deps.accounts.authority;
  const servers = deps.nc.getServer();
  const pushDeps: OpsPushDeps = { accounts: deps.accounts, sysCreds: deps.sysCreds, servers, tls: deps.tls };
  const busJsm = await jetstreamManager(deps.nc);
  const busJs = jetstream(deps.nc);
  const copiers = new Map<string, Copier>();
  let session: Session | undefined;
  let stopped = false;

  const openSession = async (): Promise<Session> => {
    if (session && !session.closed) return session;
    // Our own OPS user must be issued after any `*` revocation an operator re-mint pushed.
    await waitPastSecond((await currentOps(pushDeps)).revocations["*"]);
    const admin = await mintOpsAdmin(a, deps.adminTtlMs ?? 3_600_000);
    const nc = await connect({
      servers,
      authenticator: credsAuthenticator(new TextEncoder().encode(admin.creds)),
      name: "ganglion-core-ops",
      inboxPrefix: OPS_CORE_INBOX,
      maxReconnectAttempts: 0,
      ...(deps.tls ? { tls: deps.tls } : {}),
    });
    const s: Session = { nc, jsm: await jetstreamManager(nc), js: jetstream(nc), pub: pipelinedPublisher(nc), closed: false };
    void nc.closed().then(() => {
      s.closed = true;
      if (!stopped) {
        log.info("OPS connection closed (revoked, expired or lost): reconnecting");
        tryRefresh();
      }
    });
    session = s;
    return s;
  };

  const startCopier = (s: Session, name: string) => {
    const abort = new AbortController();
    const c: Copier = { abort, sourceSeq: 0, session: s, done: Promise.resolve() };
    c.done = (async () => {
      while (!abort.signal.aborted && !s.closed) {
        try {
          await copyBucket({ bus: busJs, busJsm, opsJsm: s.jsm, publish: s.pub.publish, name, signal: abort.signal, onCopied: (q) => (c.sourceSeq = q) });
        } catch (err) {
          if (abort.signal.aborted || s.closed) break;
          log.warn({ err, stream: name }, "OPS copy interrupted; resuming");
          await sleep(500);
        }
      }
    })();
    copiers.set(name, c);
  };

  const stopCopier = async (name: string) => {
    const c = copiers.get(name);
    if (!c) return;
    copiers.delete(name);
    c.abort.abort();
    await c.done;
  };

  const once = async (): Promise<OpsReport> => {
    const names = await opsStreamNames(deps.nc, manifests);
    const sources = await sourceConfigs(busJsm, names);
    const spec: OpsSpec = { streams: sources.filter((s) => !isKv(s.name)).map((s) => s.name), diskStorage: deps.diskStorage ?? OPS_DISK_STORAGE_DEFAULT };
    const pushed = await applyOpsAccount(pushDeps, spec);
    const s = await openSession();
    const copies = sources.filter((x) => isKv(x.name)).map((x) => x.name);
    // Copiers of buckets that left the set stop before their streams go.
    for (const name of [...copiers.keys()]) if (!copies.includes(name) || copiers.get(name)!.session !== s) await stopCopier(name);
    const report = await syncOpsStreams(s.jsm, sources);
    for (const name of [...report.replaced, ...report.created]) await stopCopier(name);
    for (const name of copies) if (!copiers.has(name)) startCopier(s, name);
    const behind: string[] = [];
    for (const src of sources) {
      const have = isKv(src.name) ? (copiers.get(src.name)?.sourceSeq ?? 0) : (await s.jsm.streams.info(src.name)).state.last_seq;
      const want = (await busJsm.streams.info(src.name)).state.last_seq;
      if (have < want) behind.push(src.name);
    }
    return { streams: sources.map((x) => x.name), pushed, behind, ...report };
  };

  let running: Promise<OpsReport> | undefined;
  let again = false;
  let lastBehind = new Set<string>();
  const refresh = (): Promise<OpsReport> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        for (;;) {
          again = false;
          const r = await once();
          if (r.pushed || r.created.length + r.updated.length + r.replaced.length + r.deleted.length > 0) log.info(r, "OPS account and streams refreshed");
          // Behind at two ticks in a row: stuck (the OPS disk_storage reached?), not just busy.
          const stuck = r.behind.filter((n) => lastBehind.has(n));
          if (stuck.length > 0)
            log.warn({ behind: stuck }, "OPS copies behind their BUS source since the last check (OPS disk_storage reached? see the server log)");
          lastBehind = new Set(r.behind);
          if (!again || stopped) return r;
        }
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  // A failed refresh (the server restarting, our OPS user caught by an operator re-mint's `*`
  // revocation) is tried again soon, then at every tick.
  let retry: ReturnType<typeof setTimeout> | undefined;
  const failed = (err: unknown) => {
    if (stopped) return;
    log.warn({ err }, "OPS refresh failed; trying again in 2 s");
    if (!retry) retry = setTimeout(() => ((retry = undefined), tryRefresh()), 2000);
  };
  const tryRefresh = () => void refresh().catch(failed);
  await refresh().catch(failed);

  // A view moving to a new bucket moves its pointer: follow it.
  const watch = await (await new Kvm(deps.nc).open(Buckets.Projections)).watch({ include: KvWatchInclude.UpdatesOnly });
  const watching = (async () => {
    for await (const e of watch) {
      if (stopped) break;
      log.debug({ view: e.key }, "view pointer changed");
      tryRefresh();
    }
  })().catch((err) => log.warn({ err }, "OPS pointer watch ended"));
  const timer = setInterval(tryRefresh, deps.repairEveryMs ?? 60_000);
  timer.unref?.();

  return {
    refresh,
    caughtUp: async (timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      const want = new Map<string, number>();
      for (const name of await opsStreamNames(deps.nc, manifests)) {
        try {
          want.set(name, (await busJsm.streams.info(name)).state.last_seq);
        } catch (err) {
          if (!streamNotFound(err)) throw err;
        }
      }
      for (const [name, seq] of want) {
        for (;;) {
          const s = session;
          const have = isKv(name)
            ? (copiers.get(name)?.sourceSeq ?? 0)
            : s && !s.closed
              ? await s.jsm.streams.info(name).then(
                  (i) => i.state.last_seq,
                  () => 0,
                )
              : 0;
          if (have >= seq) break;
          if (Date.now() > deadline) throw new Error(`the OPS copy of ${name} is at ${have}, its BUS source at ${seq}`);
          await sleep(25);
        }
      }
    },
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      if (retry) clearTimeout(retry);
      watch.stop();
      await watching;
      await running?.catch(() => undefined);
      for (const name of [...copiers.keys()]) await stopCopier(name);
      await session?.nc.close().catch(() => undefined);
    },
  };
};
