import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import type { CallOptions } from "../contract/client.js";
import type { EndpointName, RequestOf, ResponseOf } from "../contract/endpoints.js";
import { serviceClient } from "../service/client.js";
import { operatorActor } from "./actor.js";
import { CliError, ExitCode } from "./errors.js";

/**
 * Calls an endpoint as the operator (`operatorActor`) and answers the response, or throws the
 * refusal as a `CliError`: "message (Code)", exit code Unreachable for `Unavailable`, else Failure.
 */
export const callOrThrow = async <N extends EndpointName>(nc: NatsConnection, endpoint: N, req: RequestOf<N>, opts?: CallOptions): Promise<ResponseOf<N>> => {
  const r = await serviceClient(nc, { actor: operatorActor() }).call(endpoint, req, opts);
  if (E.isLeft(r)) throw new CliError(`${r.left.message} (${r.left.code})`, r.left.code === "Unavailable" ? ExitCode.Unreachable : ExitCode.Failure);
  return r.right;
};
