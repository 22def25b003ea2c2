import type { ConsumerConfig, StreamConfig } from "@nats-io/jetstream";

/**
 * JetStream and core NATS as the tasks runtime uses them: every message it publishes, every
 * stream or consumer it looks at or changes, every subscription. The parts of the runtime speak
 * only this, so each can be tested with an in-memory fake (`test/tasks/runtime/fakes.ts`);
 * `natsIO` (in `nats.ts`) is the real one.
 *
 * "Not found" is an answer (`undefined`), any other failure throws.
 */
export type TasksIO = {
  /** JetStream publish with a de-duplication id; the stream sequence it got. */
  readonly publish: (
    subject: string,
    payload: string,
    opts: { readonly msgID: string; readonly headers?: Readonly<Record<string, string>> },
  ) => Promise<{ readonly seq: number }>;
  /** Core NATS publish (control messages): fire and forget. */
  readonly notify: (subject: string, payload: string) => void;
  readonly deleteMessage: (stream: string, seq: number) => Promise<void>;
  readonly purge: (stream: string, filter: string) => Promise<void>;
  readonly streamInfo: (stream: string) => Promise<StreamState | undefined>;
  readonly addStream: (cfg: Partial<StreamConfig> & { name: string }) => Promise<void>;
  readonly deleteStream: (stream: string) => Promise<void>;
  /** The first message at or after `seq` on `subject` (direct get). */
  readonly nextMessage: (stream: string, seq: number, subject: string) => Promise<StoredMessage | undefined>;
  readonly consumerInfo: (stream: string, consumer: string) => Promise<ConsumerState | undefined>;
  readonly addConsumer: (stream: string, cfg: Partial<ConsumerConfig> & { durable_name: string }) => Promise<void>;
  readonly updateConsumer: (stream: string, consumer: string, patch: Partial<ConsumerConfig>) => Promise<void>;
  readonly deleteConsumer: (stream: string, consumer: string) => Promise<void>;
  /** The names and filters of a stream's consumers (none: the stream is missing). */
  readonly listConsumers: (stream: string) => Promise<readonly { readonly name: string; readonly filter?: string }[]>;
  /** Pulls from a durable consumer until `stop`. */
  readonly consume: (stream: string, consumer: string, opts: { readonly maxMessages: number; readonly expiresMs: number }) => Promise<Deliveries>;
  /** A core NATS subscription; `queue`: one member of the group gets each message. */
  readonly subscribe: (subject: string, opts: { readonly queue?: string }, onMessage: (m: Inbound) => void) => { readonly unsubscribe: () => void };
};

export type StreamState = { readonly messages: number; readonly firstSeq: number; readonly lastSeq: number };
export type ConsumerState = { readonly config: Partial<ConsumerConfig>; readonly numPending: number; readonly numAckPending: number };
export type StoredMessage = { readonly seq: number; readonly header: (name: string) => string | undefined };

/** A message pulled from a consumer (a `JsMsg` is one). */
export type Delivery = {
  readonly subject: string;
  /** The raw payload: its size is checked before it is parsed. */
  readonly data?: Uint8Array;
  readonly json: () => unknown;
  readonly ack: () => void;
  readonly nak: (delayMs?: number) => void;
};
export type Deliveries = AsyncIterable<Delivery> & { readonly stop: () => void };

/** A core NATS message (a `Msg` is one). */
export type Inbound = {
  readonly subject: string;
  readonly reply?: string;
  readonly headers?: { readonly get: (name: string) => string };
  /** The raw payload: its size is checked before it is parsed. */
  readonly data?: Uint8Array;
  readonly json: () => unknown;
  readonly respond: (payload: string) => boolean;
};
