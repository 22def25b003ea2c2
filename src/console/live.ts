import type { ServerResponse } from "node:http";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { EVENTS_ALL } from "../contract/subjects.js";
import type { Logger } from "../log.js";

/**
 * Live updates for the console, pushed over Server-Sent Events: nothing in the page polls.
 *
 * Two core subscriptions on the core's BUS connection feed every open stream:
 * - `ev.>`, the log as it is appended: one `event` message per commit, with its subject and, per
 *   event, id, type, time and actor (never the data: a page that wants it asks the endpoints);
 * - `$KV.>`, every write to a view's bucket: one `views` message naming the buckets that changed,
 *   coalesced over `coalesceMs`, after which a page reads its view again (it then sees the write).
 *
 * A viewer session may read all of this through `audit.query` and the views, so it gets the same
 * stream. Streams are bounded in number; a slow browser whose socket buffer passes `maxBuffered`
 * is dropped rather than buffered without end.
 */

export type LiveOptions = {
  readonly coalesceMs?: number;
  readonly maxStreams?: number;
  readonly maxBuffered?: number;
  readonly keepAliveMs?: number;
};

export type Live = {
  /** Serves one SSE stream on `res` until the client goes; false when too many are open. */
  readonly attach: (res: ServerResponse) => boolean;
  readonly streams: () => number;
  readonly stop: () => Promise<void>;
};

type Summary = { id: string; type: string; time: string; actor: string };

/** The events of a commit message, summarised; [] when it does not parse. */
export const summarise = (data: Uint8Array): Summary[] => {
  try {
    const c = JSON.parse(new TextDecoder().decode(data)) as { events?: unknown };
    if (!Array.isArray(c.events)) return [];
    return c.events.slice(0, 100).flatMap((e: unknown) => {
      const o = e as { id?: unknown; type?: unknown; metadata?: { time?: unknown; actor?: unknown } };
      if (typeof o?.type !== "string" || typeof o.id !== "string") return [];
      const str = (v: unknown) => (typeof v === "string" ? v.slice(0, 200) : "");
      return [{ id: o.id.slice(0, 100), type: o.type.slice(0, 100), time: str(o.metadata?.time), actor: str(o.metadata?.actor) }];
    });
  } catch {
    return [];
  }
};

export const startLive = (nc: NatsConnection, log: Logger, opts: LiveOptions = {}): Live => {
  const coalesceMs = opts.coalesceMs ?? 150;
  const maxStreams = opts.maxStreams ?? 32;
  const maxBuffered = opts.maxBuffered ?? 1024 * 1024;
  const open = new Set<ServerResponse>();
  const send = (event: string, data: unknown) => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of open) {
      if (res.writableLength > maxBuffered) {
        res.destroy();
        continue;
      }
      res.write(frame);
    }
  };

  // Subscribed only while a browser listens: a bus under load costs the core's process nothing
  // for a console nobody looks at.
  let subs: Subscription[] = [];
  let changed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const subscribe = () => {
    const events = nc.subscribe(EVENTS_ALL);
    const kv = nc.subscribe("$KV.>");
    subs = [events, kv];
    void (async () => {
      for await (const m of events) send("event", { subject: m.subject, events: summarise(m.data) });
    })().catch((err) => log.warn({ err }, "console: event subscription ended"));
    void (async () => {
      for await (const m of kv) {
        const bucket = m.subject.split(".")[1];
        if (bucket) changed.add(bucket);
        timer ??= setTimeout(() => {
          timer = undefined;
          const buckets = [...changed];
          changed = new Set();
          send("views", { buckets });
        }, coalesceMs);
      }
    })().catch((err) => log.warn({ err }, "console: view subscription ended"));
  };
  const unsubscribe = () => {
    for (const sub of subs) sub.unsubscribe();
    subs = [];
    if (timer) clearTimeout(timer);
    timer = undefined;
    changed = new Set();
  };

  const keepAlive = setInterval(() => {
    for (const res of open) res.write(": keep-alive\n\n");
  }, opts.keepAliveMs ?? 20_000);
  keepAlive.unref();

  return {
    attach: (res) => {
      if (open.size >= maxStreams) return false;
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive" });
      res.write("retry: 2000\n\n");
      open.add(res);
      if (subs.length === 0) subscribe();
      res.on("close", () => {
        open.delete(res);
        if (open.size === 0) unsubscribe();
      });
      return true;
    },
    streams: () => open.size,
    stop: async () => {
      clearInterval(keepAlive);
      unsubscribe();
      for (const res of open) res.end();
      open.clear();
    },
  };
};
