import { DeliverPolicy } from "@nats-io/jetstream";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";

/**
 * A read of `[start, end]` of a stream's `subject` through one ordered consumer, handing each
 * message to `onMessage` as the client parses it: no async iterator per message (a fold over a
 * million events spent more time in the generators' promises than in the fold). `onMessage` must
 * not be async; a throw from it ends the scan with that error.
 */
export const scanOrdered = async (
  js: JetStreamClient,
  stream: string,
  subject: string,
  start: number,
  end: number,
  onMessage: (m: JsMsg) => void,
  expires: number,
): Promise<void> => {
  const c = await js.consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start });
  try {
    if ((await c.info(true)).num_pending === 0) return;
    let failure: unknown;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const msgs = await c.consume({
      max_messages: 1024,
      expires,
      callback: (m) => {
        if (failure !== undefined) return;
        if (m.seq <= end) {
          try {
            onMessage(m);
          } catch (err) {
            failure = err;
          }
        }
        if (failure !== undefined || m.seq >= end || m.info.pending === 0) {
          msgs.stop();
          done();
        }
      },
    });
    void msgs.closed().then((err) => {
      if (err && failure === undefined) failure = err;
      done();
    });
    await finished;
    msgs.stop();
    if (failure !== undefined) throw failure;
  } finally {
    await c.delete().catch(() => undefined);
  }
};
