import { encodeAccount } from "@nats-io/jwt";
import type { Account, Import } from "@nats-io/jwt";
import type { KeyPair } from "@nats-io/nkeys";
import { appPipelineSubject, busAppPipelineSubject } from "../contract/subjects.js";
import {
  APP_ARTIFACT_GET,
  busAppArtifactGet,
  APP_VERBS,
  appCallSubject,
  appChanges,
  appSubmitSubject,
  assertAppId,
  busAppCallSubject,
  busAppSubmitSubject,
} from "../contract/subjects.js";
import type { Authority, MintedUser } from "./authority.js";
import { deriveAccountKey, PLUGIN_ACCOUNT_LIMITS } from "./accounts.js";
import { mergeRevocations, mintAccountUser, revocationsOf } from "./accountAuthority.js";
import type { AccountAuthority } from "./accountAuthority.js";

/**
 * The account of an application (subjects.md, "Applications"): like a plugin's, derived from the
 * operator seed (label `app:<id>`), with no JetStream and only the imports its state opens:
 *
 * - one service import per granted `task.submit:<type>`: `app.submit.<type>` in the account arrives
 *   in BUS as `app.<app>.submit.<type>`. An ungranted type has no import: the server answers "no
 *   responders" and the core never sees the request.
 * - `app.call.<verb>` → `app.<app>.call.<verb>` for `info`, `get`, `cancel`, `list`: the core
 *   answers only for the application's own tasks (its task ids start with `<app>_`).
 * - the stream `appev.<app>.>`: changes of its own tasks, published by the core.
 *
 * A removed application imports nothing.
 */

export type AppAccess = { readonly active: boolean; readonly grants: readonly string[] };

export const appAccountKey = (a: Authority, appId: string): KeyPair => deriveAccountKey(a, `app:${assertAppId(appId)}`);
export const appAccountName = (appId: string) => `app:${appId}`;

const typeOf = (capability: string) => capability.slice("task.submit:".length);
const PIPELINE_GRANT = "pipeline.run:";

export const appImports = (bus: string, appId: string, access: AppAccess): Import[] => {
  if (!access.active) return [];
  return [
    ...[...new Set(access.grants)]
      .filter((c) => !c.startsWith(PIPELINE_GRANT))
      .sort()
      .map((c): Import => ({
        name: c,
        type: "service",
        account: bus,
        subject: busAppSubmitSubject(appId, typeOf(c)),
        local_subject: appSubmitSubject(typeOf(c)),
      })),
    // Pipelines: one import per granted `pipeline.run:<name>`.
    ...[...new Set(access.grants)]
      .filter((c) => c.startsWith(PIPELINE_GRANT))
      .sort()
      .map((c): Import => ({
        name: c,
        type: "service",
        account: bus,
        subject: busAppPipelineSubject(appId, c.slice(PIPELINE_GRANT.length)),
        local_subject: appPipelineSubject(c.slice(PIPELINE_GRANT.length)),
      })),
    ...APP_VERBS.map((v): Import => ({
      name: `tasks ${v}`,
      type: "service",
      account: bus,
      subject: busAppCallSubject(appId, v),
      local_subject: appCallSubject(v),
    })),
    { name: "artifacts", type: "service", account: bus, subject: busAppArtifactGet(appId), local_subject: APP_ARTIFACT_GET },
    { name: "task changes", type: "stream", account: bus, subject: appChanges(appId) },
  ];
};

export const encodeAppAccount = (a: Authority, appId: string, access: AppAccess, revocations: Record<string, number>): Promise<string> =>
  encodeAccount(
    appAccountName(appId),
    appAccountKey(a, appId),
    { limits: { ...PLUGIN_ACCOUNT_LIMITS }, imports: appImports(a.bus.getPublicKey(), appId, access), revocations } as Partial<Account>,
    { signer: a.operator },
  );

/**
 * Makes an application's account say `access`, adding `revoke` to the revocations it carried
 * (revocations are not sticky on nats-server: every push carries them all forward).
 */
export const applyApp = async (accounts: AccountAuthority, appId: string, access: AppAccess, revoke: readonly string[] = []): Promise<void> => {
  const a = accounts.authority;
  const key = appAccountKey(a, appId).getPublicKey();
  const prev = await accounts.lastPushed(key);
  const at = Math.floor(Date.now() / 1000);
  const revocations = mergeRevocations(prev ? revocationsOf(prev) : {}, Object.fromEntries(revoke.map((k) => [k, at])));
  await accounts.push(key, await encodeAppAccount(a, appId, access, revocations));
};

/** A user of the application's account (its `.creds`); only the public key is recorded. */
export const mintAppUser = (
  accounts: AccountAuthority,
  appId: string,
  opts: { ttlMs?: number; allowFrom?: readonly string[] } = {},
): Promise<MintedUser & { expiresAt: string | null }> =>
  mintAccountUser(
    appAccountKey(accounts.authority, appId),
    appAccountName(appId),
    { tags: [appAccountName(appId)], ...(opts.allowFrom && opts.allowFrom.length > 0 ? { src: [...opts.allowFrom] } : {}) },
    opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {},
  );
