import type { Permissions } from "@nats-io/jwt";
import { Buckets, serviceSubject, Streams } from "../store/subjects.js";

/**
 * Inbox prefix of the read-only operator credentials. `_` cannot start a plugin id, so these
 * inboxes never overlap a plugin's `_INBOX.<plugin>` (where a plugin may receive secrets).
 */
export const READ_ONLY_INBOX = "_INBOX._ops";

/**
 * The permissions of read-only operator credentials (`ganglion nats-context`): read the view
 * buckets and the EVENTS log the way the `nats` CLI does (stream info, direct/message get,
 * ephemeral consumers for `kv ls`, watches and `stream view`), discover the micro service, and
 * call the read-only endpoints. Nothing else: no `$KV.` or `ev.` publish, no stream or bucket
 * management, no command endpoint.
 *
 * NATS wildcards match whole tokens only (`KV_*` is not a pattern), so each bucket is listed by
 * name: mint the credentials again after a view moves to a new bucket.
 */
export const readOnlyPermissions = (opts: { buckets: readonly string[]; endpoints: readonly string[] }): Permissions => {
  const streams = [Streams.Events, ...[...new Set([...opts.buckets, Buckets.Projections, Buckets.Checkpoints])].map((b) => `KV_${b}`)];
  const perStream = streams.flatMap((s) => [
    `$JS.API.STREAM.INFO.${s}`,
    `$JS.API.STREAM.MSG.GET.${s}`,
    `$JS.API.DIRECT.GET.${s}`,
    `$JS.API.DIRECT.GET.${s}.>`,
    `$JS.API.CONSUMER.CREATE.${s}`,
    `$JS.API.CONSUMER.CREATE.${s}.>`,
    `$JS.API.CONSUMER.INFO.${s}.*`,
    `$JS.API.CONSUMER.DELETE.${s}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${s}.*`,
    `$JS.ACK.${s}.>`,
    `$JS.FC.${s}.>`,
  ]);
  return {
    pub: {
      allow: [
        "$JS.API.INFO",
        "$JS.API.STREAM.NAMES",
        "$JS.API.STREAM.LIST",
        ...perStream,
        "$SRV.>",
        ...opts.endpoints.map(serviceSubject),
      ],
      deny: ["$KV.>", "ev.>"],
    },
    sub: { allow: [`${READ_ONLY_INBOX}.>`] },
  };
};
