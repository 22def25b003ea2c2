import { Endpoints, endpointSpec } from "../contract/endpoints.js";
import type { EndpointName } from "../contract/endpoints.js";
import type { SessionKind } from "./sessions.js";

/**
 * What a console session may call, decided here on the server (the page only hides what it may
 * not use). Each call then goes over a NATS connection of the session's kind:
 *
 * - `operator`: the core's BUS credentials, with `actor: console:operator:<handle>` in the log.
 * - `viewer`: the `read` endpoints over an OPS user of its own (the read-only account of
 *   `src/auth/ops.ts`): nats-server itself refuses anything else on that connection. Task
 *   submit, cancel and retry, which OPS cannot reach, go over BUS with `actor: console:viewer:<handle>`.
 *
 * Never offered to the browser: `plugin.creds` (a secret), `plugin.register` (workers' own).
 */

/** The `command` endpoints a viewer may also call. */
export const VIEWER_TASK_ENDPOINTS: readonly EndpointName[] = ["task.submit", "task.get", "task.cancel", "task.retry"];

const NEVER: readonly string[] = ["plugin.creds", "plugin.register"];

export type Route = { readonly name: EndpointName; readonly via: "bus" | "ops" };

/** Where a session's call of `name` goes, or undefined when the session may not call it. */
export const routeOf = (kind: SessionKind, name: string): Route | undefined => {
  const spec = endpointSpec(name);
  if (!spec || NEVER.includes(name)) return undefined;
  const n = name as EndpointName;
  if (kind === "operator") return { name: n, via: "bus" };
  if (spec.access === "read") return { name: n, via: "ops" };
  if (VIEWER_TASK_ENDPOINTS.includes(n)) return { name: n, via: "bus" };
  return undefined;
};

/** Every endpoint a session of `kind` may call (what `/api/session` tells the page). */
export const allowedEndpoints = (kind: SessionKind): EndpointName[] => (Object.keys(Endpoints) as EndpointName[]).filter((n) => routeOf(kind, n) !== undefined);
