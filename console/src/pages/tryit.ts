import { call, get, onLive } from "../api.js";
import { badge, h, json, replace } from "../dom.js";
import { schemaForm, validator } from "../form.js";
import type { Page } from "../main.js";
import type { TaskRow } from "./tasks.js";

type TaskType = { pluginId: string; pluginStatus: string; taskType: string; description: string; params: unknown; result: unknown };
type TaskView = {
  taskId: string;
  status: string;
  attempt: number;
  maxAttempts: number;
  progress?: { done: number; total: number; message?: string };
  result?: unknown;
  failures: TaskRow["failures"];
};

/** Per task type, a form generated from its params schema; a submission is followed live until it ends. */
export const tryIt: Page = (main, [wanted]) => {
  const list = h("div", { class: "types" });
  const pane = h("div", { class: "try" });
  replace(main, h("h2", {}, "Try it"), h("div", { class: "split" }, list, pane));
  let stopFollow: (() => void) | undefined;

  const open = (t: TaskType) => {
    stopFollow?.();
    for (const a of list.querySelectorAll("a")) a.classList.toggle("active", a.dataset.type === `${t.pluginId}/${t.taskType}`);
    const form = schemaForm(t.params);
    const check = validator(t.params);
    const errors = h("ul", { class: "errors", role: "alert" });
    const out = h("div", { class: "outcome" });
    const submit = async () => {
      const value = form.read();
      const issues = check(value);
      replace(
        errors,
        issues.map((i) => h("li", {}, i)),
      );
      if (issues.length > 0) return;
      replace(out, h("p", {}, "Submitting…"));
      let taskId: string;
      try {
        ({ taskId } = await call<{ taskId: string }>("task.submit", { taskType: t.taskType, pluginId: t.pluginId, params: value }));
      } catch (err) {
        replace(out, h("p", { class: "error" }, `Refused: ${(err as Error).message}`));
        return;
      }
      const show = async () => {
        const v = await call<TaskView>("task.get", { taskId });
        replace(
          out,
          h(
            "p",
            {},
            "Task ",
            h("a", { href: `#/tasks/${taskId}`, class: "task-link" }, taskId),
            " ",
            h("span", { class: "task-status" }, badge(v.status)),
            ` attempt ${v.attempt}/${v.maxAttempts}`,
          ),
          v.progress && ["scheduled", "running", "retry_wait"].includes(v.status)
            ? h("div", { class: "progress" }, h("progress", { max: v.progress.total || 1, value: v.progress.done }), ` ${v.progress.message ?? ""}`)
            : null,
          v.status === "completed" ? [h("h4", {}, "Result"), h("div", { class: "result" }, json(v.result))] : null,
          v.failures.length > 0
            ? h(
                "ol",
                { class: "failures" },
                v.failures.map((f) => h("li", {}, `attempt ${f.attempt}: ${f.error.message}`)),
              )
            : null,
        );
      };
      stopFollow?.();
      let timer: number | undefined;
      stopFollow = onLive({
        onEvent: (e) => {
          if (e.subject.endsWith(`.${taskId}`)) {
            clearTimeout(timer);
            timer = window.setTimeout(() => void show(), 50);
          }
        },
        onViews: () => void show(),
      });
      await show();
    };
    replace(
      pane,
      h("h3", {}, h("code", {}, t.taskType), " on ", h("a", { href: `#/plugins/${t.pluginId}` }, t.pluginId), " ", badge(t.pluginStatus)),
      h("p", { class: "help" }, t.description),
      h(
        "form",
        { class: "params", novalidate: true, onsubmit: (e: Event) => (e.preventDefault(), void submit()) },
        form.el,
        errors,
        h("button", { type: "submit", class: "primary submit" }, "Submit"),
      ),
      h("details", {}, h("summary", {}, "Params schema"), json(t.params)),
      out,
    );
  };

  void (async () => {
    const types = await get<TaskType[]>("task-types");
    if (types.length === 0) return replace(list, h("p", {}, "No plugin provides a task type yet."));
    replace(
      list,
      h(
        "ul",
        {},
        types.map((t) =>
          h(
            "li",
            {},
            h("a", { href: `#/try/${encodeURIComponent(t.taskType)}`, "data-type": `${t.pluginId}/${t.taskType}` }, t.taskType),
            h("small", {}, ` ${t.pluginId}`),
          ),
        ),
      ),
    );
    const pick = types.find((t) => t.taskType === wanted) ?? types[0]!;
    open(pick);
  })();
  return { live: false, dispose: () => stopFollow?.() };
};
