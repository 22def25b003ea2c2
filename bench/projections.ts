/**
 * Benchmark 3: projection rebuild. A log of N task events (N/3 tasks: submitted, started,
 * completed, in the event store's own commit format) is folded into the `tasks` KV view by
 * `rebuildProjections` (what `ganglion projections rebuild` runs: fold the log, write the rows);
 * against a raw ordered-consumer replay of the same log.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { nuid } from "@nats-io/transport-node";
import { pino } from "pino";
import { rebuildProjections } from "../src/projections/runner/replay.js";
import { eventSubject, Streams } from "../src/contract/subjects.js";
import type { BenchServer } from "./lib.js";
import { commitMessage, progress, round, windowed } from "./lib.js";

/** Appends `events` task events (whole lifecycles of 3) to the log; answers the stream's message count. */
export const fillTaskLog = async (nc: NatsConnection, events: number, pluginId = "benchfill") => {
  const js = jetstream(nc);
  const tasks = Math.ceil(events / 3);
  const time = new Date().toISOString();
  await windowed(
    tasks,
    400,
    async (k) => {
      const taskId = `t${k}${nuid.next().slice(0, 6)}`;
      const subject = eventSubject("task", taskId);
      const steps: [string, unknown][] = [
        [
          "task.submitted",
          {
            taskId,
            pluginId,
            pluginVersion: "1.0.0",
            taskType: "bench.echo",
            params: { n: k },
            retry: { maxAttempts: 1, backoffMs: [] },
            timeouts: { startToCloseMs: 60_000 },
            at: time,
          },
        ],
        ["task.started", { taskId, attempt: 1, instance: "i1", delivery: 1, at: time }],
        ["task.completed", { taskId, attempt: 1, instance: "i1", result: { n: k }, at: time }],
      ];
      for (const [rev, [type, data]] of steps.entries()) {
        const m = commitMessage(type, data, rev, nuid.next(), time);
        await js.publish(subject, m.payload, { headers: m.headers });
      }
    },
    (d) => progress(`log: ${d * 3}/${tasks * 3} task events`),
  );
  return (await (await jetstreamManager(nc)).streams.info(Streams.Events)).state.messages;
};

/** Appends `events` commits of an event type no view or context folds (`bench.filled` on `bench-<k>`). */
export const fillOtherLog = async (nc: NatsConnection, events: number) => {
  const js = jetstream(nc);
  const time = new Date().toISOString();
  const pad = "f".repeat(64);
  await windowed(
    events,
    1000,
    (k) => {
      const m = commitMessage("bench.filled", { k, pad }, 0, nuid.next(), time);
      return js.publish(eventSubject("bench", `f${k}`), m.payload, { headers: m.headers });
    },
    (d) => progress(`log: ${d}/${events} events`),
  );
};

/** Reads the whole EVENTS stream once through an ordered consumer; answers the messages read. */
export const rawReplay = async (nc: NatsConnection): Promise<number> => {
  const js = jetstream(nc);
  const c = await js.consumers.get(Streams.Events, { deliver_policy: DeliverPolicy.All });
  const total = (await c.info(true)).num_pending;
  if (total === 0) return 0;
  const msgs = await c.consume({ max_messages: 512 });
  let n = 0;
  for await (const m of msgs) {
    n++;
    // Parse the payload as a reader must, so the baseline is not a pure byte count.
    JSON.parse(new TextDecoder().decode(m.data));
    if (m.info.pending === 0) break;
  }
  msgs.stop();
  return n;
};

export type ProjectionResult = { events: number; rows: number; rawPerSec: number; ganglionPerSec: number; ratio: number; foldSec: number; writeSec: number };

export const benchProjections = async (server: BenchServer, o: { events: number }): Promise<ProjectionResult> => {
  const nc = await server.connectAdmin("bench-projections");
  try {
    progress(`projections: writing a log of ${o.events} task events`);
    const events = await fillTaskLog(nc, o.events);
    progress(`projections: raw ordered-consumer replay of ${events} events`);
    let t0 = performance.now();
    const n = await rawReplay(nc);
    const rawSec = (performance.now() - t0) / 1000;
    progress(`projections: rebuild of the tasks view from ${events} events`);
    let foldEnd = 0;
    let lastShown = 0;
    t0 = performance.now();
    const [r] = await rebuildProjections(nc, {
      log: pino({ level: "warn" }),
      only: ["tasks"],
      onProgress: (p) => {
        if (p.phase === "write" && foldEnd === 0) foldEnd = performance.now();
        const step = p.phase === "fold" ? 100_000 : 20_000;
        if (p.done - lastShown >= step || p.done === p.total) {
          lastShown = p.done === p.total ? 0 : p.done;
          progress(`rebuild ${p.phase} ${p.done}/${p.total}`);
        }
      },
    });
    const sec = (performance.now() - t0) / 1000;
    const rawPerSec = n / rawSec;
    const ganglionPerSec = events / sec;
    return {
      events,
      rows: r!.rows,
      rawPerSec: round(rawPerSec, 0),
      ganglionPerSec: round(ganglionPerSec, 0),
      ratio: round(ganglionPerSec / rawPerSec, 2),
      foldSec: round(((foldEnd || performance.now()) - t0) / 1000),
      writeSec: round(foldEnd ? (performance.now() - foldEnd) / 1000 : 0),
    };
  } finally {
    await nc.close();
  }
};
