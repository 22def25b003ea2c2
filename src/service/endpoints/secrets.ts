import * as E from "fp-ts/lib/Either.js";
import { Endpoints } from "../../contract/endpoints.js";
import { defineEndpoint } from "../endpoint.js";
import type { Endpoint, RequestContext } from "../endpoint.js";
import type { SecretStore } from "../../secrets/store.js";
import type { SecretNotice } from "../../contract/secrets.js";

/**
 * The `secret.*` endpoints (BUS callers only: the admin credentials). Values arrive sealed to the
 * core's key (`secret.key`) and are never answered: rows carry versions and fingerprints.
 */
export const secretEndpoints = (deps: { store: SecretStore; notify: (name: string, notice: SecretNotice) => Promise<void> }): Endpoint[] => {
  const meta = (ctx: RequestContext) => ({ actor: ctx.actor, time: ctx.now, correlationId: ctx.correlationId });
  const write = (rotate: boolean) => async (req: { name: string; sealed: string; sender: string }, ctx: RequestContext) => {
    const v = deps.store.unseal(req.sealed, req.sender);
    if (E.isLeft(v)) return v;
    const r = await deps.store.put(req.name, v.right, rotate, meta(ctx));
    v.right.fill(0);
    if (E.isRight(r) && rotate) await deps.notify(req.name, { type: "secret.rotated", name: req.name, version: r.right.version });
    return r;
  };
  return [
    defineEndpoint(Endpoints["secret.key"], async () => E.right({ publicKey: deps.store.publicKey })),
    defineEndpoint(Endpoints["secret.set"], write(false)),
    defineEndpoint(Endpoints["secret.rotate"], write(true)),
    defineEndpoint(Endpoints["secret.remove"], async (req, ctx) => {
      const r = await deps.store.remove(req.name, meta(ctx));
      if (E.isRight(r)) await deps.notify(req.name, { type: "secret.removed", name: req.name, version: r.right.version });
      return r;
    }),
    defineEndpoint(Endpoints["secret.list"], async () => E.right(await deps.store.list())),
  ];
};
