import type * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { reportErrors } from "./decodeErrors.js";
import { Endpoints } from "./endpoints.js";
import type { EndpointName, RequestOf, ResponseOf } from "./endpoints.js";
import { Reply } from "./errors.js";
import type { ServiceError } from "./errors.js";
import { serviceSubject } from "./subjects.js";

/**
 * What the typed client needs of a NATS connection (a `NatsConnection` is one): a request with a
 * timeout whose reply parses as JSON. Kept structural so that the contract imports no client library.
 */
export type Requester = {
  readonly request: (subject: string, payload: string, opts: { timeout: number }) => Promise<{ json: () => unknown }>;
};

export type CallOptions = {
  /** Request timeout (default 10 s; an endpoint that waits, `waitMs`, needs more). */
  readonly timeoutMs?: number;
};

/**
 * A client of the core's service, typed by the endpoint table: `call("task.submit", req)` type-checks
 * `req` against the endpoint's request codec and decodes the reply's `result` with its response
 * codec, so what the caller gets is what the table says (a reply that does not decode is an
 * `Internal` error naming the offending paths). Transport failures are `Unavailable`.
 */
export type ServiceClient = {
  readonly call: <N extends EndpointName>(endpoint: N, request: RequestOf<N>, opts?: CallOptions) => Promise<E.Either<ServiceError, ResponseOf<N>>>;
};

export type ServiceClientOptions = CallOptions & {
  /** Sent as `actor` with every request (honoured only for callers inside BUS). */
  readonly actor?: string;
};

const isNoResponders = (e: Error) => e.name === "NoRespondersError" || (e.cause as Error | undefined)?.name === "NoRespondersError";

/** Decodes a raw reply of `endpoint`: the envelope, then `result` with the endpoint's response codec. */
export const decodeReply = <N extends EndpointName>(endpoint: N, raw: unknown): E.Either<ServiceError, ResponseOf<N>> => {
  const d = Reply.decode(raw);
  if (E.isLeft(d)) {
    const lines = reportErrors(d.left);
    return E.left({
      code: "Internal",
      message: `malformed reply from the core to ${endpoint}: ${lines.join("; ")}`,
      paths: lines.map((l) => l.slice(0, l.indexOf(":"))),
    });
  }
  if (!d.right.ok) return E.left(d.right.error);
  const r = Endpoints[endpoint].response.decode(d.right.result) as E.Either<t.Errors, ResponseOf<N>>;
  if (E.isLeft(r)) {
    const lines = reportErrors(r.left).map((l) => (l.startsWith("(document)") ? `result${l.slice("(document)".length)}` : `result.${l}`));
    return E.left({
      code: "Internal",
      message: `the core's answer to ${endpoint} does not match the contract: ${lines.join("; ")}`,
      paths: lines.map((l) => l.slice(0, l.indexOf(":"))),
    });
  }
  return E.right(r.right);
};

export const serviceClient = (nc: Requester, opts: ServiceClientOptions = {}): ServiceClient => ({
  call: async (endpoint, request, callOpts = {}) => {
    const subject = serviceSubject(endpoint);
    const body = opts.actor !== undefined ? { ...(request as object), actor: opts.actor } : (request ?? {});
    let m: { json: () => unknown };
    try {
      m = await nc.request(subject, JSON.stringify(body), { timeout: callOpts.timeoutMs ?? opts.timeoutMs ?? 10_000 });
    } catch (err) {
      const e = err as Error;
      return E.left({
        code: "Unavailable",
        message: isNoResponders(e) ? `no Ganglion core answers on ${subject}: is \`ganglion up\` (or \`serve\`) running?` : e.message,
      });
    }
    let raw: unknown;
    try {
      raw = m.json();
    } catch (err) {
      return E.left({ code: "Internal", message: `the core's answer to ${endpoint} is not JSON: ${(err as Error).message}` });
    }
    return decodeReply(endpoint, raw);
  },
});
