import type { PipelineDefinition, PipelineStep } from "../contract/pipeline.js";
import type { TaskSpec } from "../contract/manifest.js";
import { route } from "../tasks/providers.js";
import type { Providers } from "../tasks/providers.js";
import { compatible, pointerTokens, schemaAt } from "./compat.js";

/**
 * The define-time check of a pipeline against the installed plugins (README, "Pipelines:
 * validation"). Answers every problem found, each as `<path>: <why>` where the path names the
 * step (`steps[1].params.text: ...`); empty: the definition may be recorded.
 *
 * 1. Step ids are unique; every step's task type (and compensation's) has one enabled provider
 *    (or the named `pluginId` provides it).
 * 2. Every mapped param is a property the task's params schema declares, and every property the
 *    schema requires is mapped.
 * 3. A `from` pointer starts at `/params` (the pipeline's params schema) or at
 *    `/steps/<id>/result` of an EARLIER step (its provider's result schema); the schema at the
 *    pointer must be compatible with the param's (`compat.ts`). A required param must come from a
 *    value sure to be there: required all along the pointer, and not from a step that may be
 *    skipped (`onFailure: skip`). A `value` constant must be compatible too (its own JSON type
 *    and value stand for its schema).
 * 4. Semantic types: when a step's task type declares `inputType`, every earlier step mapped
 *    into it must declare an `outputType` that is that type or a kind of it, following the
 *    `dataTypes` hierarchy of all installed manifests (`is`).
 */
export const validateDefinition = (def: PipelineDefinition, providers: Providers): string[] => {
  const errs: string[] = [];
  const specs = new Map<string, TaskSpec>();
  const skippable = new Set<string>();
  const parents = dataTypeParents(providers);

  const specOf = (path: string, type: string, pluginId?: string): TaskSpec | undefined => {
    const r = route(providers, type, pluginId);
    if (!r.ok) {
      errs.push(`${path}.type: ${r.error.message}`);
      return undefined;
    }
    return r.spec;
  };

  const checkMapping = (path: string, mapping: PipelineStep["params"], spec: TaskSpec, earlier: ReadonlyMap<string, number>, self?: string) => {
    const props = (spec.params.properties ?? {}) as Record<string, Record<string, unknown>>;
    const required = Array.isArray(spec.params.required) ? (spec.params.required as string[]) : [];
    const closed = spec.params.additionalProperties === false;
    for (const r of required) if (!Object.hasOwn(mapping, r)) errs.push(`${path}.params.${r}: required by ${spec.type}, not mapped`);
    const sources: string[] = [];
    for (const [k, src] of Object.entries(mapping)) {
      const at = `${path}.params.${k}`;
      const target = Object.hasOwn(props, k) ? props[k] : closed ? undefined : {};
      if (target === undefined) {
        errs.push(`${at}: ${spec.type} takes no param ${k} (its params schema is closed)`);
        continue;
      }
      const isRequired = required.includes(k);
      if ("value" in src) {
        const s = constSchema(src.value);
        errs.push(...compatible(s, target).map((e) => `${at}: ${e.replace(/^value: /, "")}`));
        continue;
      }
      const toks = pointerTokens(src.from);
      let root: Record<string, unknown>;
      let rest: string[];
      if (toks[0] === "params") {
        root = def.params;
        rest = toks.slice(1);
      } else {
        const from = toks[1]!;
        if (from === self || !earlier.has(from)) {
          errs.push(`${at}: ${src.from} names step ${from}, which does not run before this one`);
          continue;
        }
        const fs = specs.get(from);
        if (!fs) continue; // its own error was reported
        root = fs.result;
        rest = toks.slice(3);
        sources.push(from);
        if (isRequired && skippable.has(from)) errs.push(`${at}: required, but step ${from} may be skipped (onFailure: skip) and leave it absent`);
      }
      const found = schemaAt(root, rest);
      if ("error" in found) {
        errs.push(`${at}: ${src.from}: ${found.error}`);
        continue;
      }
      if (isRequired && !found.required) errs.push(`${at}: required, but ${src.from} may be absent (not required all along the pointer)`);
      errs.push(...compatible(found.schema, target).map((e) => `${at}: ${e.replace(/^value: /, "")}`));
    }
    // Semantic types: every earlier step mapped in must give what this one takes.
    if (spec.inputType) {
      for (const from of new Set(sources)) {
        const out = specs.get(from)?.outputType;
        if (!out) errs.push(`${path}.type: ${spec.type} takes ${spec.inputType}; step ${from} (${specs.get(from)?.type}) declares no outputType`);
        else if (!isA(out, spec.inputType, parents))
          errs.push(`${path}.type: ${spec.type} takes ${spec.inputType}; step ${from} gives ${out}, which is not a ${spec.inputType}`);
      }
    }
  };

  const seen = new Map<string, number>();
  def.steps.forEach((step, i) => {
    const path = `steps[${i}]`;
    if (seen.has(step.id)) {
      errs.push(`${path}.id: ${step.id} is already the id of steps[${seen.get(step.id)}]`);
      return;
    }
    const spec = specOf(path, step.type, step.pluginId);
    if (spec) checkMapping(path, step.params, spec, seen, step.id);
    if (typeof step.onFailure === "object" && "compensate" in step.onFailure) {
      const c = step.onFailure.compensate;
      const cspec = specOf(`${path}.onFailure.compensate`, c.type, c.pluginId);
      if (cspec) checkMapping(`${path}.onFailure.compensate`, c.params, cspec, seen, step.id);
    }
    seen.set(step.id, i);
    if (spec) specs.set(step.id, spec);
    if (step.onFailure === "skip") skippable.add(step.id);
  });
  return errs;
};

/** The schema a constant stands for: its JSON type and its value. */
const constSchema = (v: unknown): Record<string, unknown> => ({ const: v });

/** `dataTypes` of every installed manifest: type → the types it is a kind of. */
export const dataTypeParents = (providers: Providers): ReadonlyMap<string, ReadonlySet<string>> => {
  const out = new Map<string, Set<string>>();
  for (const p of providers.values()) {
    for (const d of p.manifest.dataTypes ?? []) {
      const set = out.get(d.name) ?? new Set<string>();
      if (d.is) set.add(d.is);
      out.set(d.name, set);
    }
  }
  return out;
};

/** Is `sub` the type `sup` or a kind of it (following `is`, cycles tolerated)? */
export const isA = (sub: string, sup: string, parents: ReadonlyMap<string, ReadonlySet<string>>): boolean => {
  const seen = new Set<string>();
  const todo = [sub];
  while (todo.length) {
    const x = todo.pop()!;
    if (x === sup) return true;
    if (seen.has(x)) continue;
    seen.add(x);
    todo.push(...(parents.get(x) ?? []));
  }
  return false;
};
