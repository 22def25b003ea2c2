import * as E from "fp-ts/lib/Either.js";
import type * as t from "io-ts";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { controlSubject } from "../contract/subjects.js";

/**
 * Listens on `ctl.<plugin>` for the messages `codec` decodes (cancellations, secret notices,
 * config changes, `live.versions` share the subject): anything else, including what is not JSON,
 * is ignored, as subjects.md tells every worker to do with types it does not know.
 */
export const onControl = <A>(nc: NatsConnection, plugin: string, codec: t.Decoder<unknown, A>, handle: (message: A) => void): Subscription =>
  nc.subscribe(controlSubject(plugin), {
    callback: (err, m) => {
      if (err) return;
      let raw: unknown;
      try {
        raw = m.json();
      } catch {
        return;
      }
      const d = codec.decode(raw);
      if (E.isRight(d)) handle(d.right);
    },
  });
