import type { Ajv, ValidateFunction } from "ajv";
import { createAjv } from "../../plugins/schemas.js";
import type { Provider } from "../providers.js";

/**
 * The params and result schemas of the task types plugins provide, compiled once per plugin
 * version and type (submit validates params, reports validate results), with the same ajv
 * configuration install checked them with (formats included: `date-time` and `email` were
 * silently not checked).
 */
export const schemas = (ajv: Ajv = createAjv()) => {
  const compiled = new Map<string, ValidateFunction>();
  /** The validator of a task type's params or result; `undefined` when the plugin does not provide the type. */
  const validator = (p: Provider, taskType: string, which: "params" | "result"): ValidateFunction | undefined => {
    const spec = p.manifest.provides.find((s) => s.type === taskType);
    if (!spec) return undefined;
    const key = `${p.pluginId}@${p.version}/${taskType}/${which}`;
    let v = compiled.get(key);
    if (!v) compiled.set(key, (v = ajv.compile(spec[which])));
    return v;
  };
  return { validator };
};
export type Schemas = ReturnType<typeof schemas>;

/** The path of each schema error under `root` (`params/items/0/n`: a JSON pointer); a missing or extra property is named in it. */
const errorPath = (e: NonNullable<ValidateFunction["errors"]>[number], root: string) => {
  const p = e.params as { missingProperty?: string; additionalProperty?: string };
  const prop = p.missingProperty ?? p.additionalProperty;
  return `${root}${e.instancePath || ""}${prop !== undefined ? `/${prop}` : ""}`;
};

/** One `path: reason` per schema error; a missing or extra property is named in the path. */
export const schemaErrors = (v: ValidateFunction, root: string) => (v.errors ?? []).map((e) => `${errorPath(e, root)}: ${e.message ?? "invalid"}`);

/** The paths alone, each once (an error's `paths`; the reasons go in its message). */
export const schemaPaths = (v: ValidateFunction, root: string) => [...new Set((v.errors ?? []).map((e) => errorPath(e, root)))];
