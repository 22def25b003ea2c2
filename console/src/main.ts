import "./style.css";
import { onLive, session, startLive } from "./api.js";
import type { SessionInfo } from "./api.js";
import { h, replace } from "./dom.js";
import { overview } from "./pages/overview.js";
import { pluginPage, plugins } from "./pages/plugins.js";
import { taskPage, tasks } from "./pages/tasks.js";
import { audit } from "./pages/audit.js";
import { tryIt } from "./pages/tryit.js";
import { pipelineRunPage, pipelines } from "./pages/pipelines.js";

/**
 * The console's page: a hash router over six pages. Each page renders into `main`, and renders
 * again when the server pushes that a view changed (SSE, src/console/live.ts); nothing polls.
 */

export type Ctx = { readonly session: SessionInfo; readonly can: (endpoint: string) => boolean };
/** Renders once; the returned function re-renders (on live updates), `dispose` ends the page. */
export type Page = (main: HTMLElement, params: string[], ctx: Ctx) => { refresh?: () => Promise<void>; dispose?: () => void; live?: boolean };

const routes: [RegExp, Page][] = [
  [/^\/overview$/, overview],
  [/^\/plugins$/, plugins],
  [/^\/plugins\/([^/]+)$/, pluginPage],
  [/^\/tasks$/, tasks],
  [/^\/tasks\/([^/]+)$/, taskPage],
  [/^\/pipelines$/, pipelines],
  [/^\/pipelines\/([^/]+)$/, pipelineRunPage],
  [/^\/audit$/, audit],
  [/^\/try$/, tryIt],
  [/^\/try\/([^/]+)$/, tryIt],
];

const main = document.getElementById("main")!;
let current: ReturnType<Page> | undefined;
let stopLive: (() => void) | undefined;

const show = (ctx: Ctx) => {
  current?.dispose?.();
  stopLive?.();
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/overview";
  for (const a of document.querySelectorAll<HTMLAnchorElement>("#nav a")) a.classList.toggle("active", path.startsWith(a.getAttribute("href")!.slice(1)));
  const route = routes.find(([re]) => re.test(path));
  if (!route) {
    replace(main, h("p", {}, "No such page. "), h("a", { href: "#/overview" }, "Overview"));
    return;
  }
  const params = (route[0].exec(path) ?? []).slice(1).map((p) => decodeURIComponent(p));
  main.replaceChildren();
  const page = route[1](main, params, ctx);
  current = page;
  if (page.refresh && page.live !== false) {
    // Re-render once per burst of view changes, never two at a time.
    let timer: number | undefined;
    let running = false;
    let again = false;
    const run = async () => {
      if (running) return void (again = true);
      running = true;
      try {
        await page.refresh!();
      } finally {
        running = false;
        if (again) {
          again = false;
          void run();
        }
      }
    };
    stopLive = onLive({
      onViews: () => {
        clearTimeout(timer);
        timer = window.setTimeout(() => void run(), 100);
      },
    });
  }
};

const boot = async () => {
  const s = await session();
  const ctx: Ctx = { session: s, can: (e) => s.endpoints.includes(e) };
  replace(document.getElementById("who")!, h("span", { class: `who ${s.kind}` }, s.kind === "operator" ? "operator" : "read-only"));
  startLive((up) => document.getElementById("live")!.classList.toggle("off", !up));
  window.addEventListener("hashchange", () => show(ctx));
  show(ctx);
};

void boot();
