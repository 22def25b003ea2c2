import { call } from "../api.js";
import { badge, h, replace } from "../dom.js";
import type { Page } from "../main.js";

type Totals = { tasks: { byStatus: Record<string, number>; total: number }; plugins: { byStatus: Record<string, number>; total: number } };
type Worker = { pluginId: string; online: number; live: Record<string, { lastHeartbeatAt: string }>; inFlightCount: number };
type TaskRow = { status: string; submittedAt: string };

export const STATUSES = ["scheduled", "running", "retry_wait", "completed", "cancelled", "dead_lettered"] as const;
const SVG = "http://www.w3.org/2000/svg";
const svg = (tag: string, attrs: Record<string, string | number>, text?: string) => {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
};

/** Tasks submitted over the last hour, in twelve 5-minute bars stacked by status. */
const chart = (rows: TaskRow[]) => {
  const now = Date.now();
  const slot = 5 * 60_000;
  const bins = Array.from({ length: 12 }, () => Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<string, number>);
  for (const r of rows) {
    const age = now - new Date(r.submittedAt).getTime();
    if (age < 0 || age >= 12 * slot) continue;
    const b = bins[11 - Math.floor(age / slot)]!;
    b[r.status] = (b[r.status] ?? 0) + 1;
  }
  const max = Math.max(1, ...bins.map((b) => Object.values(b).reduce((a, n) => a + n, 0)));
  const W = 480;
  const H = 140;
  const bw = W / 12;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H + 18}`, class: "chart", role: "img", "aria-label": "tasks per status over the last hour" });
  bins.forEach((b, i) => {
    let y = H;
    for (const s of STATUSES) {
      const n = b[s] ?? 0;
      if (n === 0) continue;
      const hgt = (n / max) * (H - 10);
      y -= hgt;
      const rect = svg("rect", { x: i * bw + 3, y, width: bw - 6, height: hgt, class: `c-${s}` });
      rect.appendChild(svg("title", {}, `${n} ${s}`));
      root.appendChild(rect);
    }
  });
  root.appendChild(svg("line", { x1: 0, y1: H, x2: W, y2: H, class: "axis" }));
  root.appendChild(svg("text", { x: 0, y: H + 14, class: "tick" }, "-60m"));
  root.appendChild(svg("text", { x: W / 2 - 12, y: H + 14, class: "tick" }, "-30m"));
  root.appendChild(svg("text", { x: W - 24, y: H + 14, class: "tick" }, "now"));
  root.appendChild(svg("text", { x: 2, y: 10, class: "tick" }, `${max} per 5 min`));
  return h(
    "div",
    {},
    root,
    h(
      "div",
      { class: "legend" },
      STATUSES.map((s) => h("span", {}, h("i", { class: `c-${s}` }), s.replace("_", " "))),
    ),
  );
};

const card = (title: string, value: string | number, ...rest: (Node | string | null)[]) =>
  h("section", { class: "card" }, h("h3", {}, title), h("div", { class: "big" }, String(value)), ...rest);

export const overview: Page = (main) => {
  const body = h("div", { class: "cards" });
  replace(main, h("h2", {}, "Overview"), body);
  const refresh = async () => {
    const [totals, workers, recent] = await Promise.all([
      call<Totals>("views.totals"),
      call<Worker[]>("views.workers"),
      call<TaskRow[]>("views.tasks", { limit: 10_000 }),
    ]);
    const online = workers.reduce((n, w) => n + Object.keys(w.live).length, 0);
    const byStatus = (r: Record<string, number>) =>
      h(
        "ul",
        { class: "counts" },
        Object.entries(r)
          .filter(([, n]) => n > 0)
          .map(([s, n]) => h("li", {}, badge(s), ` ${n}`)),
      );
    replace(
      body,
      card("Plugins", totals.plugins.total, byStatus(totals.plugins.byStatus)),
      card(
        "Workers online",
        online,
        h(
          "ul",
          { class: "counts" },
          workers
            .filter((w) => Object.keys(w.live).length > 0)
            .map((w) => h("li", {}, h("a", { href: `#/plugins/${w.pluginId}` }, w.pluginId), ` ${Object.keys(w.live).length}`)),
        ),
      ),
      card("Dead letters", totals.tasks.byStatus.dead_lettered ?? 0, h("a", { href: "#/tasks?status=dead_lettered" }, "see them")),
      card("Tasks", totals.tasks.total, byStatus(totals.tasks.byStatus)),
      h("section", { class: "card wide" }, h("h3", {}, "Tasks per status, last hour"), chart(recent)),
    );
  };
  void refresh();
  return { refresh };
};
