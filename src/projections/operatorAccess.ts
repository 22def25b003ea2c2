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
 * Consumers may be created on the view buckets and EVENTS only, so each bucket is listed by name
 * (NATS wildcards match whole tokens: `KV_*` is not a pattern): mint the credentials again after
 * a view moves to a new bucket. The user JWT travels in the CONNECT line, which nats-server caps
 * at 4 KiB by default (`max_control_line`): the list is kept short for that reason.
 */
export const readOnlyPermissions = (opts: { buckets: readonly string[]; endpoints: readonly string[] }): Permissions => {
  const streams = [Streams.Events, ...[...new Set([...opts.buckets, Buckets.Projections])].map((b) => `KV_${b}`)];
  return {
    pub: {
      allow: [
        // Reading stream metadata and messages: harmless verbs, allowed on every stream.
        "$JS.API.INFO",
        "$JS.API.STREAM.NAMES",
        "$JS.API.STREAM.LIST",
        "$JS.API.STREAM.INFO.*",
        "$JS.API.STREAM.MSG.GET.*",
        "$JS.API.DIRECT.GET.*",
        "$JS.API.DIRECT.GET.*.>",
        "$JS.API.CONSUMER.INFO.*.*",
        "$JS.FC.>",
        // Consumers only on the views and the log: never on TASKS, where a consumer could hold
        // or steal a plugin's work.
        // (Go clients delete the ordered consumers of `kv ls` / watches when done.)
        ...streams.flatMap((s) => [
          `$JS.API.CONSUMER.CREATE.${s}`,
          `$JS.API.CONSUMER.CREATE.${s}.>`,
          `$JS.API.CONSUMER.MSG.NEXT.${s}.*`,
          `$JS.API.CONSUMER.DELETE.${s}.*`,
        ]),
        `$JS.ACK.${Streams.Events}.>`,
        "$SRV.>",
        ...opts.endpoints.map(serviceSubject),
      ],
      deny: ["$KV.>", "ev.>"],
    },
    sub: { allow: [`${READ_ONLY_INBOX}.>`] },
  };
};

/** nats-server's default `max_control_line`: a CONNECT line (JWT included) must fit in it. */
export const MAX_CONTROL_LINE = 4096;
