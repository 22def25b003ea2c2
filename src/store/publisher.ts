import { JetStreamApiError } from "@nats-io/jetstream";
import { createInbox, errors } from "@nats-io/transport-node";
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";

/** What the server answers a stored publish with. */
export type PubAck = { readonly seq: number; readonly duplicate: boolean };

type Pending = { subject: string; resolve: (a: PubAck) => void; reject: (e: unknown) => void; deadline: number };

/**
 * JetStream publishes with many in flight and one reply subscription: each publish carries a
 * reply subject `<inbox>.<n>` of one wildcard subscription, and its ack (or the server's error)
 * settles that publish alone. `js.publish` does the same through the connection's request
 * multiplexer, but it also arms a timer and builds two `Error`s (one for its stack context, one
 * to reject the already settled promise) per request: a tenth of the append path's CPU. Here the
 * deadlines are checked by one sweep. Nothing is retried: a timeout leaves the publish undecided,
 * as with `js.publish`, and the caller's msg id makes its retry safe.
 */
export const pipelinedPublisher = (nc: NatsConnection, timeoutMs = 5_000) => {
  let sub: Subscription | undefined;
  let prefix = "";
  let next = 0;
  const pending = new Map<string, Pending>();
  let sweep: ReturnType<typeof setInterval> | undefined;
  const text = new TextDecoder();

  const failAll = (err: unknown) => {
    const all = [...pending.values()];
    pending.clear();
    for (const p of all) p.reject(err);
  };

  const onReply = (err: Error | null, m: Msg) => {
    if (err) {
      // The subscription itself failed (permissions, connection closed): nothing will answer.
      sub = undefined;
      failAll(err);
      return;
    }
    const token = m.subject.slice(prefix.length);
    const p = pending.get(token);
    if (!p) return; // timed out already
    pending.delete(token);
    if (m.data.length === 0 && m.headers?.code === 503) {
      p.reject(new errors.NoRespondersError(p.subject));
      return;
    }
    let r: { error?: ConstructorParameters<typeof JetStreamApiError>[0]; seq?: number; duplicate?: boolean; stream?: string };
    try {
      r = JSON.parse(text.decode(m.data)) as typeof r;
    } catch (e) {
      p.reject(e);
      return;
    }
    if (r.error) p.reject(new JetStreamApiError(r.error));
    else if (typeof r.seq !== "number" || !r.stream) p.reject(new Error("invalid ack response"));
    else p.resolve({ seq: r.seq, duplicate: r.duplicate === true });
  };

  let watchingClose = false;

  const ensureSub = () => {
    if (sub && !sub.isClosed()) return;
    // Watched from the first publish, not at construction: building a store does no I/O.
    if (!watchingClose) {
      watchingClose = true;
      void nc.closed().then(() => failAll(new errors.ClosedConnectionError()));
    }
    // The connection's own inbox prefix (a plugin's connection may only use its own).
    const inbox = createInbox((nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    prefix = `${inbox}.`;
    sub = nc.subscribe(`${inbox}.*`, { callback: onReply });
  };

  const checkDeadlines = () => {
    const now = Date.now();
    for (const [token, p] of pending) {
      if (p.deadline > now) continue;
      pending.delete(token);
      p.reject(new errors.TimeoutError());
    }
    if (pending.size === 0 && sweep) {
      clearInterval(sweep);
      sweep = undefined;
    }
  };

  return {
    publish: (subject: string, payload: string | Uint8Array, headers?: MsgHdrs): Promise<PubAck> =>
      new Promise<PubAck>((resolve, reject) => {
        if (nc.isClosed()) {
          reject(new errors.ClosedConnectionError());
          return;
        }
        ensureSub();
        const token = (next++).toString(36);
        pending.set(token, { subject, resolve, reject, deadline: Date.now() + timeoutMs });
        sweep ??= setInterval(checkDeadlines, Math.min(1_000, timeoutMs));
        sweep.unref?.();
        try {
          nc.publish(subject, payload, headers ? { reply: prefix + token, headers } : { reply: prefix + token });
        } catch (err) {
          pending.delete(token);
          reject(err);
        }
      }),
    /** Rejects what is in flight (the connection is going away). */
    close: () => {
      if (sweep) clearInterval(sweep);
      sweep = undefined;
      failAll(new errors.ClosedConnectionError());
      sub?.unsubscribe();
      sub = undefined;
    },
  };
};

/**
 * Runs the calls for one key one after another, in call order, and calls for different keys at
 * once: the appends to one stream never overtake each other nor race for its revision, while
 * every other stream's appends stay in flight. A key with nothing queued costs a map lookup.
 */
export const keyedSerial = () => {
  const queues = new Map<string, (() => void)[]>();
  const done = (key: string) => {
    const q = queues.get(key);
    const next = q?.shift();
    if (next) next();
    else queues.delete(key);
  };
  return <T>(key: string, f: () => Promise<T>): Promise<T> => {
    const run = (): Promise<T> => {
      let p: Promise<T>;
      try {
        p = f();
      } catch (err) {
        p = Promise.reject(err);
      }
      return p.finally(() => done(key));
    };
    const q = queues.get(key);
    if (!q) {
      queues.set(key, []);
      return run();
    }
    return new Promise<T>((resolve, reject) => q.push(() => run().then(resolve, reject)));
  };
};
