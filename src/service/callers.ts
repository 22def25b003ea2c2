import type { EndpointAccess } from "../contract/endpoints.js";

/**
 * Who sent a request, as the server says it, and whether the core may answer it. Subject
 * permissions never see a reply subject, so a request's reply could name any subject of the
 * account the core answers from: a JetStream API verb, a KV row, the log, a command. The core
 * therefore answers only replies that are inboxes:
 *
 * - `_INBOX.…`: a client of BUS itself (the core, the admin credentials);
 * - `_R_.…`: a request that crossed an account boundary. The server wrote that subject: it routes
 *   back to the requester's own account and nowhere in BUS.
 *
 * A request with no reply, or with any other reply (`$JS.ACK.…` is what a JetStream delivery into
 * an imported subject carries), is refused unanswered and never executed.
 */

/** The header nats-server adds to a request that crossed an account boundary through a service import. */
export const REQUEST_INFO_HEADER = "Nats-Request-Info";

/** Prefixes of the reply subjects the core answers. */
export const ANSWERABLE_REPLY_PREFIXES = ["_INBOX.", "_R_."] as const;

export const answerableReply = (reply: string | undefined): boolean =>
  typeof reply === "string" && ANSWERABLE_REPLY_PREFIXES.some((p) => reply.startsWith(p)) && !/[\s*>]/.test(reply);

/** The requester's account in a `Nats-Request-Info` header (`{"acc": "A…", ...}`), if it parses. */
export const requestAccount = (header: string | undefined): string | undefined => {
  if (!header) return undefined;
  try {
    const v = JSON.parse(header) as unknown;
    const acc = typeof v === "object" && v !== null ? (v as { acc?: unknown }).acc : undefined;
    return typeof acc === "string" && /^A[A-Z2-7]{55}$/.test(acc) ? acc : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Why a request must not be served, or undefined when it may: its reply is not an inbox, or
 * (with `expectedAccount`) it came from another account than the one the subject names. A request
 * without the header came from inside BUS (the admin), which may act for anyone.
 */
export const refuseCaller = (reply: string | undefined, requestInfo: string | undefined, expectedAccount?: string): string | undefined => {
  if (!answerableReply(reply))
    return typeof reply === "string" && reply !== "" ? `reply subject ${JSON.stringify(reply.slice(0, 120))} is not an inbox` : "no reply subject";
  if (requestInfo === undefined) return reply!.startsWith("_INBOX.") ? undefined : "a server-mapped reply without request info";
  const acc = requestAccount(requestInfo);
  if (!acc) return "unreadable request info";
  if (expectedAccount !== undefined && acc !== expectedAccount) return `request from account ${acc}, not the subject's plugin account`;
  return undefined;
};

export type { EndpointAccess } from "../contract/endpoints.js";

/** The caller of a service request, from the server's request info. */
export type Caller = { readonly role: "bus" } | { readonly role: "ops" } | { readonly role: "dev" } | { readonly role: "foreign"; readonly account: string };

/** Maps a request's account to a caller; `accounts` are the OPS and DEV account keys. */
export const callerOf = (requestInfo: string | undefined, accounts: { ops?: string; dev?: string }): Caller => {
  if (requestInfo === undefined) return { role: "bus" };
  const acc = requestAccount(requestInfo) ?? "?";
  if (accounts.ops && acc === accounts.ops) return { role: "ops" };
  if (accounts.dev && acc === accounts.dev) return { role: "dev" };
  return { role: "foreign", account: acc };
};

export const mayCall = (access: EndpointAccess, caller: Caller): boolean =>
  caller.role === "bus" || (caller.role === "ops" && access === "read") || (caller.role === "dev" && access === "register");
