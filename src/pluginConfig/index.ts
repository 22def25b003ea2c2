import * as E from "fp-ts/lib/Either.js";
import type { ValidateFunction } from "ajv";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ConfigEvent, configStreamName } from "../events/config.js";
import { natsEventStore } from "../store/eventStore.js";
import { WrongExpectedVersionError } from "../store/types.js";
import { Endpoints } from "../contract/endpoints.js";
import { CONFIG_REQUESTS, controlSubject } from "../contract/subjects.js";
import { MAX_CONFIG_BYTES } from "../contract/pluginConfig.js";
import type { ConfigAnswer, ConfigChanged, PluginConfig } from "../contract/pluginConfig.js";
import { SecretName } from "../contract/secrets.js";
import type { ServiceError } from "../contract/errors.js";
import type { PluginApp } from "../plugins/app.js";
import { createAjv } from "../plugins/schemas.js";
import { REQUEST_INFO_HEADER, refuseCaller } from "../service/callers.js";
import { defineEndpoint } from "../service/endpoint.js";
import type { Endpoint, RequestContext } from "../service/endpoint.js";
import { grantedSecrets, startAnnouncer } from "./announce.js";

const SECRET_REF = "secret://";

/** Every `secret://<name>` in a config is a valid secret name (the value is resolved by whoever reads it, with its grant). */
const badSecretRefs = (v: unknown, path: string, out: string[]): string[] => {
  if (typeof v === "string" && v.startsWith(SECRET_REF) && !SecretName.is(v.slice(SECRET_REF.length)))
    out.push(`${path}: ${JSON.stringify(v.slice(0, 80))} is not a valid secret reference`);
  else if (Array.isArray(v)) v.forEach((x, i) => badSecretRefs(x, `${path}[${i}]`, out));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) badSecretRefs(x, `${path}.${k}`, out);
  return out;
};

/**
 * Plugins' live configuration. The manifest declares a JSON Schema (`config`, checked for safety at
 * install like params schemas); `plugin.config.set` merges or replaces, validates the result
 * against it, and appends `plugin.config.set` at the revision it read (the log says who changed
 * what); every instance of the plugin then gets `config.changed` on `ctl.<plugin>`. A worker
 * starting asks `cfg` (its account imports `cfg.<plugin>`) for the config in force. Secret
 * references stay references: the worker resolves them with its own `secret.read` grant.
 *
 * The `cfg` answer also carries the versions of the plugin's granted secrets (`secretVersions`,
 * when the core has a secret store), and `./announce.ts` says the same on `ctl.<plugin>` at start
 * and every `announceEveryMs`: a worker that missed a notice catches up on what is newer.
 */
export const startPluginConfig = (deps: {
  nc: NatsConnection;
  log: Logger;
  plugins: PluginApp;
  pluginAccount?: (pluginId: string) => string;
  secretVersions?: (names: readonly string[]) => Promise<Record<string, number>>;
  announceEveryMs?: number;
}) => {
  const store = natsEventStore(deps.nc, { codec: ConfigEvent, defaultActor: "core" });
  const ajv = createAjv();
  const validators = new Map<string, ValidateFunction>();

  const current = async (pluginId: string): Promise<PluginConfig & { revision: bigint | "no_stream" }> => {
    let out: PluginConfig & { revision: bigint | "no_stream" } = { pluginId, version: 0, config: {}, revision: "no_stream" };
    for await (const e of store.readStream(configStreamName(pluginId)))
      out = { pluginId, version: e.data.version, config: e.data.config, revision: e.revision };
    return out;
  };

  const set = async (
    req: { pluginId: string; set?: Record<string, unknown>; replace?: Record<string, unknown>; unset?: string[] },
    ctx: RequestContext,
  ): Promise<E.Either<ServiceError, PluginConfig>> => {
    const p = await deps.plugins.load(req.pluginId);
    if (p.state.status === "absent" || p.state.status === "removed") return E.left({ code: "NotFound", message: `plugin ${req.pluginId} is not installed` });
    const schema = p.state.manifest.config;
    if (!schema)
      return E.left({ code: "InvalidRequest", message: `plugin ${req.pluginId} declares no config in its manifest (version ${p.state.manifest.version})` });
    if (req.replace && (req.set || req.unset)) return E.left({ code: "InvalidRequest", message: "give replace, or set/unset, not both", paths: ["replace"] });
    const now = await current(req.pluginId);
    const next: Record<string, unknown> = req.replace ? { ...req.replace } : { ...now.config, ...req.set };
    for (const k of req.unset ?? []) delete next[k];
    const size = Buffer.byteLength(JSON.stringify(next));
    if (size > MAX_CONFIG_BYTES) return E.left({ code: "PayloadTooLarge", message: `the config is ${size} bytes; at most ${MAX_CONFIG_BYTES}` });
    const vkey = `${req.pluginId}@${p.state.manifest.version}`;
    let v = validators.get(vkey);
    if (!v) validators.set(vkey, (v = ajv.compile(schema)));
    if (!v(next)) {
      const paths = (v.errors ?? []).map((e) => `config${e.instancePath.replaceAll("/", ".")}: ${e.message ?? "invalid"}`);
      return E.left({ code: "InvalidRequest", message: `the config does not match plugin ${req.pluginId}'s config schema: ${paths.join("; ")}`, paths });
    }
    const refs = badSecretRefs(next, "config", []);
    if (refs.length > 0) return E.left({ code: "InvalidRequest", message: refs.join("; "), paths: refs });
    const changed = [...new Set([...Object.keys(now.config), ...Object.keys(next)])]
      .filter((k) => JSON.stringify(now.config[k]) !== JSON.stringify(next[k]))
      .sort();
    if (changed.length === 0) return E.right({ pluginId: req.pluginId, version: now.version, config: now.config });
    const version = now.version + 1;
    try {
      await store.appendToStream(
        configStreamName(req.pluginId),
        {
          type: "plugin.config.set",
          data: { pluginId: req.pluginId, version, config: next, changed },
          metadata: { actor: ctx.actor, time: ctx.now.toISOString(), correlationId: ctx.correlationId },
        },
        { streamState: now.revision },
      );
    } catch (err) {
      if (err instanceof WrongExpectedVersionError)
        return E.left({ code: "Unavailable", message: `plugin ${req.pluginId}'s config changed meanwhile; try again`, retryAfterMs: 100 });
      throw err;
    }
    const notice: ConfigChanged = { type: "config.changed", version, config: next };
    deps.nc.publish(controlSubject(req.pluginId), JSON.stringify(notice));
    return E.right({ pluginId: req.pluginId, version, config: next });
  };

  /** The `cfg` answer: the config in force and the versions of the secrets the plugin is granted. */
  const answer = async (pluginId: string): Promise<ConfigAnswer> => {
    const { revision: _r, ...c } = await current(pluginId);
    if (!deps.secretVersions) return c;
    const p = await deps.plugins.load(pluginId);
    const names = p.state.status === "active" ? grantedSecrets(p.state.granted) : [];
    return { ...c, secrets: names.length > 0 ? await deps.secretVersions(names) : {} };
  };

  const sub: Subscription = deps.nc.subscribe(CONFIG_REQUESTS, {
    queue: "ganglion-core",
    callback: (err, m) => {
      if (err) return;
      const pluginId = m.subject.split(".")[1] ?? "";
      const info = m.headers?.get(REQUEST_INFO_HEADER);
      const refusal = info === undefined || info === "" ? "not a request from a plugin account" : refuseCaller(m.reply, info, deps.pluginAccount?.(pluginId));
      if (refusal) {
        deps.log.warn({ subject: m.subject, reason: refusal }, "config request refused unanswered");
        return;
      }
      answer(pluginId).then(
        (c) => m.respond(JSON.stringify(c)),
        (e: unknown) => deps.log.error({ err: e, pluginId }, "config request failed"),
      );
    },
  });

  const endpoints: Endpoint[] = [
    defineEndpoint(Endpoints["plugin.config.set"], set),
    defineEndpoint(Endpoints["plugin.config.get"], async (req) => {
      const { revision: _r, ...c } = await current(req.pluginId);
      return E.right(c);
    }),
  ];
  const announcer = startAnnouncer({
    nc: deps.nc,
    log: deps.log,
    plugins: deps.plugins,
    configVersion: async (pluginId) => (await current(pluginId)).version,
    ...(deps.secretVersions ? { secretVersions: deps.secretVersions } : {}),
    ...(deps.announceEveryMs ? { everyMs: deps.announceEveryMs } : {}),
  });
  return {
    endpoints,
    announce: announcer.announce,
    stop: async () => {
      sub.unsubscribe();
      await announcer.stop();
    },
  };
};
