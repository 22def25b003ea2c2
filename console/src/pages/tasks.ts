import { call } from "../api.js";
import { ago, badge, h, json, replace, table, when } from "../dom.js";
import type { Page } from "../main.js";
import { STATUSES } from "./overview.js";

export type TaskRow = {
  taskId: string;
  pluginId: string;
  taskType: string;
  status: string;
  attempt: number;
  maxAttempts: number;
  instance: string | null;
  submittedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  retryAt: string | null;
  durationMs: number | null;
  progress: { done: number; total: number; message?: string } | null;
  result: unknown;
  error: { message: string; kind?: string } | null;
  failures: { attempt: number; at: string; error: { message: string; kind?: string }; instance: string | null }[];
};
type Entry = { position: string; id: string; type: string; time: string; actor: string; data: unknown };

const OPEN = ["scheduled", "running", "retry_wait"];

export const tasks: Page = (main) => {
  const q = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const status = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "any status"),
    STATUSES.map((s) => h("option", { value: s }, s.replace("_", " "))),
  );
  status.value = q.get("status") ?? "";
  const plugin = h("input", { name: "plugin", placeholder: "plugin id", value: q.get("plugin") ?? "" });
  const body = h("div");
  const refresh = async () => {
    const rows = await call<TaskRow[]>("views.tasks", {
      limit: 200,
      ...(status.value ? { status: status.value } : {}),
      ...(plugin.value.trim() ? { pluginId: plugin.value.trim() } : {}),
    });
    replace(
      body,
      table(
        ["task", "type", "plugin", "status", "attempt", "submitted", "duration"],
        rows.map((t) => [
          h("a", { href: `#/tasks/${t.taskId}`, class: "task-link" }, t.taskId),
          t.taskType,
          t.pluginId,
          badge(t.status),
          `${t.attempt}/${t.maxAttempts}`,
          ago(t.submittedAt),
          t.durationMs !== null ? `${t.durationMs} ms` : "–",
        ]),
        "No task matches.",
      ),
    );
  };
  const onChange = () => void refresh();
  status.addEventListener("change", onChange);
  plugin.addEventListener("input", onChange);
  replace(main, h("h2", {}, "Tasks"), h("div", { class: "filters" }, status, plugin, h("span", { class: "help" }, "newest first, updated live")), body);
  void refresh();
  return { refresh };
};

const progressBar = (p: TaskRow["progress"]) =>
  p ? h("div", { class: "progress" }, h("progress", { max: p.total || 1, value: p.done }), ` ${p.done}/${p.total}${p.message ? ` ${p.message}` : ""}`) : null;

export const taskPage: Page = (main, [taskId], ctx) => {
  const id = taskId!;
  const flash = h("p", { class: "flash", role: "status" });
  const body = h("div");
  replace(main, h("h2", {}, "Task ", h("code", {}, id)), flash, body);
  const act = async (label: string, endpoint: string, request: unknown) => {
    flash.textContent = `${label}…`;
    try {
      await call(endpoint, request);
      flash.textContent = `${label}: done`;
      await refresh();
    } catch (err) {
      flash.textContent = `${label} refused: ${(err as Error).message}`;
    }
  };
  const refresh = async () => {
    const { task, history } = await call<{ task: TaskRow | null; history: Entry[] }>("views.task", { taskId: id });
    if (!task) return replace(body, h("p", {}, "No such task (yet)."));
    const actions = h(
      "div",
      { class: "actions" },
      OPEN.includes(task.status) && ctx.can("task.cancel")
        ? h(
            "button",
            { class: "danger cancel", onclick: () => void act("Cancel", "task.cancel", { taskId: id, reason: "cancelled in the console" }) },
            "Cancel",
          )
        : null,
      task.status === "dead_lettered" && ctx.can("task.retry")
        ? h("button", { class: "retry", onclick: () => void act("Retry", "task.retry", { taskId: id }) }, "Retry")
        : null,
    );
    replace(
      body,
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "status"),
        h("dd", { class: "task-status" }, badge(task.status)),
        h("dt", {}, "type"),
        h("dd", {}, task.taskType, " on ", h("a", { href: `#/plugins/${task.pluginId}` }, task.pluginId)),
        h("dt", {}, "attempt"),
        h("dd", {}, `${task.attempt} of ${task.maxAttempts}`, task.instance ? ` (worker ${task.instance})` : ""),
        h("dt", {}, "submitted"),
        h("dd", {}, when(task.submittedAt)),
        h("dt", {}, "finished"),
        h("dd", {}, when(task.finishedAt), task.durationMs !== null ? ` (${task.durationMs} ms)` : ""),
        task.progress && OPEN.includes(task.status) ? [h("dt", {}, "progress"), h("dd", {}, progressBar(task.progress))] : null,
      ),
      actions,
      task.status === "completed" ? [h("h3", {}, "Result"), h("div", { class: "result" }, json(task.result))] : null,
      task.error || task.failures.length > 0
        ? [
            h("h3", {}, "Failures"),
            h(
              "ol",
              { class: "failures" },
              task.failures.map((f) => h("li", {}, `attempt ${f.attempt}, ${when(f.at)}: `, h("strong", {}, f.error.kind ?? "error"), ` ${f.error.message}`)),
              task.error ? h("li", { class: "final" }, h("strong", {}, "final: "), task.error.message) : null,
            ),
          ]
        : null,
      h("h3", {}, "Timeline"),
      h(
        "ol",
        { class: "timeline" },
        history.map((e) =>
          h(
            "li",
            { "data-type": e.type },
            h("span", { class: "t" }, when(e.time)),
            h("span", { class: "type" }, e.type),
            h("span", { class: "actor" }, e.actor),
            h("details", {}, h("summary", {}, "data"), json(e.data)),
          ),
        ),
      ),
      h("details", {}, h("summary", {}, "Params"), json((history[0]?.data as { params?: unknown } | undefined)?.params)),
    );
  };
  void refresh();
  return { refresh };
};
