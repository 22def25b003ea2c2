import type * as t from "io-ts";
import type * as E from "fp-ts/lib/Either.js";
import type { Logger } from "pino";
import type { EndpointAccess, EndpointSpec } from "../contract/endpoints.js";
import type { ServiceError } from "../contract/errors.js";

export { Reply, ServiceError } from "../contract/errors.js";
export type { ErrorCode } from "../contract/errors.js";

export type RequestContext = {
  readonly log: Logger;
  /** Time of the request, taken once: deciders receive it as an input. */
  readonly now: Date;
  /**
   * Actor recorded on resulting events: for a caller inside BUS (the admin credentials) the
   * request's `actor` field, or `operator`; for a caller from another account, that account's
   * role (`ops`, `dev-bootstrap`), whatever the body says.
   */
  readonly actor: string;
  readonly correlationId: string;
};

/** A handler typed by its contract entry: it sees the decoded request and must answer the response type. */
export type Handler<S extends EndpointSpec> = (req: t.TypeOf<S["request"]>, ctx: RequestContext) => Promise<E.Either<ServiceError, t.TypeOf<S["response"]>>>;

/**
 * One command or query of the core's micro service, on `ganglion.v1.<name>`: an entry of the
 * contract's endpoint table (`src/contract/endpoints.ts`: name, access, request and response
 * codecs) and its handler. The request is decoded with `spec.request` before `handle` sees it: a
 * malformed request never reaches domain code.
 */
export type Endpoint = {
  readonly spec: EndpointSpec;
  readonly name: string;
  readonly description: string;
  /** Who may call it (from the table). */
  readonly access: EndpointAccess;
  readonly handle: (req: any, ctx: RequestContext) => Promise<E.Either<ServiceError, unknown>>;
};

export const defineEndpoint = <S extends EndpointSpec>(spec: S, handle: Handler<S>): Endpoint => ({
  spec,
  name: spec.name,
  description: spec.description,
  access: spec.access,
  handle,
});
