import type * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import type { Logger } from "pino";
import type { Consumer } from "@nats-io/jetstream";
import { sleep } from "./types.js";
import type { Metrics, TopicHandler } from "./types.js";

/**
 * Pulls one granted topic through the plugin's own durable consumer and hands each message to
 * its handler: acked when the handler returns, redelivered a second later when it throws,
 * terminated when it does not match the handler's codec; kept alive while the handler runs.
 */
export const runTopicLoop = async (o: {
  consumer: Consumer;
  topic: string;
  handler: { handler: TopicHandler<unknown>; codec?: t.Type<unknown, unknown, unknown> };
  log: Logger;
  metrics: Metrics;
  stopping: () => boolean;
}): Promise<void> => {
  const { consumer, topic, log, metrics } = o;
  const h = o.handler;
  const info = await consumer.info(true).catch(() => undefined);
  const ackWaitMs = info?.config.ack_wait ? info.config.ack_wait / 1e6 : 30_000;
  while (!o.stopping()) {
    try {
      const batch = await consumer.fetch({ max_messages: 16, expires: 1000 });
      for await (const m of batch) {
        if (o.stopping()) {
          m.nak();
          continue;
        }
        try {
          let msg: unknown = m.json();
          if (h.codec) {
            const d = h.codec.decode(msg);
            if (E.isLeft(d)) {
              log.warn({ seq: m.seq, errors: failure(d.left) }, "topic message does not match the codec; terminated");
              m.term();
              continue;
            }
            msg = d.right;
          }
          const keepAlive = setInterval(
            () => {
              try {
                m.working();
              } catch {
                // The connection closed (credentials refused): the worker is ending, the loop with it.
              }
            },
            Math.max(100, Math.floor(ackWaitMs / 3)),
          );
          try {
            await h.handler(msg, { topic, seq: m.seq, delivery: m.info.deliveryCount, log, metrics });
          } finally {
            clearInterval(keepAlive);
          }
          m.ack();
          metrics.increment("topics.handled");
        } catch (err) {
          log.warn({ seq: m.seq, err: (err as Error).message }, "topic handler failed; redelivering");
          if (!o.stopping()) m.nak(1000);
        }
      }
    } catch (err) {
      if (o.stopping()) break;
      log.debug({ err: (err as Error).message }, "fetching topic messages failed; retrying");
      await sleep(500);
    }
  }
};
