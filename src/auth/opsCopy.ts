import { DeliverPolicy, PubHeaders } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { PubAck } from "../store/publisher.js";

/** Copies in flight per bucket. */
export const COPY_WINDOW = 64;

/** Header of a copied KV message: its sequence in the BUS bucket. */
export const SOURCE_SEQUENCE_HEADER = "Ganglion-Source-Sequence";

/** Where a copy stands: its last OPS sequence and the BUS sequence of the message stored there. */
const copyPosition = async (ops: JetStreamManager, name: string): Promise<{ opsSeq: number; sourceSeq: number }> => {
  const si = await ops.streams.info(name);
  if (si.state.last_seq === 0 || si.state.messages === 0) return { opsSeq: si.state.last_seq, sourceSeq: 0 };
  const last = await ops.streams.getMessage(name, { seq: si.state.last_seq });
  const sourceSeq = Number(last?.header.get(SOURCE_SEQUENCE_HEADER) ?? "0");
  return { opsSeq: si.state.last_seq, sourceSeq: Number.isSafeInteger(sourceSeq) ? sourceSeq : 0 };
};

/**
 * Copies one BUS bucket into its OPS copy, from where the copy stands, until `signal` aborts or
 * something fails (then it throws and the caller starts it again). Each message is published with
 * `Nats-Expected-Last-Sequence` = the copy's last sequence: two copiers (two core replicas) never
 * interleave; the one that loses re-reads where the copy stands and goes on from there.
 */
export const copyBucket = async (o: {
  bus: JetStreamClient;
  busJsm: JetStreamManager;
  opsJsm: JetStreamManager;
  /** The OPS connection's pipelined publisher: up to `COPY_WINDOW` copies in flight, no request per message. */
  publish: (subject: string, data: Uint8Array, h: MsgHdrs) => Promise<PubAck>;
  name: string;
  signal: AbortSignal;
  onCopied?: (sourceSeq: number) => void;
}) => {
  let { opsSeq, sourceSeq } = await copyPosition(o.opsJsm, o.name);
  const src = await o.busJsm.streams.info(o.name);
  if (sourceSeq > src.state.last_seq) {
    // The BUS bucket is younger than the copy (deleted and created again): start the copy over.
    await o.opsJsm.streams.purge(o.name);
    ({ opsSeq, sourceSeq } = await copyPosition(o.opsJsm, o.name));
  }
  o.onCopied?.(sourceSeq);
  const consumer = await o.bus.consumers.get(
    o.name,
    sourceSeq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: sourceSeq + 1 } : { deliver_policy: DeliverPolicy.All },
  );
  const msgs = await consumer.consume();
  const abort = () => void msgs.stop();
  o.signal.addEventListener("abort", abort);
  // Copies in flight, oldest first. Each expects the copy's last sequence to be the one its
  // predecessor gets: when one fails, every later one fails too, and the caller starts again
  // from where the copy stands.
  const window: { sourceSeq: number; ack: Promise<PubAck> }[] = [];
  const settleOldest = async () => {
    const w = window.shift()!;
    await w.ack;
    o.onCopied?.(w.sourceSeq);
  };
  try {
    for await (const m of msgs) {
      if (o.signal.aborted) break;
      const h = headers();
      for (const k of m.headers?.keys() ?? []) {
        if (k.startsWith("Nats-Expected-") || k === "Nats-Msg-Id") continue;
        for (const v of m.headers!.values(k)) h.append(k, v);
      }
      h.set(SOURCE_SEQUENCE_HEADER, String(m.seq));
      h.set(PubHeaders.ExpectedLastSeqHdr, String(opsSeq++));
      const ack = o.publish(m.subject, m.data, h);
      ack.catch(() => undefined); // surfaced in order by settleOldest
      window.push({ sourceSeq: m.seq, ack });
      if (window.length >= COPY_WINDOW) await settleOldest();
      // Caught up with the bucket: every copy settled, so `onCopied` says where the copy is.
      if (m.info.pending === 0) while (window.length > 0) await settleOldest();
    }
  } finally {
    o.signal.removeEventListener("abort", abort);
    msgs.stop();
  }
};
