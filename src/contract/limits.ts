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
