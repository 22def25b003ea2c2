import * as t from "io-ts";

/**
 * A shallow shape check derived from an io-ts codec: what the log's own readers run instead of
 * a full decode ("trust the log"). Only the core appends to EVENTS, and every append went
 * through the full codec (the store validates and encodes each event), so a stored event whose
 * type tag is known and whose top-level fields have the right kinds is taken as decoded. The
 * check stays cheap (no allocation, no recursion into values); boundaries where data enters
 * keep their full decode.
 */
export type Sniff = (u: unknown) => boolean;

const accept: Sniff = () => true;

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u);

/** The kind check of one field's codec: primitives and literals exactly, anything else as present. */
const fieldSniff = (c: t.Mixed): Sniff => {
  if (c instanceof t.StringType) return (u) => typeof u === "string";
  if (c instanceof t.NumberType) return (u) => typeof u === "number";
  if (c instanceof t.BooleanType) return (u) => typeof u === "boolean";
  if (c instanceof t.NullType) return (u) => u === null;
  if (c instanceof t.LiteralType) return (u) => u === c.value;
  if (c instanceof t.KeyofType) return (u) => typeof u === "string" && Object.hasOwn(c.keys, u);
  if (c instanceof t.ArrayType || c instanceof t.ReadonlyArrayType) return (u) => Array.isArray(u);
  if (c instanceof t.InterfaceType || c instanceof t.PartialType || c instanceof t.DictionaryType) return isObject;
  if (c instanceof t.UnionType) {
    const members = (c.types as t.Mixed[]).map(fieldSniff);
    return (u) => members.some((m) => m(u));
  }
  if (c instanceof t.RefinementType || c instanceof t.ReadonlyType || c instanceof t.ExactType) return fieldSniff(c.type as t.Mixed);
  // A custom codec (defaults, parsed durations...): trusted as written, only required to be there.
  return accept;
};

/** The top-level check of an object codec: required fields present with their kinds, optional ones of their kind when present. */
export const objectSniff = (c: t.Mixed): Sniff => {
  const checks: { key: string; required: boolean; sniff: Sniff }[] = [];
  const visit = (x: t.Mixed): boolean => {
    if (x instanceof t.InterfaceType) {
      for (const [key, p] of Object.entries(x.props as t.Props)) checks.push({ key, required: true, sniff: fieldSniff(p) });
      return true;
    }
    if (x instanceof t.PartialType) {
      for (const [key, p] of Object.entries(x.props as t.Props)) checks.push({ key, required: false, sniff: fieldSniff(p) });
      return true;
    }
    if (x instanceof t.IntersectionType) return (x.types as t.Mixed[]).every(visit);
    if (x instanceof t.ExactType || x instanceof t.ReadonlyType || x instanceof t.RefinementType) return visit(x.type as t.Mixed);
    return false;
  };
  if (!visit(c)) return isObject;
  return (u) => {
    if (!isObject(u)) return false;
    for (const k of checks) {
      const v = u[k.key];
      if (v === undefined ? k.required && !(k.sniff === accept) : !k.sniff(v)) return false;
    }
    return true;
  };
};

/** For an event codec `t.type({ type: t.literal(...), data })`: the sniff of its `data`. */
export const eventDataSniff = (c: t.Mixed): Sniff => {
  let data: t.Mixed | undefined;
  const visit = (x: t.Mixed) => {
    if (x instanceof t.InterfaceType) data ??= (x.props as t.Props)["data"] as t.Mixed | undefined;
    else if (x instanceof t.IntersectionType) (x.types as t.Mixed[]).forEach(visit);
    else if (x instanceof t.ExactType || x instanceof t.ReadonlyType || x instanceof t.RefinementType) visit(x.type as t.Mixed);
  };
  visit(c);
  return data ? objectSniff(data) : isObject;
};
