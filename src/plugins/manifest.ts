import * as E from "fp-ts/lib/Either.js";
import { parse as parseYaml } from "yaml";
import { defaultCatalog } from "../contract/catalog.js";
import type { Catalog } from "../contract/catalog.js";
import { reportErrors } from "../contract/decodeErrors.js";
import { createAjv, MANIFEST_PATTERN_BUDGET_MS, schemaIssues, withPatternBudget } from "./schemas.js";
import { crossCheck, manifestCodec } from "../contract/manifest.js";
import type { Manifest as ManifestType } from "../contract/manifest.js";

export {
  DEFAULT_HEALTH,
  DEFAULT_LIMITS,
  DEFAULT_RETRY,
  Duration,
  jsonSchemaCodec,
  manifestCodec,
  parseDuration,
  PluginId,
  Rate,
  sameManifest,
  Semver,
  StoredManifest,
  TaskType,
} from "../contract/manifest.js";
export type { Health, Limits, ManifestSource, RetryPolicy, SchemaCheck, TaskSpec } from "../contract/manifest.js";

const ajv = createAjv();

/**
 * A schema is valid when it is safe to use (`src/plugins/schemas.ts`: bounded size, patterns
 * proven linear, validation terminates) and ajv compiles it, with the formats the core checks.
 */
export const ajvSchemaCheck = (schema: Record<string, unknown>): string | undefined => {
  const issues = schemaIssues(ajv, schema, "schema");
  return issues.length === 0 ? undefined : issues.join("; ");
};

/** A manifest is small: its schemas and descriptions, not data (a 7 MiB manifest was accepted). */
export const MAX_MANIFEST_BYTES = 256 * 1024;

/**
 * The manifest codec for manifests written by people: capabilities checked against the shipped
 * catalog, JSON Schemas compiled with ajv, durations as strings like `"30s"`.
 */
export const Manifest = manifestCodec(defaultCatalog(), "input", ajvSchemaCheck);
export type Manifest = ManifestType;

const codecFor = (catalog: Catalog) => (catalog === defaultCatalog() ? Manifest : manifestCodec(catalog, "input", ajvSchemaCheck));

/**
 * Decodes a manifest value that was already parsed (a service request). `patternBudgetMs`: how
 * long recheck may think about all its patterns (off the event loop, `manifestCheck.ts`, it may be
 * longer: a loaded machine made recheck refuse linear patterns as undecided).
 */
export const decodeManifestValue = (
  raw: unknown,
  catalog: Catalog = defaultCatalog(),
  patternBudgetMs = MANIFEST_PATTERN_BUDGET_MS,
): E.Either<string[], ManifestType> => {
  const size = Buffer.byteLength(JSON.stringify(raw) ?? "");
  if (size > MAX_MANIFEST_BYTES) return E.left([`(document): the manifest is ${size} bytes; the limit is ${MAX_MANIFEST_BYTES}`]);
  const d = withPatternBudget(patternBudgetMs, () => codecFor(catalog).decode(raw));
  if (E.isLeft(d)) return E.left(reportErrors(d.left));
  const cross = crossCheck(d.right);
  return cross.length > 0 ? E.left(cross) : E.right(d.right);
};

/**
 * Decodes a manifest from YAML or JSON text (`format` defaults to YAML, which also reads JSON).
 * The left side lists every error as `path: reason`; nothing partial is ever returned.
 */
export const decodeManifest = (
  text: string,
  format: "yaml" | "json" = "yaml",
  catalog: Catalog = defaultCatalog(),
  patternBudgetMs = MANIFEST_PATTERN_BUDGET_MS,
): E.Either<string[], ManifestType> => {
  if (text.length > MAX_MANIFEST_BYTES) return E.left([`(document): the manifest is ${text.length} characters; the limit is ${MAX_MANIFEST_BYTES}`]);
  let raw: unknown;
  try {
    raw = format === "json" ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    return E.left([`(document): not valid ${format.toUpperCase()}: ${(err as Error).message.split("\n")[0]}`]);
  }
  return decodeManifestValue(raw, catalog, patternBudgetMs);
};
