import * as E from "fp-ts/lib/Either.js";
import type { AppEvent } from "../events/app.js";
import type { Decider } from "../es/decider.js";

/**
 * The decider of one application (stream `app-<appId>`): pure, time and keys come in with the
 * command. An application is active from `app.added` until `app.removed`; adding it again after a
 * removal starts over (new grants, new credentials; the old ones stay revoked).
 */
export type App =
  | { readonly status: "absent" }
  | {
      readonly status: "active" | "removed";
      readonly appId: string;
      readonly account: string;
      readonly grants: readonly string[];
      /** Public keys of credentials minted and not revoked. */
      readonly liveKeys: readonly string[];
    };

export type AppCommand =
  | { readonly type: "add"; readonly appId: string; readonly grants: readonly string[]; readonly account: string; readonly at: string }
  | { readonly type: "grant"; readonly capabilities: readonly string[]; readonly at: string }
  | { readonly type: "revoke"; readonly capabilities: readonly string[]; readonly reason?: string; readonly at: string }
  | {
      readonly type: "issueCredentials";
      readonly publicKey: string;
      readonly expiresAt: string | null;
      readonly at: string;
      readonly allowFrom?: readonly string[];
    }
  | { readonly type: "remove"; readonly reason?: string; readonly at: string };

export type AppRejection =
  | { readonly _tag: "AlreadyExists"; readonly message: string }
  | { readonly _tag: "NotFound"; readonly message: string }
  | { readonly _tag: "NotGranted"; readonly message: string };

const uniq = (xs: readonly string[]) => [...new Set(xs)].sort();

export const decide = (cmd: AppCommand, s: App): E.Either<AppRejection, AppEvent[]> => {
  if (cmd.type === "add") {
    if (s.status === "active") return E.left({ _tag: "AlreadyExists", message: `application ${cmd.appId} exists (grant, revoke or remove it)` });
    return E.right([{ type: "app.added", data: { appId: cmd.appId, grants: uniq(cmd.grants), account: cmd.account, at: cmd.at } }]);
  }
  if (s.status !== "active") return E.left({ _tag: "NotFound", message: "no such application (see `ganglion app list`)" });
  switch (cmd.type) {
    case "grant": {
      const add = uniq(cmd.capabilities).filter((c) => !s.grants.includes(c));
      return E.right(add.length === 0 ? [] : [{ type: "app.granted", data: { appId: s.appId, capabilities: add, at: cmd.at } }]);
    }
    case "revoke": {
      const missing = cmd.capabilities.filter((c) => !s.grants.includes(c));
      if (missing.length > 0) return E.left({ _tag: "NotGranted", message: `application ${s.appId} does not hold ${missing.join(", ")}` });
      const capabilities = uniq(cmd.capabilities);
      return E.right(
        capabilities.length === 0
          ? []
          : [{ type: "app.revoked", data: { appId: s.appId, capabilities, at: cmd.at, ...(cmd.reason !== undefined ? { reason: cmd.reason } : {}) } }],
      );
    }
    case "issueCredentials":
      return E.right([
        {
          type: "app.credentials.issued",
          data: {
            appId: s.appId,
            publicKey: cmd.publicKey,
            expiresAt: cmd.expiresAt,
            at: cmd.at,
            ...(cmd.allowFrom && cmd.allowFrom.length > 0 ? { allowFrom: [...cmd.allowFrom] } : {}),
          },
        },
      ]);
    case "remove":
      return E.right([
        {
          type: "app.removed",
          data: { appId: s.appId, revokedKeys: [...s.liveKeys], at: cmd.at, ...(cmd.reason !== undefined ? { reason: cmd.reason } : {}) },
        },
      ]);
  }
};

export const evolve = (s: App, e: AppEvent): App => {
  switch (e.type) {
    case "app.added":
      return { status: "active", appId: e.data.appId, account: e.data.account, grants: e.data.grants, liveKeys: [] };
    case "app.granted":
      return s.status === "absent" ? s : { ...s, grants: uniq([...s.grants, ...e.data.capabilities]) };
    case "app.revoked":
      return s.status === "absent" ? s : { ...s, grants: s.grants.filter((c) => !e.data.capabilities.includes(c)) };
    case "app.credentials.issued":
      return s.status === "absent" ? s : { ...s, liveKeys: [...s.liveKeys, e.data.publicKey] };
    case "app.removed":
      return s.status === "absent" ? s : { ...s, status: "removed", grants: [], liveKeys: [] };
  }
};

export const initialApp = (): App => ({ status: "absent" });

export const appDecider: Decider<App, AppCommand, AppEvent, AppRejection> = { decide, evolve, initialState: initialApp };
