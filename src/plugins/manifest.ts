import * as E from "fp-ts/lib/Either.js";
import { Ajv } from "ajv";
import { parse as parseYaml } from "yaml";
import { defaultCatalog } from "./catalog.js";
import type { Catalog } from "./catalog.js";
import { reportErrors } from "./decodeErrors.js";
import { crossCheck, manifestCodec } from "./manifestShape.js";
import type { Manifest as ManifestType } from "./manifestShape.js";

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
} from "./manifestShape.js";
export type { Health, Limits, ManifestSource, RetryPolicy, SchemaCheck, TaskSpec } from "./manifestShape.js";

const ajv = new Ajv({ allErrors: true, strict: false });

/** A schema is valid when ajv compiles it (the tasks runtime validates params and results with ajv too). */
export const ajvSchemaCheck = (schema: Record<string, unknown>): string | undefined => {
  try {
    ajv.compile(schema);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

/**
 * The manifest codec for manifests written by people: capabilities checked against the shipped
 * catalog, JSON Schemas compiled with ajv, durations as strings like `"30s"`.
 */
export const Manifest = manifestCodec(defaultCatalog(), "input", ajvSchemaCheck);
export type Manifest = ManifestType;

const codecFor = (catalog: Catalog) => (catalog === defaultCatalog() ? Manifest : manifestCodec(catalog, "input", ajvSchemaCheck));

/** Decodes a manifest value that was already parsed (a service request). */
export const decodeManifestValue = (raw: unknown, catalog: Catalog = defaultCatalog()): E.Either<string[], ManifestType> => {
  const d = codecFor(catalog).decode(raw);
  if (E.isLeft(d)) return E.left(reportErrors(d.left));
  const cross = crossCheck(d.right);
  return cross.length > 0 ? E.left(cross) : E.right(d.right);
};

/**
 * Decodes a manifest from YAML or JSON text (`format` defaults to YAML, which also reads JSON).
 * The left side lists every error as `path: reason`; nothing partial is ever returned.
 */
export const decodeManifest = (text: string, format: "yaml" | "json" = "yaml", catalog: Catalog = defaultCatalog()): E.Either<string[], ManifestType> => {
  let raw: unknown;
  try {
    raw = format === "json" ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    return E.left([`(document): not valid ${format.toUpperCase()}: ${(err as Error).message.split("\n")[0]}`]);
  }
  return decodeManifestValue(raw, catalog);
};
