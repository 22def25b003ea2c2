import { call } from "../api.js";
import { ago, badge, h, json, replace, table, when } from "../dom.js";
import type { Page } from "../main.js";

/**
 * Pipeline runs (README, "Pipelines"), read from the `pipelines` view through `views.pipelines`
 * and `views.pipeline`: read endpoints, so a read-only session reads them over its OPS user. The
 * router re-renders the page when a view's bucket changes (SSE), so a running run moves live.
 */

type StepView = {
  id: string;
  type: string;
  status: string;
  attempt: number;
  taskId?: string;
  compensationTaskId?: string;
  error?: string;
  endedAt?: string;
};
type RunView = {
  runId: string;
  name: string;
  version: string;
  status: string;
  params: unknown;
  steps: StepView[];
  startedAt: string;
  startedBy?: string;
  endedAt?: string;
  result?: unknown;
  error?: string;
};

const RUN_STATUSES = ["running", "completed", "failed", "cancelled"];

const done = (r: RunView) => `${r.steps.filter((s) => s.status === "completed").length}/${r.steps.length}`;

export const pipelines: Page = (main) => {
  const q = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const status = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "any status"),
    RUN_STATUSES.map((s) => h("option", { value: s }, s)),
  );
  status.value = q.get("status") ?? "";
  const body = h("div");
  const refresh = async () => {
    const rows = await call<RunView[]>("views.pipelines", { limit: 200, ...(status.value ? { status: status.value } : {}) });
    replace(
      body,
      table(
        ["run", "pipeline", "status", "steps done", "started", "by"],
        rows.map((r) => [
          h("a", { href: `#/pipelines/${r.runId}`, class: "run-link" }, r.runId),
          `${r.name} ${r.version}`,
          badge(r.status),
          done(r),
          h("span", { title: r.startedAt }, ago(r.startedAt)),
          r.startedBy ?? "–",
        ]),
        "No pipeline run yet: `ganglion pipeline run <name>` starts one.",
      ),
    );
  };
  status.addEventListener("change", () => void refresh());
  replace(main, h("h2", {}, "Pipelines"), h("div", { class: "filters" }, status, h("span", { class: "help" }, "newest first, updated live")), body);
  void refresh();
  return { refresh };
};

/** One step as a box of the graph: its id, task type, status, attempt and a link to its task. */
const stepBox = (s: StepView, i: number) =>
  h(
    "li",
    { class: `step s-${s.status}`, "data-step": s.id, "data-status": s.status },
    h("div", { class: "step-head" }, h("span", { class: "step-n" }, `${i + 1}`), h("strong", { class: "step-id" }, s.id)),
    h("div", { class: "step-type" }, s.type),
    h("div", {}, badge(s.status)),
    h("div", { class: "step-attempt" }, s.attempt > 0 ? `attempt ${s.attempt}` : "not started"),
    s.taskId ? h("a", { href: `#/tasks/${s.taskId}`, class: "task-link", title: "the task's timeline" }, "task timeline") : null,
    s.compensationTaskId ? h("a", { href: `#/tasks/${s.compensationTaskId}`, class: "task-link compensation" }, "compensation") : null,
    s.error ? h("div", { class: "step-error", title: s.error }, s.error.slice(0, 160)) : null,
  );

export const pipelineRunPage: Page = (main, [runId]) => {
  const id = runId!;
  const body = h("div");
  replace(main, h("h2", {}, "Pipeline run ", h("code", {}, id)), body);
  const refresh = async () => {
    let r: RunView;
    try {
      r = await call<RunView>("views.pipeline", { runId: id });
    } catch (err) {
      return replace(body, h("p", {}, `No such run (yet): ${(err as Error).message}`));
    }
    replace(
      body,
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "pipeline"),
        h("dd", {}, `${r.name} ${r.version}`),
        h("dt", {}, "status"),
        h("dd", { class: "run-status" }, badge(r.status)),
        h("dt", {}, "started"),
        h("dd", {}, when(r.startedAt), r.startedBy ? ` by ${r.startedBy}` : ""),
        h("dt", {}, "ended"),
        h("dd", {}, when(r.endedAt)),
      ),
      r.error ? h("p", { class: "flash" }, h("strong", {}, "error: "), r.error) : null,
      h("h3", {}, "Steps"),
      h("ol", { class: "step-graph", "aria-label": "steps in order" }, r.steps.map(stepBox)),
      h("details", {}, h("summary", {}, "Params"), json(r.params)),
      r.status === "completed" ? [h("h3", {}, "Result"), h("div", { class: "result" }, json(r.result))] : null,
    );
  };
  void refresh();
  return { refresh };
};
