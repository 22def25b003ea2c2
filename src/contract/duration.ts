import parse from "parse-duration";

/**
 * The one duration grammar of Ganglion: every option (`--timeout`, `--ttl`, `audit --since`) and
 * every manifest field reads durations here. One or more `<number><unit>` terms, optionally
 * separated by spaces, with units `ms`, `s`, `m`, `h`, `d` and `w`: `500ms`, `30s`, `1h30m`,
 * `1.5h`, `7d`. The arithmetic is parse-duration's; this module only bounds what is accepted
 * (parse-duration alone reads `"1h foo"` as one hour and `"30"` as 30 ms).
 */
const GRAMMAR = /^\s*(?:\d{1,15}(?:\.\d{1,15})?\s*(?:ms|s|m|h|d|w)\s*){1,8}$/;

/** Longest duration text considered (a grammar of at most 8 terms fits well within it). */
export const MAX_DURATION_TEXT = 128;

/** Parses a duration to whole milliseconds; undefined when it is not in the grammar. */
export const parseDuration = (s: string): number | undefined => {
  if (typeof s !== "string" || s.length > MAX_DURATION_TEXT || !GRAMMAR.test(s)) return undefined;
  const ms = parse(s);
  return ms === null || !Number.isFinite(ms) || ms < 0 ? undefined : Math.round(ms);
};

/** What an error says the grammar is. */
export const DURATION_HINT = 'a duration like "30s", "5m", "500ms", "1h30m" or "1.5h"';
