/**
 * Submission rate limits: a token bucket per plugin, pure. `count` tokens refill evenly over
 * `perMs`; a submission takes one. When none is left, the caller answers `RateLimited` with
 * `retryAfterMs` (when the next token is due).
 */
export type Rate = { readonly count: number; readonly perMs: number };
export type Bucket = { readonly tokens: number; readonly at: number };

export const take = (b: Bucket | undefined, rate: Rate, now: number): { ok: true; bucket: Bucket } | { ok: false; bucket: Bucket; retryAfterMs: number } => {
  const perToken = rate.perMs / rate.count;
  const start = b ?? { tokens: rate.count, at: now };
  const tokens = Math.min(rate.count, start.tokens + Math.max(0, now - start.at) / perToken);
  if (tokens >= 1) return { ok: true, bucket: { tokens: tokens - 1, at: now } };
  return { ok: false, bucket: { tokens, at: now }, retryAfterMs: Math.max(1, Math.ceil((1 - tokens) * perToken)) };
};
