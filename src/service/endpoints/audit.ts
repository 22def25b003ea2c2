import * as E from "fp-ts/lib/Either.js";
import { Endpoints } from "../../contract/endpoints.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { audit, AuditFilterError } from "../../projections/audit.js";
import { readerStore } from "../../projections/runner/source.js";
import { InvalidStreamNameError } from "../../store/types.js";
import { defineEndpoint } from "../endpoint.js";
import type { Endpoint } from "../endpoint.js";

export type AuditDeps = { readonly nc: NatsConnection; readonly log: Logger };

export const AUDIT_ENDPOINT = "audit.query";

/**
 * `audit.query`: the event log filtered by plugin, task, type prefix and time, oldest first.
 * Request `{pluginId?, taskId?, type?, since?, until?, limit? (default 1000)}`; the reply says
 * whether the limit cut the list (`truncated`).
 */
export const auditEndpoints = (deps: AuditDeps): Endpoint[] => {
  const store = readerStore(deps.nc, deps.log);
  return [
    defineEndpoint(Endpoints[AUDIT_ENDPOINT], async (req, ctx) => {
      const limit = req.limit ?? 1000;
      const events = [];
      let truncated = false;
      try {
        for await (const e of audit(store, req, ctx.now)) {
          if (events.length >= limit) {
            truncated = true;
            break;
          }
          events.push(e);
        }
      } catch (err) {
        if (err instanceof AuditFilterError) return E.left({ code: "InvalidRequest", message: err.message, paths: [err.path] });
        // A plugin or task id that cannot name a stream (`../x`): the caller's error, not ours.
        if (err instanceof InvalidStreamNameError)
          return E.left({ code: "InvalidRequest", message: err.message, paths: [err.streamName.startsWith("task-") ? "taskId" : "pluginId"] });
        throw err;
      }
      return E.right({ events, truncated });
    }),
  ];
};
