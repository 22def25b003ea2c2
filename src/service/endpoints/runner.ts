import * as E from "fp-ts/lib/Either.js";
import { Endpoints } from "../../contract/endpoints.js";
import type { ServiceError } from "../../contract/errors.js";
import { RunnerError } from "../../runner/supervisor.js";
import type { PluginRunState, Supervisor } from "../../runner/supervisor.js";
import { defineEndpoint } from "../endpoint.js";
import type { Endpoint } from "../endpoint.js";

/** What the `worker.*` endpoints need: the core's runner, when it runs one. */
export type RunnerEndpointDeps = { readonly runner?: Supervisor };

const unavailable: ServiceError = {
  code: "Unavailable",
  message: "this core runs no worker runner (start the core with `ganglion up --runner process`)",
};

const refused = async (f: () => Promise<PluginRunState>): Promise<E.Either<ServiceError, PluginRunState>> => {
  try {
    return E.right(await f());
  } catch (err) {
    if (err instanceof RunnerError) return E.left({ code: "NotApplicable", message: err.message });
    throw err;
  }
};

/**
 * The `worker.*` endpoints: `ps`, `start`, `stop`, `scale` (each a `runner.scaled` event, then
 * applied), `logs`. Errors: `Unavailable` (no runner), `NotApplicable` (not installed, not
 * active, no `run:`, an unresolvable secret reference), `NotFound` (no such instance).
 */
export const runnerEndpoints = (deps: RunnerEndpointDeps): Endpoint[] => {
  const with_ = <A>(f: (r: Supervisor) => Promise<E.Either<ServiceError, A>>) => (deps.runner ? f(deps.runner) : Promise.resolve(E.left(unavailable)));
  return [
    defineEndpoint(Endpoints["worker.ps"], (req) =>
      with_(async (r) => {
        const h = await r.health();
        return E.right({ backend: r.backend, healthy: h.ok, detail: h.detail, plugins: r.ps(req.pluginId) });
      }),
    ),
    defineEndpoint(Endpoints["worker.start"], (req, ctx) => with_((r) => refused(() => r.scale(req.pluginId, req.instances, ctx.actor)))),
    defineEndpoint(Endpoints["worker.stop"], (req, ctx) => with_((r) => refused(() => r.scale(req.pluginId, 0, ctx.actor)))),
    defineEndpoint(Endpoints["worker.scale"], (req, ctx) => with_((r) => refused(() => r.scale(req.pluginId, req.instances, ctx.actor)))),
    defineEndpoint(Endpoints["worker.logs"], (req) =>
      with_(async (r) => {
        const known = r.ps(req.pluginId)[0]?.instances.map((i) => i.instance) ?? [];
        const instance = req.instance ?? known[0];
        if (instance === undefined || !known.includes(instance)) {
          return E.left({
            code: "NotFound",
            message: `plugin ${req.pluginId} has no instance ${req.instance ?? ""} the runner knows of (see \`ganglion worker ps\`)`,
          });
        }
        const chunk = await r.logs(req.pluginId, instance, { maxBytes: req.maxBytes ?? 64 * 1024, ...(req.from !== undefined ? { from: req.from } : {}) });
        return E.right({ instance, ...chunk });
      }),
    ),
  ];
};
