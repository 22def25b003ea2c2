import * as E from "fp-ts/lib/Either.js";
import type { AppCommands, AppsError } from "../../apps/commands.js";
import { Endpoints } from "../../contract/endpoints.js";
import type { ServiceError } from "../../contract/errors.js";
import { parseDuration } from "../../plugins/manifest.js";
import { defineEndpoint } from "../endpoint.js";
import type { Endpoint } from "../endpoint.js";

const toError = (e: AppsError): ServiceError => ({ code: e._tag, message: e.message });

const ttlOf = (ttl: string | undefined): E.Either<ServiceError, { ttlMs?: number }> => {
  if (ttl === undefined) return E.right({});
  const ms = parseDuration(ttl);
  return ms === undefined || ms <= 0
    ? E.left({ code: "InvalidRequest", message: `ttl: expected a duration like "24h" or "30d", got ${JSON.stringify(ttl)}`, paths: ["ttl"] })
    : E.right({ ttlMs: ms });
};

/** The operators' `app.*` endpoints (BUS only): add, grant, revoke, remove, creds, list. */
export const appEndpoints = (deps: { apps: AppCommands }): Endpoint[] => {
  const meta = (ctx: { actor: string; now: Date; correlationId: string }) => ({ actor: ctx.actor, time: ctx.now, correlationId: ctx.correlationId });
  return [
    defineEndpoint(Endpoints["app.add"], async (req, ctx) => {
      const ttl = ttlOf(req.ttl);
      if (E.isLeft(ttl)) return ttl;
      return E.mapLeft(toError)(
        await deps.apps.add(req.appId, req.grants, { ...ttl.right, ...(req.allowFrom ? { allowFrom: req.allowFrom } : {}) }, meta(ctx)),
      );
    }),
    defineEndpoint(Endpoints["app.grant"], async (req, ctx) =>
      E.mapLeft(toError)(await deps.apps.execute(req.appId, { type: "grant", capabilities: req.capabilities, at: ctx.now.toISOString() }, meta(ctx))),
    ),
    defineEndpoint(Endpoints["app.revoke"], async (req, ctx) =>
      E.mapLeft(toError)(
        await deps.apps.execute(
          req.appId,
          { type: "revoke", capabilities: req.capabilities, at: ctx.now.toISOString(), ...(req.reason !== undefined ? { reason: req.reason } : {}) },
          meta(ctx),
        ),
      ),
    ),
    defineEndpoint(Endpoints["app.remove"], async (req, ctx) =>
      E.mapLeft(toError)(
        await deps.apps.execute(
          req.appId,
          { type: "remove", at: ctx.now.toISOString(), ...(req.reason !== undefined ? { reason: req.reason } : {}) },
          meta(ctx),
        ),
      ),
    ),
    defineEndpoint(Endpoints["app.creds"], async (req, ctx) => {
      const ttl = ttlOf(req.ttl);
      if (E.isLeft(ttl)) return ttl;
      return E.mapLeft(toError)(
        await deps.apps.issueCredentials(req.appId, { ...ttl.right, ...(req.allowFrom ? { allowFrom: req.allowFrom } : {}) }, meta(ctx)),
      );
    }),
    defineEndpoint(Endpoints["app.list"], async (req) => E.right(await deps.apps.list(req))),
  ];
};
