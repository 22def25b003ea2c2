import * as E from "fp-ts/lib/Either.js";
import { meetAccess, NO_ACCESS, pluginAccountKey, sameAccess } from "../auth/accounts.js";
import type { PluginAccess } from "../auth/accounts.js";
import type { AccountAuthority } from "../auth/accountAuthority.js";
import { PLUGIN_CATEGORY, pluginStreamName } from "../events/plugin.js";
import type { PluginEvent } from "../events/plugin.js";
import type { CommandMeta } from "../es/decider.js";
import { commandHandler } from "../es/handleCommand.js";
import type { EventStore } from "../store/types.js";
import { describeCapability } from "../contract/catalog.js";
import type { Catalog } from "../contract/catalog.js";
import { mintPluginCredentials } from "./credentials.js";
import { evolve, initialState, pendingCapabilities, pluginDecider } from "./decider.js";
import type { Plugin, PluginCommand, PluginRejected, Present } from "./decider.js";
import type { Manifest } from "./manifest.js";
import type { PluginCredentials, PluginView as ContractPluginView } from "../contract/responses.js";

export type { CommandMeta } from "../es/decider.js";

/** A rejection from the decider, or the core cannot do it right now. */
export type PluginAppError = PluginRejected | { readonly _tag: "Unavailable"; readonly message: string };

/** What `list` and `show` answer: the state of one plugin in plain data (the contract's `PluginView`). */
export type PluginView = ContractPluginView;

export const viewOf = (s: Present, revision: bigint): PluginView => ({
  pluginId: s.pluginId,
  version: s.manifest.version,
  description: s.manifest.description,
  status: s.status,
  granted: s.granted,
  pending: pendingCapabilities(s),
  selfRegistered: s.selfRegistered,
  ...(s.disabledReason !== undefined ? { disabledReason: s.disabledReason } : {}),
  liveCredentials: s.liveKeys,
  provides: s.manifest.provides.map((p) => p.type),
  revision: revision.toString(),
});

/** A capability and what it allows, in plain words (the install prompt, `show`). */
export const explainCapabilities = (catalog: Catalog, caps: readonly string[]) => caps.map((c) => ({ capability: c, meaning: describeCapability(catalog, c) }));

export type PluginAppDeps = {
  readonly store: EventStore<PluginEvent>;
  readonly catalog: Catalog;
  /**
   * Pushes plugin account JWTs and mints credentials. Without it (a core started without the
   * data dir's keys or SYS credentials) nothing that changes what a plugin may reach can be decided.
   */
  readonly accounts?: AccountAuthority;
};

/** What a plugin's account must allow in a state (only an active plugin imports anything). */
export const accessOf = (s: Plugin): PluginAccess => (s.status === "active" ? { active: true, granted: s.granted } : NO_ACCESS);

/**
 * The plugin commands over the event store, through the one command handler (`src/es/`): read
 * the plugin's stream, decide, change its account, append with the expected revision; retried on
 * a concurrent append (another core replica, another operator). What a plugin may reach is
 * narrowed *before* the events saying so are appended and widened after, so the server never
 * allows what the log does not say, and the log never claims a revocation the server has not seen.
 */
export const pluginApp = (deps: PluginAppDeps) => {
  const handler = commandHandler(deps.store, pluginDecider, { streamName: pluginStreamName });
  const load = handler.load;

  const revokedKeys = (events: readonly PluginEvent[]) => events.flatMap((e) => (e.type === "plugin.credentials.revoked" ? e.data.publicKeys : []));

  const unavailable = (pluginId: string): PluginAppError => ({
    _tag: "Unavailable",
    message: `this core cannot change what plugin ${pluginId} may reach (it runs without the data dir's keys or SYS credentials); run the command against a core started with its data dir`,
  });

  /** Decides and records one command; `events` is empty when it changed nothing (idempotent). */
  const execute = async (
    pluginId: string,
    cmd: PluginCommand,
    meta: CommandMeta,
  ): Promise<E.Either<PluginAppError, { events: PluginEvent[]; state: Present; revision: bigint }>> => {
    const accounts = deps.accounts;
    const r = await handler.handle(pluginId, cmd, meta, {
      beforeAppend: async (before, events, after) => {
        const keys = revokedKeys(events);
        const [from, to] = [accessOf(before), accessOf(after)];
        if (keys.length === 0 && sameAccess(from, to)) return E.right(undefined);
        if (!accounts) return E.left(unavailable(pluginId));
        // A crash between this push and the append is mended at the next start (reconcileAccounts).
        const safe = meetAccess(from, to);
        if (keys.length > 0 || !sameAccess(from, safe)) await accounts.applyPlugin(pluginId, safe, keys);
        return E.right(undefined);
      },
      afterAppend: async (before, _events, after) => {
        const [from, to] = [accessOf(before), accessOf(after)];
        if (accounts && !sameAccess(meetAccess(from, to), to)) await accounts.applyPlugin(pluginId, to);
      },
    });
    return E.map((h: { events: PluginEvent[]; state: Plugin; revision: bigint }) => ({ events: h.events, state: h.state as Present, revision: h.revision }))(r);
  };

  /**
   * Mints credentials for an approved, enabled plugin and records their public key. The `.creds`
   * text is only returned, never stored.
   */
  const issueCredentials = async (
    pluginId: string,
    opts: { ttlMs?: number; allowFrom?: readonly string[] },
    meta: CommandMeta,
  ): Promise<E.Either<PluginAppError, PluginCredentials>> => {
    const accounts = deps.accounts;
    if (!accounts) {
      return E.left({
        _tag: "Unavailable",
        message: "this core has no key material or SYS credentials (started without a data dir), so it cannot mint credentials",
      });
    }
    let minted: Awaited<ReturnType<typeof mintPluginCredentials>> | undefined;
    let granted: readonly string[] = [];
    let allowFrom: readonly string[] = [];
    const r = await handler.handle(
      pluginId,
      async (state): Promise<PluginCommand> => {
        granted = state.status === "absent" ? [] : state.granted;
        allowFrom = opts.allowFrom ?? (state.status === "absent" ? [] : (state.allowFrom ?? state.manifest.network?.allowFrom ?? []));
        minted = await mintPluginCredentials(accounts, pluginId, { ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}), allowFrom });
        return {
          type: "issueCredentials",
          pluginId,
          publicKey: minted.publicKey,
          expiresAt: minted.expiresAt,
          at: meta.time.toISOString(),
          account: pluginAccountKey(accounts.authority, pluginId).getPublicKey(),
          allowFrom,
        };
      },
      meta,
    );
    if (E.isLeft(r)) return r;
    const m = minted!;
    return E.right({ creds: m.creds, publicKey: m.publicKey, expiresAt: m.expiresAt, capabilities: granted, allowFrom });
  };

  /** Every plugin ever installed and not removed (`all`: removed ones too), folded from the log. */
  const list = async (opts: { all?: boolean } = {}): Promise<PluginView[]> => {
    const states = new Map<string, { state: Plugin; revision: bigint }>();
    for await (const e of deps.store.readAll({ filter: { categories: [PLUGIN_CATEGORY] } })) {
      const cur = states.get(e.streamName) ?? { state: initialState(), revision: -1n };
      states.set(e.streamName, { state: evolve(cur.state, e), revision: e.revision });
    }
    return [...states.values()]
      .filter((x): x is { state: Present; revision: bigint } => x.state.status !== "absent" && (opts.all || x.state.status !== "removed"))
      .map((x) => viewOf(x.state, x.revision))
      .sort((a, b) => (a.pluginId < b.pluginId ? -1 : 1));
  };

  const show = async (pluginId: string): Promise<E.Either<PluginAppError, { view: PluginView; manifest: Manifest }>> => {
    const { state, revision } = await load(pluginId);
    if (state.status === "absent" || revision === "no_stream") {
      return E.left({ _tag: "NotFound", pluginId, message: `no plugin ${pluginId} is installed (see \`ganglion plugin list\`)` });
    }
    return E.right({ view: viewOf(state, revision), manifest: state.manifest });
  };

  return { load, execute, issueCredentials, list, show };
};
export type PluginApp = ReturnType<typeof pluginApp>;
