/**
 * The console server's API (src/console/server.ts). The server decides what a session may call;
 * the page asks `/api/session` only to hide what it would be refused anyway.
 */

export type ServiceError = { code: string; message: string; paths?: string[] };
export type Result<T> = { ok: true; result: T } | { ok: false; error: ServiceError };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: ServiceError,
  ) {
    super(error.message);
  }
}

const headers = { "content-type": "application/json", "x-ganglion-console": "1" };

const answer = async <T>(r: Response): Promise<T> => {
  const body = (await r.json().catch(() => ({ ok: false, error: { code: "Internal", message: `HTTP ${r.status}` } }))) as Result<T>;
  if (r.status === 401) location.reload();
  if (!body.ok) throw new ApiError(r.status, body.error);
  return body.result;
};

/** Calls a service endpoint through the console server. */
export const call = async <T = any>(endpoint: string, request: unknown = {}): Promise<T> =>
  answer<T>(await fetch(`/api/call/${endpoint}`, { method: "POST", headers, body: JSON.stringify(request), credentials: "same-origin" }));

export const post = async <T = any>(path: string, body: unknown = {}): Promise<T> =>
  answer<T>(await fetch(`/api/${path}`, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin" }));

export const get = async <T = any>(path: string): Promise<T> => answer<T>(await fetch(`/api/${path}`, { credentials: "same-origin" }));

export type SessionInfo = { kind: "operator" | "viewer"; handle: string; endpoints: string[] };

export const session = async (): Promise<SessionInfo> => {
  const r = await fetch("/api/session", { credentials: "same-origin" });
  if (r.status === 401) throw new Error("no session");
  return (await r.json()) as SessionInfo;
};

// ---- live updates -----------------------------------------------------------------------------

export type LiveEvent = { subject: string; events: { id: string; type: string; time: string; actor: string }[] };
export type LiveHandlers = { onEvent?: (e: LiveEvent) => void; onViews?: (buckets: string[]) => void };

const listeners = new Set<LiveHandlers>();
let source: EventSource | undefined;

export const startLive = (onState: (up: boolean) => void) => {
  source = new EventSource("/api/live");
  source.onopen = () => onState(true);
  source.onerror = () => onState(false);
  source.addEventListener("event", (m) => {
    const e = JSON.parse((m as MessageEvent<string>).data) as LiveEvent;
    for (const l of listeners) l.onEvent?.(e);
  });
  source.addEventListener("views", (m) => {
    const { buckets } = JSON.parse((m as MessageEvent<string>).data) as { buckets: string[] };
    for (const l of listeners) l.onViews?.(buckets);
  });
};

/** Listens until the returned function is called (a page does on leaving). */
export const onLive = (h: LiveHandlers): (() => void) => {
  listeners.add(h);
  return () => listeners.delete(h);
};
