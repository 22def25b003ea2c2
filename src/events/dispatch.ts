import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";

/** The literal `type` of an event codec (`t.type({ type: t.literal("x"), ... })`, also inside intersections/exact). */
export const literalTypeOf = (c: t.Mixed): string | undefined => {
  const anyC = c as unknown as { props?: Record<string, unknown>; types?: t.Mixed[]; type?: t.Mixed };
  const lit = anyC.props?.["type"] as { value?: unknown } | undefined;
  if (lit && typeof lit.value === "string") return lit.value;
  if (!(c instanceof t.UnionType)) {
    for (const sub of anyC.types ?? []) {
      const v = literalTypeOf(sub);
      if (v !== undefined) return v;
    }
  }
  return anyC.type ? literalTypeOf(anyC.type) : undefined;
};

/**
 * For a (possibly nested) union of event codecs that each have a literal `type`: the member codec
 * of each type. `undefined` when the codec is anything else.
 */
export const membersByType = (codec: t.Mixed): ReadonlyMap<string, t.Mixed> | undefined => {
  const out = new Map<string, t.Mixed>();
  const visit = (c: t.Mixed): boolean => {
    if (c instanceof t.UnionType) return (c.types as t.Mixed[]).every(visit);
    const lit = literalTypeOf(c);
    if (lit === undefined || out.has(lit)) return false;
    out.set(lit, c);
    return true;
  };
  return visit(codec) ? out : undefined;
};

/**
 * Decodes `{ type, data }` with the codec of its `type` when the codec is a union of typed events
 * (one member tried, not all of them: a union decode tries every member and allocates the errors
 * of each), or with the codec itself otherwise. Errors are readable paths.
 */
export const eventDecoder = <A>(codec: t.Type<A, unknown, unknown>): ((x: { type: string; data: unknown }) => E.Either<string[], A>) => {
  const members = membersByType(codec as unknown as t.Mixed);
  if (!members) return (x) => E.mapLeft(failure)(codec.decode(x));
  const known = [...members.keys()];
  return (x) => {
    const c = members.get(x.type);
    if (!c)
      return E.left([
        `type: ${JSON.stringify(x.type)} is not one of the event types accepted here (${known.length} known, e.g. ${known.slice(0, 3).join(", ")})`,
      ]);
    return E.mapLeft(failure)(c.decode(x) as t.Validation<A>);
  };
};
