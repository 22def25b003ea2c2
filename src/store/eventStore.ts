import { createHash } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { DeliverPolicy, jetstream, jetstreamManager, PubHeaders } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { randomUUID } from "node:crypto";
import { headers } from "@nats-io/transport-node";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { eventDecoder } from "../events/dispatch.js";
import { Commit, StoredEvent } from "../events/envelope.js";
import { eventCategory, EVENTS_ALL, Streams } from "../contract/subjects.js";
import { InvalidEventError, StoreUnavailableError, WrongExpectedVersionError } from "./types.js";
import {
  checkState as check,
  COUNT_HEADER,
  headOf,
  isNotFound,
  isWrongLastSequence,
  REVISION_HEADER,
  streamNameToSubject,
  subjectToStreamName,
  trustedCommit,
  trustedRecords,
  TYPE_HEADER,
  wrap,
} from "./commits.js";
import type { Head, NatsEventStoreOptions } from "./commits.js";
import { scanOrdered } from "./scan.js";
import { keyedSerial, pipelinedPublisher } from "./publisher.js";

export { COUNT_HEADER, REVISION_HEADER, streamNameToSubject, subjectToStreamName, TYPE_HEADER } from "./commits.js";
export type { NatsEventStoreOptions } from "./commits.js";
import type { AppendResult, EventData, EventFilter, EventStore, RecordedEvent, StreamState, SubscribeOptions, Subscription } from "./types.js";

type AnyEvent = { type: string; data: unknown };

/**
 * Pull expiry of the store's consumers. Heartbeats come every half of it, and a consumer that
 * misses two is re-created: with the 30 s default a consumer on a lost cluster node went quiet
 * for up to a minute.
 */
const PULL_EXPIRES_MS = 5_000;

/**
 * The event store over a JetStream stream (EVENTS by default). One append is one message (a
 * commit) so several events are all-or-none; the commit's `Nats-Msg-Id` is derived from the
 * event ids so a retried append is deduplicated by the server; optimistic concurrency uses
 * `Nats-Expected-Last-Subject-Sequence`.
 */
export const natsEventStore = <A extends AnyEvent>(nc: NatsConnection, opts: NatsEventStoreOptions<A>): EventStore<A> => {
  const stream = opts.stream ?? Streams.Events;
  const js: JetStreamClient = jetstream(nc);
  let jsmP: Promise<JetStreamManager> | undefined;
  // A failed creation (the server restarting) must not be cached: the next call tries again.
  const jsm = () =>
    (jsmP ??= jetstreamManager(nc, { checkAPI: false }).catch((err: unknown) => {
      jsmP = undefined;
      throw err;
    }));
  const clock = opts.clock ?? (() => new Date());
  // UUIDs, as KurrentDB's event ids are (`uuid.v4`); Node makes them natively.
  const newId = opts.newId ?? (() => randomUUID());
  const onSkipped = opts.onSkipped ?? (() => undefined);
  const cacheSize = opts.cacheSize ?? 10_000;
  const heads = new Map<string, Head>();
  const decodeEvent = eventDecoder(opts.codec);
  const publisher = pipelinedPublisher(nc);
  const serial = keyedSerial();

  const remember = (subject: string, h: Head) => {
    heads.delete(subject);
    heads.set(subject, h);
    if (heads.size > cacheSize) heads.delete(heads.keys().next().value!);
  };

  /** The last commit of a subject, from the server (direct get). */
  const fetchHead = async (subject: string): Promise<Head | undefined> => {
    try {
      const m = await (await jsm()).direct.getMessage(stream, { last_by_subj: subject });
      if (!m) {
        heads.delete(subject);
        return undefined;
      }
      const h = headOf(m);
      remember(subject, h);
      return h;
    } catch (err) {
      if (isNotFound(err)) {
        heads.delete(subject);
        return undefined;
      }
      throw err;
    }
  };

  const text = new TextDecoder();
  const decodeCommit = (subject: string, seq: number, data: Uint8Array, hdrs: MsgHdrs | undefined, time: Date): RecordedEvent<A>[] | undefined => {
    let raw: unknown;
    try {
      raw = JSON.parse(text.decode(data));
    } catch (err) {
      onSkipped({ position: BigInt(seq), subject, errors: [`not JSON: ${(err as Error).message}`] });
      return undefined;
    }
    const trust = opts.trustLog;
    if (trust && trustedCommit(raw) && (trust === true || raw.events.every(trust))) return trustedRecords<A>(raw, subject, seq, hdrs, time);
    const c = Commit.decode(raw);
    if (E.isLeft(c)) {
      onSkipped({ position: BigInt(seq), subject, errors: failure(c.left) });
      return undefined;
    }
    const first = BigInt(hdrs?.get(REVISION_HEADER) || "0");
    const out: RecordedEvent<A>[] = [];
    for (const [i, ev] of c.right.events.entries()) {
      const d = decodeEvent({ type: ev.type, data: ev.data });
      if (E.isLeft(d)) {
        onSkipped({ position: BigInt(seq), subject, errors: d.left.map((e) => `events[${i}] (${ev.type}): ${e}`) });
        return undefined;
      }
      out.push({
        ...d.right,
        id: ev.id,
        streamName: subjectToStreamName(subject),
        revision: first + BigInt(i),
        position: BigInt(seq),
        schemaVersion: ev.schemaVersion,
        metadata: ev.metadata,
        created: time,
      } as RecordedEvent<A>);
    }
    return out;
  };

  const encodeEvents = (list: readonly EventData<A>[]): StoredEvent[] => {
    const now = clock().toISOString();
    return list.map((e, i) => {
      const d = decodeEvent({ type: e.type, data: e.data });
      if (E.isLeft(d)) throw new InvalidEventError(i, String(e.type), d.left);
      const encoded = opts.codec.encode(d.right) as unknown as AnyEvent;
      return {
        id: e.id ?? newId(),
        type: e.type,
        schemaVersion: opts.schemaVersions?.[e.type] ?? 1,
        data: encoded.data,
        metadata: { ...e.metadata, actor: e.metadata?.actor ?? opts.defaultActor ?? "core", time: e.metadata?.time ?? now },
      };
    });
  };

  const appendToStream: EventStore<A>["appendToStream"] = async (name, events, options = {}) => {
    const subject = streamNameToSubject(name);
    const list = (Array.isArray(events) ? events : [events]) as readonly EventData<A>[];
    if (list.length === 0) throw new InvalidEventError(0, "-", ["an append needs at least one event"]);
    const stored = encodeEvents(list);
    const state = options.streamState ?? "any";
    const msgID =
      stored.length === 1
        ? stored[0]!.id
        : createHash("sha256")
            .update(stored.map((s) => s.id).join("\n"))
            .digest("base64url");
    const payload = JSON.stringify({ events: stored } satisfies Commit);
    // One append per stream at a time, in call order: the next one's expectation is the head
    // this one leaves, so same-stream appends neither overtake nor fail each other.
    return serial(subject, () => publishCommit(name, subject, state, stored, msgID, payload));
  };

  const publishCommit = async (
    name: string,
    subject: string,
    state: StreamState,
    stored: StoredEvent[],
    msgID: string,
    payload: string,
  ): Promise<AppendResult> => {
    let head = heads.get(subject);
    let fresh = false;
    // A cold cache assumes a new stream unless the caller expects one to exist: one round trip
    // for the common case, and the server's sequence check catches a wrong guess.
    if (!head && (typeof state === "bigint" || state === "stream_exists")) {
      head = await wrap(() => fetchHead(subject));
      fresh = true;
    }
    for (let attempt = 0; ; attempt++) {
      // A cached head that disagrees with the caller may be stale (another writer appended):
      // only the server's word is a conflict.
      try {
        check(name, state, head);
      } catch (err) {
        if (fresh) throw err;
        head = await wrap(() => fetchHead(subject));
        fresh = true;
        check(name, state, head);
      }
      const nextRevision = head ? head.lastRevision + 1n : 0n;
      const h = headers();
      h.set(REVISION_HEADER, nextRevision.toString());
      h.set(COUNT_HEADER, String(stored.length));
      // One value per distinct type, in order: `get` answers the first event's type, `values` all
      // of them (a task's start and end may share a commit).
      for (const type of new Set(stored.map((e) => e.type))) h.append(TYPE_HEADER, type);
      h.set(PubHeaders.MsgIdHdr, msgID);
      h.set(PubHeaders.ExpectedLastSubjectSequenceHdr, String(head?.seq ?? 0));
      try {
        const ack = await publisher.publish(subject, payload, h);
        if (ack.duplicate) {
          // A retry of an append the server already holds: answer with the original commit.
          const m = await (await jsm()).direct.getMessage(stream, { seq: ack.seq });
          const original = m ? headOf(m) : { seq: ack.seq, lastRevision: nextRevision + BigInt(stored.length) - 1n };
          return { success: true, nextExpectedRevision: original.lastRevision, position: BigInt(ack.seq) };
        }
        const lastRevision = nextRevision + BigInt(stored.length) - 1n;
        remember(subject, { seq: ack.seq, lastRevision });
        return { success: true, nextExpectedRevision: lastRevision, position: BigInt(ack.seq) } satisfies AppendResult;
      } catch (err) {
        if (!isWrongLastSequence(err) || attempt >= 20) throw err instanceof WrongExpectedVersionError ? err : new StoreUnavailableError(err);
        head = await wrap(() => fetchHead(subject));
        fresh = true;
      }
    }
  };

  /** Forward read of one subject through direct gets (`next_by_subj`): no consumer to create. */
  async function* readSubjectForwards(subject: string): AsyncGenerator<RecordedEvent<A>> {
    let seq = 1;
    const m = await jsm();
    for (;;) {
      let sm: StoredMsg | null;
      try {
        sm = await m.direct.getMessage(stream, { seq, next_by_subj: subject });
      } catch (err) {
        if (isNotFound(err)) return;
        throw new StoreUnavailableError(err);
      }
      if (!sm) return;
      const evs = decodeCommit(sm.subject, sm.seq, sm.data, sm.header, sm.time);
      if (evs) yield* evs;
      seq = sm.seq + 1;
    }
  }

  const readStream: EventStore<A>["readStream"] = (name, options = {}) => {
    const subject = streamNameToSubject(name);
    const direction = options.direction ?? "forwards";
    const max = options.maxCount ?? Number.POSITIVE_INFINITY;
    const from = options.fromRevision ?? (direction === "forwards" ? "start" : "end");
    return {
      async *[Symbol.asyncIterator]() {
        let n = 0;
        if (direction === "forwards") {
          for await (const e of readSubjectForwards(subject)) {
            if (typeof from === "bigint" && e.revision < from) continue;
            if (from === "end") return;
            if (n++ >= max) return;
            yield e;
          }
          return;
        }
        // Backwards: aggregate streams are short, so read forwards and turn around.
        const all: RecordedEvent<A>[] = [];
        for await (const e of readSubjectForwards(subject)) all.push(e);
        for (let i = all.length - 1; i >= 0; i--) {
          const e = all[i]!;
          if (typeof from === "bigint" && e.revision > from) continue;
          if (from === "start") return;
          if (n++ >= max) return;
          yield e;
        }
      },
    };
  };

  const filterSubject = (f: EventFilter | undefined): string => {
    if (f?.streamName) return streamNameToSubject(f.streamName);
    if (f?.categories?.length === 1) return eventCategory(f.categories[0]!);
    return EVENTS_ALL;
  };

  const matches = (f: EventFilter | undefined) => (e: RecordedEvent<A>) =>
    (!f?.categories || f.categories.some((c) => e.streamName.startsWith(`${c}-`))) &&
    (!f?.eventTypePrefixes || f.eventTypePrefixes.some((p) => e.type.startsWith(p)));

  const headPosition = async (): Promise<bigint> => {
    try {
      return BigInt((await (await jsm()).streams.info(stream)).state.last_seq);
    } catch (err) {
      throw new StoreUnavailableError(err);
    }
  };

  const readAll: EventStore<A>["readAll"] = (options = {}) => {
    const direction = options.direction ?? "forwards";
    const max = options.maxCount ?? Number.POSITIVE_INFINITY;
    const keep = matches(options.filter);
    const subject = filterSubject(options.filter);
    return {
      async *[Symbol.asyncIterator]() {
        const end = await headPosition();
        let n = 0;
        if (direction === "forwards") {
          const from = options.fromPosition ?? "start";
          if (from === "end") return;
          const start = from === "start" ? 1n : from;
          if (start > end) return;
          for await (const e of orderedRead(subject, start, end)) {
            if (!keep(e)) continue;
            if (n++ >= max) return;
            yield e;
          }
          return;
        }
        const from = options.fromPosition ?? "end";
        if (from === "start") return;
        let seq = Number(from === "end" ? end : from < end ? from : end);
        const m = await jsm();
        while (seq >= 1) {
          let sm: StoredMsg | null = null;
          try {
            sm = await m.direct.getMessage(stream, { seq });
          } catch (err) {
            if (!isNotFound(err)) throw new StoreUnavailableError(err);
          }
          seq--;
          if (!sm) continue;
          const evs = decodeCommit(sm.subject, sm.seq, sm.data, sm.header, sm.time);
          if (!evs) continue;
          for (let i = evs.length - 1; i >= 0; i--) {
            if (!keep(evs[i]!)) continue;
            if (n++ >= max) return;
            yield evs[i]!;
          }
        }
      },
    };
  };

  /** Reads [start, end] through an ordered consumer: one server-side cursor, flow-controlled. */
  async function* orderedRead(subject: string, start: bigint, end: bigint): AsyncGenerator<RecordedEvent<A>> {
    const c = await js.consumers.get(stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Number(start),
    });
    const info = await c.info(true);
    if (info.num_pending === 0) {
      await c.delete().catch(() => undefined);
      return;
    }
    const msgs = await c.consume({ max_messages: 512, expires: PULL_EXPIRES_MS });
    try {
      for await (const m of msgs) {
        if (m.seq > Number(end)) break;
        const evs = decodeCommit(m.subject, m.seq, m.data, m.headers, new Date(Number(m.info.timestampNanos / 1_000_000)));
        if (evs) yield* evs;
        if (m.seq >= Number(end) || m.info.pending === 0) break;
      }
    } finally {
      msgs.stop();
      await c.delete().catch(() => undefined);
    }
  }

  const subscribe = (subject: string, keep: (e: RecordedEvent<A>) => boolean, options: SubscribeOptions): Subscription<A> => {
    let last = 0n;
    let resolveCaughtUp!: (p: bigint) => void;
    const caughtUp = new Promise<bigint>((r) => (resolveCaughtUp = r));
    let stopped = false;
    let stopCurrent: (() => void) | undefined;
    const from = options.fromPosition ?? "start";
    const iterate = async function* (): AsyncGenerator<RecordedEvent<A>> {
      const startOpts =
        from === "end"
          ? { deliver_policy: DeliverPolicy.New }
          : from === "start" || from === 0n
            ? { deliver_policy: DeliverPolicy.All }
            : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Number(from) + 1 };
      if (typeof from === "bigint") last = from;
      // The ordered consumer re-creates itself after a server restart or a gap, from the last
      // stream sequence it delivered: nothing lost; the `last` guard hands nothing out twice.
      const c = await js.consumers.get(stream, { filter_subjects: subject, ...startOpts });
      const info = await c.info(true);
      if (info.num_pending === 0) resolveCaughtUp(from === "end" ? await headPosition() : last);
      const msgs = await c.consume({ max_messages: 512, expires: PULL_EXPIRES_MS });
      stopCurrent = () => msgs.stop();
      if (stopped) msgs.stop();
      try {
        for await (const m of msgs) {
          if (BigInt(m.seq) <= last) continue;
          last = BigInt(m.seq);
          const evs = decodeCommit(m.subject, m.seq, m.data, m.headers, new Date(Number(m.info.timestampNanos / 1_000_000)));
          // Resolved as the last stored commit is handed out, so a handler may await it.
          if (m.info.pending === 0) resolveCaughtUp(last);
          if (evs) for (const e of evs) if (keep(e)) yield e;
        }
      } finally {
        msgs.stop();
      }
    };
    return {
      [Symbol.asyncIterator]: iterate,
      caughtUp,
      lastPosition: () => last,
      unsubscribe: async () => {
        stopped = true;
        stopCurrent?.();
      },
    };
  };

  /** `readAll` forwards for a reader that folds synchronously: the events of each commit in a callback. */
  const scanAll: NonNullable<EventStore<A>["scanAll"]> = async (options, onEvents) => {
    const keep = matches(options.filter);
    const end = await headPosition();
    const start = options.fromPosition === undefined || options.fromPosition === "start" ? 1n : options.fromPosition;
    if (start > end) return end;
    await scanOrdered(
      js,
      stream,
      filterSubject(options.filter),
      Number(start),
      Number(end),
      (m) => {
        const evs = decodeCommit(m.subject, m.seq, m.data, m.headers, new Date(Number(m.info.timestampNanos / 1_000_000)));
        if (evs) onEvents(evs.filter(keep));
      },
      PULL_EXPIRES_MS,
    );
    return end;
  };

  return {
    appendToStream,
    readStream,
    readAll,
    scanAll,
    subscribeToAll: (options = {}) => subscribe(filterSubject(options.filter), matches(options.filter), options),
    subscribeToStream: (name, options = {}) => subscribe(streamNameToSubject(name), () => true, options),
    streamRevision: async (name) => {
      const h = await wrap(() => fetchHead(streamNameToSubject(name)));
      return h ? h.lastRevision : "no_stream";
    },
    headPosition,
  };
};
