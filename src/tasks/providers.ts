import type { PluginEvent } from "../events/plugin.js";
import type { Manifest, TaskSpec } from "../plugins/manifest.js";
import { assertNever } from "../events/exhaustive.js";

/**
 * What task routing needs to know about a plugin, folded from its `plugin-<id>` events: its
 * manifest (what it provides, its limits and health policy), whether it may receive work, and
 * its grants (for topic consumers and plugin-side submissions).
 *
 * A plugin is `active` once a first grant approved it and until it is disabled or removed.
 * (This is a read-only view for the tasks context; the plugins decider owns the rules.)
 */
export type Provider = {
  readonly pluginId: string;
  readonly version: string;
  readonly manifest: Manifest;
  readonly status: "pending" | "active" | "disabled";
  readonly grants: readonly string[];
};

export type Providers = ReadonlyMap<string, Provider>;

export const evolveProvider = (p: Provider | undefined, e: PluginEvent): Provider | undefined => {
  switch (e.type) {
    case "plugin.registered":
      return { pluginId: e.data.pluginId, version: e.data.version, manifest: e.data.manifest as Manifest, status: "pending", grants: [] };
    case "plugin.capabilities.granted":
      if (!p) return p;
      return { ...p, status: p.status === "disabled" ? "disabled" : "active", grants: [...new Set([...p.grants, ...e.data.capabilities])] };
    case "plugin.capability.revoked":
      return p && { ...p, grants: p.grants.filter((g) => !e.data.capabilities.includes(g)) };
    case "plugin.disabled":
      return p && { ...p, status: "disabled" };
    case "plugin.enabled":
      return p && { ...p, status: "active" };
    case "plugin.upgraded":
      return p && { ...p, version: e.data.version, manifest: e.data.manifest as Manifest, grants: p.grants.filter((g) => !e.data.dropped.includes(g)) };
    case "plugin.removed":
      return undefined;
    // Nothing routing reads: credentials and network limits are the plugins context's business.
    case "plugin.credentials.issued":
    case "plugin.credentials.revoked":
    case "plugin.network.restricted":
      return p;
    default:
      return assertNever(e, "plugin event");
  }
};

/** Folds one plugin event into the directory (a new map; the old one is untouched). */
export const evolveProviders = (ps: Providers, e: PluginEvent): Providers => {
  const next = new Map(ps);
  const p = evolveProvider(ps.get(e.data.pluginId), e);
  if (p) next.set(e.data.pluginId, p);
  else next.delete(e.data.pluginId);
  return next;
};

export type RouteError =
  | { readonly _tag: "UnknownTaskType"; readonly message: string }
  | { readonly _tag: "NoProvider"; readonly message: string; readonly candidates: string[] }
  | { readonly _tag: "Ambiguous"; readonly message: string; readonly candidates: string[] };

/**
 * The plugin a task of `taskType` goes to: the named one, or the one active plugin that provides
 * the type. None or several is an error listing the candidates.
 */
export const route = (
  ps: Providers,
  taskType: string,
  pluginId?: string,
): { ok: true; provider: Provider; spec: TaskSpec } | { ok: false; error: RouteError } => {
  const providing = [...ps.values()].filter((p) => p.manifest.provides.some((s) => s.type === taskType));
  const describe = (p: Provider) => `${p.pluginId} (${p.status})`;
  if (pluginId !== undefined) {
    const p = ps.get(pluginId);
    const spec = p?.manifest.provides.find((s) => s.type === taskType);
    if (!p)
      return {
        ok: false,
        error: {
          _tag: "NoProvider",
          message: `no plugin ${pluginId} is installed; providers of ${taskType}: ${providing.map(describe).join(", ") || "none"}`,
          candidates: providing.map((x) => x.pluginId),
        },
      };
    if (!spec)
      return {
        ok: false,
        error: {
          _tag: "NoProvider",
          message: `plugin ${pluginId} does not provide ${taskType}; providers: ${providing.map(describe).join(", ") || "none"}`,
          candidates: providing.map((x) => x.pluginId),
        },
      };
    if (p.status !== "active")
      return { ok: false, error: { _tag: "NoProvider", message: `plugin ${pluginId} is ${p.status}: it cannot receive tasks`, candidates: [pluginId] } };
    return { ok: true, provider: p, spec };
  }
  if (providing.length === 0) return { ok: false, error: { _tag: "UnknownTaskType", message: `no installed plugin provides the task type ${taskType}` } };
  const active = providing.filter((p) => p.status === "active");
  if (active.length === 0) {
    return {
      ok: false,
      error: {
        _tag: "NoProvider",
        message: `no enabled plugin provides ${taskType}; installed providers: ${providing.map(describe).join(", ")}`,
        candidates: providing.map((x) => x.pluginId),
      },
    };
  }
  if (active.length > 1) {
    return {
      ok: false,
      error: {
        _tag: "Ambiguous",
        message: `several enabled plugins provide ${taskType}: ${active.map((p) => p.pluginId).join(", ")}; name one with --plugin`,
        candidates: active.map((p) => p.pluginId),
      },
    };
  }
  const p = active[0]!;
  return { ok: true, provider: p, spec: p.manifest.provides.find((s) => s.type === taskType)! };
};

/** Topics a plugin may read (from its `topic.subscribe:<topic>` grants). */
export const subscribedTopics = (p: Provider): string[] =>
  p.grants.filter((g) => g.startsWith("topic.subscribe:")).map((g) => g.slice("topic.subscribe:".length));
