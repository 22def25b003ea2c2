import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { failure } from "io-ts/lib/PathReporter.js";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";

/** Durations in the data files are written like "2m", "30s", "500ms", "1h" or 0. */
const Duration = t.union([t.number, t.string]);

/** A JetStream stream as declared in `streams/*.json`. */
export const StreamDefinition = t.type({
  kind: t.literal("stream"),
  description: t.string,
  config: t.intersection([
    t.type({
      name: t.string,
      subjects: t.array(t.string),
      storage: t.keyof({ file: null, memory: null }),
      retention: t.keyof({ limits: null, workqueue: null, interest: null }),
    }),
    t.partial({
      discard: t.keyof({ old: null, new: null }),
      max_age: Duration,
      max_msgs: t.number,
      max_bytes: t.number,
      max_msg_size: t.number,
      max_msgs_per_subject: t.number,
      duplicate_window: Duration,
      allow_direct: t.boolean,
      /** Object stores (`streams/artifacts.json`): a meta message rolls up its subject. */
      allow_rollup_hdrs: t.boolean,
      deny_delete: t.boolean,
      deny_purge: t.boolean,
      num_replicas: t.number,
    }),
  ]),
});
export type StreamDefinition = t.TypeOf<typeof StreamDefinition>;

/** A KV bucket as declared in `streams/*.json`. */
export const KvDefinition = t.type({
  kind: t.literal("kv"),
  description: t.string,
  config: t.intersection([
    t.type({ bucket: t.string }),
    t.partial({ history: t.number, storage: t.keyof({ file: null, memory: null }), replicas: t.number, max_value_size: t.number }),
  ]),
});
export type KvDefinition = t.TypeOf<typeof KvDefinition>;

/**
 * A stream the core creates once per plugin (the per-plugin work queues): `{plugin}` in the name
 * and subjects is replaced by the plugin id. `applyDefinitions` skips it; `pluginStreamConfig`
 * instantiates it when a plugin is enabled.
 */
export const PluginStreamDefinition = t.type({
  kind: t.literal("stream-per-plugin"),
  description: t.string,
  config: StreamDefinition.props.config,
});
export type PluginStreamDefinition = t.TypeOf<typeof PluginStreamDefinition>;

export const Definition = t.union([StreamDefinition, KvDefinition, PluginStreamDefinition]);
export type Definition = t.TypeOf<typeof Definition>;

export class DefinitionError extends Error {
  override name = "DefinitionError";
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9, d: 86400e9 };

/** "2m" → nanoseconds, as the JetStream API wants. A bare number is already nanoseconds. */
export const durationToNanos = (d: number | string): number => {
  if (typeof d === "number") return d;
  const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h|d)$/.exec(d.trim());
  if (!m) {
    if (d.trim() === "0") return 0;
    throw new DefinitionError(`"${d}" is not a duration like "30s", "2m" or "500ms"`);
  }
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
};

/** The directory of data files that ship with the package (`<root>/streams`). */
export const defaultStreamsDir = () => new URL("../../streams/", import.meta.url).pathname;

export const loadDefinitions = async (dir = defaultStreamsDir()): Promise<Definition[]> => {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json")).sort();
  return Promise.all(
    files.map(async (f) => {
      const path = join(dir, f);
      let raw: unknown;
      try {
        raw = JSON.parse(await readFile(path, "utf8"));
      } catch (err) {
        throw new DefinitionError(`${path}: not valid JSON (${(err as Error).message})`);
      }
      const d = Definition.decode(raw);
      if (E.isLeft(d)) throw new DefinitionError(`${path}: ${failure(d.left).join("; ")}`);
      return d.right;
    }),
  );
};

export const toStreamConfig = (d: StreamDefinition, overrides: { replicas?: number } = {}): Partial<StreamConfig> & { name: string } => {
  const c = d.config;
  return {
    ...c,
    description: d.description,
    max_age: durationToNanos(c.max_age ?? 0),
    duplicate_window: durationToNanos(c.duplicate_window ?? "2m"),
    num_replicas: overrides.replicas ?? c.num_replicas ?? 1,
  } as Partial<StreamConfig> & { name: string };
};

/** The stream of `def` for one plugin (`{plugin}` replaced in the name, description and subjects). */
export const pluginStreamConfig = (def: PluginStreamDefinition, pluginId: string, overrides: { replicas?: number } = {}) => {
  const fill = (x: string) => x.replaceAll("{plugin}", pluginId);
  return toStreamConfig(
    { kind: "stream", description: fill(def.description), config: { ...def.config, name: fill(def.config.name), subjects: def.config.subjects.map(fill) } },
    overrides,
  );
};

/** Fields a running stream cannot change; anything else is updated in place. */
const IMMUTABLE = ["storage", "retention"] as const;

export type ApplyReport = { created: string[]; updated: string[]; unchanged: string[] };

/**
 * Applies the declared streams and KV buckets idempotently: creates what is missing, updates
 * what changed compatibly, and refuses (naming the field) a change the server cannot make.
 */
export const applyDefinitions = async (
  nc: NatsConnection,
  jsm: JetStreamManager,
  defs: Definition[],
  overrides: { replicas?: number } = {},
): Promise<ApplyReport> => {
  const report: ApplyReport = { created: [], updated: [], unchanged: [] };
  for (const d of defs) {
    if (d.kind === "stream-per-plugin") continue;
    if (d.kind === "kv") {
      const kvm = new Kvm(nc);
      await kvm.create(d.config.bucket, {
        history: d.config.history ?? 1,
        storage: (d.config.storage ?? "file") as never,
        replicas: overrides.replicas ?? d.config.replicas ?? 1,
        ...(d.config.max_value_size ? { maxValueSize: d.config.max_value_size } : {}),
        description: d.description,
      });
      report.unchanged.push(`KV ${d.config.bucket}`);
      continue;
    }
    const want = toStreamConfig(d, overrides);
    let have: StreamConfig | undefined;
    try {
      have = (await jsm.streams.info(d.config.name)).config;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    }
    if (!have) {
      await jsm.streams.add(want);
      report.created.push(d.config.name);
      continue;
    }
    for (const f of IMMUTABLE) {
      if (want[f] !== undefined && want[f] !== have[f]) {
        throw new DefinitionError(
          `stream ${d.config.name}: field "${f}" is ${JSON.stringify(have[f])} on the server but ${JSON.stringify(want[f])} in streams/; JetStream cannot change it in place. Migrate the stream by hand or restore the definition.`,
        );
      }
    }
    const changed = (Object.keys(want) as (keyof StreamConfig)[]).filter((k) => JSON.stringify(want[k]) !== JSON.stringify(have![k]));
    if (changed.length === 0) {
      report.unchanged.push(d.config.name);
      continue;
    }
    try {
      await jsm.streams.update(d.config.name, { ...have, ...want } as StreamConfig);
    } catch (err) {
      throw new DefinitionError(`stream ${d.config.name}: the server refused the change of ${changed.join(", ")}: ${(err as Error).message}`);
    }
    report.updated.push(d.config.name);
  }
  return report;
};
