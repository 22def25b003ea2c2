import * as E from "fp-ts/lib/Either.js";
import { parse as parseYaml } from "yaml";
import { PipelineDefinition } from "../contract/pipeline.js";
import { reportErrors } from "../contract/decodeErrors.js";
import { ajvSchemaCheck } from "../plugins/manifest.js";

/** A definition is small: steps and mappings, not data. */
export const MAX_DEFINITION_BYTES = 256 * 1024;

/**
 * Decodes a pipeline definition (an object already parsed) with the one codec, then compiles its
 * params schema as manifests' schemas are (bounded, patterns proven linear). Every error is
 * `path: reason`; nothing partial is returned.
 */
export const decodeDefinitionValue = (raw: unknown): E.Either<string[], PipelineDefinition> => {
  const size = Buffer.byteLength(JSON.stringify(raw) ?? "");
  if (size > MAX_DEFINITION_BYTES) return E.left([`(document): the definition is ${size} bytes; the limit is ${MAX_DEFINITION_BYTES}`]);
  const d = PipelineDefinition.decode(raw);
  if (E.isLeft(d)) return E.left(reportErrors(d.left));
  const why = ajvSchemaCheck(d.right.params);
  return why === undefined ? E.right(d.right) : E.left([`params: not a valid JSON Schema: ${why}`]);
};

/** Decodes a definition from YAML or JSON text (YAML reads JSON too). */
export const decodeDefinition = (text: string): E.Either<string[], PipelineDefinition> => {
  if (text.length > MAX_DEFINITION_BYTES) return E.left([`(document): the definition is ${text.length} characters; the limit is ${MAX_DEFINITION_BYTES}`]);
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    return E.left([`(document): not valid YAML or JSON: ${(err as Error).message.split("\n")[0]}`]);
  }
  return decodeDefinitionValue(raw);
};
