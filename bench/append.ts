/**
 * Benchmark 1: `appendToStream`, one event per call, over many streams, against raw
 * `js.publish` with the same number of publishes in flight, on the same server.
 */
import * as t from "io-ts";
import { jetstream } from "@nats-io/jetstream";
import { natsEventStore } from "../src/store/eventStore.js";
import { eventSubject } from "../src/store/subjects.js";
import type { BenchServer } from "./lib.js";
import { progress, round, windowed } from "./lib.js";

const BenchAppended = t.type({ type: t.literal("bench.appended"), data: t.type({ n: t.number, pad: t.string }) });

export type AppendResult = {
  events: number;
  streams: number;
  inFlight: number;
  payloadBytes: number;
  rawPerSec: number;
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
      events: [{ id: "0123456789ABCDEFGHIJKL", type: "bench.appended", schemaVersion: 1, data: { n: 0, pad }, metadata: { actor: "operator:bench", time: new Date().toISOString() } }],
    });
    const payload = new TextEncoder().encode(sample);
    // One loop per in-flight slot, each on its own streams: `inFlight` appends are always pending.
    const streams = o.inFlight;

    // Warm-up (connection, stream caches) for both paths.
    await windowed(2000, o.inFlight, (i) => js.publish(eventSubject("benchwarm", String(i % streams)), payload));
    await windowed(2000, o.inFlight, (i) => store.appendToStream(`benchwarm-g${i % streams}`, { type: "bench.appended", data: { n: i, pad } }));

    progress(`append: raw js.publish of ${o.events} messages, ${o.inFlight} in flight`);
    let t0 = performance.now();
    await windowed(o.events, o.inFlight, (i) => js.publish(eventSubject("benchraw", String(i % streams)), payload), (d) => progress(`raw ${d}/${o.events}`));
    const rawSec = (performance.now() - t0) / 1000;

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
    return { events: o.events, streams, inFlight: o.inFlight, payloadBytes: payload.length, rawPerSec: round(rawPerSec, 0), ganglionPerSec: round(ganglionPerSec, 0), ratio: round(ganglionPerSec / rawPerSec, 2) };
  } finally {
    await nc.close();
  }
};
