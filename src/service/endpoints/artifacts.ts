import * as E from "fp-ts/lib/Either.js";
import type { ArtifactRow } from "../../contract/artifacts.js";
import { Endpoints } from "../../contract/endpoints.js";
import type { ServiceError } from "../../contract/errors.js";
import type { ArtifactOps } from "../../artifacts/index.js";
import { rowOf } from "../../artifacts/store.js";
import type { ArtifactMeta } from "../../artifacts/store.js";
import { defineEndpoint } from "../endpoint.js";
import type { Endpoint } from "../endpoint.js";

/** The operator's `artifact.*` endpoints (list, show, remove, share) over the artifacts context. */
export const artifactEndpoints = (deps: { artifacts: ArtifactOps }): Endpoint[] => {
  const { artifacts } = deps;
  const find = async (ref: string): Promise<E.Either<ServiceError, ArtifactMeta>> => {
    const meta = await artifacts.find(ref);
    return meta ? E.right(meta) : E.left({ code: "NotFound", message: `no artifact ${ref}` });
  };
  return [
    defineEndpoint(Endpoints["artifact.list"], async (req) => {
      const rows: ArtifactRow[] = (await artifacts.list()).filter((m) => !req.creator || m.creator === req.creator).map(rowOf);
      rows.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      return E.right(rows.slice(0, req.limit ?? 1000));
    }),
    defineEndpoint(Endpoints["artifact.show"], async (req) => E.map(rowOf)(await find(req.id))),
    defineEndpoint(Endpoints["artifact.remove"], async (req, ctx) => {
      const f = await find(req.id);
      if (E.isLeft(f)) return f;
      await artifacts.remove(f.right, ctx.actor, req.reason);
      return E.right(rowOf(f.right));
    }),
    defineEndpoint(Endpoints["artifact.share"], async (req, ctx) => {
      const f = await find(req.id);
      return E.isLeft(f) ? f : E.right(rowOf(await artifacts.share(f.right, req.pluginId, ctx.actor)));
    }),
  ];
};
