import { JetStreamApiCodes, JetStreamApiError, PubHeaders } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { headers } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { pipelinedPublisher } from "../../store/publisher.js";
import type { StoredRow } from "../fold.js";

type Row = StoredRow<Record<string, unknown>>;

/** How `@nats-io/kv` names a key's subject (its `KvImpl`; not on the `KV` interface). */
type KeySubjects = { encodeKey(k: string): string; subjectForKey(k: string, edit?: boolean): string };
const keySubjects = (kv: KV): KeySubjects | undefined => {
  const k = kv as unknown as Partial<KeySubjects>;
  return typeof k.encodeKey === "function" && typeof k.subjectForKey === "function" ? (k as KeySubjects) : undefined;
};

const isCasConflict = (err: unknown) => err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;

/** What the row writer needs of a bucket (`rows.ts`). */
export type RowKv = Pick<KV, "get" | "delete" | "create" | "update">;

/**
 * A bucket whose compare-and-set writes are published straight to the key's subject with the
 * expected last subject sequence, through one pipelined publisher: what `kv.update` and
 * `kv.create` do, without a request (a timer and two `Error`s, a twentieth of the core's CPU
 * under load) per row. `create` over a delete or purge marker writes over it, as `kv.create`
 * does. Reads and deletions are the bucket's own.
 */
export const pipelinedRowKv = (kv: KV, pub: Pick<ReturnType<typeof pipelinedPublisher>, "publish">): RowKv => {
  const ks = keySubjects(kv);
  if (!ks) return kv;
  const put = async (k: string, data: string | Uint8Array, revision: number) => {
    const h = headers();
    h.set(PubHeaders.ExpectedLastSubjectSequenceHdr, String(revision));
    return (await pub.publish(ks.subjectForKey(ks.encodeKey(k), true), data, h)).seq;
  };
  return {
    get: (k, o) => kv.get(k, o),
    delete: (k, o) => kv.delete(k, o),
    update: (k, data, revision) => put(k, data, revision),
    create: async (k, data) => {
      try {
        return await put(k, data, 0);
      } catch (err) {
        if (!isCasConflict(err)) throw err;
        const e = await kv.get(k);
        if (e && (e.operation === "DEL" || e.operation === "PURGE")) return put(k, data, e.revision);
        throw err;
      }
    },
  };
};

/**
 * A rebuild's row writes, many in flight: each row is published straight to its key's subject
 * with the revision the whole-bucket read saw as the expected last sequence (0: the key must
 * not exist), which is the compare-and-set `kv.create`/`kv.update` do, without a request
 * (timer, two `Error`s) per row. A row another writer changed since the read (a live runner)
 * loses its compare-and-set and goes to `slow` (the row writer's read-and-retry); deletions and
 * rows already past `head` go to `slow` as well. Answers once every write settled; the first
 * error that is not a lost compare-and-set is thrown.
 */
export const writeRows = async (
  nc: NatsConnection,
  kv: KV,
  todo: readonly { key: string; want: Row | undefined; revision: number; skip: boolean }[],
  slow: (key: string, want: Row | undefined) => Promise<void>,
  inFlight: number,
  onWritten: () => void,
): Promise<void> => {
  const pub = pipelinedPublisher(nc);
  const cas = pipelinedRowKv(kv, pub);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(inFlight, todo.length) }, async () => {
        while (next < todo.length) {
          const d = todo[next++]!;
          if (d.skip || !d.want) await slow(d.key, d.want);
          else {
            try {
              await cas.update(d.key, JSON.stringify(d.want), d.revision);
            } catch (err) {
              if (!isCasConflict(err)) throw err;
              await slow(d.key, d.want);
            }
          }
          onWritten();
        }
      }),
    );
  } finally {
    pub.close();
  }
};
