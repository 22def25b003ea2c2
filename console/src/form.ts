import { Ajv } from "ajv";
import type { ErrorObject } from "ajv";
import addFormatsModule from "ajv-formats";
import { h } from "./dom.js";

/**
 * A form generated from a JSON Schema (the params schema of a task type): strings, numbers and
 * integers with their bounds, enums as selects, booleans, nested objects, arrays of any of these,
 * defaults, and descriptions as help text. Anything else (oneOf, $ref, …) is edited as JSON.
 * `read()` gives the value the form holds; `validate` checks it with ajv against the same schema
 * the core checks submissions with (same options as src/plugins/schemas.ts).
 */

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  title?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minItems?: number;
  maxItems?: number;
};

type Field = { el: HTMLElement; read: () => unknown };

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));

export const validator = (schema: unknown) => {
  const v = ajv.compile(schema as object);
  return (value: unknown): string[] => (v(value) ? [] : (v.errors ?? []).map((e: ErrorObject) => `${e.instancePath || "params"} ${e.message ?? "is invalid"}`));
};

const typeOf = (s: Schema): string | undefined => {
  if (s.enum) return "enum";
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type;
  if (t) return t;
  if (s.properties) return "object";
  return undefined;
};

const help = (s: Schema) => (s.description ? h("small", { class: "help" }, s.description) : null);

let ids = 0;

const field = (s: Schema, name: string, path: string, required: boolean): Field => {
  const id = `f${++ids}`;
  const label = (extra?: string) =>
    h(
      "label",
      { for: id },
      s.title ?? name,
      required ? h("span", { class: "req", title: "required" }, " *") : null,
      extra ? h("small", {}, ` ${extra}`) : null,
    );
  const wrap = (control: HTMLElement, extra?: string) => h("div", { class: "field", "data-path": path }, label(extra), control, help(s));
  switch (typeOf(s)) {
    case "enum": {
      const options = s.enum!;
      const sel = h(
        "select",
        { id, name: path },
        required ? null : h("option", { value: "" }, "—"),
        options.map((o, i) => h("option", { value: String(i) }, JSON.stringify(o).replace(/^"|"$/g, ""))),
      );
      const d = options.findIndex((o) => JSON.stringify(o) === JSON.stringify(s.default));
      if (d >= 0) sel.value = String(d);
      return { el: wrap(sel), read: () => (sel.value === "" ? undefined : options[Number(sel.value)]) };
    }
    case "boolean": {
      const box = h("input", { id, name: path, type: "checkbox", checked: s.default === true });
      return { el: h("div", { class: "field check", "data-path": path }, box, label(), help(s)), read: () => box.checked };
    }
    case "number":
    case "integer": {
      const min = s.minimum ?? s.exclusiveMinimum;
      const max = s.maximum ?? s.exclusiveMaximum;
      const input = h("input", {
        id,
        name: path,
        type: "number",
        min,
        max,
        step: s.multipleOf ?? (typeOf(s) === "integer" ? 1 : "any"),
        value: typeof s.default === "number" ? s.default : undefined,
        required,
      });
      const bounds = min !== undefined || max !== undefined ? `(${min ?? "…"} to ${max ?? "…"})` : undefined;
      return { el: wrap(input, bounds), read: () => (input.value === "" ? undefined : Number(input.value)) };
    }
    case "string": {
      const long = (s.maxLength ?? 1000) > 200 && !s.format && !s.pattern && !path.endsWith("[]");
      const attrs = { id, name: path, minlength: s.minLength, maxlength: s.maxLength, pattern: s.pattern, required, placeholder: s.format };
      const input = long ? h("textarea", { ...attrs, rows: 3 }) : h("input", { ...attrs, type: "text" });
      if (typeof s.default === "string") input.value = s.default;
      return { el: wrap(input), read: () => (input.value === "" && !required ? undefined : input.value) };
    }
    case "object":
      return objectField(s, name, path, required);
    case "array":
      return arrayField(s, name, path, required);
    default: {
      const area = h("textarea", { id, name: path, rows: 3, class: "jsonin" });
      area.value = s.default !== undefined ? JSON.stringify(s.default, null, 2) : "";
      return {
        el: wrap(area, "(JSON)"),
        read: () => {
          if (area.value.trim() === "") return undefined;
          try {
            return JSON.parse(area.value) as unknown;
          } catch {
            return area.value;
          }
        },
      };
    }
  }
};

const objectField = (s: Schema, name: string, path: string, required: boolean, top = false): Field => {
  const props = Object.entries(s.properties ?? {});
  const fields = props.map(([k, sub]) => [k, field(sub, k, path ? `${path}.${k}` : k, (s.required ?? []).includes(k))] as const);
  const body = fields.map(([, f]) => f.el);
  const el = top
    ? h("div", { class: "object top" }, body)
    : h("fieldset", { class: "object", "data-path": path }, h("legend", {}, s.title ?? name, required ? " *" : ""), help(s), body);
  return {
    el,
    read: () => {
      const out: Record<string, unknown> = {};
      for (const [k, f] of fields) {
        const v = f.read();
        if (v !== undefined) out[k] = v;
      }
      return out;
    },
  };
};

const arrayField = (s: Schema, name: string, path: string, required: boolean): Field => {
  const items: Field[] = [];
  const list = h("div", { class: "items" });
  const add = (value?: unknown) => {
    const f = field({ ...(s.items ?? {}), ...(value !== undefined ? { default: value } : {}) }, `${name}[${items.length}]`, `${path}[]`, true);
    const row = h("div", { class: "item" }, f.el);
    const entry = { el: row, read: f.read };
    row.appendChild(h("button", { type: "button", class: "small", onclick: () => (items.splice(items.indexOf(entry), 1), row.remove()) }, "remove"));
    items.push(entry);
    list.appendChild(row);
  };
  if (Array.isArray(s.default)) s.default.forEach((v) => add(v));
  const el = h(
    "fieldset",
    { class: "array", "data-path": path },
    h("legend", {}, s.title ?? name, required ? " *" : ""),
    help(s),
    list,
    h("button", { type: "button", class: "small", onclick: () => add() }, "add item"),
  );
  return { el, read: () => items.map((f) => f.read()) };
};

/** The form of a params schema: its element and a reader of its value. */
export const schemaForm = (schema: unknown): Field => {
  const s = (schema ?? {}) as Schema;
  return typeOf(s) === "object" ? objectField(s, "params", "", true, true) : field(s, "params", "params", true);
};
