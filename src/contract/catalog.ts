import { readFileSync } from "node:fs";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { DOTTED } from "./subjects.js";

/**
 * One entry of the capability catalog (`catalog/capabilities.json`). `imports` are what the
 * capability adds to the plugin's account, written as templates for people (`<param>`,
 * `<plugin>`, `<param_>` = the param with `.` replaced by `_`): the subject as the plugin sends it
 * (`local`) and as it arrives in BUS (`bus`). `src/auth/accounts.ts` builds the real ones from
 * `store/subjects.ts`, and a test keeps the two equal.
 */
export const CatalogEntry = t.intersection([
  t.type({
    name: t.string,
    summary: t.string,
    risk: t.keyof({ low: null, medium: null, high: null }),
    imports: t.array(t.type({ local: t.string, bus: t.string })),
  }),
  t.partial({
    /** Present for parameterised capabilities (`topic.publish:<topic>`): what the param names. */
    param: t.string,
  }),
]);
export type CatalogEntry = t.TypeOf<typeof CatalogEntry>;

export const Catalog = t.type({ description: t.string, capabilities: t.array(CatalogEntry) });
export type Catalog = t.TypeOf<typeof Catalog>;

/** A capability string from a manifest, split: `topic.publish:text.counted` → name + param. */
export type ParsedCapability = { readonly name: string; readonly param?: string; readonly entry: CatalogEntry };

/** The capability strings a catalog knows, as they are written in manifests. */
export const knownCapabilities = (c: Catalog): string[] => c.capabilities.map((e) => (e.param ? `${e.name}:<${e.param}>` : e.name));

/**
 * Parses one capability string against the catalog. The reason on the left says what is wrong and,
 * for an unknown capability, lists the known ones.
 */
export const parseCapability = (c: Catalog, cap: string): E.Either<string, ParsedCapability> => {
  const i = cap.indexOf(":");
  const name = i < 0 ? cap : cap.slice(0, i);
  const param = i < 0 ? undefined : cap.slice(i + 1);
  const entry = c.capabilities.find((e) => e.name === name);
  if (!entry) return E.left(`unknown capability ${JSON.stringify(cap)}; known capabilities: ${knownCapabilities(c).join(", ")}`);
  if (entry.param) {
    if (param === undefined || param === "") return E.left(`capability ${name} needs a ${entry.param}: write ${name}:<${entry.param}>`);
    if (!DOTTED.test(param)) {
      return E.left(`${entry.param} ${JSON.stringify(param)} of ${name} is not valid: use lower-case tokens of letters, digits, '-' or '_', joined by '.'`);
    }
    return E.right({ name, param, entry });
  }
  if (param !== undefined) return E.left(`capability ${name} takes no parameter (got ${JSON.stringify(cap)})`);
  return E.right({ name, entry });
};

/** The capability's summary with its param filled in: what an operator is asked to approve. */
export const describeCapability = (c: Catalog, cap: string): string =>
  E.fold(
    (reason: string) => reason,
    (p: ParsedCapability) => p.entry.summary.replaceAll("<param>", p.param ?? ""),
  )(parseCapability(c, cap));

export class CatalogError extends Error {
  override name = "CatalogError";
}

/** Decodes a catalog document; throws a `CatalogError` naming each bad path (a packaging bug). */
export const decodeCatalog = (raw: unknown, source = "catalog"): Catalog => {
  const d = Catalog.decode(raw);
  if (E.isLeft(d)) throw new CatalogError(`${source} is invalid: ${failure(d.left).join("; ")}`);
  const names = new Set<string>();
  for (const e of d.right.capabilities) {
    if (names.has(e.name)) throw new CatalogError(`${source}: capability ${e.name} is listed twice`);
    names.add(e.name);
  }
  return d.right;
};

/** `catalog/capabilities.json` of this package (the same relative path from `src/` and `dist/`). */
export const CATALOG_FILE = new URL("../../catalog/capabilities.json", import.meta.url);

let cached: Catalog | undefined;
/** The catalog shipped with Ganglion, read once. */
export const defaultCatalog = (): Catalog => (cached ??= decodeCatalog(JSON.parse(readFileSync(CATALOG_FILE, "utf8")), "catalog/capabilities.json"));
