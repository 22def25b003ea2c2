import type { Logger } from "pino";
import { SECRET_REF } from "../contract/manifest.js";
import type { PluginEvent } from "../events/plugin.js";
import { PLUGIN_CATEGORY } from "../events/plugin.js";
import { RUNNER_CATEGORY, runnerStreamName } from "../events/runner.js";
import type { RunnerEvent } from "../events/runner.js";
import { evolve, initialState } from "../plugins/decider.js";
import type { Plugin } from "../plugins/decider.js";
import type { EventStore, Subscription } from "../store/types.js";
import { decideRestart } from "./policy.js";
import type { Exit, InstanceStatus, RunnerBackend, RunSpec, SecretResolver } from "./ports.js";

/**
 * The supervisor: makes the instances a backend runs agree with the log. A plugin runs
 * `desired` instances (the last `runner.scaled`, else its manifest's `run.instances`) while it is
 * active and its manifest has `run:`; none otherwise. Every start, exit, restart and crash loop
 * is appended to `runner-<plugin>`; a crash loop disables the plugin through the plugin command
 * handler (which revokes its credentials), and the disable stops the rest.
 */
export type SupervisorDeps = {
  readonly backend: RunnerBackend;
  readonly store: EventStore<RunnerEvent>;
  readonly pluginStore: EventStore<PluginEvent>;
  /** Mints a plugin's credentials (recorded as `plugin.credentials.issued`); answers the `.creds` text and its public key. */
  readonly credentials: (pluginId: string) => Promise<{ creds: string; publicKey: string }>;
  /** Disables a plugin through the plugin command handler, with a reason. */
  readonly disable: (pluginId: string, reason: string) => Promise<void>;
  readonly secrets?: SecretResolver;
  readonly natsUrl: string;
  readonly log: Logger;
  readonly now?: () => Date;
};

/** One instance as `worker ps` shows it. */
export type InstanceRow = InstanceStatus & { readonly restarts: number; readonly lastExit: (Exit & { at: string }) | null };
export type PluginRunState = {
  readonly pluginId: string;
  readonly desired: number;
  readonly running: number;
  readonly instances: InstanceRow[];
  /** Why the plugin does not run what it should (a refused start), if so. */
  readonly problem: string | null;
};

/** Thrown by a start the supervisor refuses (secret references without a resolver, no `run:`). */
export class RunnerError extends Error {
  override name = "RunnerError";
}

type Entry = {
  plugin: Plugin;
  desired: number | undefined;
  creds?: { creds: string; publicKey: string };
  exits: number[];
  restarts: Map<string, number>;
  lastExit: Map<string, Exit & { at: string }>;
  timers: Map<string, NodeJS.Timeout>;
  /** Instances left down by the restart policy until the next start/scale. */
  left: Set<string>;
  stopping: Set<string>;
  problem: string | null;
  chain: Promise<void>;
};

export const instanceName = (pluginId: string, i: number) => `${pluginId}-${i}`;

const runOf = (p: Plugin): RunSpec | undefined => (p.status === "absent" ? undefined : (p.manifest as { run?: RunSpec }).run);

export const supervisor = (deps: SupervisorDeps) => {
  const log = deps.log;
  const now = deps.now ?? (() => new Date());
  const entries = new Map<string, Entry>();
  let live = false;
  let closing = false;
  let detached = false;
  const subs: Subscription<never>[] = [];

  const entry = (pluginId: string): Entry => {
    let e = entries.get(pluginId);
    if (!e) {
      e = {
        plugin: initialState(),
        desired: undefined,
        exits: [],
        restarts: new Map(),
        lastExit: new Map(),
        timers: new Map(),
        left: new Set(),
        stopping: new Set(),
        problem: null,
        chain: Promise.resolve(),
      };
      entries.set(pluginId, e);
    }
    return e;
  };

  /** Runs `f` after everything queued for the plugin: one change at a time per plugin. */
  const serial = (pluginId: string, f: () => Promise<void>): Promise<void> => {
    const e = entry(pluginId);
    const next = e.chain.then(f).catch((err) => log.error({ err, pluginId }, "runner step failed"));
    e.chain = next;
    return next;
  };

  const append = async (pluginId: string, ev: RunnerEvent) => {
    try {
      await deps.store.appendToStream(runnerStreamName(pluginId), ev, { streamState: "any" });
    } catch (err) {
      log.error({ err, pluginId, type: ev.type }, "runner event not appended");
    }
  };

  const wanted = (e: Entry): { run: RunSpec; n: number } | undefined => {
    const run = runOf(e.plugin);
    if (!run || e.plugin.status !== "active") return undefined;
    return { run, n: e.desired ?? run.instances };
  };

  const resolveEnv = async (pluginId: string, run: RunSpec): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(run.env)) {
      const m = SECRET_REF.exec(v);
      if (!m) {
        out[k] = v;
        continue;
      }
      if (!deps.secrets) {
        throw new RunnerError(
          `plugin ${pluginId}: run.env.${k} is the secret reference ${v}, and this core has no secret resolver configured; the runner will not start it with the reference unresolved`,
        );
      }
      try {
        out[k] = (await deps.secrets.resolve(m[1]!, pluginId)).value;
      } catch (err) {
        throw new RunnerError(`plugin ${pluginId}: run.env.${k} (${v}) could not be resolved: ${(err as Error).message}`);
      }
    }
    return out;
  };

  const launch = async (pluginId: string, e: Entry, instance: string, run: RunSpec) => {
    const env = await resolveEnv(pluginId, run);
    e.creds ??= await deps.credentials(pluginId);
    if (e.plugin.status === "absent") return;
    const version = e.plugin.manifest.version;
    try {
      const s = await deps.backend.start({ pluginId, instance, version, run, creds: e.creds.creds, natsUrl: deps.natsUrl, env });
      await append(pluginId, {
        type: "runner.instance.started",
        data: { pluginId, instance, backend: deps.backend.name, ref: s.ref, worker: s.worker, version, adopted: false, at: now().toISOString() },
      });
    } catch (err) {
      // A command that cannot start is an exit like any other: the restart policy and its crash-loop limit apply.
      log.warn({ err, pluginId, instance }, "instance failed to start");
      await append(pluginId, {
        type: "runner.instance.exited",
        data: { pluginId, instance, code: 127, signal: null, requested: false, at: now().toISOString() },
      });
      await afterExit(pluginId, e, instance, { code: 127, signal: null });
    }
  };

  /** Starts what is missing, stops what is extra or of another version. */
  const reconcileNow = async (pluginId: string) => {
    if (!live || closing) return;
    const e = entry(pluginId);
    const w = wanted(e);
    const names = new Set(Array.from({ length: w?.n ?? 0 }, (_, i) => instanceName(pluginId, i)));
    const version = e.plugin.status === "absent" ? "" : e.plugin.manifest.version;
    const current = deps.backend.status(pluginId);
    // Beyond the wanted count, or of another version (an upgrade replaces them, adopted ones too).
    const extra = current.filter((s) => !names.has(s.instance) || s.version !== version);
    await Promise.all(
      extra.map(async (s) => {
        e.stopping.add(s.instance);
        await deps.backend.stop(pluginId, s.instance, w?.run.stopGrace ?? runOf(e.plugin)?.stopGrace ?? 10_000);
      }),
    );
    if (!w) {
      for (const t of e.timers.values()) clearTimeout(t);
      e.timers.clear();
      delete e.creds;
      e.problem = null;
      return;
    }
    const runningNow = new Set(deps.backend.status(pluginId).map((s) => s.instance));
    for (const name of names) {
      if (runningNow.has(name) || e.timers.has(name) || e.left.has(name)) continue;
      try {
        await launch(pluginId, e, name, w.run);
        e.problem = null;
      } catch (err) {
        e.problem = (err as Error).message;
        log.error({ pluginId, instance: name, err: e.problem }, "runner refused to start an instance");
        throw err;
      }
    }
  };

  const reconcile = (pluginId: string): Promise<void> => serial(pluginId, () => reconcileNow(pluginId).catch(() => undefined));

  const afterExit = async (pluginId: string, e: Entry, instance: string, exit: Exit) => {
    const at = now();
    e.lastExit.set(instance, { ...exit, at: at.toISOString() });
    const w = wanted(e);
    if (!w || closing || Number(instance.slice(pluginId.length + 1)) >= w.n) return;
    const d = decideRestart(w.run, exit, e.exits, at.getTime());
    e.exits = [...e.exits.filter((t) => at.getTime() - t <= w.run.restart.crashLoop.window), at.getTime()];
    switch (d._tag) {
      case "Leave":
        e.left.add(instance);
        log.info({ pluginId, instance, why: d.why }, "instance left stopped");
        return;
      case "CrashLoop":
        e.left.add(instance);
        await append(pluginId, {
          type: "runner.instance.crash_loop",
          data: { pluginId, instance, restarts: d.restarts, windowMs: d.windowMs, reason: d.reason, at: at.toISOString() },
        });
        log.error({ pluginId, reason: d.reason }, "crash loop: disabling the plugin");
        await deps.disable(pluginId, d.reason).catch((err) => log.error({ err, pluginId }, "disable after a crash loop failed"));
        return;
      case "Restart": {
        const n = (e.restarts.get(instance) ?? 0) + 1;
        e.restarts.set(instance, n);
        await append(pluginId, { type: "runner.instance.restarted", data: { pluginId, instance, restarts: n, delayMs: d.delayMs, at: at.toISOString() } });
        const timer = setTimeout(() => {
          e.timers.delete(instance);
          void reconcile(pluginId);
        }, d.delayMs);
        timer.unref();
        e.timers.set(instance, timer);
        return;
      }
    }
  };

  /** The backend's exit callback. */
  const onExit = (pluginId: string, instance: string, exit: Exit) => {
    const e = entry(pluginId);
    // Decided now, not when the queue reaches it: a stop in progress holds the queue.
    const requested = e.stopping.delete(instance) || closing;
    void serial(pluginId, async () => {
      await append(pluginId, {
        type: "runner.instance.exited",
        data: { pluginId, instance, code: exit.code, signal: exit.signal, requested, at: now().toISOString() },
      });
      if (requested) e.lastExit.set(instance, { ...exit, at: now().toISOString() });
      else await afterExit(pluginId, e, instance, exit);
    });
  };

  const onPluginEvent = (ev: PluginEvent) => {
    const pluginId = ev.data.pluginId;
    const e = entry(pluginId);
    e.plugin = evolve(e.plugin, ev);
    if (ev.type === "plugin.credentials.revoked" && e.creds && ev.data.publicKeys.includes(e.creds.publicKey)) delete e.creds;
    if (ev.type === "plugin.enabled" || ev.type === "plugin.upgraded" || ev.type === "plugin.capabilities.granted") {
      e.left.clear();
      e.exits = [];
    }
    if (live) void reconcile(pluginId);
  };

  const onRunnerEvent = (ev: RunnerEvent) => {
    if (ev.type !== "runner.scaled") return;
    const e = entry(ev.data.pluginId);
    if (e.desired !== ev.data.instances || e.left.size > 0) {
      e.desired = ev.data.instances;
      e.left.clear();
      if (live) void reconcile(ev.data.pluginId);
    }
  };

  /** Follows the log, adopts what a previous core left running, then reconciles every plugin. */
  const start = async () => {
    const plugins = deps.pluginStore.subscribeToAll({ filter: { categories: [PLUGIN_CATEGORY] } });
    const runner = deps.store.subscribeToAll({ filter: { categories: [RUNNER_CATEGORY] } });
    subs.push(plugins as never, runner as never);
    void (async () => {
      for await (const ev of plugins) onPluginEvent(ev);
    })().catch((err) => (closing ? undefined : log.error({ err }, "runner: plugin subscription ended")));
    void (async () => {
      for await (const ev of runner) onRunnerEvent(ev);
    })().catch((err) => (closing ? undefined : log.error({ err }, "runner: runner subscription ended")));
    await Promise.all([plugins.caughtUp, runner.caughtUp]);
    for (const s of await deps.backend.adopt()) {
      const e = entry(s.pluginId);
      log.info({ pluginId: s.pluginId, instance: s.instance, ref: s.ref }, "instance adopted");
      await append(s.pluginId, {
        type: "runner.instance.started",
        data: {
          pluginId: s.pluginId,
          instance: s.instance,
          backend: deps.backend.name,
          ref: s.ref,
          worker: s.worker,
          version: s.version,
          adopted: true,
          at: now().toISOString(),
        },
      });
      void e;
    }
    live = true;
    await Promise.all([...entries.keys()].map(reconcile));
  };

  /** Sets how many instances a plugin runs (`worker start|stop|scale`), appends it, and applies it. */
  const scale = async (pluginId: string, instances: number | undefined, actor: string): Promise<PluginRunState> => {
    const e = entry(pluginId);
    if (e.plugin.status === "absent" || e.plugin.status === "removed") throw new RunnerError(`no plugin ${pluginId} is installed`);
    const run = runOf(e.plugin);
    if (!run) throw new RunnerError(`plugin ${pluginId} has no run: section in its manifest; the runner does not know how to start it`);
    if (e.plugin.status !== "active") throw new RunnerError(`plugin ${pluginId} is ${e.plugin.status}; approve or enable it first`);
    const n = instances ?? run.instances;
    // Refuse unresolvable secrets before anything is recorded.
    if (n > 0) await resolveEnv(pluginId, run);
    e.desired = n;
    e.left.clear();
    e.exits = [];
    await append(pluginId, { type: "runner.scaled", data: { pluginId, instances: n, actor, at: now().toISOString() } });
    await serial(pluginId, () => reconcileNow(pluginId));
    if (e.problem) throw new RunnerError(e.problem);
    return state(pluginId);
  };

  const state = (pluginId: string): PluginRunState => {
    const e = entry(pluginId);
    const running = deps.backend.status(pluginId);
    const names = new Set([...running.map((s) => s.instance), ...e.lastExit.keys()]);
    const instances = [...names].sort().map((name): InstanceRow => {
      const s = running.find((r) => r.instance === name);
      const base: InstanceStatus = s ?? { pluginId, instance: name, version: "", ref: "", worker: "", startedAt: "", running: false, adopted: false };
      return { ...base, restarts: e.restarts.get(name) ?? 0, lastExit: e.lastExit.get(name) ?? null };
    });
    return { pluginId, desired: wanted(e)?.n ?? 0, running: running.length, instances, problem: e.problem };
  };

  const ps = (pluginId?: string): PluginRunState[] =>
    [...entries.keys()]
      .filter((p) => (pluginId === undefined ? true : p === pluginId))
      .map(state)
      .filter((s) => s.desired > 0 || s.instances.length > 0 || s.pluginId === pluginId);

  /** Stops every instance (the core stops). */
  const stop = async () => {
    if (detached) return;
    closing = true;
    await Promise.all(subs.map((s) => s.unsubscribe().catch(() => undefined)));
    for (const e of entries.values()) for (const t of e.timers.values()) clearTimeout(t);
    await Promise.all(deps.backend.status().map((s) => deps.backend.stop(s.pluginId, s.instance, runOf(entry(s.pluginId).plugin)?.stopGrace ?? 10_000)));
    await Promise.all([...entries.values()].map((e) => e.chain));
    await deps.backend.close();
  };

  /** Lets go without stopping anything (a core that dies): for tests of adoption. */
  const detach = async () => {
    detached = true;
    closing = true;
    await Promise.all(subs.map((s) => s.unsubscribe().catch(() => undefined)));
    for (const e of entries.values()) for (const t of e.timers.values()) clearTimeout(t);
    await deps.backend.close();
  };

  return { start, stop, detach, scale, ps, onExit, logs: deps.backend.logs, health: deps.backend.health, backend: deps.backend.name };
};
export type Supervisor = ReturnType<typeof supervisor>;
