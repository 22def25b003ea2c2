/**
 * Benchmark 1: `appendToStream`, one event per call, over many streams, against raw
 * `js.publish` with the same number of publishes in flight, on the same server.
 */
import * as t from "io-ts";
import { jetstream } from "@nats-io/jetstream";
import { headers, nuid } from "@nats-io/transport-node";
import { COUNT_HEADER, natsEventStore, REVISION_HEADER, TYPE_HEADER } from "../src/store/eventStore.js";
import { eventSubject } from "../src/contract/subjects.js";
import { pipelinedPublisher } from "../src/store/publisher.js";
import type { BenchServer } from "./lib.js";
import { progress, round, windowed } from "./lib.js";

const BenchAppended = t.type({ type: t.literal("bench.appended"), data: t.type({ n: t.number, pad: t.string }) });

export type AppendResult = {
  events: number;
  streams: number;
  inFlight: number;
  payloadBytes: number;
  rawPerSec: number;
  /**
   * The bare publish again, through the store's pipelined publisher (one reply subscription, no
   * per-request timer): the floor of the wire path the store now uses.
   */
  rawPipelinedPerSec: number;
  /** js.publish with the store's msg id, expectation and headers, without the store's code. */
  rawWithHeadersPerSec: number;
  ganglionPerSec: number;
  ratio: number;
};

export const benchAppend = async (server: BenchServer, o: { events: number; inFlight: number }): Promise<AppendResult> => {
  const nc = await server.connectAdmin("bench-append");
  try {
    const js = jetstream(nc);
    const store = natsEventStore(nc, { codec: BenchAppended, defaultActor: "operator:bench" });
    const pad = "x".repeat(64);
    // The raw path publishes a payload of the size Ganglion stores for the same event.
    const sample = JSON.stringify({
      events: [
        {
          id: "0123456789ABCDEFGHIJKL",
          type: "bench.appended",
          schemaVersion: 1,
          data: { n: 0, pad },
          metadata: { actor: "operator:bench", time: new Date().toISOString() },
        },
      ],
    });
    const payload = new TextEncoder().encode(sample);
    // One loop per in-flight slot, each on its own streams: `inFlight` appends are always pending.
    const streams = o.inFlight;

    // Warm-up (connection, stream caches) for both paths.
    await windowed(2000, o.inFlight, (i) => js.publish(eventSubject("benchwarm", String(i % streams)), payload));
    await windowed(2000, o.inFlight, (i) => store.appendToStream(`benchwarm-g${i % streams}`, { type: "bench.appended", data: { n: i, pad } }));

    progress(`append: raw js.publish of ${o.events} messages, ${o.inFlight} in flight`);
    let t0 = performance.now();
    await windowed(
      o.events,
      o.inFlight,
      (i) => js.publish(eventSubject("benchraw", String(i % streams)), payload),
      (d) => progress(`raw ${d}/${o.events}`),
    );
    const rawSec = (performance.now() - t0) / 1000;

    progress(`append: the same bare publish through the store's pipelined publisher, ${o.inFlight} in flight`);
    const pipe = pipelinedPublisher(nc);
    t0 = performance.now();
    await windowed(o.events, o.inFlight, (i) => pipe.publish(eventSubject("benchpipe", String(i % streams)), payload));
    const pipeSec = (performance.now() - t0) / 1000;
    pipe.close();

    // The same publish with what appendToStream adds on the wire (msg id, expected last subject
    // sequence, three headers): splits the gap between the server's checks and the client's work.
    progress(`append: js.publish with the event store's headers and expectations, ${o.inFlight} in flight`);
    const last = new Map<number, number>();
    t0 = performance.now();
    await windowed(o.events, o.inFlight, async (i) => {
      const k = i % streams;
      const h = headers();
      h.set(REVISION_HEADER, String(i));
      h.set(COUNT_HEADER, "1");
      h.set(TYPE_HEADER, "bench.appended");
      const ack = await js.publish(eventSubject("benchhdr", String(k)), payload, {
        msgID: nuid.next(),
        headers: h,
        expect: { lastSubjectSequence: last.get(k) ?? 0 },
      });
      last.set(k, ack.seq);
    });
    const hdrSec = (performance.now() - t0) / 1000;

    progress(`append: appendToStream of ${o.events} events over ${streams} streams, ${o.inFlight} in flight`);
    t0 = performance.now();
    await windowed(
      o.events,
      o.inFlight,
      (i) => store.appendToStream(`bench-s${i % streams}`, { type: "bench.appended", data: { n: i, pad } }),
      (d) => progress(`ganglion ${d}/${o.events}`),
    );
    const gSec = (performance.now() - t0) / 1000;
    const rawPerSec = o.events / rawSec;
    const ganglionPerSec = o.events / gSec;
    return {
      events: o.events,
      streams,
      inFlight: o.inFlight,
      payloadBytes: payload.length,
      rawPerSec: round(rawPerSec, 0),
      rawPipelinedPerSec: round(o.events / pipeSec, 0),
      rawWithHeadersPerSec: round(o.events / hdrSec, 0),
      ganglionPerSec: round(ganglionPerSec, 0),
      ratio: round(ganglionPerSec / rawPerSec, 2),
    };
  } finally {
    await nc.close();
  }
};
