import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { serviceSubject } from "../contract/subjects.js";
import { Reply } from "./endpoint.js";
import type { ServiceError } from "./endpoint.js";

/** Calls an endpoint of the core's service and decodes the reply; transport failures are `Unavailable`. */
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
