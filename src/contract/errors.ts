import * as t from "io-ts";

/**
 * Every error code the core's service answers (`{ok: false, error: {code, …}}` on
 * `ganglion.v1.>`), and the plugin submissions on `submit.<type>` too. Closed: a handler that
 * answers a code not listed here does not compile, and a client refuses a reply that carries one.
 */
export const ErrorCode = {
  // ---- the service itself (any endpoint) ----------------------------------------------------
  /** The body is not JSON, is over a limit, or fails the endpoint's request codec (`paths`). */
  InvalidRequest: "InvalidRequest",
  /** The caller's account may not use the endpoint; a self-registration over an operator's plugin. */
  Forbidden: "Forbidden",
  NotFound: "NotFound",
  /** The answer is larger than the bus carries. */
  ReplyTooLarge: "ReplyTooLarge",
  /** (console, HTTP) no session: log in with the printed URL first. */
  Unauthorized: "Unauthorized",
  /** The handler threw; or (client side) the reply did not decode. */
  Internal: "Internal",
  /** No core answers, the event log is out of reach (`retryAfterMs`), or the core lacks key material. */
  Unavailable: "Unavailable",
  // ---- plugins (the plugins decider's rejections) -------------------------------------------
  ManifestConflict: "ManifestConflict",
  Downgrade: "Downgrade",
  NotRequested: "NotRequested",
  NotGranted: "NotGranted",
  NotApproved: "NotApproved",
  Disabled: "Disabled",
  // ---- tasks: admission (routing, schema, size, rate) ---------------------------------------
  InvalidParams: "InvalidParams",
  UnknownTaskType: "UnknownTaskType",
  /** `details.candidates` */
  NoProvider: "NoProvider",
  /** `details.candidates` */
  Ambiguous: "Ambiguous",
  PayloadTooLarge: "PayloadTooLarge",
  /** `retryAfterMs` */
  RateLimited: "RateLimited",
  // ---- tasks: the tasks decider's rejections ------------------------------------------------
  /** `details.status` */
  AlreadyEnded: "AlreadyEnded",
  NotDeadLettered: "NotDeadLettered",
  AlreadyExists: "AlreadyExists",
  NotHeld: "NotHeld",
  NotApplicable: "NotApplicable",
  // ---- artifacts ------------------------------------------------------------------------------
  /** Bytes that do not match their SHA-256: an upload chunk, a stored chunk, the whole object. */
  Corrupt: "Corrupt",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ErrorCodeCodec = t.keyof(Object.fromEntries(Object.keys(ErrorCode).map((k) => [k, null])) as { [K in ErrorCode]: null }, "ErrorCode");

export const isErrorCode = (s: string): s is ErrorCode => Object.hasOwn(ErrorCode, s);

/**
 * A structured error reply. `code` is one of `ErrorCode`; `paths` name each offending field of
 * the request (or, for a reply that did not decode, of the reply).
 */
export const ServiceError = t.intersection([
  t.type({ code: ErrorCodeCodec, message: t.string }),
  t.partial({ paths: t.array(t.string), details: t.unknown, retryAfterMs: t.number }),
]);
export type ServiceError = t.TypeOf<typeof ServiceError>;

/** Every reply on `ganglion.v1.>` (and on `submit.<type>`) has this shape; `result` is the endpoint's response. */
export const Reply = t.union([t.type({ ok: t.literal(true), result: t.unknown }), t.type({ ok: t.literal(false), error: ServiceError })]);
export type Reply = t.TypeOf<typeof Reply>;
