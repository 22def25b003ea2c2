import * as t from "io-ts";
import type * as E from "fp-ts/lib/Either.js";
import type { Logger } from "pino";
import type { EndpointAccess } from "./callers.js";

/**
 * A structured error reply. `code` is a PascalCase tag callers match on (`InvalidRequest`,
 * `NotFound`, `Conflict`, `RateLimited`, `Forbidden`, `Unavailable`, `Internal`, or a domain
 * rejection such as `AlreadyRegistered`); `paths` name each offending field of the request.
 */
export const ServiceError = t.intersection([
  t.type({ code: t.string, message: t.string }),
  t.partial({ paths: t.array(t.string), details: t.unknown, retryAfterMs: t.number }),
]);
export type ServiceError = t.TypeOf<typeof ServiceError>;

/** Every reply on `ganglion.v1.>` has this shape. */
export const Reply = t.union([
  t.type({ ok: t.literal(true), result: t.unknown }),
  t.type({ ok: t.literal(false), error: ServiceError }),
]);
export type Reply = t.TypeOf<typeof Reply>;

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

/**
 * One command or query of the core's micro service, on `ganglion.v1.<name>`. The request is
 * decoded with `request` before `handle` sees it: a malformed request never reaches domain code.
 */
export type Endpoint<Req = any, Res = unknown> = {
  readonly name: string;
  readonly description: string;
  /** Who may call it (default `command`: only BUS, the core's own account). */
  readonly access?: EndpointAccess;
  readonly request: t.Type<Req, any, unknown>;
  readonly handle: (req: Req, ctx: RequestContext) => Promise<E.Either<ServiceError, Res>>;
};

export const defineEndpoint = <Req, Res>(e: Endpoint<Req, Res>): Endpoint<Req, Res> => e;
