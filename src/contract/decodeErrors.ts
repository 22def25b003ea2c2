import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";

/**
 * Turns io-ts errors into `path: reason` lines a person can act on, such as
 * `provides[0].timeout: expected a duration like "30s"`. Union and intersection members add no
 * path segment; array indexes are written `[i]`; duplicate lines are dropped.
 */
export const reportErrors = (errors: t.Errors): string[] => {
  const out: string[] = [];
  for (const e of errors) {
    const path = pathOf(e);
    const last = e.context[e.context.length - 1];
    // Codecs quote the value in their messages: cut, so that a 2 MiB field is not answered back whole.
    const reason =
      (e.message !== undefined && e.message.length > MAX_REASON ? `${e.message.slice(0, MAX_REASON - 3)}...` : e.message) ??
      (e.value === undefined ? `is required (${last?.type.name ?? "a value"})` : `expected ${last?.type.name ?? "something else"}, got ${short(e.value)}`);
    const line = `${path === "" ? "(document)" : path}: ${reason}`;
    if (!out.includes(line)) out.push(line);
    // A request of junk has as many errors as it has fields: the answer names the first ones.
    if (out.length >= MAX_REPORTED) break;
  }
  return out;
};

/** Lines `reportErrors` gives at most, and characters of a codec's own message. */
const MAX_REPORTED = 50;
const MAX_REASON = 300;

/** The paths alone (`(document)` for the whole value), each once, as `reportErrors` writes them: an error's `paths`. */
export const reportPaths = (errors: t.Errors): string[] => [...new Set(errors.slice(0, 200).map((e) => pathOf(e) || "(document)"))].slice(0, MAX_REPORTED);

const pathOf = (e: t.ValidationError): string => {
  let path = "";
  for (let i = 1; i < e.context.length; i++) {
    const { key } = e.context[i]!;
    const parent = e.context[i - 1]!.type as t.Any & { _tag?: string };
    if (key === "") continue;
    const tag = parent._tag;
    if (tag === "UnionType" || tag === "IntersectionType") continue;
    path += tag === "ArrayType" || tag === "ReadonlyArrayType" || tag === "TupleType" ? `[${key}]` : path === "" ? key : `.${key}`;
  }
  return path;
};

/**
 * At most 60 characters of a value, without encoding all of it: strings are cut before they are
 * quoted (a 2 MiB field was encoded once per error, seconds of the core's loop per junk request).
 */
const short = (v: unknown) => {
  const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === "string" && x.length > 60 ? x.slice(0, 60) : x)) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/**
 * An object codec that refuses unknown fields (a typo like `timout` is an error, not a silent
 * default). `required` fields go through their codec even when missing, so a codec there may
 * supply a default for `undefined`.
 */
export const closed = <R extends t.Props, O extends t.Props>(name: string, required: R, optional: O) => {
  const inner = t.intersection([t.type(required), t.partial(optional)]);
  const known = [...Object.keys(required), ...Object.keys(optional)];
  return new t.Type<t.TypeOf<typeof inner>, t.OutputOf<typeof inner>, unknown>(
    name,
    inner.is,
    (u, c) => {
      if (typeof u !== "object" || u === null || Array.isArray(u)) {
        return t.failure(u, c, `expected an object (${name}), got ${short(u)}`);
      }
      const extra: t.Errors = Object.keys(u)
        .filter((k) => !known.includes(k))
        .map((k) => ({
          value: (u as Record<string, unknown>)[k],
          context: [...c, { key: k, type: t.unknown, actual: (u as Record<string, unknown>)[k] }],
          message: `unknown field; ${name} has: ${known.join(", ")}`,
        }));
      const r = inner.validate(u, t.appendContext(c, "", inner, u));
      if (extra.length === 0) return r;
      return t.failures(E.isLeft(r) ? [...extra, ...r.left] : extra);
    },
    inner.encode,
  );
};

/** A codec that replaces a missing value by `fallback` (use it among a `closed` codec's required fields). */
export const withDefault = <A, O>(codec: t.Type<A, O, unknown>, fallback: A): t.Type<A, O, unknown> =>
  new t.Type<A, O, unknown>(
    codec.name,
    codec.is,
    (u, c) => (u === undefined ? t.success(fallback) : codec.validate(u, t.appendContext(c, "", codec, u))),
    codec.encode,
  );
