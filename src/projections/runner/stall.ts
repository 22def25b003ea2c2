import type { Logger } from "pino";
import type { EventStore } from "../../store/types.js";
import type { AnyEvent } from "./source.js";

/**
 * The stall detector of the live views. An ordered consumer whose server node died can go
 * quiet without an error: the client waits for messages that will never come, and the views
 * stop while the log moves on. Every `stallMs / 2` this compares the stream's last sequence with
 * what the subscription has delivered; behind, with nothing delivered for `stallMs`, it calls
 * `restart` (the runner makes the subscription again, from its checkpoints, on a live node).
 */
export const stallWatch = (o: {
  readonly store: EventStore<AnyEvent>;
  readonly log: Logger;
  readonly stallMs: number;
  /** The last position the subscription delivered, or undefined while events wait to be folded (not a stall). */
  readonly delivered: () => number | undefined;
  readonly restart: () => void;
}) => {
  let last: number | undefined;
  let since = Date.now();
  let checking = false;
  const check = async () => {
    const seen = o.delivered();
    if (seen === undefined || seen !== last) {
      last = seen;
      since = Date.now();
      return;
    }
    if (Date.now() - since < o.stallMs) return;
    const head = Number(await o.store.headPosition());
    // Read again: events may have arrived while the head was asked for.
    if (o.delivered() !== seen || head <= seen) {
      since = Date.now();
      return;
    }
    o.log.warn({ delivered: seen, head, quietMs: Date.now() - since }, "live views stalled behind the log; making their subscription again");
    since = Date.now();
    o.restart();
  };
  const timer = setInterval(
    () => {
      if (checking) return;
      checking = true;
      void check()
        .catch((err) => o.log.debug({ err }, "stall check failed (the server is out of reach; the subscription retries by itself)"))
        .finally(() => (checking = false));
    },
    Math.max(100, o.stallMs / 2),
  );
  return { stop: () => clearInterval(timer) };
};
