import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { Buckets } from "../../contract/subjects.js";
import type { EventStore, RecordedEvent } from "../../store/types.js";
import { loadManifests } from "../manifest.js";
import type { ViewManifest } from "../manifest.js";
import { trustedDecodeFor } from "../view.js";
import type { AnyView, Decoded } from "../view.js";
import { allViews } from "../views.js";
import { openBucket, readCheckpoint, readPointer, writeCheckpoint } from "./kv.js";
import type { ViewPointer } from "./kv.js";
import { RowConflictError, rowWriter, ViewBugError } from "./rows.js";
import { indexer, readerStore, resolveViews, sleep } from "./source.js";
import type { AnyEvent } from "./source.js";
import { stallWatch } from "./stall.js";
import { viewBuckets } from "./settings.js";
import { pipelinedRowKv } from "./bulk.js";
import { pipelinedPublisher } from "../../store/publisher.js";

export type ViewStatus = {
  readonly view: string;
  readonly version: number;
  readonly bucket: string;
  readonly position: number;
  readonly caughtUp: boolean;
};

export type ProjectionsDeps = {
  readonly nc: NatsConnection;
  readonly log: Logger;
  /** Manifests to run (default: `projections/*.json`). */
  readonly manifests?: readonly ViewManifest[];
  /** Views by name (default: the built-in views). */
  readonly views?: Readonly<Record<string, AnyView>>;
  /** Replicas of the buckets this creates (3 on a cluster, like the streams). */
  readonly replicas?: number;
  /** Checkpoint after this many applied events (and at least every second when behind). */
  readonly checkpointEvery?: number;
  /** Events folded per batch at most (each key a batch touches is written once). */
  readonly batchSize?: number;
  /** A subscription that delivers nothing while the log is ahead of it for this long is made again (default 5 s). */
  readonly stallMs?: number;
  /**
   * Once caught up, a batch starts at most this often (ms, default `LINGER_MS`): the events of
   * that time share one batch, so a task that starts and ends within it writes its row once and
   * its index entries not at all. The views lag the log by up to this much more. 0: fold at once.
   */
  readonly lingerMs?: number;
};

/** Default `lingerMs`. */
export const LINGER_MS = 100;

export type Projections = {
  /** Resolves once every view has folded the log as it was at start (and switched its pointer). */
  readonly caughtUp: Promise<void>;
  readonly status: () => ViewStatus[];
  readonly stop: () => Promise<void>;
};

type Subscription = ReturnType<EventStore<AnyEvent>["subscribeToAll"]>;

/** Does a manifest's filter admit the event (the subscription reads the whole log for every view)? */
const admits = (m: ViewManifest, e: RecordedEvent<AnyEvent>) => {
  const f = m.filter;
  if (!f) return true;
  if (f.categories && !f.categories.some((c) => e.streamName.startsWith(`${c}-`))) return false;
  return !f.eventTypePrefixes || f.eventTypePrefixes.some((p) => e.type.startsWith(p));
};

/**
 * Runs every view from one subscription to the log: EVENTS → KV. Events are folded in batches
 * (what has arrived, up to `batchSize`): each view folds the batch in memory and writes each row
 * it touched once, with compare-and-set (a conflict with another core replica folds the batch
 * again over fresh rows). Each view keeps its own checkpoint; the subscription starts at the
 * lowest, and a view skips what its checkpoint already covers. An event a view cannot decode is
 * logged and skipped; a lost server, a failed write or a stalled subscription (the log moved on,
 * nothing came: its consumer was on a node that died) restarts the subscription from the
 * checkpoints.
 */
export const startProjections = async (deps: ProjectionsDeps): Promise<Projections> => {
  const manifests = deps.manifests ?? (await loadManifests());
  const pairs = resolveViews(manifests, deps.views ?? allViews);
  const store = readerStore(deps.nc, deps.log);
  const replicas = deps.replicas ?? 1;
  const cpKv = await openBucket(deps.nc, Buckets.Checkpoints, 1, replicas);
  const ptrKv = await openBucket(deps.nc, Buckets.Projections, 1, replicas);
  const every = deps.checkpointEvery ?? 500;
  const batchSize = deps.batchSize ?? 1000;
  const lingerMs = deps.lingerMs ?? LINGER_MS;
  let stopped = false;

  // Every view's row writes share one pipelined publisher (`pipelinedRowKv`).
  const rowPub = pipelinedPublisher(deps.nc);
  const runs = await Promise.all(
    pairs.map(async ({ manifest: m, view }) => {
      const log = deps.log.child({ projection: m.name, bucket: m.bucket });
      // Rows in the operator bucket, bookkeeping in the internal one (`settings.ts`).
      const { rows: kv, ...internal } = await viewBuckets(deps.nc, m, view, replicas);
      const position = (await readCheckpoint(deps.nc, m.bucket)) ?? 0;
      let markCaughtUp!: () => void;
      const caughtUp = new Promise<void>((r) => (markCaughtUp = r));
      const st = { position, saved: position, caughtUp: false, sinceSave: 0 };
      const save = async () => {
        if (st.position === st.saved) return;
        const p = st.position;
        await writeCheckpoint(cpKv, m.bucket, p);
        st.saved = Math.max(st.saved, p);
      };
      const switchPointer = async () => {
        const cur = await readPointer(deps.nc, m.name);
        if (cur && (cur.bucket === m.bucket || cur.version > m.version)) return;
        const p: ViewPointer = {
          view: m.name,
          version: m.version,
          bucket: m.bucket,
          switchedAt: new Date().toISOString(),
          previousBucket: cur?.bucket ?? null,
        };
        await ptrKv.put(m.name, JSON.stringify(p));
        log.info({ previous: p.previousBucket }, "view switched to its new bucket");
      };
      let reaching: Promise<void> | undefined;
      const reachCaughtUp = () =>
        (reaching ??= (async () => {
          await save();
          await switchPointer();
          st.caughtUp = true;
          markCaughtUp();
        })().catch((err: unknown) => {
          reaching = undefined;
          throw err;
        }));
      return {
        m,
        view,
        log,
        st,
        writer: rowWriter(pipelinedRowKv(kv, rowPub), view, log, undefined, {
          kv: pipelinedRowKv(internal.internal, rowPub),
          ...(internal.drop ? { drop: internal.drop } : {}),
        }),
        caughtUp,
        save,
        reachCaughtUp,
      };
    }),
  );
  type Run = (typeof runs)[number];

  /** Folds a batch into one view and writes it; a lost compare-and-set folds it again. */
  const foldBatch = async (r: Run, batch: readonly Decoded<{ type: string; data: unknown }>[]) => {
    for (let attempt = 0; ; attempt++) {
      try {
        for (const e of batch) {
          try {
            await r.writer.stage(e);
          } catch (err) {
            // Retrying cannot help a bug: skip the event (verify will show the drift).
            if (!(err instanceof ViewBugError)) throw err;
            if (attempt === 0) r.log.error({ err: err.cause, position: e.position, type: e.type, stream: e.streamName }, "view failed on an event; skipped");
          }
        }
        await r.writer.flush();
        return;
      } catch (err) {
        r.writer.clear();
        if (!(err instanceof RowConflictError) || attempt >= 20) throw err;
      }
    }
  };

  // The subscription's events wait here for the folding loop; `busy` while a batch is folded.
  let queue: RecordedEvent<AnyEvent>[] = [];
  let busy = false;
  let wake: (() => void) | undefined;
  let drained: (() => void) | undefined;
  let sub: Subscription | undefined;
  let caughtUpAt: number | undefined;

  const lowest = () => Math.min(...runs.map((r) => r.st.position));

  let lastFold = 0;
  /** Live, with less than a batch queued: waits until `lingerMs` after the last fold began (a full batch, the end or a stop cuts it short). */
  const linger = async (ended: () => boolean) => {
    const wait = lastFold + lingerMs - Date.now();
    if (caughtUpAt === undefined || wait <= 0 || queue.length >= batchSize) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, wait);
      wake = () => {
        if (queue.length < batchSize && !ended() && !stopped) return;
        clearTimeout(t);
        resolve();
      };
    });
    wake = undefined;
  };

  /** Folds what is queued; commits complete in the batch move the views' positions. */
  const foldQueued = async (toView: ReturnType<typeof indexer>) => {
    busy = true;
    try {
      const batch = queue.length > batchSize ? queue.splice(0, batchSize) : queue;
      if (batch === queue) queue = [];
      drained?.();
      const events = batch.map(toView);
      // A commit is done when the next one starts: the batch's last commit only once the
      // subscription handed out an event after it (more of its events may be coming).
      const lastPos = events[events.length - 1]!.position;
      let done: number | undefined;
      for (const e of events) if (e.position !== lastPos) done = e.position;
      if (queue[0] && Number(queue[0].position) !== lastPos) done = lastPos;
      // allSettled: when one view's write fails, the others' folds must be over before the loop
      // resumes from the checkpoints (a fold still in flight would race the resumed one's writer).
      const settled = await Promise.allSettled(
        runs.map(async (r) => {
          const mine: Decoded<{ type: string; data: unknown }>[] = [];
          for (let i = 0; i < events.length; i++) {
            const e = events[i]!;
            if (e.position <= r.st.position || !admits(r.m, batch[i]!)) continue;
            const d = trustedDecodeFor(r.view, e);
            if (d._tag === "Invalid") r.log.warn({ position: e.position, type: e.type, stream: e.streamName, errors: d.errors }, "undecodable event skipped");
            else if (d._tag === "Decoded") mine.push(d.event);
          }
          if (mine.length) await foldBatch(r, mine);
          if (done !== undefined) r.st.position = Math.max(r.st.position, done);
          r.st.sinceSave += events.length;
          if (r.st.sinceSave >= every) {
            r.st.sinceSave = 0;
            await r.save();
          }
        }),
      );
      const failed = settled.find((x): x is PromiseRejectedResult => x.status === "rejected");
      if (failed) throw failed.reason;
    } finally {
      busy = false;
    }
  };

  // Position of the last event the pump queued.
  let pushed = 0;
  /**
   * Idle (nothing queued, nothing folding): every commit up to `p` is in every view. The loop
   * passes `pushed`; the timer, between macrotasks (when the subscription has queued every event
   * of what it read), passes the subscription's last position, which also covers commits no view
   * could read.
   */
  const settle = async (p: number) => {
    if (busy || queue.length || !sub) return;
    for (const r of runs) r.st.position = Math.max(r.st.position, p);
    if (caughtUpAt !== undefined && p >= caughtUpAt) await Promise.all(runs.map((r) => r.reachCaughtUp()));
  };

  const loop = async () => {
    while (!stopped) {
      const from = lowest();
      let ended = false;
      try {
        const s = (sub = store.subscribeToAll({ fromPosition: from > 0 ? BigInt(from) : "start" }));
        pushed = from;
        void s.caughtUp.then((p) => {
          caughtUpAt ??= Number(p);
          if (sub === s) wake?.();
        });
        const toView = indexer();
        // The pump: the subscription's events into the queue (at most a few batches ahead).
        const pump = (async () => {
          try {
            for await (const e of s) {
              // Stopped: the loop no longer drains the queue, so a full queue would wait for ever
              // (a stop under a backlog never finished: the events the unsubscribed subscription
              // still held filled the queue again after stop's one `drained()`).
              if (sub !== s || stopped) break;
              queue.push(e);
              pushed = Number(e.position);
              wake?.();
              if (queue.length >= 4 * batchSize && !stopped) await new Promise<void>((r) => (drained = r));
            }
          } finally {
            ended = true;
            wake?.();
          }
        })();
        pump.catch(() => undefined);
        while (!stopped) {
          if (queue.length === 0) {
            await settle(pushed);
            // Events may have been queued while settling (their wake-up went to no one).
            if (queue.length) continue;
            if (ended) break;
            await new Promise<void>((r) => (wake = r));
            wake = undefined;
            continue;
          }
          await linger(() => ended);
          if (stopped) break;
          lastFold = Date.now();
          await foldQueued(toView);
        }
        await pump;
        if (!stopped) throw new Error("the event subscription ended");
      } catch (err) {
        // The broken subscription's last position may be a commit whose write just failed:
        // nothing may move the checkpoint past it while we wait to resume.
        const s = sub;
        sub = undefined;
        queue = [];
        drained?.();
        await s?.unsubscribe().catch(() => undefined);
        if (stopped) break;
        deps.log.warn({ err, position: lowest() }, "projection fold interrupted; resuming from the last applied position");
        for (const r of runs) r.writer.clear();
        await sleep(1000);
      }
    }
  };

  const stall = stallWatch({
    store,
    log: deps.log,
    stallMs: deps.stallMs ?? 5000,
    // What the subscription has delivered, or undefined while it is not waiting on the server.
    delivered: () => (sub && !busy && queue.length === 0 ? Number(sub.lastPosition()) : undefined),
    restart: () => void sub?.unsubscribe(),
  });
  const timer = setInterval(() => {
    void settle(sub ? Number(sub.lastPosition()) : 0)
      .then(() => Promise.all(runs.map((r) => r.save())))
      .catch((err) => deps.log.warn({ err }, "checkpoint write failed"));
  }, 1000);
  const done = loop();
  return {
    caughtUp: Promise.all(runs.map((r) => r.caughtUp)).then(() => undefined),
    status: () => runs.map((r) => ({ view: r.m.name, version: r.m.version, bucket: r.m.bucket, position: r.st.position, caughtUp: r.st.caughtUp })),
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      stall.stop();
      await sub?.unsubscribe();
      wake?.();
      drained?.();
      await done;
      await Promise.all(runs.map((r) => r.save().catch((err) => r.log.warn({ err }, "final checkpoint write failed"))));
      rowPub.close();
    },
  };
};
