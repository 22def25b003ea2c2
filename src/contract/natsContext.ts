import * as t from "io-ts";

/**
 * A nats CLI context file (`~/.config/nats/context/<name>.json`), the fields Ganglion reads and
 * writes: the server URL, a credentials file, the inbox prefix the credentials allow, and TLS
 * files. Other fields the nats CLI knows (user, password, token, nkey, ...) are ignored.
 */
export const NatsContextFile = t.intersection([
  t.type({ url: t.string }),
  t.partial({
    description: t.string,
    creds: t.string,
    inbox_prefix: t.string,
    ca: t.string,
    cert: t.string,
    key: t.string,
  }),
]);
export type NatsContextFile = t.TypeOf<typeof NatsContextFile>;

/** A context name as the nats CLI accepts it, and never a path. */
export const CONTEXT_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;
