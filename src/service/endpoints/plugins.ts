import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { explainCapabilities, viewOf } from "../../plugins/app.js";
import type { PluginApp, PluginAppError } from "../../plugins/app.js";
import type { Catalog } from "../../contract/catalog.js";
import { decodeManifest, decodeManifestValue, parseDuration, PluginId } from "../../plugins/manifest.js";
import { Cidr } from "../../contract/manifest.js";
import { BoundedText, MAX_TEXT } from "../limits.js";
import { PLUGIN_REGISTER_ENDPOINT } from "../../contract/subjects.js";
import { defineEndpoint } from "../endpoint.js";
import type { Endpoint, RequestContext, ServiceError } from "../endpoint.js";

/** What the `plugin.*` endpoints need; `CoreDeps` provides it. */
export type PluginEndpointDeps = {
  /** Dev mode: self-registrations are approved automatically. */
  readonly dev?: boolean;
  /** The plugin command handler the host built (one per core). */
  readonly app: PluginApp;
  readonly catalog: Catalog;
};

const toServiceError = (e: PluginAppError): ServiceError => {
  const { _tag, message, ...details } = e;
  return Object.keys(details).length > 0 ? { code: _tag, message, details } : { code: _tag, message };
};

/** A manifest given as an object, or as YAML/JSON text (what the CLI reads from a file). */
const ManifestInput = t.union([t.type({ manifest: t.UnknownRecord }), t.type({ manifestText: t.string })]);

const Grant = t.union([t.literal("all"), t.array(t.string)]);

const pluginIdField = t.type({ pluginId: PluginId });

const InstallRequest = t.intersection([ManifestInput, t.partial({ grant: Grant })]);
const ApproveRequest = t.intersection([pluginIdField, t.type({ capabilities: Grant }), t.partial({ allowFrom: t.array(Cidr) })]);
const Reason = BoundedText(MAX_TEXT, "Reason");
const RevokeRequest = t.intersection([pluginIdField, t.type({ capabilities: t.array(t.string) }), t.partial({ reason: Reason })]);
const ReasonRequest = t.intersection([pluginIdField, t.partial({ reason: Reason })]);
const CredsRequest = t.intersection([pluginIdField, t.partial({ ttl: t.string, allowFrom: t.array(Cidr) })]);
const ListRequest = t.partial({ all: t.boolean });

const decodeInput = (req: t.TypeOf<typeof ManifestInput>) =>
  "manifestText" in req ? decodeManifest(req.manifestText) : decodeManifestValue(req.manifest);

const invalidManifest = (errors: string[]): ServiceError => ({
  code: "InvalidRequest",
  message: `the manifest is invalid:\n  ${errors.join("\n  ")}`,
  paths: errors.map((e) => `manifest.${e.slice(0, e.indexOf(":"))}`),
});

/**
 * The `plugin.*` endpoints of the core's service: `install`, `register` (self-registration with
 * the dev bootstrap credentials), `approve`, `revoke`, `disable`, `enable`, `remove`, `list`,
 * `show`, `creds`. Commands answer `{ plugin, events }` where `events` lists the types appended
 * (empty: nothing changed). `creds` answers the `.creds` text: it is never logged nor stored.
 */
export const pluginEndpoints = (deps: PluginEndpointDeps): Endpoint[] => {
  const { catalog, app } = deps;
  const meta = (ctx: RequestContext, actor = ctx.actor) => ({ actor, time: ctx.now, correlationId: ctx.correlationId });

  const answer = async (r: Awaited<ReturnType<typeof app.execute>>) => {
    if (E.isLeft(r)) return E.left(toServiceError(r.left));
    return E.right({ plugin: viewOf(r.right.state, r.right.revision), events: r.right.events.map((e) => e.type) });
  };

  return [
    defineEndpoint({
      name: "plugin.install",
      description: "Install (or upgrade) a plugin from its manifest; grant all or some capabilities at once, or leave it pending",
      request: InstallRequest,
      handle: async (req, ctx) => {
        const m = decodeInput(req);
        if (E.isLeft(m)) return E.left(invalidManifest(m.left));
        return answer(await app.execute(m.right.id, { type: "install", manifest: m.right, ...(req.grant ? { grant: req.grant } : {}) }, meta(ctx)));
      },
    }),
    defineEndpoint({
      name: PLUGIN_REGISTER_ENDPOINT,
      access: "register",
      description: "A worker registers its own manifest (dev bootstrap credentials): approved automatically in dev mode, pending otherwise",
      request: ManifestInput,
      handle: async (req, ctx) => {
        const m = decodeInput(req);
        if (E.isLeft(m)) return E.left(invalidManifest(m.left));
        const pluginId = m.right.id;
        const actor = `plugin:${pluginId}`;
        // The dev bootstrap credentials are shared by every worker in dev mode: they must not be
        // a way to take over (or mint credentials for) a plugin an operator installed.
        const current = await app.load(pluginId);
        if (current.state.status !== "absent" && current.state.status !== "removed" && !current.state.selfRegistered) {
          return E.left({
            code: "Forbidden",
            message: `plugin ${pluginId} was installed by an operator; a worker cannot register over it with the dev bootstrap credentials (ask for its credentials: ganglion plugin creds ${pluginId})`,
          });
        }
        const automatic = { automatic: true as const, reason: "dev mode: the worker self-registered with the dev bootstrap credentials" };
        const r = await app.execute(
          pluginId,
          { type: "install", manifest: m.right, selfRegistered: true, ...(deps.dev ? { grant: "all" as const, automatic } : {}) },
          meta(ctx, actor),
        );
        if (E.isLeft(r)) return E.left(toServiceError(r.left));
        const base = { plugin: viewOf(r.right.state, r.right.revision), events: r.right.events.map((e) => e.type) };
        if (!deps.dev || r.right.state.status !== "active") {
          return E.right({ ...base, approved: false, message: `plugin ${pluginId} is pending approval: an operator runs \`ganglion plugin approve ${pluginId} ...\`` });
        }
        const c = await app.issueCredentials(pluginId, {}, meta(ctx, actor));
        if (E.isLeft(c)) return E.left(toServiceError(c.left));
        return E.right({ ...base, approved: true, creds: c.right.creds, publicKey: c.right.publicKey });
      },
    }),
    defineEndpoint({
      name: "plugin.approve",
      description: "Grant capabilities a plugin asks for (\"all\", or a list; an empty list approves the plugin with none); allowFrom sets the networks its credentials may connect from",
      request: ApproveRequest,
      handle: async (req, ctx) =>
        answer(await app.execute(req.pluginId, { type: "approve", pluginId: req.pluginId, capabilities: req.capabilities, ...(req.allowFrom ? { allowFrom: req.allowFrom } : {}) }, meta(ctx))),
    }),
    defineEndpoint({
      name: "plugin.revoke",
      description: "Withdraw granted capabilities; the plugin's account loses them at once (live connections included, no new credentials)",
      request: RevokeRequest,
      handle: async (req, ctx) =>
        answer(
          await app.execute(
            req.pluginId,
            { type: "revoke", pluginId: req.pluginId, capabilities: req.capabilities, ...(req.reason ? { reason: req.reason } : {}) },
            meta(ctx),
          ),
        ),
    }),
    defineEndpoint({
      name: "plugin.disable",
      description: "Disable a plugin: its account loses every import and its live credentials are revoked (connections closed); no new ones are minted",
      request: ReasonRequest,
      handle: async (req, ctx) =>
        answer(await app.execute(req.pluginId, { type: "disable", pluginId: req.pluginId, reason: req.reason ?? `disabled by ${ctx.actor}` }, meta(ctx))),
    }),
    defineEndpoint({
      name: "plugin.enable",
      description: "Enable a disabled plugin (it needs new credentials)",
      request: pluginIdField,
      handle: async (req, ctx) => answer(await app.execute(req.pluginId, { type: "enable", pluginId: req.pluginId }, meta(ctx))),
    }),
    defineEndpoint({
      name: "plugin.remove",
      description: "Remove a plugin: its live credentials are revoked; installing it again starts over",
      request: ReasonRequest,
      handle: async (req, ctx) =>
        answer(await app.execute(req.pluginId, { type: "remove", pluginId: req.pluginId, ...(req.reason ? { reason: req.reason } : {}) }, meta(ctx))),
    }),
    defineEndpoint({
      name: "plugin.list",
      description: "Every installed plugin with its status, grants and pending capabilities",
      request: ListRequest,
      handle: async (req) => E.right({ plugins: await app.list(req.all ? { all: true } : {}) }),
    }),
    defineEndpoint({
      name: "plugin.show",
      description: "One plugin: its state, its manifest, and its capabilities in plain words",
      request: pluginIdField,
      handle: async (req) => {
        const r = await app.show(req.pluginId);
        if (E.isLeft(r)) return E.left(toServiceError(r.left));
        return E.right({
          plugin: r.right.view,
          manifest: r.right.manifest,
          capabilities: explainCapabilities(catalog, r.right.manifest.capabilities).map((c) => ({
            ...c,
            granted: r.right.view.granted.includes(c.capability),
          })),
        });
      },
    }),
    defineEndpoint({
      name: "plugin.creds",
      description: "Mint credentials for an approved, enabled plugin (answers the .creds text; only its public key is recorded)",
      request: CredsRequest,
      handle: async (req, ctx) => {
        let ttlMs: number | undefined;
        if (req.ttl !== undefined) {
          ttlMs = parseDuration(req.ttl);
          if (ttlMs === undefined || ttlMs <= 0) {
            return E.left({ code: "InvalidRequest", message: `ttl: expected a duration like "24h" or "30d", got ${JSON.stringify(req.ttl)}`, paths: ["ttl"] });
          }
        }
        const r = await app.issueCredentials(req.pluginId, { ...(ttlMs !== undefined ? { ttlMs } : {}), ...(req.allowFrom ? { allowFrom: req.allowFrom } : {}) }, meta(ctx));
        if (E.isLeft(r)) return E.left(toServiceError(r.left));
        return E.right(r.right);
      },
    }),
  ];
};
