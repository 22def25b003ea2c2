import { call, onLive } from "../api.js";
import { h, json, replace, table, when } from "../dom.js";
import type { Page } from "../main.js";

type Entry = { position: string; stream: string; id: string; type: string; time: string; actor: string; data: unknown };

/** The log, searched through `audit.query`; "follow" runs the same query again whenever the log grows. */
export const audit: Page = (main) => {
  const input = (name: string, placeholder: string) => h("input", { name, placeholder });
  const f = {
    pluginId: input("pluginId", "plugin id"),
    taskId: input("taskId", "task id"),
    type: input("type", "type prefix, e.g. task."),
    since: input("since", "since: 15m, 2h, or ISO"),
    until: input("until", "until"),
  };
  const limit = h("input", { name: "limit", type: "number", min: 1, max: 100000, value: 200 });
  const follow = h("input", { type: "checkbox", name: "follow" });
  const body = h("div");
  const note = h("p", { class: "help" });
  let last: Entry[] = [];
  const request = () => ({
    ...Object.fromEntries(
      Object.entries(f)
        .map(([k, el]) => [k, el.value.trim()])
        .filter(([, v]) => v !== ""),
    ),
    limit: Number(limit.value) || 200,
  });
  const search = async () => {
    try {
      const page = await call<{ events: Entry[]; truncated: boolean }>("audit.query", request());
      last = page.events;
      note.textContent = `${page.events.length} events${page.truncated ? " (truncated: narrow the search or raise the limit)" : ""}`;
      replace(
        body,
        table(
          ["position", "time", "type", "actor", "stream", "data"],
          [...page.events]
            .reverse()
            .map((e) => [e.position, when(e.time), h("code", {}, e.type), e.actor, e.stream, h("details", {}, h("summary", {}, "data"), json(e.data))]),
          "No event matches.",
        ),
      );
    } catch (err) {
      note.textContent = (err as Error).message;
    }
  };
  const download = (name: string, text: string, type: string) => {
    const a = h("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  let timer: number | undefined;
  const stop = onLive({
    onEvent: () => {
      if (!follow.checked) return;
      clearTimeout(timer);
      timer = window.setTimeout(() => void search(), 150);
    },
  });
  replace(
    main,
    h("h2", {}, "Audit"),
    h(
      "form",
      { class: "filters", onsubmit: (e: Event) => (e.preventDefault(), void search()) },
      Object.values(f),
      limit,
      h("button", { type: "submit", class: "primary" }, "Search"),
      h("label", { class: "check" }, follow, " follow live"),
      h("button", { type: "button", onclick: () => download("ganglion-audit.json", JSON.stringify(last, null, 2), "application/json") }, "Export JSON"),
      h(
        "button",
        { type: "button", onclick: () => download("ganglion-audit.ndjson", last.map((e) => JSON.stringify(e)).join("\n") + "\n", "application/x-ndjson") },
        "Export NDJSON",
      ),
    ),
    note,
    body,
  );
  void search();
  return { live: false, dispose: stop };
};
