/** A few DOM helpers: the page builds its elements with `h` (text is always text, never HTML). */

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

export const h = <K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === "value" && "value" in el) (el as HTMLInputElement).value = String(v);
    else if (k === "checked" && el instanceof HTMLInputElement) el.checked = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
};

export const append = (el: Node, children: Child[]) => {
  for (const c of children.flat(Infinity as 1) as Child[]) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : (c as Node));
  }
};

export const replace = (el: Element, ...children: Child[]) => {
  el.replaceChildren();
  append(el, children);
};

/** `2026-12-03T18:40:01.123Z` → `18:40:01` today, else the date and time. */
export const when = (iso: string | null | undefined): string => {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour12: false }) : d.toLocaleString([], { hour12: false });
};

export const ago = (iso: string | null | undefined): string => {
  if (!iso) return "–";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
};

export const badge = (status: string) => h("span", { class: `badge s-${status}` }, status.replace("_", " "));

export const json = (v: unknown) => h("pre", { class: "json" }, JSON.stringify(v, null, 2));

export const table = (head: string[], rows: Child[][], empty = "nothing yet") =>
  h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        head.map((c) => h("th", {}, c)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.length === 0
        ? h("tr", {}, h("td", { colspan: head.length, class: "empty" }, empty))
        : rows.map((r) =>
            h(
              "tr",
              {},
              r.map((c) => h("td", {}, c)),
            ),
          ),
    ),
  );
