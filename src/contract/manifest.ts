import * as t from "io-ts";
/*
 * The manifest's shape, without I/O: what events and pure code import. `manifest.ts` adds the
 * shipped catalog, JSON Schema compilation (ajv) and YAML/JSON parsing.
 */
import * as E from "fp-ts/lib/Either.js";
import { isIP } from "node:net";
import { DOTTED, MAX_TASK_TYPE, PLUGIN_ID } from "./subjects.js";
import { parseCapability } from "./catalog.js";
import type { Catalog } from "./catalog.js";
import { closed, reportErrors, withDefault } from "./decodeErrors.js";
import { DURATION_HINT, parseDuration } from "./duration.js";

// ---- scalars ---------------------------------------------------------------------------------

/** Parses `"30s"`, `"1m30s"`, `"1.5h"`, `"500ms"`, `"1d"` to milliseconds; undefined when malformed (the one grammar: ./duration.ts). */
export { parseDuration };

/**
 * Where a manifest comes from: `input` (a file or request, written by people: durations must be
 * strings like `"30s"`, rates like `"100/s"`) or `stored` (a decoded manifest kept in an event:
 * durations are milliseconds, rates `{ count, perMs }`), so a decoded manifest decodes again.
 */
export type ManifestSource = "input" | "stored";

const durationCodec = (source: ManifestSource, positive: boolean) =>
  new t.Type<number, number, unknown>(
    positive ? "PositiveDuration" : "Duration",
    (u): u is number => typeof u === "number" && Number.isInteger(u) && (positive ? u > 0 : u >= 0),
    (u, c) => {
      const ms = typeof u === "string" ? parseDuration(u) : source === "stored" && typeof u === "number" && Number.isInteger(u) && u >= 0 ? u : undefined;
      if (ms === undefined) return t.failure(u, c, `expected ${DURATION_HINT}, got ${JSON.stringify(u)}`);
      return positive && ms === 0 ? t.failure(u, c, "must be longer than 0") : t.success(ms);
    },
    (a) => a,
  );

/** A duration string like `"30s"`, decoded to milliseconds. */
export const Duration = durationCodec("input", false);

const PER_MS: Record<string, number> = { s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

const rateCodec = (source: ManifestSource) =>
  new t.Type<{ count: number; perMs: number }, { count: number; perMs: number }, unknown>(
    "Rate",
    (u): u is { count: number; perMs: number } =>
      typeof u === "object" && u !== null && typeof (u as { count?: unknown }).count === "number" && typeof (u as { perMs?: unknown }).perMs === "number",
    (u, c) => {
      if (source === "stored" && typeof u === "object" && u !== null) {
        const { count, perMs } = u as { count?: unknown; perMs?: unknown };
        if (typeof count === "number" && count > 0 && Number.isInteger(count) && typeof perMs === "number" && perMs > 0) return t.success({ count, perMs });
      }
      if (typeof u === "string") {
        const m = /^\s*(\d+)\s*\/\s*(s|sec|m|min|h)\s*$/.exec(u);
        if (m && Number(m[1]) > 0) return t.success({ count: Number(m[1]), perMs: PER_MS[m[2]!]! });
      }
      return t.failure(u, c, `expected a rate like "100/s", "10/m" or "500/h", got ${JSON.stringify(u)}`);
    },
    (a) => a,
  );

/** A rate limit: `"100/s"` in manifests, decoded to `{ count, perMs }`. */
export const Rate = rateCodec("input");

const matching = (name: string, re: RegExp, hint: string) =>
  new t.Type<string, string, unknown>(
    name,
    (u): u is string => typeof u === "string" && re.test(u),
    (u, c) => (typeof u === "string" && re.test(u) ? t.success(u) : t.failure(u, c, `expected ${hint}, got ${JSON.stringify(u)}`)),
    (a) => a,
  );

export const PluginId = matching("PluginId", PLUGIN_ID, "a plugin id: lower-case letters, digits and '-', starting with a letter, at most 64");
export const Semver = matching(
  "Semver",
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/,
  'a semantic version like "1.2.0"',
);
export const TaskType = matching(
  "TaskType",
  new RegExp(`^(?=.{1,${MAX_TASK_TYPE}}$)${DOTTED.source.slice(1)}`),
  `a dotted task type like "text.wordcount" (lower-case tokens of letters, digits, '-' or '_', at most ${MAX_TASK_TYPE} characters)`,
);

const positiveInt = (name: string) =>
  new t.Type<number, number, unknown>(
    name,
    (u): u is number => typeof u === "number" && Number.isInteger(u) && u > 0,
    (u, c) =>
      typeof u === "number" && Number.isInteger(u) && u > 0 ? t.success(u) : t.failure(u, c, `expected a whole number above 0, got ${JSON.stringify(u)}`),
    (a) => a,
  );

const ratio = new t.Type<number, number, unknown>(
  "Ratio",
  (u): u is number => typeof u === "number" && u > 0 && u <= 1,
  (u, c) => (typeof u === "number" && u > 0 && u <= 1 ? t.success(u) : t.failure(u, c, `expected a ratio above 0 and at most 1, got ${JSON.stringify(u)}`)),
  (a) => a,
);

/**
 * A source network as nats-server's `src` user claim takes it: `10.0.0.0/8`, `127.0.0.1/32`,
 * `::1/128` (a bare address means the one host). The prefix must fit the address family.
 */
export const parseCidr = (u: string): string | undefined => {
  const [addr = "", prefix, ...rest] = u.trim().split("/");
  const family = isIP(addr);
  if (family === 0 || rest.length > 0) return undefined;
  const max = family === 4 ? 32 : 128;
  if (prefix === undefined) return `${addr}/${max}`;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return undefined;
  return `${addr}/${Number(prefix)}`;
};

export const Cidr = new t.Type<string, string, unknown>(
  "Cidr",
  (u): u is string => typeof u === "string" && parseCidr(u) === u,
  (u, c) => {
    const v = typeof u === "string" && u.length <= 64 ? parseCidr(u) : undefined;
    return v === undefined ? t.failure(u, c, `expected a network like "10.0.0.0/8" or "127.0.0.1/32", got ${JSON.stringify(u)}`) : t.success(v);
  },
  (a) => a,
);

/** Checks a JSON Schema; answers why it is invalid, or undefined. */
export type SchemaCheck = (schema: Record<string, unknown>) => string | undefined;

/** A JSON Schema: an object, and (with a `check`) one the validator compiles. */
export const jsonSchemaCodec = (check?: SchemaCheck) =>
  new t.Type<Record<string, unknown>, Record<string, unknown>, unknown>(
    "JsonSchema",
    (u): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u),
    (u, c) => {
      if (typeof u !== "object" || u === null || Array.isArray(u)) return t.failure(u, c, `expected a JSON Schema object, got ${JSON.stringify(u)}`);
      const why = check?.(u as Record<string, unknown>);
      return why === undefined ? t.success(u as Record<string, unknown>) : t.failure(u, c, `not a valid JSON Schema: ${why}`);
    },
    (a) => a,
  );

/** A capability string checked against a catalog; without one, any string (stored manifests). */
const capability = (catalog: Catalog | undefined) =>
  new t.Type<string, string, unknown>(
    "Capability",
    (u): u is string => typeof u === "string",
    (u, c) => {
      if (typeof u !== "string") return t.failure(u, c, `expected a capability string, got ${JSON.stringify(u)}`);
      if (!catalog) return t.success(u);
      return E.fold(
        (reason: string) => t.failure<string>(u, c, reason),
        () => t.success(u),
      )(parseCapability(catalog, u));
    },
    (a) => a,
  );

// ---- the manifest ------------------------------------------------------------------------------

/** A semantic data type's name (pipelines' `inputType` / `outputType`): `Dataset`, `YOLODataset`, `text.Document`. */
export const DataTypeName = matching(
  "DataTypeName",
  /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/,
  "a data type name: letters, digits, '_', '.', '-', starting with a letter, at most 64",
);

export type RetryPolicy = { maxAttempts: number; backoff: number[] };
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 1, backoff: [] };
export type Limits = { concurrency: number; rate: { count: number; perMs: number } };
export const DEFAULT_LIMITS: Limits = { concurrency: 4, rate: { count: 100, perMs: 1000 } };
export type Health = { maxConsecutiveFailures: number; failureRatio: number; window: number };
/**
 * The default health policy: 10 of the plugin's own failures in a row, or at least half of its
 * attempts failing over 5 minutes (once 10 outcomes are in). Rejected input never counts
 * (`src/tasks/runtime/health.ts`).
 */
export const DEFAULT_HEALTH: Health = { maxConsecutiveFailures: 10, failureRatio: 0.5, window: 300_000 };

// ---- run: how the core's runner starts the plugin's workers (issue 16) -----------------------

/** An environment variable name a worker may be given. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Names the runner sets itself: a manifest cannot override where the credentials are. */
export const RESERVED_ENV = ["GANGLION_CREDS", "GANGLION_NATS_URL", "NATS_URL", "GANGLION_INSTANCE", "WORKER_INSTANCE", "GANGLION_PLUGIN"] as const;
/** A `secret://name` reference in `run.env`: resolved at start, never written to disk. */
export const SECRET_REF = /^secret:\/\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})$/;
export const MAX_RUN_INSTANCES = 64;

const boundedString = (name: string, max: number, nonEmpty = false) =>
  new t.Type<string, string, unknown>(
    name,
    (u): u is string => typeof u === "string" && u.length <= max && (!nonEmpty || u.length > 0) && !u.includes("\0"),
    (u, c) =>
      typeof u !== "string"
        ? t.failure(u, c, `expected a string, got ${JSON.stringify(u)}`)
        : u.length > max || (nonEmpty && u.length === 0) || u.includes("\0")
          ? t.failure(u, c, `expected ${nonEmpty ? "a non-empty" : "a"} string of at most ${max} characters without NUL`)
          : t.success(u),
    (a) => a,
  );

const RunEnv = new t.Type<Record<string, string>, Record<string, string>, unknown>(
  "RunEnv",
  (u): u is Record<string, string> => typeof u === "object" && u !== null && !Array.isArray(u),
  (u, c) => {
    if (typeof u !== "object" || u === null || Array.isArray(u)) return t.failure(u, c, "expected a map of NAME: value");
    const entries = Object.entries(u as Record<string, unknown>);
    if (entries.length > 128) return t.failure(u, c, `at most 128 variables (got ${entries.length})`);
    const out: Record<string, string> = {};
    for (const [k, v] of entries) {
      if (!ENV_NAME.test(k)) return t.failure(u, c, `${JSON.stringify(k)} is not a variable name (letters, digits, '_', not starting with a digit)`);
      if ((RESERVED_ENV as readonly string[]).includes(k)) return t.failure(u, c, `${k} is set by the runner itself`);
      if (typeof v !== "string" || v.length > 4096 || v.includes("\0")) return t.failure(u, c, `${k}: expected a string of at most 4096 characters`);
      if (v.startsWith("secret://") && !SECRET_REF.test(v)) return t.failure(u, c, `${k}: ${JSON.stringify(v)} is not a secret reference like "secret://name"`);
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
    return t.success(out);
  },
  (a) => a,
);

const instancesCodec = new t.Type<number, number, unknown>(
  "Instances",
  (u): u is number => typeof u === "number" && Number.isInteger(u) && u >= 0 && u <= MAX_RUN_INSTANCES,
  (u, c) =>
    typeof u === "number" && Number.isInteger(u) && u >= 0 && u <= MAX_RUN_INSTANCES
      ? t.success(u)
      : t.failure(u, c, `expected a whole number of instances from 0 to ${MAX_RUN_INSTANCES}, got ${JSON.stringify(u)}`),
  (a) => a,
);

export const RestartMode = t.keyof({ always: null, "on-failure": null, never: null });
export type RestartMode = t.TypeOf<typeof RestartMode>;
export type RestartPolicy = { mode: RestartMode; backoff: number[]; crashLoop: { restarts: number; window: number } };
/** Restart unless stopped, after 1 s, 2 s, 5 s, then 10 s; 5 restarts within a minute are a crash loop. */
export const DEFAULT_RESTART: RestartPolicy = { mode: "always", backoff: [1000, 2000, 5000, 10_000], crashLoop: { restarts: 5, window: 60_000 } };

const runCodec = (source: ManifestSource) => {
  const D = durationCodec(source, true);
  const Restart = closed(
    "restart",
    {
      mode: withDefault(RestartMode, DEFAULT_RESTART.mode),
      backoff: withDefault(t.array(D), DEFAULT_RESTART.backoff),
      crashLoop: withDefault(
        closed("crashLoop", { restarts: withDefault(positiveInt("Restarts"), 5), window: withDefault(D, DEFAULT_RESTART.crashLoop.window) }, {}),
        DEFAULT_RESTART.crashLoop,
      ),
    },
    {},
  );
  return closed(
    "run",
    {
      command: boundedString("Command", 1024, true),
      args: withDefault(t.array(boundedString("Arg", 4096)), []),
      env: withDefault(RunEnv, {}),
      instances: withDefault(instancesCodec, 1),
      restart: withDefault(Restart, DEFAULT_RESTART),
      stopGrace: withDefault(D, 10_000),
    },
    {
      /** Working directory the command is resolved from (relative: to the manifest's directory, made absolute at install). */
      cwd: boundedString("Cwd", 4096, true),
      /** The `docker` backend: the image to run (the command and args then override its entrypoint's arguments). */
      image: boundedString("Image", 512, true),
    },
  );
};

/**
 * The manifest codec for a source, over a catalog (`undefined`: capabilities are not checked),
 * with a JSON Schema check (`undefined`: schemas only need to be objects).
 */
export const manifestCodec = (catalog: Catalog | undefined, source: ManifestSource = "input", checkSchema?: SchemaCheck) => {
  const JsonSchema = jsonSchemaCodec(checkSchema);
  const PositiveDuration = durationCodec(source, true);
  const RetryPolicy = closed("retry", { maxAttempts: positiveInt("MaxAttempts"), backoff: withDefault(t.array(PositiveDuration), []) }, {});
  const Limits = closed("limits", { concurrency: withDefault(positiveInt("Concurrency"), 4), rate: withDefault(rateCodec(source), DEFAULT_LIMITS.rate) }, {});
  const Health = closed(
    "health",
    {
      maxConsecutiveFailures: withDefault(positiveInt("MaxConsecutiveFailures"), DEFAULT_HEALTH.maxConsecutiveFailures),
      failureRatio: withDefault(ratio, DEFAULT_HEALTH.failureRatio),
      window: withDefault(PositiveDuration, DEFAULT_HEALTH.window),
    },
    {},
  );
  const TaskSpec = closed(
    "provides[]",
    {
      type: TaskType,
      description: t.string,
      params: JsonSchema,
      result: JsonSchema,
      timeout: PositiveDuration,
      retry: withDefault(RetryPolicy, DEFAULT_RETRY),
    },
    {
      scheduleToStart: PositiveDuration,
      deadline: PositiveDuration,
      // Pipelines: the semantic type of the params this task takes and of the result it gives
      // (names declared in some manifest's `dataTypes`; checked when a pipeline is defined).
      inputType: DataTypeName,
      outputType: DataTypeName,
    },
  );
  return closed(
    "manifest",
    {
      id: PluginId,
      version: Semver,
      description: t.string,
      provides: withDefault(t.array(TaskSpec), []),
      capabilities: withDefault(t.array(capability(catalog)), []),
      limits: withDefault(Limits, DEFAULT_LIMITS),
      health: withDefault(Health, DEFAULT_HEALTH),
    },
    {
      network: closed("network", { allowFrom: withDefault(t.array(Cidr), []) }, {}),
      /** The plugin's live configuration, as a JSON Schema (checked like params schemas); `ganglion plugin config set` validates against it. */
      config: JsonSchema,
      run: runCodec(source),
      /** Pipelines: semantic data types this plugin declares, each optionally a kind of another (`YOLODataset` is a `Dataset`). */
      dataTypes: t.array(closed("dataTypes[]", { name: DataTypeName }, { is: DataTypeName, description: t.string })),
    },
  );
};

/**
 * A plugin manifest, decoded: durations in milliseconds, rates as `{ count, perMs }`, defaults
 * filled in (`retry` 1 attempt, `limits` 4 concurrent / 100 per second, `health` 5 failures in a
 * row or half of a 1-minute window).
 */
export type Manifest = t.TypeOf<ReturnType<typeof manifestCodec>>;

/** A manifest as stored in events: the same shape, not re-checked against today's catalog. */
export const StoredManifest = manifestCodec(undefined, "stored");

/**
 * One task type a plugin serves: `timeout` is start-to-close (kept alive by progress reports),
 * `deadline` is overall across attempts; all durations in milliseconds.
 */
export type TaskSpec = Manifest["provides"][number];

/** Cross-field rules io-ts cannot express field by field. */
export const crossCheck = (m: Manifest): string[] => {
  const errs: string[] = [];
  const seen = new Map<string, number>();
  m.provides.forEach((p, i) => {
    const j = seen.get(p.type);
    if (j !== undefined) errs.push(`provides[${i}].type: task type ${p.type} is already provided by provides[${j}]`);
    else seen.set(p.type, i);
    if (p.retry.backoff.length >= p.retry.maxAttempts && p.retry.backoff.length > 0) {
      errs.push(
        `provides[${i}].retry.backoff: ${p.retry.backoff.length} backoff steps need maxAttempts above ${p.retry.backoff.length} (one step between two attempts)`,
      );
    }
    if (p.deadline !== undefined && p.deadline < p.timeout) errs.push(`provides[${i}].deadline: shorter than its timeout`);
  });
  m.capabilities.forEach((c, i) => {
    if (m.capabilities.indexOf(c) !== i) errs.push(`capabilities[${i}]: ${c} is listed twice`);
  });
  return errs;
};

/** Same manifest? Compared on the decoded form, so key order and `30s` vs `30000` do not matter. */
export const sameManifest = (a: Manifest, b: Manifest): boolean => canonical(a) === canonical(b);

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === "object" && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : val,
  );
