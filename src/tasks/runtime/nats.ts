import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, PubHeaders } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { pipelinedPublisher } from "../../store/publisher.js";
import type { TasksIO } from "./ports.js";

const notFound = (err: unknown, code: JetStreamApiCodes) => err instanceof JetStreamApiError && err.code === code;

/** The tasks runtime's JetStream and core NATS, over one connection. */
export const natsIO = async (nc: NatsConnection): Promise<TasksIO> => {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  // Many publishes in flight on one reply subscription, as the event store's appends.
  const pub = pipelinedPublisher(nc);
  return {
    publish: async (subject, payload, opts) => {
      const h = headers();
      for (const [k, v] of Object.entries(opts.headers ?? {})) h.set(k, v);
      h.set(PubHeaders.MsgIdHdr, opts.msgID);
      const ack = await pub.publish(subject, payload, h);
      return { seq: ack.seq };
    },
    notify: (subject, payload) => nc.publish(subject, payload),
    deleteMessage: async (stream, seq) => {
      await jsm.streams.deleteMessage(stream, seq, false);
    },
    purge: async (stream, filter) => {
      await jsm.streams.purge(stream, { filter });
    },
    streamInfo: async (stream) => {
      try {
        const { state } = await jsm.streams.info(stream);
        return { messages: state.messages, firstSeq: state.first_seq, lastSeq: state.last_seq };
      } catch (err) {
        if (notFound(err, JetStreamApiCodes.StreamNotFound)) return undefined;
        throw err;
      }
    },
    addStream: async (cfg) => {
      await jsm.streams.add(cfg);
    },
    deleteStream: async (stream) => {
      await jsm.streams.delete(stream);
    },
    nextMessage: async (stream, seq, subject) => {
      const m = await jsm.direct.getMessage(stream, { seq, next_by_subj: subject });
      return m ? { seq: m.seq, header: (name) => m.header?.get(name) } : undefined;
    },
    consumerInfo: async (stream, consumer) => {
      try {
        const ci = await jsm.consumers.info(stream, consumer);
        return { config: ci.config, numPending: ci.num_pending, numAckPending: ci.num_ack_pending };
      } catch (err) {
        if (notFound(err, JetStreamApiCodes.ConsumerNotFound)) return undefined;
        throw err;
      }
    },
    addConsumer: async (stream, cfg) => {
      await jsm.consumers.add(stream, cfg);
    },
    updateConsumer: async (stream, consumer, patch) => {
      await jsm.consumers.update(stream, consumer, patch);
    },
    deleteConsumer: async (stream, consumer) => {
      try {
        await jsm.consumers.delete(stream, consumer);
      } catch (err) {
        // Gone already (another core, or another event's pass, deleted it): what was asked.
        if (!notFound(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
      }
    },
    listConsumers: async (stream) => {
      try {
        const out: { name: string; filter?: string }[] = [];
        for await (const ci of jsm.consumers.list(stream))
          out.push({ name: ci.name, ...(ci.config.filter_subject ? { filter: ci.config.filter_subject } : {}) });
        return out;
      } catch (err) {
        if (notFound(err, JetStreamApiCodes.StreamNotFound)) return [];
        throw err;
      }
    },
    consume: async (stream, consumer, opts) => (await js.consumers.get(stream, consumer)).consume({ max_messages: opts.maxMessages, expires: opts.expiresMs }),
    subscribe: (subject, opts, onMessage) =>
      nc.subscribe(subject, {
        ...(opts.queue ? { queue: opts.queue } : {}),
        callback: (err, m) => {
          if (!err) onMessage(m);
        },
      }),
  };
};
