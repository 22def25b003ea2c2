import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { serviceSubject } from "../contract/subjects.js";
import { Reply } from "../contract/errors.js";
import type { ServiceError } from "../contract/errors.js";

/** The typed client of the core's service (the one the CLI, the SDK and applications use). */
export { decodeReply, serviceClient } from "../contract/client.js";
export type { CallOptions, Requester, ServiceClient, ServiceClientOptions } from "../contract/client.js";

/**
 * An untyped call of any subject under `ganglion.v1.`: `result` is not decoded, `R` is the
 * caller's word. For tests of endpoints outside the contract's table and of malformed requests;
 * everything else uses `serviceClient`.
 */
export const callService = async <R = unknown>(
  nc: NatsConnection,
  endpoint: string,
  request: unknown,
  opts: { timeoutMs?: number } = {},
): Promise<E.Either<ServiceError, R>> => {
  let raw: unknown;
  try {
    const m = await nc.request(serviceSubject(endpoint), JSON.stringify(request ?? {}), { timeout: opts.timeoutMs ?? 10_000 });
    raw = m.json();
  } catch (err) {
    const e = err as Error;
    const noResponders = e.name === "NoRespondersError" || (e.cause as Error | undefined)?.name === "NoRespondersError";
    return E.left({
      code: "Unavailable",
      message: noResponders ? `no Ganglion core answers on ${serviceSubject(endpoint)}: is \`ganglion up\` (or \`serve\`) running?` : e.message,
    });
  }
  const d = Reply.decode(raw);
  if (E.isLeft(d)) return E.left({ code: "Internal", message: `malformed reply from the core: ${failure(d.left).join("; ")}` });
  return d.right.ok ? E.right(d.right.result as R) : E.left(d.right.error);
};
