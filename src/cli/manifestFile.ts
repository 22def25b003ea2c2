import { readFile } from "node:fs/promises";
import { extname, resolve } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { decodeManifest } from "../plugins/manifest.js";
import type { Manifest } from "../plugins/manifest.js";
import { CliError, ExitCode } from "./errors.js";

/** One refusal of a manifest: the field's path (`provides[0].timeout`, or `(document)`) and why. */
export type ManifestProblem = { readonly path: string; readonly reason: string };

/** Splits the decoder's `path: reason` lines. */
export const problemsOf = (errors: readonly string[]): ManifestProblem[] =>
  errors.map((e) => {
    const i = e.indexOf(": ");
    return i === -1 ? { path: "(document)", reason: e } : { path: e.slice(0, i), reason: e.slice(i + 2) };
  });

/**
 * Reads a manifest file and runs every check `plugin install` runs before the bus is involved:
 * the same `decodeManifest` the core's `plugin.install` endpoint runs on the text (size, YAML or
 * JSON, shape, names, JSON Schemas compiled and proven safe, capabilities against the shipped
 * catalog, limits, durations, cross-field rules). What only the bus can check (a downgrade, a
 * different manifest under the same version) is left to install. A file that cannot be read is a
 * usage error (exit 2).
 */
export const checkManifestFile = async (file: string): Promise<{ text: string; result: E.Either<ManifestProblem[], Manifest> }> => {
  let text: string;
  try {
    text = await readFile(resolve(file), "utf8");
  } catch (err) {
    throw new CliError(`cannot read the manifest ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ExitCode.Usage, {
      paths: [file],
    });
  }
  const d = decodeManifest(text, extname(file).toLowerCase() === ".json" ? "json" : "yaml");
  return { text, result: E.isLeft(d) ? E.left(problemsOf(d.left)) : E.right(d.right) };
};
