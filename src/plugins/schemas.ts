import { Ajv } from "ajv";
import type { ValidateFunction } from "ajv";
// ajv-formats is CommonJS with a default export; under ESM its module object is the callable.
import addFormatsModule from "ajv-formats";
import { checkSync } from "recheck";

/**
 * JSON Schemas of plugin manifests (params and results), checked at install so that nothing a
 * manifest may say can stall or crash the core later:
 *
 * - **size**: at most `MAX_SCHEMA_NODES` schema keys and `MAX_SCHEMA_DEPTH` levels (a schema of
 *   10,000 properties took 3.6 s to compile);
 * - **patterns** (`pattern`, `patternProperties` keys) are checked with recheck, a ReDoS checker
 *   that proves a pattern's matching time linear or finds an attack string: any pattern it finds
 *   exponential or polynomial (`^(a+)+$` froze the core for tens of seconds on 30 characters), or
 *   cannot decide in time, is refused;
 * - **termination**: the compiled validator is run on a few values; a schema whose `$ref` loops
 *   without descending into the value (`{"$ref": "#"}`) overflows the stack and is refused;
 * - **formats** (`date-time`, `email`, `uri`, `uuid`, ...) are checked (ajv-formats), not ignored.
 */
export const MAX_SCHEMA_NODES = 2_000;
export const MAX_SCHEMA_DEPTH = 32;
/** How long recheck may think about one pattern before it is refused as undecided. */
export const PATTERN_CHECK_MS = 2_000;
/**
 * How long recheck may think about all the patterns of one manifest. The check runs on the core's
 * event loop: 200 patterns that each took recheck a few hundred ms froze the core for 60 s.
 */
export const MANIFEST_PATTERN_BUDGET_MS = 1_500;

/** The end of the current manifest's pattern budget (the decode is synchronous: one at a time). */
let patternDeadline: number | undefined;
/** The current manifest's whole budget, to name it in a refusal. */
let patternBudget = MANIFEST_PATTERN_BUDGET_MS;

/** Runs `f` (a manifest decode) with `ms` for all the patterns it checks. */
export const withPatternBudget = <A>(ms: number, f: () => A): A => {
  warmPatternChecker();
  const outer = patternDeadline;
  const outerBudget = patternBudget;
  patternDeadline = Date.now() + ms;
  patternBudget = ms;
  try {
    return f();
  } finally {
    patternDeadline = outer;
    patternBudget = outerBudget;
  }
};

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

/** One ajv with the formats, configured as the core validates params and results. */
export const createAjv = (): Ajv => addFormats(new Ajv({ allErrors: true, strict: false }));

type Walk = { nodes: number; issues: string[] };

/**
 * Whether a pattern is linear by its shape alone, so recheck need not think about it: no
 * backreference, and every quantifier an exact count (`{n}`) on a single atom (a character, an
 * escape or a class, never a group). Such a pattern tries at most its own length in steps from each
 * start position, so a backtracking engine runs it in linear time. `^[0-9a-f]{64}$` is one; recheck
 * took 0.4 s to prove it (2 s and more on a loaded machine, past its budget).
 */
export const linearByShape = (source: string): boolean => {
  let prevAtom = false; // the previous token is a single atom (not a group, not a quantifier)
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === "\\") {
      const n = source[i + 1] ?? "";
      if (/[1-9k]/.test(n)) return false; // backreferences
      i += n === "u" && source[i + 2] === "{" ? source.indexOf("}", i) - i : 1;
      prevAtom = true;
    } else if (c === "[") {
      let j = i + 1;
      while (j < source.length && source[j] !== "]") j += source[j] === "\\" ? 2 : 1;
      i = j;
      prevAtom = true;
    } else if (c === "(") {
      if (source[i + 1] === "?") i += source[i + 2] === "<" && source[i + 3] !== "=" && source[i + 3] !== "!" ? source.indexOf(">", i) - i : 2;
      prevAtom = false;
    } else if (c === "*" || c === "+" || c === "?") {
      return false;
    } else if (c === "{") {
      const m = /^\{(\d+)\}/.exec(source.slice(i));
      if (!m || !prevAtom) return false;
      i += m[0].length - 1;
      prevAtom = false;
    } else {
      prevAtom = c !== ")" && c !== "|" && c !== "^" && c !== "$";
    }
  }
  return true;
};

let warmed = false;
/** recheck's first check starts its agent (0.8 s here): done once, outside any manifest's budget. */
export const warmPatternChecker = (): void => {
  if (warmed) return;
  warmed = true;
  checkSync("a+", "u", { timeout: 10_000 });
};

const checkPattern = (p: string, path: string, w: Walk) => {
  let source = p;
  try {
    // JSON Schema patterns are ECMAScript regexes with the unicode flag (as ajv compiles them).
    new RegExp(source, "u");
  } catch (err) {
    w.issues.push(`${path}: not a valid regular expression (${(err as Error).message})`);
    return;
  }
  if (linearByShape(source)) return;
  warmPatternChecker();
  const timeout = patternDeadline === undefined ? PATTERN_CHECK_MS : Math.min(PATTERN_CHECK_MS, patternDeadline - Date.now());
  if (timeout <= 0) {
    w.issues.push(`${path}: the manifest's patterns could not all be checked within ${patternBudget} ms; use fewer or simpler patterns`);
    return;
  }
  const r = checkSync(source, "u", { timeout });
  if (r.status === "safe") return;
  source = source.length > 60 ? `${source.slice(0, 60)}…` : source;
  if (r.status === "vulnerable") {
    const c = r.complexity.type === "polynomial" ? `polynomial (degree ${r.complexity.degree})` : r.complexity.type;
    w.issues.push(
      `${path}: the pattern ${JSON.stringify(source)} can take ${c} time on some inputs (a ReDoS risk: nested or overlapping repetition); rewrite it so no part of the input can be matched in two ways`,
    );
  } else {
    w.issues.push(`${path}: the pattern ${JSON.stringify(source)} could not be proven safe within ${timeout} ms; simplify it`);
  }
};

const walk = (node: unknown, path: string, depth: number, w: Walk): void => {
  if (w.issues.length > 20) return;
  if (Array.isArray(node)) {
    node.forEach((x, i) => walk(x, `${path}[${i}]`, depth + 1, w));
    return;
  }
  if (typeof node !== "object" || node === null) return;
  if (depth > MAX_SCHEMA_DEPTH) {
    w.issues.push(`${path}: the schema nests deeper than ${MAX_SCHEMA_DEPTH} levels`);
    return;
  }
  for (const [k, v] of Object.entries(node)) {
    if (++w.nodes > MAX_SCHEMA_NODES) {
      if (w.nodes === MAX_SCHEMA_NODES + 1)
        w.issues.push(`${path}: the schema has more than ${MAX_SCHEMA_NODES} keys; split the task type or simplify its schema`);
      return;
    }
    const at = `${path}.${k}`;
    if (k === "pattern" && typeof v === "string") checkPattern(v, at, w);
    if (k === "patternProperties" && typeof v === "object" && v !== null) for (const p of Object.keys(v)) checkPattern(p, `${at}[${JSON.stringify(p)}]`, w);
    walk(v, at, depth + 1, w);
  }
};

const PROBES: unknown[] = [null, true, 0, "", [], {}, { a: {} }, [[]]];

/** Why a schema must be refused at install (each reason with its path), or `[]`. */
export const schemaIssues = (ajv: Ajv, schema: Record<string, unknown>, root = "$"): string[] => {
  const w: Walk = { nodes: 0, issues: [] };
  walk(schema, root, 0, w);
  if (w.issues.length > 0) return w.issues;
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    return [`${root}: ${(err as Error).message}`];
  }
  for (const probe of PROBES) {
    try {
      validate(probe);
    } catch (err) {
      if (err instanceof RangeError) return [`${root}: the schema never ends validating (a $ref loops on itself without descending into the value)`];
      return [`${root}: validating ${JSON.stringify(probe)} throws: ${(err as Error).message}`];
    }
  }
  return [];
};
