import type * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { reportErrors } from "../contract/decodeErrors.js";
import { Svcm } from "@nats-io/services";
import type { Service, ServiceMsg } from "@nats-io/services";
import { headers, nuid } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { SERVICE_NAME, serviceSubject } from "../contract/subjects.js";
import { StoreUnavailableError } from "../store/types.js";
import { Endpoints } from "../contract/endpoints.js";
import type { EndpointSpec } from "../contract/endpoints.js";
import type { ErrorCode } from "../contract/errors.js";
import type { Endpoint, RequestContext, ServiceError } from "./endpoint.js";
import { callerOf, mayCall, REQUEST_INFO_HEADER, refuseCaller } from "./callers.js";
import type { Caller } from "./callers.js";
import { jsonDepth, MAX_ACTOR, MAX_JSON_DEPTH, MAX_REQUEST_BYTES } from "../contract/limits.js";

/** Header a caller may set to tie the events a request causes to its own trace. */
export const CORRELATION_HEADER = "Ganglion-Correlation-Id";

/** The micro error code (`Nats-Service-Error-Code`) sent for each error `code`: 422 for a domain rejection. */
export const ErrorStatus: { readonly [C in ErrorCode]: number } = {
  InvalidRequest: 400,
  Forbidden: 403,
  Unauthorized: 401,
  NotFound: 404,
  ReplyTooLarge: 413,
  RateLimited: 429,
  Internal: 500,
  Unavailable: 503,
  PayloadTooLarge: 422,
  InvalidParams: 422,
  ManifestConflict: 422,
  Downgrade: 422,
  NotRequested: 422,
  NotGranted: 422,
  NotApproved: 422,
  Disabled: 422,
  UnknownTaskType: 422,
  NoProvider: 422,
  Ambiguous: 422,
  AlreadyEnded: 422,
  NotDeadLettered: 422,
  AlreadyExists: 422,
  NotHeld: 422,
  NotApplicable: 422,
  Corrupt: 422,
};

export type ServiceDeps = {
  readonly nc: NatsConnection;
  readonly log: Logger;
  /** Version reported in `$SRV.INFO` (the package version). */
  readonly version?: string;
  readonly clock?: () => Date;
  /** The OPS and DEV account keys: requests from them reach only their endpoints. */
  readonly accounts?: { readonly ops?: string; readonly dev?: string };
  /**
   * The endpoint table served (default: the contract's, `src/contract/endpoints.ts`). An endpoint
   * whose entry is not this table's is refused; tests that serve endpoints of their own extend it.
   */
  readonly table?: Readonly<Record<string, EndpointSpec>>;
};

export type RunningService = {
  readonly service: Service;
  readonly stop: () => Promise<void>;
};

/**
 * Parses a request body: an empty body is `{}`; anything else must be UTF-8 JSON within the
 * size and nesting limits (`src/service/limits.ts`).
 */
export const parseBody = (data: Uint8Array): E.Either<ServiceError, unknown> => {
  if (data.length === 0) return E.right({});
  if (data.length > MAX_REQUEST_BYTES)
    return E.left({ code: "InvalidRequest", message: `the request is ${data.length} bytes; the limit is ${MAX_REQUEST_BYTES}`, paths: ["$"] });
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    return E.left({ code: "InvalidRequest", message: "the request is not valid UTF-8", paths: ["$"] });
  }
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH)
    return E.left({ code: "InvalidRequest", message: `the request nests ${depth} levels deep; the limit is ${MAX_JSON_DEPTH}`, paths: ["$"] });
  try {
    return E.right(JSON.parse(text));
  } catch (err) {
    return E.left({ code: "InvalidRequest", message: `the request is not JSON: ${(err as Error).message}`, paths: ["$"] });
  }
};

/**
 * Paths of io-ts errors as `a.b.0.c`: the context keys below the root, without the member
 * indexes that intersections and unions add.
 */
export const errorPaths = (errs: t.Errors): string[] => [
  ...new Set(
    errs.map((e) => {
      const keys: string[] = [];
      for (let i = 1; i < e.context.length; i++) {
        const parentTag = (e.context[i - 1]!.type as { _tag?: string })._tag;
        if (parentTag === "IntersectionType" || parentTag === "UnionType") continue;
        keys.push(e.context[i]!.key);
      }
      return keys.filter((k) => k !== "").join(".") || "$";
    }),
  ),
];

/**
 * Runs one request through an endpoint: parse → decode → handle. Never throws: every failure
 * becomes a `ServiceError` (`InvalidRequest` with the failing paths, `Internal` for a throw).
 */
export const handleRequest = async (
  ep: Endpoint,
  data: Uint8Array,
  ctx: Omit<RequestContext, "actor">,
  caller: Caller = { role: "bus" },
): Promise<E.Either<ServiceError, unknown>> => {
  if (!mayCall(ep.access, caller)) {
    return E.left({
      code: "Forbidden",
      message: `${ep.name} is not reachable from ${caller.role === "foreign" ? `account ${caller.account}` : `the ${caller.role.toUpperCase()} account`}`,
    });
  }
  const body = parseBody(data);
  if (E.isLeft(body)) return body;
  const raw = body.right;
  const actorField = typeof raw === "object" && raw !== null ? (raw as { actor?: unknown }).actor : undefined;
  if (
    actorField !== undefined &&
    (typeof actorField !== "string" || actorField.length === 0 || actorField.length > MAX_ACTOR || /[\u0000-\u001f]/.test(actorField))
  ) {
    return E.left({
      code: "InvalidRequest",
      message: `actor: expected a string such as "operator:alice" (1 to ${MAX_ACTOR} printable characters)`,
      paths: ["actor"],
    });
  }
  // Only a caller inside BUS (the admin) names itself; anyone else is who the server says.
  const actor = caller.role === "bus" ? (actorField ?? "operator") : caller.role === "dev" ? "dev-bootstrap" : caller.role;
  const req = ep.spec.request.decode(raw);
  if (E.isLeft(req)) {
    // Bounded: PathReporter quoted each wrong value whole (a 2 MiB field, once per error: seconds of the loop).
    return E.left({ code: "InvalidRequest", message: `invalid ${ep.name} request: ${reportErrors(req.left).join("; ")}`, paths: errorPaths(req.left) });
  }
  try {
    return await ep.handle(req.right, { ...ctx, actor });
  } catch (err) {
    // The log out of reach (a server restarting, a cluster electing a leader): a transient
    // condition, not a bug. The append may or may not have landed (a lost ack), so say so.
    if (err instanceof StoreUnavailableError) {
      ctx.log.warn({ err, endpoint: ep.name }, "event store unavailable");
      return E.left({
        code: "Unavailable",
        message: `${ep.name}: ${err.message}; the outcome is unknown (the log may or may not hold it), check before retrying a command`,
        retryAfterMs: 1000,
      });
    }
    ctx.log.error({ err, endpoint: ep.name }, "endpoint handler failed");
    return E.left({ code: "Internal", message: `${ep.name} failed: ${(err as Error).message ?? String(err)}` });
  }
};

/**
 * Starts the core's NATS micro service `ganglion` (answers `$SRV.PING|INFO|STATS`) with one
 * micro endpoint per `Endpoint`, on `ganglion.v1.<name>`, in the queue group `q` so several core
 * replicas share the load. Replies are `{ok:true,result}` or `{ok:false,error}`; error replies also
 * carry the micro error headers (`Nats-Service-Error`, `Nats-Service-Error-Code`) and count in
 * `$SRV.STATS` `num_errors`.
 */
export const startService = async (deps: ServiceDeps, endpoints: readonly Endpoint[]): Promise<RunningService> => {
  const seen = new Set<string>();
  const table: Readonly<Record<string, EndpointSpec>> = deps.table ?? Endpoints;
  for (const ep of endpoints) {
    if (seen.has(ep.name)) throw new Error(`two endpoints are named ${ep.name}`);
    if (!Object.hasOwn(table, ep.name) || table[ep.name] !== ep.spec)
      throw new Error(`endpoint ${ep.name} is not in the contract's endpoint table (src/contract/endpoints.ts)`);
    seen.add(ep.name);
  }
  const clock = deps.clock ?? (() => new Date());
  const svc = await new Svcm(deps.nc).add({
    name: SERVICE_NAME,
    version: deps.version ?? "0.1.0",
    description: "Ganglion core: commands and queries of the plugin bus",
    // An empty object, never undefined: `nats micro ls` rejects a `null`/`[]` metadata.
    metadata: {},
  });
  for (const ep of endpoints) {
    const log = deps.log.child({ endpoint: ep.name });
    const microName = ep.name.replace(/[^-\w]/g, "_");
    svc.addEndpoint(microName, {
      subject: serviceSubject(ep.name),
      metadata: { description: ep.description },
      handler: (err, msg) => {
        if (err) {
          log.error({ err }, "endpoint subscription failed");
          return;
        }
        // Defence in depth: no request is executed, nor answered, unless its reply is an inbox.
        const refusal = refuseCaller(msg.reply, msg.headers?.get(REQUEST_INFO_HEADER) || undefined);
        if (refusal) {
          countError(svc, microName, { code: "Refused", message: refusal });
          log.warn({ subject: msg.subject, reply: msg.reply, reason: refusal }, "request refused unanswered");
          return;
        }
        const caller = callerOf(msg.headers?.get(REQUEST_INFO_HEADER) || undefined, deps.accounts ?? {});
        void respond(svc, microName, ep, msg, log, clock, caller, deps.nc.info?.max_payload ?? 1024 * 1024).catch((e) =>
          log.error({ err: e }, "could not reply"),
        );
      },
    });
  }
  // The subscriptions reach the server before we say we are up: a request sent right after the
  // ready line must not meet "no responders".
  await deps.nc.flush();
  deps.log.info({ endpoints: endpoints.map((e) => serviceSubject(e.name)) }, "service started");
  return {
    service: svc,
    stop: async () => {
      await svc.stop();
    },
  };
};

const respond = async (svc: Service, microName: string, ep: Endpoint, msg: ServiceMsg, log: Logger, clock: () => Date, caller: Caller, maxPayload: number) => {
  const given = msg.headers?.get(CORRELATION_HEADER) ?? "";
  const correlationId = /^[\w.:-]{1,128}$/.test(given) ? given : nuid.next();
  let out = await handleRequest(ep, msg.data, { log: log.child({ correlationId }), now: clock(), correlationId }, caller);
  if (!msg.reply) return;
  if (E.isRight(out)) {
    const body = JSON.stringify({ ok: true, result: out.right ?? null });
    // An answer the bus cannot carry would leave the caller waiting for a reply that never comes
    // (and blaming the core); say what happened instead.
    const size = Buffer.byteLength(body);
    if (size <= maxPayload - 1024) {
      msg.respond(body);
      return;
    }
    out = E.left({
      code: "ReplyTooLarge",
      message: `the answer is ${size} bytes and the bus carries at most ${maxPayload}; ask for less (a filter, a smaller limit)`,
    });
  }
  if (E.isRight(out)) return;
  const error = out.left;
  countError(svc, microName, error);
  const h = headers();
  h.set(CORRELATION_HEADER, correlationId);
  msg.respondError(
    ErrorStatus[error.code] ?? 422,
    `${error.code}: ${error.message}`.slice(0, 1000).replace(/[\r\n]+/g, " "),
    JSON.stringify({ ok: false, error }),
    { headers: h },
  );
};

/**
 * `@nats-io/services` counts an error only when a handler throws synchronously; ours answer
 * asynchronously, so the error is counted on the endpoint's stats here.
 * SMELL -- reaches into the library's endpoint records (`handlers[].stats.countError`); if their
 * shape changes, errors are still answered, only `num_errors` stops counting.
 */
const countError = (svc: Service, microName: string, error: { code: string; message: string }) => {
  const handlers = (svc as unknown as { handlers?: { name?: string; stats?: { countError?: (e: Error) => void } }[] }).handlers;
  handlers?.find((h) => h.name === microName)?.stats?.countError?.(new Error(`${error.code}: ${error.message}`));
};
