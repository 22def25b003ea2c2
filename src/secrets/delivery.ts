import * as E from "fp-ts/lib/Either.js";
import { reportErrors } from "../contract/decodeErrors.js";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { controlSubject } from "../contract/subjects.js";
import { SecretName, SecretRequest } from "../contract/secrets.js";
import type { SecretNotice, SecretReply } from "../contract/secrets.js";
import { REQUEST_INFO_HEADER, refuseCaller } from "../service/callers.js";
import { toBase64 } from "./keys.js";
import type { SecretKey } from "./keys.js";
import type { SecretStore } from "./store.js";

/** Every plugin's secret requests as they arrive in BUS: `secret.<plugin>.<name>` (the import put the plugin's id there). */
export const SECRET_REQUESTS = "secret.*.>";

/**
 * Serves plugins' secret requests. A plugin granted `secret.read:<name>` imports `secret.<name>`
 * as `secret.<plugin>.<name>`: without the grant the server has no route and the request never
 * arrives (it times out, or fails "no responders"). Here, as defence in depth, a request is served
 * only when its reply is the server's `_R_.…` of another account AND `Nats-Request-Info` names the
 * subject's plugin account; anything else (a client inside BUS, a forged subject, a JetStream
 * delivery) is dropped unanswered and logged. The grant and the rate are checked again by the
 * store, which records the read before the value leaves.
 *
 * The worker chooses the key its answer is sealed to (`publicKey` in the request). That is safe:
 * only the plugin's own account can send on its import, the answer goes to the remapped reply,
 * which the server routes back to that account only, and a replayed request (even with another
 * key) is answered to whoever sent it, i.e. the plugin itself. The seal keeps the value out of
 * everything between the core and that process: server trace logs, traffic captures, other
 * subscribers of the plugin's account that share its credentials but not its curve seed.
 */
export const serveSecrets = (deps: {
  nc: NatsConnection;
  log: Logger;
  store: SecretStore;
  key: SecretKey;
  pluginAccount: (pluginId: string) => string;
}): { readonly stop: () => Promise<void>; readonly notify: (name: string, notice: SecretNotice) => Promise<void> } => {
  const { log } = deps;
  const answer = (m: { respond: (d: string) => boolean }, r: SecretReply) => m.respond(JSON.stringify(r));
  const sub: Subscription = deps.nc.subscribe(SECRET_REQUESTS, {
    queue: "ganglion-core",
    callback: (err, m) => {
      if (err) return;
      const [, plugin = "", ...nameTokens] = m.subject.split(".");
      const name = nameTokens.join(".");
      const info = m.headers?.get(REQUEST_INFO_HEADER);
      const refusal = info === undefined || info === "" ? "not a request from a plugin account" : refuseCaller(m.reply, info, deps.pluginAccount(plugin));
      if (refusal) {
        log.warn({ subject: m.subject, reason: refusal }, "secret request refused unanswered");
        return;
      }
      void (async () => {
        if (!SecretName.is(name))
          return answer(m, { error: { code: "InvalidRequest", message: `secret name ${JSON.stringify(nameTokens.join(".").slice(0, 140))} is not valid` } });
        let raw: unknown;
        try {
          raw = m.json();
        } catch {
          return answer(m, { error: { code: "InvalidRequest", message: 'the request is not JSON: send {"publicKey": "X…"}' } });
        }
        const d = SecretRequest.decode(raw);
        if (E.isLeft(d)) return answer(m, { error: { code: "InvalidRequest", message: reportErrors(d.left).join("; ") } });
        const r = await deps.store.read(name, plugin);
        if (E.isLeft(r)) {
          log.info({ plugin, secret: name, code: r.left.code }, "secret read refused");
          return answer(m, { error: { code: r.left.code, message: r.left.message, ...(r.left.retryAfterMs ? { retryAfterMs: r.left.retryAfterMs } : {}) } });
        }
        const sealed = toBase64(deps.key.pair.seal(r.right.value, d.right.publicKey));
        log.info({ plugin, secret: name, version: r.right.version }, "secret read");
        return answer(m, { name, version: r.right.version, sealed, sender: deps.key.publicKey });
      })().catch((e: unknown) => {
        log.error({ err: e, plugin, secret: name }, "secret request failed");
        answer(m, { error: { code: "Unavailable", message: "the core could not read the secret; try again" } });
      });
    },
  });
  return {
    stop: async () => {
      sub.unsubscribe();
    },
    // Every instance of each reader gets it on `ctl.<plugin>` (its stream import): it asks again.
    notify: async (name, notice) => {
      for (const p of await deps.store.readers(name)) deps.nc.publish(controlSubject(p), JSON.stringify(notice));
    },
  };
};
