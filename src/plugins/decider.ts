import * as E from "fp-ts/lib/Either.js";
import type { Decider } from "../es/decider.js";
import { assertNever } from "../events/exhaustive.js";
import type { Automatic, PluginEvent } from "../events/plugin.js";
import { sameManifest } from "../contract/manifest.js";
import type { Manifest } from "../contract/manifest.js";
import semverCompare from "semver/functions/compare.js";
import { pluginStatusAfter } from "./status.js";
import type { InstalledStatus } from "./status.js";

/**
 * The plugin aggregate: what the log says about one plugin id.
 *
 * - `absent`: never installed; `removed`: installed once, then removed (install starts over).
 * - `pending`: installed, never approved: no credentials can be minted.
 * - `active`: approved (maybe with no capability at all); `disabled`: approved, then disabled.
 *
 * How events move the status is the table in `./status.ts` (shared with the views).
 *
 * `granted` ⊆ `manifest.capabilities`; `pendingCapabilities` = asked for, not granted.
 * `liveKeys` are the public keys of minted credentials not revoked yet.
 */
export type Plugin =
  | { readonly status: "absent" }
  | {
      readonly status: InstalledStatus;
      readonly pluginId: string;
      readonly manifest: Manifest;
      readonly granted: readonly string[];
      readonly liveKeys: readonly { publicKey: string; expiresAt: string | null }[];
      readonly disabledReason?: string;
      readonly selfRegistered: boolean;
      /** Set at approval: where its credentials may connect from (overrides the manifest's). */
      readonly allowFrom?: readonly string[];
    };

export type Present = Exclude<Plugin, { status: "absent" }>;

export const initialState = (): Plugin => ({ status: "absent" });

/** Capabilities the manifest asks for that are not granted. */
export const pendingCapabilities = (p: Plugin): string[] => (p.status === "absent" ? [] : p.manifest.capabilities.filter((c) => !p.granted.includes(c)));

/** Commands. Time, ids and keys are inputs: `decide` never reads a clock or mints anything. */
export type PluginCommand =
  | {
      readonly type: "install";
      readonly manifest: Manifest;
      /** Grant these at once (`"all"`: everything asked for); absent: stay pending. */
      readonly grant?: readonly string[] | "all";
      readonly selfRegistered?: boolean;
      /** Present when the grant is decided without an operator (dev mode). */
      readonly automatic?: Automatic;
    }
  | { readonly type: "approve"; readonly pluginId: string; readonly capabilities: readonly string[] | "all"; readonly allowFrom?: readonly string[] }
  | { readonly type: "revoke"; readonly pluginId: string; readonly capabilities: readonly string[]; readonly reason?: string }
  | { readonly type: "disable"; readonly pluginId: string; readonly reason: string; readonly automatic?: boolean }
  | { readonly type: "enable"; readonly pluginId: string }
  | { readonly type: "remove"; readonly pluginId: string; readonly reason?: string }
  | {
      readonly type: "issueCredentials";
      readonly pluginId: string;
      readonly publicKey: string;
      readonly expiresAt: string | null;
      /** Now, ISO-8601: expired credentials need no revocation. */
      readonly at: string;
      /** The plugin's account public key, and the source networks the credentials are limited to. */
      readonly account?: string;
      readonly allowFrom?: readonly string[];
    };

/** Rejections: business outcomes, answered to the caller with their `_tag` as the error code. */
export type PluginRejected =
  | { readonly _tag: "NotFound"; readonly pluginId: string; readonly message: string }
  | { readonly _tag: "ManifestConflict"; readonly pluginId: string; readonly message: string }
  | { readonly _tag: "Downgrade"; readonly pluginId: string; readonly message: string }
  | { readonly _tag: "NotRequested"; readonly pluginId: string; readonly capabilities: string[]; readonly message: string }
  | { readonly _tag: "NotGranted"; readonly pluginId: string; readonly capabilities: string[]; readonly message: string }
  | { readonly _tag: "NotApproved"; readonly pluginId: string; readonly message: string }
  | { readonly _tag: "Disabled"; readonly pluginId: string; readonly message: string };

const notFound = (pluginId: string): PluginRejected => ({
  _tag: "NotFound",
  pluginId,
  message: `no plugin ${pluginId} is installed (see \`ganglion plugin list\`)`,
});

/** Semantic version precedence (semver's: `1.0.0-rc.10` is newer than `1.0.0-rc.2`, build metadata is ignored). */
const cmpSemver = (a: string, b: string): number => semverCompare(a, b);

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));

/** Keys that may still be in use at `at` (expired JWTs are refused by the server anyway). */
const liveAt = (p: Present, at?: string) => p.liveKeys.filter((k) => k.expiresAt === null || at === undefined || k.expiresAt > at).map((k) => k.publicKey);

const revokeKeys = (p: Present, reason: string, at?: string): PluginEvent[] => {
  const keys = liveAt(p, at);
  return keys.length === 0 ? [] : [{ type: "plugin.credentials.revoked", data: { pluginId: p.pluginId, publicKeys: keys, reason } }];
};

const grantEvents = (
  pluginId: string,
  asked: readonly string[],
  already: readonly string[],
  grant: readonly string[] | "all",
  firstApproval: boolean,
  automatic?: Automatic,
): E.Either<PluginRejected, PluginEvent[]> => {
  const wanted = grant === "all" ? [...asked] : [...new Set(grant)];
  const unknown = wanted.filter((c) => !asked.includes(c));
  if (unknown.length > 0) {
    return E.left({
      _tag: "NotRequested",
      pluginId,
      capabilities: unknown,
      message: `plugin ${pluginId} does not ask for ${unknown.join(", ")}; it asks for: ${asked.length > 0 ? asked.join(", ") : "nothing"}`,
    });
  }
  const fresh = wanted.filter((c) => !already.includes(c));
  // The first approval is recorded even when it grants nothing: it is what activates the plugin.
  if (fresh.length === 0 && !firstApproval) return E.right([]);
  return E.right([{ type: "plugin.capabilities.granted", data: { pluginId, capabilities: fresh, ...(automatic ? { automatic } : {}) } }]);
};

/**
 * Decides what happens to a plugin. Idempotent where a person would expect it: installing the same
 * manifest, approving granted capabilities, disabling a disabled plugin are no-ops (`[]`).
 */
export const decide = (cmd: PluginCommand, s: Plugin): E.Either<PluginRejected, PluginEvent[]> => {
  switch (cmd.type) {
    case "install": {
      const m = cmd.manifest;
      const pluginId = m.id;
      if (s.status === "absent" || s.status === "removed") {
        const registered: PluginEvent = {
          type: "plugin.registered",
          data: { pluginId, version: m.version, manifest: m, selfRegistered: cmd.selfRegistered ?? false },
        };
        if (cmd.grant === undefined) return E.right([registered]);
        return E.map((g: PluginEvent[]) => [registered, ...g])(grantEvents(pluginId, m.capabilities, [], cmd.grant, true, cmd.automatic));
      }
      const order = cmpSemver(m.version, s.manifest.version);
      if (order === 0) {
        if (!sameManifest(m, s.manifest)) {
          return E.left({
            _tag: "ManifestConflict",
            pluginId,
            message: `plugin ${pluginId} ${m.version} is already installed with a different manifest; give the changed manifest a new version to upgrade`,
          });
        }
        if (cmd.grant === undefined) return E.right([]);
        return grantEvents(pluginId, m.capabilities, s.granted, cmd.grant, s.status === "pending", cmd.automatic);
      }
      if (order < 0) {
        return E.left({
          _tag: "Downgrade",
          pluginId,
          message: `plugin ${pluginId} is installed at ${s.manifest.version}; refusing to replace it with the older ${m.version} (remove it first to go back)`,
        });
      }
      const carriedOver = s.granted.filter((c) => m.capabilities.includes(c));
      const dropped = s.granted.filter((c) => !m.capabilities.includes(c));
      const upgraded: PluginEvent = {
        type: "plugin.upgraded",
        data: {
          pluginId,
          fromVersion: s.manifest.version,
          version: m.version,
          manifest: m,
          carriedOver,
          pending: m.capabilities.filter((c) => !s.granted.includes(c)),
          dropped,
        },
      };
      // Dropped grants leave the plugin's account with the upgrade (its imports follow the
      // grants): live credentials stay valid and simply reach less.
      const base = [upgraded];
      if (cmd.grant === undefined) return E.right(base);
      return E.map((g: PluginEvent[]) => [...base, ...g])(grantEvents(pluginId, m.capabilities, carriedOver, cmd.grant, s.status === "pending", cmd.automatic));
    }
    case "approve": {
      if (s.status === "absent" || s.status === "removed") return E.left(notFound(cmd.pluginId));
      const granted = grantEvents(s.pluginId, s.manifest.capabilities, s.granted, cmd.capabilities, s.status === "pending");
      const allowFrom = cmd.allowFrom;
      if (E.isLeft(granted) || allowFrom === undefined || sameList(allowFrom, s.allowFrom ?? [])) return granted;
      return E.right([...granted.right, { type: "plugin.network.restricted", data: { pluginId: s.pluginId, allowFrom: [...allowFrom] } }]);
    }
    case "revoke": {
      if (s.status === "absent" || s.status === "removed") return E.left(notFound(cmd.pluginId));
      const notGranted = cmd.capabilities.filter((c) => !s.granted.includes(c));
      if (notGranted.length > 0) {
        return E.left({
          _tag: "NotGranted",
          pluginId: s.pluginId,
          capabilities: notGranted,
          message: `plugin ${s.pluginId} holds no grant for ${notGranted.join(", ")}; it holds: ${s.granted.length > 0 ? s.granted.join(", ") : "nothing"}`,
        });
      }
      const caps = [...new Set(cmd.capabilities)];
      if (caps.length === 0) return E.right([]);
      // The account loses the capabilities' imports; credentials need not change.
      return E.right([
        { type: "plugin.capability.revoked", data: { pluginId: s.pluginId, capabilities: caps, ...(cmd.reason ? { reason: cmd.reason } : {}) } },
      ]);
    }
    case "disable": {
      if (s.status === "absent" || s.status === "removed") return E.left(notFound(cmd.pluginId));
      if (s.status === "disabled") return E.right([]);
      return E.right([
        ...revokeKeys(s, `disabled: ${cmd.reason}`),
        { type: "plugin.disabled", data: { pluginId: s.pluginId, reason: cmd.reason, ...(cmd.automatic ? { automatic: true } : {}) } },
      ]);
    }
    case "enable": {
      if (s.status === "absent" || s.status === "removed") return E.left(notFound(cmd.pluginId));
      return s.status === "disabled" ? E.right([{ type: "plugin.enabled", data: { pluginId: s.pluginId } }]) : E.right([]);
    }
    case "remove": {
      if (s.status === "absent") return E.left(notFound(cmd.pluginId));
      if (s.status === "removed") return E.right([]);
      return E.right([
        ...revokeKeys(s, `removed${cmd.reason ? `: ${cmd.reason}` : ""}`),
        { type: "plugin.removed", data: { pluginId: s.pluginId, ...(cmd.reason ? { reason: cmd.reason } : {}) } },
      ]);
    }
    case "issueCredentials": {
      if (s.status === "absent" || s.status === "removed") return E.left(notFound(cmd.pluginId));
      if (s.status === "pending") {
        return E.left({
          _tag: "NotApproved",
          pluginId: s.pluginId,
          message:
            `plugin ${s.pluginId} is pending approval; approve it first: ganglion plugin approve ${s.pluginId} ${s.manifest.capabilities.join(" ")}`.trimEnd(),
        });
      }
      if (s.status === "disabled") {
        return E.left({
          _tag: "Disabled",
          pluginId: s.pluginId,
          message: `plugin ${s.pluginId} is disabled (${s.disabledReason ?? "no reason given"}); enable it first: ganglion plugin enable ${s.pluginId}`,
        });
      }
      return E.right([
        {
          type: "plugin.credentials.issued",
          data: {
            pluginId: s.pluginId,
            publicKey: cmd.publicKey,
            expiresAt: cmd.expiresAt,
            capabilities: [...s.granted],
            ...(cmd.account ? { account: cmd.account } : {}),
            ...(cmd.allowFrom && cmd.allowFrom.length > 0 ? { allowFrom: [...cmd.allowFrom] } : {}),
          },
        },
      ]);
    }
  }
};

/** Folds one event into the state. Total: an event that makes no sense in a state leaves it unchanged. */
export const evolve = (s: Plugin, e: PluginEvent): Plugin => {
  const status = pluginStatusAfter(e, s.status);
  // The table keeps a plugin absent until its registration: nothing happens to it before.
  if (status === "absent") return s;
  if (e.type === "plugin.registered") {
    return {
      status,
      pluginId: e.data.pluginId,
      manifest: e.data.manifest,
      granted: [],
      liveKeys: [],
      selfRegistered: e.data.selfRegistered,
    };
  }
  if (s.status === "absent") return s; // (not reached: narrows `s`)
  switch (e.type) {
    case "plugin.capabilities.granted":
      return { ...s, status, granted: [...s.granted, ...e.data.capabilities.filter((c) => !s.granted.includes(c))] };
    case "plugin.capability.revoked":
      return { ...s, status, granted: s.granted.filter((c) => !e.data.capabilities.includes(c)) };
    case "plugin.disabled": {
      const { disabledReason: _, ...rest } = s;
      return { ...rest, status, disabledReason: e.data.reason };
    }
    case "plugin.enabled": {
      const { disabledReason: _, ...rest } = s;
      return { ...rest, status };
    }
    case "plugin.upgraded":
      return { ...s, status, manifest: e.data.manifest, granted: e.data.carriedOver };
    case "plugin.removed":
      return { ...s, status, granted: [] };
    case "plugin.credentials.issued":
      return { ...s, status, liveKeys: [...s.liveKeys, { publicKey: e.data.publicKey, expiresAt: e.data.expiresAt }] };
    case "plugin.credentials.revoked":
      return { ...s, status, liveKeys: s.liveKeys.filter((k) => !e.data.publicKeys.includes(k.publicKey)) };
    case "plugin.network.restricted": {
      const { allowFrom: _, ...rest } = s;
      return e.data.allowFrom.length > 0 ? { ...rest, status, allowFrom: e.data.allowFrom } : { ...rest, status };
    }
    default:
      return assertNever(e, "plugin event");
  }
};

/** The plugin aggregate as one value, for the command handler and the spec helper (`src/es/`). */
export const pluginDecider: Decider<Plugin, PluginCommand, PluginEvent, PluginRejected> = { decide, evolve, initialState };

/** The state after a sequence of events. */
export const fold = (events: Iterable<PluginEvent>): Plugin => {
  let s = initialState();
  for (const e of events) s = evolve(s, e);
  return s;
};
