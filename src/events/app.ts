import * as t from "io-ts";

/**
 * Events of one application (`ganglion app …`), on the event-store stream `app-<appId>` (subject
 * `ev.app.<appId>`). An application is a principal with an account of its own; its grants are
 * `task.submit:<type>` capabilities, each an import of that account. `src/apps/decider.ts`
 * decides and folds them.
 */

/** An operator added the application with its first grants. */
export const AppAdded = t.type({
  type: t.literal("app.added"),
  data: t.type({ appId: t.string, grants: t.array(t.string), account: t.string, at: t.string }),
});
/** Capabilities granted (live: the account JWT is pushed, no new credentials). */
export const AppGranted = t.type({ type: t.literal("app.granted"), data: t.type({ appId: t.string, capabilities: t.array(t.string), at: t.string }) });
/** Capabilities withdrawn (the account JWT was pushed before this was appended). */
export const AppRevoked = t.type({
  type: t.literal("app.revoked"),
  data: t.intersection([t.type({ appId: t.string, capabilities: t.array(t.string), at: t.string }), t.partial({ reason: t.string })]),
});
/** Credentials were minted; only the user's public key is recorded, never the seed. `allowFrom`: their `src` networks. */
export const AppCredentialsIssued = t.type({
  type: t.literal("app.credentials.issued"),
  data: t.intersection([
    t.type({ appId: t.string, publicKey: t.string, expiresAt: t.union([t.string, t.null]), at: t.string }),
    t.partial({ allowFrom: t.array(t.string) }),
  ]),
});
/** Removed: its account imports nothing and every credential of it is revoked. */
export const AppRemoved = t.type({
  type: t.literal("app.removed"),
  data: t.intersection([t.type({ appId: t.string, revokedKeys: t.array(t.string), at: t.string }), t.partial({ reason: t.string })]),
});

export const AppEvent = t.union([AppAdded, AppGranted, AppRevoked, AppCredentialsIssued, AppRemoved]);
export type AppEvent = t.TypeOf<typeof AppEvent>;

/** Stream category of applications (`ev.app.>`). */
export const APP_CATEGORY = "app";
export const appStreamName = (appId: string) => `${APP_CATEGORY}-${appId}`;
