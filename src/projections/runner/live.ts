import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { Buckets } from "../../contract/subjects.js";
import type { EventStore } from "../../store/types.js";
import { loadManifests } from "../manifest.js";
import type { ViewManifest } from "../manifest.js";
import { decodeFor } from "../view.js";
import type { AnyView } from "../view.js";
import { allViews } from "../views.js";
import { openBucket, readCheckpoint, readPointer, writeCheckpoint } from "./kv.js";
import type { ViewPointer } from "./kv.js";
import { rowWriter, ViewBugError } from "./rows.js";
import { indexer, readerStore, resolveViews, sleep } from "./source.js";
import type { AnyEvent } from "./source.js";

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
};

export type Projections = {
  /** Resolves once every view has folded the log as it was at start (and switched its pointer). */
  readonly caughtUp: Promise<void>;
  readonly status: () => ViewStatus[];
  readonly stop: () => Promise<void>;
};

/**
 * Starts one checkpointed fold per view: EVENTS → KV. Each view subscribes from its checkpoint;
 * a redelivered event is skipped per row; an event a view cannot decode is logged and skipped;
 * a lost server or a failed write restarts the fold from the last applied position.
 */
export const startProjections = async (deps: ProjectionsDeps): Promise<Projections> => {
  const manifests = deps.manifests ?? (await loadManifests());
  const pairs = resolveViews(manifests, deps.views ?? allViews);
  const store = readerStore(deps.nc, deps.log);
  const replicas = deps.replicas ?? 1;
  const cpKv = await openBucket(deps.nc, Buckets.Checkpoints, 1, replicas);
  const ptrKv = await openBucket(deps.nc, Buckets.Projections, 1, replicas);
  const every = deps.checkpointEvery ?? 500;
  let stopped = false;
  const runs = await Promise.all(
    pairs.map(async ({ manifest: m, view }) => {
      const log = deps.log.child({ projection: m.name, bucket: m.bucket });
      const kv = await openBucket(deps.nc, m.bucket, m.history ?? 1, replicas);
      const writer = rowWriter(kv, view, log);
      const st = { position: (await readCheckpoint(deps.nc, m.bucket)) ?? 0, saved: 0, caughtUp: false };
      st.saved = st.position;
      let sub: ReturnType<EventStore<AnyEvent>["subscribeToAll"]> | undefined;
      // While the loop waits for the next event, every commit the subscription has read (even
      // those this view filters out) is done: the checkpoint may move up to it.
      let busy = false;
      let markCaughtUp!: () => void;
      const caughtUp = new Promise<void>((r) => (markCaughtUp = r));

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
      const onCaughtUp = async () => {
        await save();
        await switchPointer();
        st.caughtUp = true;
        markCaughtUp();
      };

      const loop = async () => {
        while (!stopped) {
          try {
            sub = store.subscribeToAll({ fromPosition: st.position > 0 ? BigInt(st.position) : "start", filter: m.filter });
            const s = sub;
            // `caughtUp` resolves (with the last stored position) once the loop asked for the event
            // after it: every commit up to there has been applied.
            void s.caughtUp
              .then((p) => {
                st.position = Math.max(st.position, Number(p));
                return st.caughtUp || stopped ? undefined : onCaughtUp();
              })
              .catch((err) => log.warn({ err }, "caught-up bookkeeping failed"));
            let n = 0;
            let inCommit = st.position;
            const toView = indexer();
            for await (const r of s) {
              if (stopped) break;
              busy = true;
              const e = toView(r);
              // A commit is done when the next one starts: only then may the checkpoint pass it.
              if (e.position !== inCommit) st.position = Math.max(st.position, inCommit);
              inCommit = e.position;
              const d = decodeFor(view, e);
              if (d._tag === "Invalid") log.warn({ position: e.position, type: e.type, stream: e.streamName, errors: d.errors }, "undecodable event skipped");
              else if (d._tag === "Decoded") {
                try {
                  await writer.apply(d.event);
                } catch (err) {
                  // Retrying cannot help a bug: skip the event (verify will show the drift).
                  if (!(err instanceof ViewBugError)) throw err;
                  log.error({ err: err.cause, position: e.position, type: e.type, stream: e.streamName }, "view failed on an event; skipped");
                }
              }
              if (++n % every === 0) await save();
              busy = false;
            }
            if (!stopped) throw new Error("the event subscription ended");
          } catch (err) {
            busy = false;
            await sub?.unsubscribe().catch(() => undefined);
            // The broken subscription's last position may be a commit whose write just failed:
            // the checkpoint timer must not move past it while we wait to resume.
            sub = undefined;
            if (stopped) break;
            log.warn({ err, position: st.position }, "projection fold interrupted; resuming from the last applied position");
            writer.clear();
            await sleep(1000);
          }
        }
      };
      const timer = setInterval(() => {
        if (!busy && sub) st.position = Math.max(st.position, Number(sub.lastPosition()));
        void save().catch((err) => log.warn({ err }, "checkpoint write failed"));
      }, 1000);
      const done = loop();
      return {
        m,
        st,
        caughtUp,
        stop: async () => {
          clearInterval(timer);
          await sub?.unsubscribe();
          await done;
          await save().catch((err) => log.warn({ err }, "final checkpoint write failed"));
        },
      };
    }),
  );
  return {
    caughtUp: Promise.all(runs.map((r) => r.caughtUp)).then(() => undefined),
    status: () => runs.map((r) => ({ view: r.m.name, version: r.m.version, bucket: r.m.bucket, position: r.st.position, caughtUp: r.st.caughtUp })),
    stop: async () => {
      stopped = true;
      await Promise.all(runs.map((r) => r.stop()));
    },
  };
};
