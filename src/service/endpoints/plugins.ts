import type * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { explainCapabilities, viewOf } from "../../plugins/app.js";
import type { PluginApp, PluginAppError } from "../../plugins/app.js";
import type { Catalog } from "../../contract/catalog.js";
import { Endpoints } from "../../contract/endpoints.js";
import type { ManifestInput } from "../../contract/endpoints.js";
import { decodeManifest, decodeManifestValue, parseDuration } from "../../plugins/manifest.js";
import type { ManifestChecker } from "../../plugins/manifestCheck.js";
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
  /** Checks manifests on a worker thread, bounded in time (`src/plugins/manifestCheck.ts`); without it, on the event loop. */
  readonly checker?: ManifestChecker;
};

const toServiceError = (e: PluginAppError): ServiceError => {
  const { _tag, message, ...details } = e;
  return Object.keys(details).length > 0 ? { code: _tag, message, details } : { code: _tag, message };
};

const decodeInput = async (req: t.TypeOf<typeof ManifestInput>, checker: ManifestChecker | undefined) => {
  if (checker) return "manifestText" in req ? checker.decodeText(req.manifestText) : checker.decodeValue(req.manifest);
  return "manifestText" in req ? decodeManifest(req.manifestText) : decodeManifestValue(req.manifest);
};

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
    defineEndpoint(Endpoints["plugin.install"], async (req, ctx) => {
      const m = await decodeInput(req, deps.checker);
      if (E.isLeft(m)) return E.left(invalidManifest(m.left));
      return answer(await app.execute(m.right.id, { type: "install", manifest: m.right, ...(req.grant ? { grant: req.grant } : {}) }, meta(ctx)));
    }),
    defineEndpoint(Endpoints[PLUGIN_REGISTER_ENDPOINT], async (req, ctx) => {
      const m = await decodeInput(req, deps.checker);
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
        return E.right({
          ...base,
          approved: false,
          message: `plugin ${pluginId} is pending approval: an operator runs \`ganglion plugin approve ${pluginId} ...\``,
        });
      }
      const c = await app.issueCredentials(pluginId, {}, meta(ctx, actor));
      if (E.isLeft(c)) return E.left(toServiceError(c.left));
      return E.right({ ...base, approved: true, creds: c.right.creds, publicKey: c.right.publicKey });
    }),
    defineEndpoint(Endpoints["plugin.approve"], async (req, ctx) =>
      answer(
        await app.execute(
          req.pluginId,
          { type: "approve", pluginId: req.pluginId, capabilities: req.capabilities, ...(req.allowFrom ? { allowFrom: req.allowFrom } : {}) },
          meta(ctx),
        ),
      ),
    ),
    defineEndpoint(Endpoints["plugin.revoke"], async (req, ctx) =>
      answer(
        await app.execute(
          req.pluginId,
          { type: "revoke", pluginId: req.pluginId, capabilities: req.capabilities, ...(req.reason ? { reason: req.reason } : {}) },
          meta(ctx),
        ),
      ),
    ),
    defineEndpoint(Endpoints["plugin.disable"], async (req, ctx) =>
      answer(await app.execute(req.pluginId, { type: "disable", pluginId: req.pluginId, reason: req.reason ?? `disabled by ${ctx.actor}` }, meta(ctx))),
    ),
    defineEndpoint(Endpoints["plugin.enable"], async (req, ctx) =>
      answer(await app.execute(req.pluginId, { type: "enable", pluginId: req.pluginId }, meta(ctx))),
    ),
    defineEndpoint(Endpoints["plugin.remove"], async (req, ctx) =>
      answer(await app.execute(req.pluginId, { type: "remove", pluginId: req.pluginId, ...(req.reason ? { reason: req.reason } : {}) }, meta(ctx))),
    ),
    defineEndpoint(Endpoints["plugin.list"], async (req) => E.right({ plugins: await app.list(req.all ? { all: true } : {}) })),
    defineEndpoint(Endpoints["plugin.show"], async (req) => {
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
    }),
    defineEndpoint(Endpoints["plugin.creds"], async (req, ctx) => {
      let ttlMs: number | undefined;
      if (req.ttl !== undefined) {
        ttlMs = parseDuration(req.ttl);
        if (ttlMs === undefined || ttlMs <= 0) {
          return E.left({ code: "InvalidRequest", message: `ttl: expected a duration like "24h" or "30d", got ${JSON.stringify(req.ttl)}`, paths: ["ttl"] });
        }
      }
      const r = await app.issueCredentials(
        req.pluginId,
        { ...(ttlMs !== undefined ? { ttlMs } : {}), ...(req.allowFrom ? { allowFrom: req.allowFrom } : {}) },
        meta(ctx),
      );
      if (E.isLeft(r)) return E.left(toServiceError(r.left));
      return E.right(r.right);
    }),
  ];
};
