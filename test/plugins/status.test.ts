import t from "tap";
import { membersByType } from "../../src/events/dispatch.js";
import { PluginEvent as PluginEventCodec } from "../../src/events/plugin.js";
import type { PluginEvent } from "../../src/events/plugin.js";
import { fold } from "../../src/plugins/decider.js";
import { pluginStatusAfter, PluginStatus } from "../../src/plugins/status.js";
import { foldAll, stripPosition } from "../../src/projections/fold.js";
import { pluginsView } from "../../src/projections/plugins.js";
import { totalsView } from "../../src/projections/totals.js";
import { asViewEvents, manifest, scenario } from "../projections/fixtures.js";

const id = "p";
const m = manifest(id, "1.0.0", ["a"]) as unknown as Extract<PluginEvent, { type: "plugin.registered" }>["data"]["manifest"];
/** One event of each type (their data matters to no status rule). */
const sample: { readonly [K in PluginEvent["type"]]: Extract<PluginEvent, { type: K }> } = {
  "plugin.registered": { type: "plugin.registered", data: { pluginId: id, version: "1.0.0", manifest: m, selfRegistered: false } },
  "plugin.capabilities.granted": { type: "plugin.capabilities.granted", data: { pluginId: id, capabilities: [] } },
  "plugin.capability.revoked": { type: "plugin.capability.revoked", data: { pluginId: id, capabilities: ["a"] } },
  "plugin.disabled": { type: "plugin.disabled", data: { pluginId: id, reason: "r" } },
  "plugin.enabled": { type: "plugin.enabled", data: { pluginId: id } },
  "plugin.upgraded": {
    type: "plugin.upgraded",
    data: { pluginId: id, fromVersion: "1.0.0", version: "2.0.0", manifest: m, carriedOver: [], pending: [], dropped: [] },
  },
  "plugin.removed": { type: "plugin.removed", data: { pluginId: id } },
  "plugin.credentials.issued": { type: "plugin.credentials.issued", data: { pluginId: id, publicKey: "U1", expiresAt: null, capabilities: [] } },
  "plugin.credentials.revoked": { type: "plugin.credentials.revoked", data: { pluginId: id, publicKeys: ["U1"], reason: "r" } },
  "plugin.network.restricted": { type: "plugin.network.restricted", data: { pluginId: id, allowFrom: [] } },
};

const BEFORE = ["absent", "pending", "active", "disabled", "removed"] as const;
/** The expected status after each event type, for each status before it (in the order of BEFORE). */
const TABLE: { readonly [K in PluginEvent["type"]]: readonly PluginStatus[] } = {
  "plugin.registered": ["pending", "pending", "pending", "pending", "pending"],
  "plugin.capabilities.granted": ["absent", "active", "active", "disabled", "removed"],
  "plugin.disabled": ["absent", "disabled", "disabled", "disabled", "disabled"],
  "plugin.enabled": ["absent", "pending", "active", "active", "removed"],
  "plugin.removed": ["absent", "removed", "removed", "removed", "removed"],
  "plugin.capability.revoked": BEFORE,
  "plugin.upgraded": BEFORE,
  "plugin.credentials.issued": BEFORE,
  "plugin.credentials.revoked": BEFORE,
  "plugin.network.restricted": BEFORE,
};

t.test("the table covers every plugin event type", async (t) => {
  t.same(Object.keys(sample).sort(), [...membersByType(PluginEventCodec)!.keys()].sort());
  t.same(Object.keys(TABLE).sort(), Object.keys(sample).sort());
  t.same(Object.values(PluginStatus).sort(), [...BEFORE].sort());
});

t.test("every event type from every status", async (t) => {
  for (const [type, after] of Object.entries(TABLE) as [PluginEvent["type"], readonly PluginStatus[]][]) {
    BEFORE.forEach((before, i) => t.equal(pluginStatusAfter(sample[type], before), after[i], `${before} --${type}--> ${after[i]}`));
  }
});

t.test("the decider, the plugins view and the totals agree on every plugin's status", async (t) => {
  const commits = scenario({ plugins: 6, tasks: 0, seed: 11 });
  // A pending plugin, and one disabled while pending, besides the scenario's.
  const register = (pluginId: string): PluginEvent => ({ ...sample["plugin.registered"], data: { ...sample["plugin.registered"].data, pluginId } });
  commits.push({ streamName: "plugin-q0", events: [register("q0")] });
  commits.push({ streamName: "plugin-q1", events: [register("q1")] });
  commits.push({ streamName: "plugin-q1", events: [{ type: "plugin.disabled", data: { pluginId: "q1", reason: "r" } }] });
  const byStream = new Map<string, PluginEvent[]>();
  for (const c of commits)
    if (c.streamName.startsWith("plugin-")) byStream.set(c.streamName, [...(byStream.get(c.streamName) ?? []), ...(c.events as PluginEvent[])]);
  const log = asViewEvents(commits);
  const rows = foldAll(pluginsView, log);
  const counts: Record<string, number> = {};
  for (const [stream, events] of byStream) {
    const pluginId = stream.slice("plugin-".length);
    const decided = fold(events).status;
    const row = rows.get(pluginId);
    t.equal(row ? (stripPosition(row) as { status: string }).status : "absent", decided, `${pluginId}: ${decided}`);
    counts[decided] = (counts[decided] ?? 0) + 1;
  }
  t.same(counts, { active: 5, disabled: 1, pending: 1, removed: 1 });
  const totals = foldAll(totalsView, log).get("plugins");
  t.same(totals && (stripPosition(totals) as { byStatus: unknown }).byStatus, counts);
});
