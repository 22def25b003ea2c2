/**
 * Bounds on what anyone may send the core. Each refusal names the limit; nothing over a limit is
 * parsed further, appended, or kept.
 */
/** A request body: 1 MiB of params plus room for the rest. */
export const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
/** JSON nesting of a request (and of anything the core will encode into the log). */
export const MAX_JSON_DEPTH = 64;
/** Who an operator says they are (`actor`: `operator:alice`). */
export const MAX_ACTOR = 128;
/** A worker instance's name in a report (heartbeats name it in their subject; the SDK and the examples make tokens of it). */
export const MAX_INSTANCE = 128;

/**
 * The deepest nesting of `[`/`{` in JSON text, counted without recursion and without parsing:
 * a 100,000-deep array parses, but encoding or walking it again overflows the stack.
 */
export const jsonDepth = (text: string): number => {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 /* [ */ || c === 123 /* { */) max = Math.max(max, ++depth);
    else if (c === 93 /* ] */ || c === 125 /* } */) depth--;
  }
  return max;
};

/** The same bound for a value already parsed (a worker's result), iteratively. */
export const valueDepth = (v: unknown, limit = MAX_JSON_DEPTH): number => {
  let max = 0;
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (typeof x !== "object" || x === null) continue;
    max = Math.max(max, d);
    if (max > limit) return max;
    for (const y of Array.isArray(x) ? x : Object.values(x)) stack.push([y, d + 1]);
  }
  return max;
};

export { BoundedText, MAX_TEXT } from "./endpoints.js";

/**
 * A worker's result, JSON-encoded (`completed` reports): larger ones fail the attempt as
 * `invalid_result` ("the result is N bytes; the limit is 1048576"). Keep big outputs elsewhere and
 * return a reference.
 */
export const MAX_RESULT_BYTES = 1024 * 1024;
/**
 * A whole report on `res.<plugin>.<taskId>`: the largest result plus room for its envelope. The
 * RESULTS stream's `max_msg_size` (streams/results.json) is this number, so nats-server itself
 * refuses a larger report (JetStream error 10054, "message size exceeds maximum allowed") before
 * the core reads a byte of it; `test/contract/limits.test.ts` keeps the two equal.
 */
export const MAX_REPORT_BYTES = MAX_RESULT_BYTES + 64 * 1024;

/**
 * A heartbeat on `hb.<plugin>.<instance>` (core NATS, so no stream bounds it): a few short fields.
 * A larger one is dropped unread (a 3 MiB heartbeat cost the core's loop tens of ms to parse).
 */
export const MAX_HEARTBEAT_BYTES = 4 * 1024;
