import * as t from "io-ts";
import { StoredManifest } from "../contract/manifest.js";

/**
 * The lifecycle of a plugin, on the stream `plugin-<pluginId>` (subject `ev.plugin.<pluginId>`).
 * Appended by the core's `plugin.*` endpoints only. Who did it is in each event's
 * `metadata.actor` (`operator:<name>`, `plugin:<id>` for a self-registration, `system:<component>`
 * for automatic decisions). No event ever holds a secret: credentials appear as public keys only.
 */

/** Why a decision was taken without an operator (dev mode, the health monitor). */
export const Automatic = t.type({
  /** Always true: the field exists only on automatic decisions. */
  automatic: t.literal(true),
  /** In plain words, e.g. "dev mode: self-registered with the dev bootstrap credentials". */
  reason: t.string,
});
export type Automatic = t.TypeOf<typeof Automatic>;

/**
 * A plugin was installed: the manifest is known, nothing is granted yet (status pending until a
 * `plugin.capabilities.granted`). `selfRegistered`: the worker registered its own manifest.
 */
export const PluginRegistered = t.type({
  type: t.literal("plugin.registered"),
  data: t.type({ pluginId: t.string, version: t.string, manifest: StoredManifest, selfRegistered: t.boolean }),
});
export type PluginRegistered = t.TypeOf<typeof PluginRegistered>;

/**
 * An approval: `capabilities` (a subset of what the manifest asks for, maybe empty) are granted.
 * The first one makes a pending plugin active. `automatic` is present when no operator approved.
 */
export const PluginCapabilitiesGranted = t.type({
  type: t.literal("plugin.capabilities.granted"),
  data: t.intersection([t.type({ pluginId: t.string, capabilities: t.array(t.string) }), t.partial({ automatic: Automatic })]),
});
export type PluginCapabilitiesGranted = t.TypeOf<typeof PluginCapabilitiesGranted>;

/**
 * The source networks the plugin's credentials may connect from, set at approval
 * (`plugin approve --allow-from`): credentials minted from then on carry them as their `src`
 * claim. An empty list lifts the restriction (the manifest's `network.allowFrom` applies again).
 */
export const PluginNetworkRestricted = t.type({
  type: t.literal("plugin.network.restricted"),
  data: t.type({ pluginId: t.string, allowFrom: t.array(t.string) }),
});
export type PluginNetworkRestricted = t.TypeOf<typeof PluginNetworkRestricted>;

/** Grants withdrawn (by an operator, or dropped because an upgrade no longer asks for them). */
export const PluginCapabilityRevoked = t.type({
  type: t.literal("plugin.capability.revoked"),
  data: t.intersection([t.type({ pluginId: t.string, capabilities: t.array(t.string) }), t.partial({ reason: t.string })]),
});
export type PluginCapabilityRevoked = t.TypeOf<typeof PluginCapabilityRevoked>;

/** The plugin may not connect any more; `automatic` when the health monitor decided it. */
export const PluginDisabled = t.type({
  type: t.literal("plugin.disabled"),
  data: t.intersection([t.type({ pluginId: t.string, reason: t.string }), t.partial({ automatic: t.boolean })]),
});
export type PluginDisabled = t.TypeOf<typeof PluginDisabled>;

/** A disabled plugin may connect again, with credentials minted after this event. */
export const PluginEnabled = t.type({
  type: t.literal("plugin.enabled"),
  data: t.type({ pluginId: t.string }),
});
export type PluginEnabled = t.TypeOf<typeof PluginEnabled>;

/**
 * A new version of the manifest replaced the old one. Grants still asked for are `carriedOver`;
 * newly asked capabilities are `pending` approval; grants the new version no longer asks for are
 * `dropped` (and revoked).
 */
export const PluginUpgraded = t.type({
  type: t.literal("plugin.upgraded"),
  data: t.type({
    pluginId: t.string,
    fromVersion: t.string,
    version: t.string,
    manifest: StoredManifest,
    carriedOver: t.array(t.string),
    pending: t.array(t.string),
    dropped: t.array(t.string),
  }),
});
export type PluginUpgraded = t.TypeOf<typeof PluginUpgraded>;

/** The plugin is gone; installing it again starts over (pending, nothing granted). */
export const PluginRemoved = t.type({
  type: t.literal("plugin.removed"),
  data: t.intersection([t.type({ pluginId: t.string }), t.partial({ reason: t.string })]),
});
export type PluginRemoved = t.TypeOf<typeof PluginRemoved>;

/**
 * A user JWT was minted for the plugin. Only its public key is recorded (so it can be revoked);
 * `expiresAt` is ISO-8601 or null (no expiry); `capabilities` are the grants in force when it was
 * minted (they live on the plugin's account, `account`, and follow later grants); `allowFrom`
 * the source networks the server accepts it from (absent: any).
 */
export const PluginCredentialsIssued = t.type({
  type: t.literal("plugin.credentials.issued"),
  data: t.intersection([
    t.type({ pluginId: t.string, publicKey: t.string, expiresAt: t.union([t.string, t.null]), capabilities: t.array(t.string) }),
    t.partial({ account: t.string, allowFrom: t.array(t.string) }),
  ]),
});
export type PluginCredentialsIssued = t.TypeOf<typeof PluginCredentialsIssued>;

/**
 * Live credentials were revoked: the plugin's account JWT listing these user keys was pushed to
 * the server before this event was appended, so their connections are already closed.
 */
export const PluginCredentialsRevoked = t.type({
  type: t.literal("plugin.credentials.revoked"),
  data: t.type({ pluginId: t.string, publicKeys: t.array(t.string), reason: t.string }),
});
export type PluginCredentialsRevoked = t.TypeOf<typeof PluginCredentialsRevoked>;

export const PluginEvent = t.union([
  PluginRegistered,
  PluginCapabilitiesGranted,
  PluginCapabilityRevoked,
  PluginDisabled,
  PluginEnabled,
  PluginUpgraded,
  PluginRemoved,
  PluginCredentialsIssued,
  PluginCredentialsRevoked,
  PluginNetworkRestricted,
]);
export type PluginEvent = t.TypeOf<typeof PluginEvent>;

/** Stream category of all plugins (`ev.plugin.>`). */
export const PLUGIN_CATEGORY = "plugin";
/** Event-store stream of one plugin. */
export const pluginStreamName = (pluginId: string) => `${PLUGIN_CATEGORY}-${pluginId}`;
