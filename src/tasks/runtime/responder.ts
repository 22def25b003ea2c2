import * as E from "fp-ts/lib/Either.js";
import { reportErrors, reportPaths } from "../../contract/decodeErrors.js";
import { jsonDepth, MAX_JSON_DEPTH, MAX_REQUEST_BYTES } from "../../contract/limits.js";
import type { ServiceError } from "../../service/endpoint.js";
import { REQUEST_INFO_HEADER, refuseCaller } from "../../service/callers.js";
import type { Inbound } from "./ports.js";
import type { Ctx } from "./state.js";
import { PluginSubmit } from "./types.js";
import type { TaskRuntime } from "./types.js";

/**
 * Plugin submissions. Plugins granted `task.submit:<type>` request `submit.<type>` in their own
 * account; the import delivers it here as `submit.<plugin>.<type>`, so the caller is the
 * server's word, never the message's. The reply is remapped by the server (`_R_.…` of the
 * caller's account). A request whose request info does not name the subject's plugin account is
 * left unanswered.
 */
export const pluginSubmissions = (ctx: Ctx, deps: { api: Pick<TaskRuntime, "submit" | "get">; pluginAccount?: (pluginId: string) => string }) => {
  const { log } = ctx;

  const serve = async (m: Inbound, plugin: string, taskType: string) => {
    const reply = (r: E.Either<ServiceError, unknown>) => m.respond(JSON.stringify(E.isLeft(r) ? { ok: false, error: r.left } : { ok: true, result: r.right }));
    // Bounded as the core's service bounds its requests, before anything parses or walks it (a
    // plugin may send up to max_payload; a 100,000-deep array parses, then overflows the stack).
    const size = m.data?.length ?? 0;
    if (size > MAX_REQUEST_BYTES)
      return reply(E.left({ code: "InvalidRequest", message: `the request is ${size} bytes; the limit is ${MAX_REQUEST_BYTES}`, paths: ["$"] }));
    if (m.data && jsonDepth(new TextDecoder().decode(m.data)) > MAX_JSON_DEPTH)
      return reply(E.left({ code: "InvalidRequest", message: `the request nests more than ${MAX_JSON_DEPTH} levels deep`, paths: ["$"] }));
    let raw: unknown;
    try {
      raw = m.json();
    } catch {
      return reply(E.left({ code: "InvalidRequest", message: "the request is not JSON" }));
    }
    const d = PluginSubmit.decode(raw);
    if (E.isLeft(d)) return reply(E.left({ code: "InvalidRequest", message: reportErrors(d.left).join("; "), paths: reportPaths(d.left) }));
    try {
      const r = await deps.api.submit(
        { taskType, params: d.right.params, ...(d.right.pluginId ? { pluginId: d.right.pluginId } : {}) },
        { actor: `plugin:${plugin}` },
      );
      if (E.isLeft(r) || !d.right.waitMs) return reply(r);
      return reply(await deps.api.get(r.right.taskId, d.right.waitMs));
    } catch (err) {
      log.error({ err }, "plugin submission failed");
      return reply(E.left({ code: "Internal", message: (err as Error).message }));
    }
  };

  /** Handles one `submit.<plugin>.<type>` request (the answer is sent on its reply subject). */
  const onRequest = (m: Inbound) => {
    const [, plugin = "", ...typeTokens] = m.subject.split(".");
    const refusal = refuseCaller(m.reply, m.headers?.get(REQUEST_INFO_HEADER), deps.pluginAccount?.(plugin));
    if (refusal) {
      log.warn({ subject: m.subject, reply: m.reply, reason: refusal }, "plugin submission refused unanswered");
      return Promise.resolve();
    }
    return serve(m, plugin, typeTokens.join(".")).then(() => undefined);
  };

  return { onRequest };
};
