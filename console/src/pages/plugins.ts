import { call, ApiError } from "../api.js";
import { ago, badge, h, json, replace, table, when } from "../dom.js";
import type { Page } from "../main.js";

type PluginRow = {
  pluginId: string;
  status: string;
  version: string;
  description: string;
  taskTypes: string[];
  requested: string[];
  granted: string[];
  pending: string[];
  disabledReason: string | null;
  updatedAt: string;
};
type Worker = {
  pluginId: string;
  instances: Record<string, { version: string; onlineSince: string; lastSeenAt: string }>;
  live: Record<string, { lastHeartbeatAt: string; inFlight: number | null; state: string | null }>;
  inFlightCount: number;
  recentFailures: { taskId: string; attempt: number; at: string; message: string; kind: string }[];
  completed: number;
  failed: number;
};
type Shown = { plugin: { status: string }; manifest: unknown; capabilities: { capability: string; meaning: string; granted: boolean }[] };

export const plugins: Page = (main) => {
  const body = h("div");
  replace(main, h("h2", {}, "Plugins"), body);
  const refresh = async () => {
    const [rows, workers] = await Promise.all([call<PluginRow[]>("views.plugins"), call<Worker[]>("views.workers")]);
    const online = new Map(workers.map((w) => [w.pluginId, Object.keys(w.live).length]));
    replace(
      body,
      table(
        ["plugin", "status", "version", "task types", "granted", "pending", "workers", "updated"],
        rows.map((p) => [
          h("a", { href: `#/plugins/${p.pluginId}`, class: "plugin-link" }, p.pluginId),
          badge(p.status),
          p.version,
          p.taskTypes.join(", "),
          String(p.granted.length),
          p.pending.length > 0 ? h("strong", { class: "pending" }, String(p.pending.length)) : "0",
          String(online.get(p.pluginId) ?? 0),
          ago(p.updatedAt),
        ]),
        "No plugin installed yet: `ganglion plugin install examples/ts-worker/manifest.yaml`",
      ),
    );
  };
  void refresh();
  return { refresh };
};

export const pluginPage: Page = (main, [pluginId], ctx) => {
  const id = pluginId!;
  const head = h("h2", {}, "Plugin ", h("code", {}, id));
  const status = h("p", { class: "flash", role: "status" });
  const body = h("div");
  replace(main, head, status, body);
  const act = async (label: string, endpoint: string, request: unknown) => {
    status.textContent = `${label}…`;
    try {
      await call(endpoint, request);
      status.textContent = `${label}: done`;
      await refresh();
    } catch (err) {
      status.textContent = `${label} refused: ${(err as Error).message}`;
    }
  };

  const refresh = async () => {
    let row: PluginRow;
    try {
      row = await call<PluginRow>("views.plugin", { pluginId: id });
    } catch (err) {
      if (err instanceof ApiError) return replace(body, h("p", {}, err.message));
      throw err;
    }
    const [shown, workers] = await Promise.all([
      ctx.can("plugin.show") ? call<Shown>("plugin.show", { pluginId: id }) : Promise.resolve(undefined),
      call<Worker[]>("views.workers", { pluginId: id }),
    ]);
    const w = workers[0];
    const meaning = new Map((shown?.capabilities ?? []).map((c) => [c.capability, c.meaning]));
    const operator = ctx.can("plugin.approve");
    const checks = new Map<string, HTMLInputElement>();
    const capRow = (c: string, granted: boolean) => {
      const box = h("input", { type: "checkbox", class: "cap-check", "data-cap": c, checked: true });
      if (!granted) checks.set(c, box);
      return [
        granted || !operator ? "" : box,
        h("code", {}, c),
        meaning.get(c) ?? "",
        granted
          ? operator
            ? h(
                "button",
                {
                  class: "small danger",
                  onclick: () => void act(`Revoke ${c}`, "plugin.revoke", { pluginId: id, capabilities: [c], reason: "revoked in the console" }),
                },
                "revoke",
              )
            : "granted"
          : h("span", { class: "pending" }, "pending"),
      ];
    };
    const pendingActions =
      operator && (row.pending.length > 0 || row.status === "pending")
        ? h(
            "div",
            { class: "actions" },
            h(
              "button",
              {
                class: "primary approve",
                onclick: () => void act("Approve", "plugin.approve", { pluginId: id, capabilities: [...checks].filter(([, b]) => b.checked).map(([c]) => c) }),
              },
              "Approve selected",
            ),
            row.status === "pending"
              ? h(
                  "button",
                  { class: "danger deny", onclick: () => void act("Deny", "plugin.remove", { pluginId: id, reason: "denied in the console" }) },
                  "Deny (remove the plugin)",
                )
              : h("span", { class: "help" }, "Capabilities left unselected stay pending, ungranted."),
          )
        : null;
    const lifecycle = operator
      ? h(
          "div",
          { class: "actions" },
          row.status === "active"
            ? h(
                "button",
                { class: "danger", onclick: () => void act("Disable", "plugin.disable", { pluginId: id, reason: "disabled in the console" }) },
                "Disable",
              )
            : null,
          row.status === "disabled" ? h("button", { onclick: () => void act("Enable", "plugin.enable", { pluginId: id }) }, "Enable") : null,
        )
      : null;
    replace(
      body,
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "status"),
        h("dd", {}, badge(row.status), row.disabledReason ? ` (${row.disabledReason})` : ""),
        h("dt", {}, "version"),
        h("dd", {}, row.version),
        h("dt", {}, "description"),
        h("dd", {}, row.description),
        h("dt", {}, "task types"),
        h(
          "dd",
          {},
          row.taskTypes.map((t) => [h("a", { href: `#/try/${encodeURIComponent(t)}` }, t), " "]),
        ),
      ),
      lifecycle,
      h("h3", {}, "Capabilities"),
      table(
        ["", "capability", "what it allows", ""],
        [...row.granted.map((c) => capRow(c, true)), ...row.pending.map((c) => capRow(c, false))],
        "It asks for none.",
      ),
      pendingActions,
      h("h3", {}, "Workers"),
      table(
        ["instance", "version", "online since", "last heartbeat", "in flight", "state"],
        Object.entries(w?.instances ?? {}).map(([inst, i]) => [
          h("code", {}, inst),
          i.version,
          when(i.onlineSince),
          ago(w?.live[inst]?.lastHeartbeatAt ?? i.lastSeenAt),
          String(w?.live[inst]?.inFlight ?? "–"),
          w?.live[inst] ? badge("online") : badge("silent"),
        ]),
        "No worker online.",
      ),
      w ? h("p", { class: "help" }, `${w.completed} tasks completed, ${w.failed} failed, ${w.inFlightCount} in flight.`) : null,
      h("h3", {}, "Recent failures"),
      table(
        ["task", "attempt", "when", "kind", "message"],
        (w?.recentFailures ?? []).map((f) => [h("a", { href: `#/tasks/${f.taskId}` }, f.taskId), String(f.attempt), when(f.at), f.kind, f.message]),
        "None.",
      ),
      shown ? h("details", {}, h("summary", {}, "Manifest"), json(shown.manifest)) : null,
    );
  };
  void refresh();
  return { refresh };
};
