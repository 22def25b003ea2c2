import * as t from "io-ts";

/**
 * A nats CLI context file (`~/.config/nats/context/<name>.json`), the fields Ganglion reads and
 * writes: the server URL, how to authenticate (a credentials file, an nkey seed file, user and
 * password, a token; the nats CLI writes unset ones as ""), the inbox prefix the credentials
 * allow, and TLS files. Other fields the nats CLI knows are ignored.
 */
export const NatsContextFile = t.intersection([
  t.type({ url: t.string }),
  t.partial({
    description: t.string,
    creds: t.string,
    nkey: t.string,
    user: t.string,
    password: t.string,
    token: t.string,
    inbox_prefix: t.string,
    ca: t.string,
    cert: t.string,
    key: t.string,
  }),
]);
export type NatsContextFile = t.TypeOf<typeof NatsContextFile>;

/** A context name as the nats CLI accepts it, and never a path. */
export const CONTEXT_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;
