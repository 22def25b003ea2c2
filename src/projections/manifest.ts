import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";

const BucketName = new t.Type<string, string, unknown>(
  "BucketName",
  (u): u is string => typeof u === "string" && /^[-\w]+$/.test(u),
  (u, c) => (typeof u === "string" && /^[-\w]+$/.test(u) ? t.success(u) : t.failure(u, c, "a KV bucket name matches ^[-\\w]+$")),
  t.identity,
);

/**
 * A view as declared in `projections/<name>.json`. Bumping `version` needs a new `bucket`
 * (convention: `<name>-v<version>`): the runner rebuilds the new bucket from the start of the
 * log while the old one keeps serving, then switches the view's pointer to it.
 */
export const ViewManifest = t.intersection([
  t.type({
    name: t.string,
    version: t.number,
    bucket: BucketName,
    description: t.string,
    /** Which events the runner reads (the event store's filter): type prefixes, categories. */
    filter: t.partial({ eventTypePrefixes: t.array(t.string), categories: t.array(t.string) }),
  }),
  t.partial({ history: t.number }),
]);
export type ViewManifest = t.TypeOf<typeof ViewManifest>;

export class ManifestError extends Error {
  override name = "ManifestError";
}

/** `<package root>/projections`. */
export const defaultProjectionsDir = () => new URL("../../projections/", import.meta.url).pathname;

/** Loads and decodes every manifest; a bad file is refused with its path and the failing fields. */
export const loadManifests = async (dir = defaultProjectionsDir()): Promise<ViewManifest[]> => {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json")).sort();
  const out: ViewManifest[] = [];
  for (const f of files) {
    const path = join(dir, f);
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(path, "utf8"));
    } catch (err) {
      throw new ManifestError(`${path}: not valid JSON (${(err as Error).message})`);
    }
    const d = ViewManifest.decode(raw);
    if (E.isLeft(d)) throw new ManifestError(`${path}: ${failure(d.left).join("; ")}`);
    out.push(d.right);
  }
  const buckets = new Set<string>();
  for (const m of out) {
    if (buckets.has(m.bucket)) throw new ManifestError(`bucket ${m.bucket} is declared by two views: each view version needs its own bucket`);
    buckets.add(m.bucket);
  }
  return out;
};
