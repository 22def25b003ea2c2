import * as E from "fp-ts/lib/Either.js";
import { appAccountKey, applyApp, mintAppUser } from "../auth/appAccounts.js";
import type { AppAccess } from "../auth/appAccounts.js";
import type { AccountAuthority } from "../auth/accountAuthority.js";
import type { AppCredentials, AppView } from "../contract/app.js";
import { APP_CATEGORY, appStreamName } from "../events/app.js";
import type { AppEvent } from "../events/app.js";
import type { CommandMeta } from "../es/decider.js";
import { commandHandler } from "../es/handleCommand.js";
import type { EventStore } from "../store/types.js";
import { appDecider, evolve, initialApp } from "./decider.js";
import type { App, AppCommand, AppRejection } from "./decider.js";

export type AppsError = AppRejection | { readonly _tag: "Unavailable"; readonly message: string };

export const accessOfApp = (s: App): AppAccess => (s.status === "active" ? { active: true, grants: s.grants } : { active: false, grants: [] });
const meet = (a: AppAccess, b: AppAccess): AppAccess => ({ active: a.active && b.active, grants: a.grants.filter((g) => b.grants.includes(g)) });
const same = (a: AppAccess, b: AppAccess) => a.active === b.active && a.grants.length === b.grants.length && a.grants.every((g) => b.grants.includes(g));

export const appViewOf = (s: Exclude<App, { status: "absent" }>): AppView => ({
  appId: s.appId,
  status: s.status,
  grants: [...s.grants],
  liveCredentials: [...s.liveKeys],
  account: s.account,
});

/**
 * The application commands over the event store, through the one command handler: decide on the
 * application's stream, change its account, append with the expected revision. As for plugins,
 * what an application may reach is narrowed *before* the events saying so are appended and
 * widened after, so the server never allows what the log does not say.
 */
export const appCommands = (deps: { store: EventStore<AppEvent>; accounts?: AccountAuthority }) => {
  const handler = commandHandler(deps.store, appDecider, { streamName: appStreamName });
  const unavailable: AppsError = {
    _tag: "Unavailable",
    message: "this core cannot change an application's account (it runs without the data dir's keys or SYS credentials)",
  };

  const execute = async (appId: string, cmd: AppCommand, meta: CommandMeta): Promise<E.Either<AppsError, AppView>> => {
    const accounts = deps.accounts;
    if (!accounts) return E.left(unavailable);
    const r = await handler.handle(appId, cmd, meta, {
      beforeAppend: async (before, events, after) => {
        const revoked = events.flatMap((e) => (e.type === "app.removed" ? e.data.revokedKeys : []));
        const [from, to] = [accessOfApp(before), accessOfApp(after)];
        const safe = meet(from, to);
        if (revoked.length > 0 || !same(from, safe)) await applyApp(accounts, appId, safe, revoked);
        return E.right(undefined);
      },
      afterAppend: async (before, _events, after) => {
        const [from, to] = [accessOfApp(before), accessOfApp(after)];
        if (!same(meet(from, to), to)) await applyApp(accounts, appId, to);
      },
    });
    if (E.isLeft(r)) return r;
    const s = r.right.state;
    return s.status === "absent" ? E.left({ _tag: "NotFound", message: `no application ${appId}` }) : E.right(appViewOf(s));
  };

  /** Mints credentials for an active application and records their public key; the `.creds` text is only returned. */
  const issueCredentials = async (
    appId: string,
    opts: { ttlMs?: number; allowFrom?: readonly string[] },
    meta: CommandMeta,
  ): Promise<E.Either<AppsError, AppCredentials>> => {
    const accounts = deps.accounts;
    if (!accounts) return E.left(unavailable);
    let minted: Awaited<ReturnType<typeof mintAppUser>> | undefined;
    const r = await handler.handle(
      appId,
      async (state): Promise<AppCommand> => {
        if (state.status === "active") minted ??= await mintAppUser(accounts, appId, opts);
        return {
          type: "issueCredentials",
          publicKey: minted?.publicKey ?? "",
          expiresAt: minted?.expiresAt ?? null,
          at: meta.time.toISOString(),
          ...(opts.allowFrom ? { allowFrom: opts.allowFrom } : {}),
        };
      },
      meta,
    );
    if (E.isLeft(r)) return r;
    const m = minted!;
    return E.right({ appId, creds: m.creds, publicKey: m.publicKey, expiresAt: m.expiresAt });
  };

  const add = async (
    appId: string,
    grants: readonly string[],
    opts: { ttlMs?: number; allowFrom?: readonly string[] },
    meta: CommandMeta,
  ): Promise<E.Either<AppsError, AppCredentials>> => {
    if (!deps.accounts) return E.left(unavailable);
    const account = appAccountKey(deps.accounts.authority, appId).getPublicKey();
    const r = await execute(appId, { type: "add", appId, grants, account, at: meta.time.toISOString() }, meta);
    return E.isLeft(r) ? r : issueCredentials(appId, opts, meta);
  };

  /** Every application (removed ones with `all`), folded from the log. */
  const list = async (opts: { all?: boolean } = {}): Promise<AppView[]> => {
    const states = new Map<string, App>();
    for await (const e of deps.store.readAll({ filter: { categories: [APP_CATEGORY] } }))
      states.set(e.streamName, evolve(states.get(e.streamName) ?? initialApp(), e));
    return [...states.values()]
      .filter((s): s is Exclude<App, { status: "absent" }> => s.status !== "absent" && (opts.all === true || s.status === "active"))
      .map(appViewOf)
      .sort((a, b) => (a.appId < b.appId ? -1 : 1));
  };

  /**
   * Makes every application's account agree with the log, at the core's start (as plugins'
   * accounts are, `src/plugins/runtime.ts`): the imports its state opens, and every key an
   * `app.removed` named among its revocations. So a crash between a push and its append, a data
   * dir restored from a backup, or a server that lost its resolver directory cannot bring back a
   * removed application's credentials or a withdrawn grant. Answers how many accounts it pushed.
   */
  const reconcile = async (): Promise<number> => {
    const accounts = deps.accounts;
    if (!accounts) return 0;
    const apps = new Map<string, { state: App; revoked: Set<string> }>();
    for await (const e of deps.store.readAll({ filter: { categories: [APP_CATEGORY] } })) {
      const cur = apps.get(e.streamName) ?? { state: initialApp(), revoked: new Set<string>() };
      cur.state = evolve(cur.state, e);
      if (e.type === "app.removed") e.data.revokedKeys.forEach((k) => cur.revoked.add(k));
      apps.set(e.streamName, cur);
    }
    let n = 0;
    for (const { state, revoked } of apps.values())
      if (state.status !== "absent") {
        await applyApp(accounts, state.appId, accessOfApp(state), [...revoked]);
        n++;
      }
    return n;
  };

  return { execute, add, issueCredentials, list, reconcile, load: handler.load };
};
export type AppCommands = ReturnType<typeof appCommands>;
