import * as E from "fp-ts/lib/Either.js";
import { Endpoints } from "../../contract/endpoints.js";
import { decodeDefinition, decodeDefinitionValue } from "../../pipelines/definition.js";
import type { Pipelines } from "../../pipelines/runtime.js";
import { defineEndpoint } from "../endpoint.js";
import type { Endpoint } from "../endpoint.js";
import { MAX_WAIT_MS } from "./tasks.js";

const waitOf = (w: number | undefined) => Math.max(0, Math.min(w ?? 0, MAX_WAIT_MS));

/**
 * The `pipeline.*` endpoints over the pipelines context. A definition that does not decode is
 * `InvalidRequest` with one `path: reason` per error (`steps[1].params.text: …`), and so is one
 * that does not fit the installed plugins; params that do not fit the pipeline's schema are
 * `InvalidParams`.
 */
export const pipelineEndpoints = (deps: { pipelines: Pipelines }): Endpoint[] => [
  defineEndpoint(Endpoints["pipeline.define"], async (req, ctx) => {
    const d = "definitionText" in req ? decodeDefinition(req.definitionText) : decodeDefinitionValue(req.definition);
    if (E.isLeft(d)) {
      return E.left({
        code: "InvalidRequest",
        message: `the definition is not valid:\n${d.left.join("\n")}`,
        paths: d.left.map((l) => l.slice(0, l.indexOf(":"))),
      });
    }
    return deps.pipelines.define(d.right, ctx.actor);
  }),
  defineEndpoint(Endpoints["pipeline.run"], (req, ctx) => deps.pipelines.run(req.name, req.params, ctx.actor, waitOf(req.waitMs))),
  defineEndpoint(Endpoints["pipeline.get"], (req) => deps.pipelines.get(req.runId, waitOf(req.waitMs))),
  defineEndpoint(Endpoints["pipeline.runs"], async (req) => E.right(deps.pipelines.list({ ...req, limit: Math.max(1, Math.min(req.limit ?? 100, 10_000)) }))),
  defineEndpoint(Endpoints["pipeline.list"], async () => E.right(deps.pipelines.definitions())),
  defineEndpoint(Endpoints["pipeline.show"], async (req) => {
    const d = await deps.pipelines.definition(req.name);
    return d ? E.right(d) : E.left({ code: "NotFound", message: `no pipeline ${req.name} is defined` });
  }),
  defineEndpoint(Endpoints["pipeline.cancel"], (req, ctx) => deps.pipelines.cancel(req.runId, req.reason ?? `cancelled by ${ctx.actor}`, ctx.actor)),
];
