/**
 * What the server did for a piece of work, read from the server itself (the SYS account's
 * `$SYS.REQ.SERVER.PING.*` requests), so processes need no instrumenting: JetStream API
 * requests (`jsz`), messages clients sent (`varz` in_msgs: publishes, acks, pulls, requests,
 * replies), and messages stored per stream (each stream's last sequence: event commits, KV row
 * writes, task and result messages; monotonic, unlike message counts of work queues).
 */
import { readFile } from "node:fs/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { sysCredsPath } from "../src/auth/authority.js";
import type { BenchServer } from "./lib.js";

export type ServerCounters = { apiRequests: number; clientMsgs: number; stored: Record<string, number> };

const ping = async (sys: NatsConnection, what: "JSZ" | "VARZ") =>
  (await sys.request(`$SYS.REQ.SERVER.PING.${what}`, "", { timeout: 5000 })).json<{ data: Record<string, any> }>().data;

export const serverCounters = async (server: BenchServer, admin: NatsConnection): Promise<ServerCounters> => {
  const sys = await server.connectWith(await readFile(sysCredsPath(server.dataDir), "utf8"), { name: "bench-counters" });
  try {
    const [jsz, varz] = await Promise.all([ping(sys, "JSZ"), ping(sys, "VARZ")]);
    const stored: Record<string, number> = {};
    const jsm = await jetstreamManager(admin);
    for await (const s of jsm.streams.list()) stored[s.config.name] = s.state.last_seq;
    return { apiRequests: Number(jsz["api"]?.["total"] ?? NaN), clientMsgs: Number(varz["in_msgs"] ?? NaN), stored };
  } finally {
    await sys.close();
  }
};

export type OpsPerTask = { tasks: number; apiRequests: number; clientMsgs: number; stored: number; storedByStream: Record<string, number> };

/** Per task, between two readings (streams named by kind: a plugin's `TASKS_<id>` counts as `TASKS_*`). */
export const opsPerTask = (before: ServerCounters, after: ServerCounters, tasks: number, round: (n: number, d?: number) => number): OpsPerTask => {
  const byStream: Record<string, number> = {};
  for (const [name, seq] of Object.entries(after.stored)) {
    const d = seq - (before.stored[name] ?? 0);
    if (d <= 0) continue;
    const kind = name.replace(/^(TASKS|TOPIC)[_-].*$/, "$1_*");
    byStream[kind] = (byStream[kind] ?? 0) + d;
  }
  const perTask = Object.fromEntries(Object.entries(byStream).map(([k, v]) => [k, round(v / tasks, 2)]));
  return {
    tasks,
    apiRequests: round((after.apiRequests - before.apiRequests) / tasks, 2),
    clientMsgs: round((after.clientMsgs - before.clientMsgs) / tasks, 2),
    stored: round(Object.values(byStream).reduce((a, b) => a + b, 0) / tasks, 2),
    storedByStream: perTask,
  };
};
