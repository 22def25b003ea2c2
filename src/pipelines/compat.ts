import { pointerTokens } from "../contract/pipeline.js";

/**
 * A conservative JSON Schema compatibility check: is every value valid against `source` also
 * valid against `target`, as far as this check reads? Answers the reasons it is not (empty:
 * compatible), each with the schema path below the value.
 *
 * Checked: `type` (the source's types must be among the target's; `integer` fits `number`; a
 * target without `type` admits any), `enum` and `const` (a target enum needs a source enum or
 * const whose every value the target lists), objects (every property the target requires must be
 * required by the source; properties both declare are checked recursively; a target with
 * `additionalProperties: false` needs a source that is closed too and declares no other
 * property), arrays (`items`, recursively).
 *
 * Not checked (the task's own params validation still refuses such a value when the step runs,
 * and the step fails by its policy): value bounds and formats (`minimum`, `maximum`,
 * `exclusive*`, `multipleOf`, `minLength`, `maxLength`, `pattern`, `format`, `minItems`,
 * `maxItems`, `uniqueItems`, `minProperties`, `maxProperties`, `patternProperties`,
 * `propertyNames`, `dependentRequired`, `contains`). A schema that uses `$ref`, `anyOf`,
 * `oneOf`, `allOf`, `not` or `if` on either side is refused: this check does not read them, so
 * it cannot vouch for them.
 */
type Schema = Record<string, unknown> | boolean;

const UNREAD = ["$ref", "anyOf", "oneOf", "allOf", "not", "if"] as const;

const typesOf = (s: Record<string, unknown>): string[] | undefined =>
  typeof s.type === "string" ? [s.type] : Array.isArray(s.type) ? (s.type.filter((x) => typeof x === "string") as string[]) : undefined;

const jsonType = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "number" ? (Number.isInteger(v) ? "integer" : "number") : typeof v;

const typeFits = (src: string, targets: readonly string[]) => targets.includes(src) || (src === "integer" && targets.includes("number"));

const obj = (s: unknown): Record<string, unknown> => (s !== null && typeof s === "object" && !Array.isArray(s) ? (s as Record<string, unknown>) : {});
const own = (o: Record<string, unknown>, k: string) => (Object.hasOwn(o, k) ? o[k] : undefined);
const at = (path: string, k: string) => (path ? `${path}.${k}` : k);

const valuesOf = (s: Record<string, unknown>): unknown[] | undefined => (Object.hasOwn(s, "const") ? [s.const] : Array.isArray(s.enum) ? s.enum : undefined);

export const compatible = (source: Schema | undefined, target: Schema | undefined, path = ""): string[] => {
  if (target === undefined || target === true) return [];
  if (target === false) return [`${path || "value"}: the target schema admits nothing`];
  if (source === undefined || source === true) {
    return Object.keys(target).some((k) => k !== "description" && k !== "title" && k !== "default" && k !== "examples")
      ? [`${path || "value"}: the source declares no schema here, the target does (${JSON.stringify(target).slice(0, 120)})`]
      : [];
  }
  if (source === false) return [];
  const where = path || "value";
  for (const k of UNREAD) {
    if (Object.hasOwn(target, k)) return [`${where}: the target schema uses ${k}, which this check does not read`];
    if (Object.hasOwn(source, k)) return [`${where}: the source schema uses ${k}, which this check does not read`];
  }
  const errs: string[] = [];
  const tt = typesOf(target);
  const st = typesOf(source);
  const sv = valuesOf(source);
  const tv = valuesOf(target);
  const srcTypes = st ?? (sv ? [...new Set(sv.map(jsonType))] : undefined);
  if (tt) {
    if (!srcTypes) errs.push(`${where}: the target wants ${tt.join("|")}, the source declares no type`);
    else {
      const bad = srcTypes.filter((x) => !typeFits(x, tt));
      if (bad.length) errs.push(`${where}: the source may be ${bad.join("|")}, the target wants ${tt.join("|")}`);
    }
  }
  if (tv) {
    if (!sv) errs.push(`${where}: the target allows only ${JSON.stringify(tv).slice(0, 120)}, the source is not limited to those values`);
    else {
      const missing = sv.filter((v) => !tv.some((w) => JSON.stringify(w) === JSON.stringify(v)));
      if (missing.length) errs.push(`${where}: the source may be ${JSON.stringify(missing).slice(0, 120)}, which the target does not allow`);
    }
  }
  if (errs.length) return errs;
  const objectish = (tt ?? []).includes("object") || Object.hasOwn(target, "properties") || Object.hasOwn(target, "required");
  if (objectish) {
    const tp = obj(target.properties);
    const sp = obj(source.properties);
    const sreq = Array.isArray(source.required) ? source.required : [];
    for (const r of Array.isArray(target.required) ? target.required : []) {
      if (typeof r === "string" && !sreq.includes(r)) errs.push(`${at(where, r)}: required by the target, not by the source`);
    }
    for (const k of Object.keys(tp)) {
      if (Object.hasOwn(sp, k)) errs.push(...compatible(own(sp, k) as Schema, own(tp, k) as Schema, at(where, k)));
    }
    if (target.additionalProperties === false) {
      if (source.additionalProperties !== false)
        errs.push(`${where}: the target admits no other properties, the source is not closed (additionalProperties: false)`);
      for (const k of Object.keys(sp)) if (!Object.hasOwn(tp, k)) errs.push(`${at(where, k)}: the target admits no property ${k}`);
    } else if (typeof target.additionalProperties === "object") {
      for (const k of Object.keys(sp)) {
        if (!Object.hasOwn(tp, k)) errs.push(...compatible(own(sp, k) as Schema, target.additionalProperties as Schema, at(where, k)));
      }
    }
  }
  if ((tt ?? []).includes("array") && target.items !== undefined) {
    errs.push(...compatible(source.items as Schema | undefined, target.items as Schema, `${where}[]`));
  }
  return errs;
};

/**
 * The schema of the value at `pointer` below a schema, and whether that value is sure to be
 * there (every property on the way is required). Undefined when the schema does not declare the
 * path (or uses what this check does not read on the way).
 */
export const schemaAt = (
  schema: Record<string, unknown>,
  tokens: readonly string[],
): { schema: Record<string, unknown> | boolean; required: boolean } | { error: string } => {
  let cur: Record<string, unknown> | boolean = schema;
  let required = true;
  for (const tok of tokens) {
    if (typeof cur === "boolean") return cur ? { schema: true, required: false } : { error: `nothing is admitted at ${tok}` };
    for (const k of UNREAD) if (Object.hasOwn(cur, k)) return { error: `the schema uses ${k} before ${JSON.stringify(tok)}, which this check does not read` };
    const props = obj(cur.properties);
    const items = cur.items;
    if (Object.hasOwn(props, tok)) {
      if (!(Array.isArray(cur.required) && cur.required.includes(tok))) required = false;
      cur = own(props, tok) as Record<string, unknown>;
    } else if (/^(0|[1-9]\d*)$/.test(tok) && items !== undefined && typeof items === "object" && !Array.isArray(items)) {
      required = false; // an index of an array may be past its end
      cur = items as Record<string, unknown>;
    } else return { error: `the schema declares no ${JSON.stringify(tok)}` };
  }
  return { schema: cur, required };
};

export { pointerTokens };
