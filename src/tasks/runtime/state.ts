import type { StreamConfig } from "@nats-io/jetstream";
import { MAX_RESULT_BYTES } from "../../contract/limits.js";
import type { Logger } from "pino";
import type { Loaded } from "../../es/handleCommand.js";
import type { EventStore } from "../../store/types.js";
import type { Task, TaskState } from "../decider.js";
import type { HealthState } from "../health.js";
import type { Bucket, Rate } from "../limits.js";
import type { Provider, Providers } from "../providers.js";
import type { Workers } from "../workers.js";
import type { Cancel, Clock } from "./clock.js";
import type { TasksIO } from "./ports.js";
import type { LimitsView, TasksOptions, TasksStoreEvent } from "./types.js";

/**
 * Everything the tasks runtime keeps between two messages, in one object with named fields. Each
 * part of the runtime (`submit`, `dispatch`, `timers`, `reports`, ...) reads and writes only the
 * fields its comment names as its own, or reads the others.
 *
 * ## Which cache to trust
 *
 * Two fields hold task state, and they answer different questions:
 *
 * - `decided` is the command handler's cache (`src/es/handleCommand.ts`): the state and revision
 *   of a task as *this core* last appended it. It is only ever the first guess of a command: a
 *   stale entry (another core appended since) fails the append with WrongExpectedVersion, and a
 *   rejection is answered only after a fresh read of the stream. So every *decision* is made on
 *   the log's state, whatever this map holds.
 * - `open` is the fold of the `task` category as the subscription delivered it: the open tasks
 *   and nothing else. It may lag the log, so it never decides whether a command applies. It says
 *   which tasks need a timer, a sweep or a re-publish, and it is trusted for what never changes
 *   in a task's life (its plugin and type). Whatever it makes the runtime do, the decider checks
 *   again on the handler's state.
 */
export type TasksState = {
  /** Set by `stop()`; every part stops starting new work once it is. */
  stopped: boolean;
  /** The plugin directory, folded from the `plugin` category (folds). */
  providers: Providers;
  /** Operator limit overrides per plugin, folded from `tasklimits` (folds, api). */
  readonly overrides: Map<string, { concurrency?: number; rate?: Rate }>;
  /** Open tasks, folded from the `task` category (folds); ended ones leave. See above. */
  readonly open: Map<string, Task>;
  /** The command handler's cache: a task's state and revision as this core appended it. See above. */
  readonly decided: Map<string, Loaded<TaskState>>;
  /** The armed timer of each open task (timers). */
  readonly timers: Map<string, Cancel>;
  /** TASKS message of a task's current attempt, so it can be withdrawn (dispatch, reconcile). */
  readonly queued: Map<string, { pluginId: string; attempt: number; seq: number }>;
  /** Messages of ended attempts still to delete, per plugin (dispatch's retirement sweep). */
  readonly retiring: Map<string, Set<number>>;
  /** Keep-alives that were not appended (throttled progress): they still extend start-to-close (reports, timers). */
  readonly lastActive: Map<string, number>;
  /** When the last `task.progress` of a task was appended (reports). */
  readonly lastProgressEvent: Map<string, number>;
  /** `get` calls waiting for a task to end (api; woken by folds). */
  readonly waiters: Map<string, Set<() => void>>;
  /** Submission rate buckets per plugin (submit). */
  readonly buckets: Map<string, Bucket>;
  /** Attempt outcomes per plugin, for automatic disabling (health). */
  readonly health: Map<string, HealthState>;
  /** Plugins being disabled automatically right now (health). */
  readonly disabling: Set<string>;
  /** Online worker instances per plugin, folded from the `worker` category (folds). */
  readonly workers: Map<string, Workers>;
  /** Last heartbeat of each `<plugin>.<instance>` (liveness). */
  /** `timeoutMs`: the silence after which the instance is offline, from its declared heartbeat period (`liveness.ts`). */
  readonly seen: Map<string, { at: number; pluginId: string; instance: string; timeoutMs?: number }>;
  /** Instances whose `worker.online` is being recorded (liveness). */
  readonly pendingOnline: Set<string>;
  /** Refusals recorded per `<taskId> <kind>`: when the window began and how many were not recorded since (reports). */
  readonly refusals: Map<string, { since: number; suppressed: number }>;
  /** When the instance cap of a plugin was last reported (liveness). */
  readonly capWarned: Map<string, number>;
  /** Work started in the background, awaited by `stop()`; each entry leaves when it settles. */
  readonly pending: Set<Promise<unknown>>;
  /** When this runtime started: an instance never heard from counts as silent from then. */
  readonly startedAt: number;
  /** The plugin directory has caught up with the log: plugin events now change consumers. */
  pluginsLive: boolean;
  /** The task log has caught up: outcomes now count towards health. */
  tasksLive: boolean;
};

export const createState = (now: number): TasksState => ({
  stopped: false,
  providers: new Map(),
  overrides: new Map(),
  open: new Map(),
  decided: new Map(),
  timers: new Map(),
  queued: new Map(),
  retiring: new Map(),
  lastActive: new Map(),
  lastProgressEvent: new Map(),
  waiters: new Map(),
  buckets: new Map(),
  health: new Map(),
  disabling: new Set(),
  workers: new Map(),
  seen: new Map(),
  pendingOnline: new Set(),
  capWarned: new Map(),
  refusals: new Map(),
  pending: new Set(),
  startedAt: now,
  pluginsLive: false,
  tasksLive: false,
});

/** The options with their defaults filled in. */
export type Config = {
  readonly ackWaitMs: number;
  readonly maxPayloadBytes: number;
  readonly maxResultBytes: number;
  readonly progressThrottleMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly maxDeliver: number;
  readonly maxInstancesPerPlugin: number;
  readonly refusalWindowMs: number;
  readonly limitOverrides: NonNullable<TasksOptions["limitOverrides"]>;
};

export const configOf = (o: TasksOptions = {}): Config => ({
  ackWaitMs: o.ackWaitMs ?? 30_000,
  maxPayloadBytes: o.maxPayloadBytes ?? 1024 * 1024,
  maxResultBytes: o.maxResultBytes ?? MAX_RESULT_BYTES,
  progressThrottleMs: o.progressThrottleMs ?? 1000,
  heartbeatTimeoutMs: o.heartbeatTimeoutMs ?? 10_000,
  maxDeliver: o.maxDeliver ?? 20,
  maxInstancesPerPlugin: o.maxInstancesPerPlugin ?? 64,
  refusalWindowMs: o.refusalWindowMs ?? 60_000,
  limitOverrides: o.limitOverrides ?? {},
});

/** What every part is built over: the state, the one clock, the log, the options and the I/O. */
export type Ctx = {
  readonly state: TasksState;
  readonly clock: Clock;
  readonly log: Logger;
  readonly config: Config;
  readonly io: TasksIO;
  readonly store: EventStore<TasksStoreEvent>;
  /** The work-queue stream of a plugin. */
  readonly taskStream: (pluginId: string) => Partial<StreamConfig> & { name: string };
};

/** How many tasks' last state the command handler remembers (`decided`). */
export const DECIDED_TASKS = 50_000;

/** `decided` as the command handler's cache: least recently set first out. */
export const decidedCache = (s: TasksState, max = DECIDED_TASKS) => ({
  get: (id: string) => s.decided.get(id),
  set: (id: string, l: Loaded<TaskState>) => {
    s.decided.delete(id);
    s.decided.set(id, l);
    if (s.decided.size > max) s.decided.delete(s.decided.keys().next().value!);
  },
  drop: (id: string) => {
    s.decided.delete(id);
  },
});

/** Runs `p` in the background: `stop()` waits for it. */
export const background = (s: TasksState, p: Promise<unknown>) => {
  s.pending.add(p);
  void p.finally(() => s.pending.delete(p)).catch(() => undefined);
};

/** The limits in force for a plugin: the operator's override, else the core's options, else the manifest's. */
export const limitsOf = (s: TasksState, config: Config, p: Provider): LimitsView => {
  const o = s.overrides.get(p.pluginId);
  const c = config.limitOverrides[p.pluginId];
  const pick = <K extends "concurrency" | "rate">(k: K) =>
    o?.[k] !== undefined ? { v: o[k]!, src: "override" } : c?.[k] !== undefined ? { v: c[k]!, src: "config" } : { v: p.manifest.limits[k], src: "manifest" };
  const concurrency = pick("concurrency");
  const rate = pick("rate");
  return { pluginId: p.pluginId, concurrency: concurrency.v as number, rate: rate.v as Rate, source: { concurrency: concurrency.src, rate: rate.src } };
};

/**
 * Hands the task's queued message (if this core queued it) to the retirement sweep
 * (`dispatch.sweepRetired`), which deletes it if it is still stored.
 */
export const retireQueued = (s: TasksState, taskId: string) => {
  const q = s.queued.get(taskId);
  if (!q) return;
  s.queued.delete(taskId);
  const set = s.retiring.get(q.pluginId) ?? new Set<number>();
  set.add(q.seq);
  s.retiring.set(q.pluginId, set);
};

/** Drops what the runtime keeps about a task that ended (its `decided` entry ages out on its own). */
export const forgetTask = (s: TasksState, taskId: string) => {
  s.open.delete(taskId);
  s.timers.get(taskId)?.();
  s.timers.delete(taskId);
  s.lastActive.delete(taskId);
  s.lastProgressEvent.delete(taskId);
  // The fold and the ending commit's effects race: whichever runs first must not lose the sequence.
  retireQueued(s, taskId);
  // (Its refusal windows stay: stale reports on an ended task are the common flood.)
  for (const w of s.waiters.get(taskId) ?? []) w();
  s.waiters.delete(taskId);
};
