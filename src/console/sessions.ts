import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Login tokens and sessions of the console (README, "The console").
 *
 * A login token is printed once (the URL `ganglion up` prints) and is single-use: exchanging it
 * deletes it and opens a session. The browser then holds only the session's id, in an HttpOnly,
 * SameSite=Strict cookie. Secrets are 32 random bytes; the server keeps only their SHA-256, and
 * compares a presented token against each pending one in constant time.
 */

/** `operator`: everything the console offers. `viewer`: the read endpoints, plus submit, cancel and retry of tasks. */
export type SessionKind = "operator" | "viewer";

export type Session = {
  readonly kind: SessionKind;
  /** A short public handle (first 8 hex digits of the id's hash), for the log's actor field. */
  readonly handle: string;
  readonly createdAt: number;
  readonly expiresAt: number;
};

export const SESSION_COOKIE = "ganglion_console";
/** How long a session lives (it does not outlive the process either). */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** How long an unused login token stays valid. */
export const TOKEN_TTL_MS = 24 * 60 * 60 * 1000;
/** Bounds: beyond them the oldest entries go first (a flood of logins cannot grow memory). */
export const MAX_SESSIONS = 256;
export const MAX_TOKENS = 64;

const secret = () => randomBytes(32).toString("base64url");
const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();
/** A presented secret of a shape no issued one has is refused before hashing anything. */
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export type Sessions = {
  /** A new single-use login token for a session of `kind`. */
  readonly issueToken: (kind: SessionKind) => string;
  /** Exchanges a token for a session: its cookie value and the session, or undefined when the token is unknown, used or expired. */
  readonly exchange: (token: string) => { id: string; session: Session } | undefined;
  /** The session a cookie value names, if it is live. */
  readonly lookup: (id: string | undefined) => Session | undefined;
  readonly end: (id: string) => void;
};

export const sessions = (now: () => number = Date.now): Sessions => {
  const tokens: { hash: Buffer; kind: SessionKind; expiresAt: number }[] = [];
  const live = new Map<string, Session>();
  const prune = () => {
    const t = now();
    for (let i = tokens.length - 1; i >= 0; i--) if (tokens[i]!.expiresAt <= t) tokens.splice(i, 1);
    for (const [k, s] of live) if (s.expiresAt <= t) live.delete(k);
  };
  return {
    issueToken: (kind) => {
      prune();
      const token = secret();
      tokens.push({ hash: digest(token), kind, expiresAt: now() + TOKEN_TTL_MS });
      while (tokens.length > MAX_TOKENS) tokens.shift();
      return token;
    },
    exchange: (token) => {
      prune();
      if (!SECRET_SHAPE.test(token)) return undefined;
      const h = digest(token);
      // Every pending token is compared (no early exit), each in constant time.
      let found = -1;
      tokens.forEach((t, i) => {
        if (timingSafeEqual(t.hash, h)) found = i;
      });
      if (found < 0) return undefined;
      const [t] = tokens.splice(found, 1);
      const id = secret();
      const hash = digest(id);
      const session: Session = { kind: t!.kind, handle: hash.subarray(0, 4).toString("hex"), createdAt: now(), expiresAt: now() + SESSION_TTL_MS };
      live.set(hash.toString("hex"), session);
      while (live.size > MAX_SESSIONS) live.delete(live.keys().next().value!);
      return { id, session };
    },
    lookup: (id) => {
      if (id === undefined || !SECRET_SHAPE.test(id)) return undefined;
      // Keyed by the id's hash: a lookup's timing says nothing about the ids held.
      const key = digest(id).toString("hex");
      const s = live.get(key);
      if (!s) return undefined;
      if (s.expiresAt <= now()) {
        live.delete(key);
        return undefined;
      }
      return s;
    },
    end: (id) => {
      if (SECRET_SHAPE.test(id)) live.delete(digest(id).toString("hex"));
    },
  };
};

/** The value of cookie `name` in a Cookie header (the last one wins nowhere: the first is taken). */
export const cookieValue = (header: string | undefined, name: string): string | undefined => {
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
};

export const sessionCookie = (id: string, maxAgeS: number) => `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}`;
export const clearedCookie = () => `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
