import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import type * as t from "io-ts";
import { reportErrors } from "../contract/decodeErrors.js";
import { Reply } from "../contract/errors.js";
import { BusUnavailableError, GanglionError } from "./errors.js";

/** The server has no subscriber for the subject (in an application's account: no import, or no core). */
export class NoRouteError extends Error {
  override name = "NoRouteError";
}

const isNoResponders = (e: Error) =>
  /NoResponders/.test(e.name) || /NoResponders/.test((e.cause as Error | undefined)?.name ?? "") || /no responders/i.test(e.message);

/**
 * One request on the application's wire: the reply envelope (`Reply`) decoded, its `result`
 * decoded with `codec`. A refusal is a `GanglionError`; no route is a `NoRouteError`; any other
 * transport failure (timeout, connection down or closed) a `BusUnavailableError`.
 */
export const request = async <A>(nc: NatsConnection, subject: string, body: unknown, codec: t.Type<A, any, unknown>, timeoutMs: number): Promise<A> => {
  let raw: unknown;
  try {
    const m = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
    raw = m.json();
  } catch (err) {
    const e = err as Error;
    if (isNoResponders(e)) throw new NoRouteError(`no route for ${subject}`);
    throw new BusUnavailableError(`${subject}: ${e.message}`, { cause: e });
  }
  const d = Reply.decode(raw);
  if (E.isLeft(d)) throw new GanglionError({ code: "Internal", message: `malformed reply on ${subject}: ${reportErrors(d.left).join("; ")}` });
  if (!d.right.ok) throw new GanglionError(d.right.error);
  const r = codec.decode(d.right.result);
  if (E.isLeft(r))
    throw new GanglionError({ code: "Internal", message: `the reply on ${subject} does not match the contract: ${reportErrors(r.left).join("; ")}` });
  return r.right;
};

/** The bus or the log is out of reach for now: the core said `Unavailable`, or nothing answered. */
export const transient = (e: unknown) => e instanceof BusUnavailableError || (e instanceof GanglionError && e.code === "Unavailable");

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `f` again while the bus is unavailable (a server restart, a reconnect), with a growing
 * pause, for up to `forMs`. Only for requests that are safe to repeat: reads, cancel, and
 * submissions under an idempotency key.
 */
export const retrying = async <A>(f: () => Promise<A>, forMs: number, isClosed: () => boolean, retryOn: (e: unknown) => boolean = transient): Promise<A> => {
  const until = Date.now() + forMs;
  for (let pause = 100; ; pause = Math.min(pause * 2, 2_000)) {
    try {
      return await f();
    } catch (err) {
      if (!retryOn(err) || isClosed() || Date.now() + pause > until) throw err;
      await sleep(pause);
    }
  }
};
