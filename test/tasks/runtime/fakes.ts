/**
 * Fakes for unit tests of the tasks runtime's parts, no server: an in-memory event store with
 * the optimistic-concurrency rules of the real one, a clock whose timers fire only when the test
 * advances it, an in-memory JetStream (`TasksIO`), and a `Ctx` over them.
 */
import * as E from "fp-ts/lib/Either.js";
import { pino } from "pino";
import type { PluginEvent } from "../../../src/events/plugin.js";
import { decodeManifestValue } from "../../../src/plugins/manifest.js";
import type { Manifest } from "../../../src/plugins/manifest.js";
import { WrongExpectedVersionError } from "../../../src/store/types.js";
import type { EventFilter, EventStore, RecordedEvent, StreamState, Subscription } from "../../../src/store/types.js";
import { evolveProviders } from "../../../src/tasks/providers.js";
import type { Clock } from "../../../src/tasks/runtime/clock.js";
import type { Delivery, Inbound, TasksIO } from "../../../src/tasks/runtime/ports.js";
import { taskCommands, workerCommands } from "../../../src/tasks/runtime/commands.js";
import { consumers } from "../../../src/tasks/runtime/consumers.js";
import { dispatch } from "../../../src/tasks/runtime/dispatch.js";
import { folds } from "../../../src/tasks/runtime/folds.js";
import { health } from "../../../src/tasks/runtime/health.js";
import { liveness } from "../../../src/tasks/runtime/liveness.js";
import { reports } from "../../../src/tasks/runtime/reports.js";
import { schemas } from "../../../src/tasks/runtime/schemas.js";
import { submitter } from "../../../src/tasks/runtime/submit.js";
import { timers } from "../../../src/tasks/runtime/timers.js";
import { configOf, createState } from "../../../src/tasks/runtime/state.js";
import type { Ctx } from "../../../src/tasks/runtime/state.js";
import type { TasksOptions, TasksStoreEvent } from "../../../src/tasks/runtime/types.js";

export const T0 = Date.parse("2026-12-01T00:00:00.000Z");

/** Lets every promise chain started so far run to its end (nothing here waits on real I/O). */
export const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

// ---- clock ---------------------------------------------------------------------------------------

export const fakeClock = (start = T0) => {
  let now = start;
  let nextId = 0;
  const timers = new Map<number, { at: number; fn: () => void; unref: boolean }>();
  const clock: Clock = {
    now: () => now,
    after: (ms, fn, opts) => {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), fn, unref: opts?.unref ?? false });
      return () => void timers.delete(id);
    },
  };
  /** Moves time on by `ms`, firing each timer due on the way at its own time (earliest first). */
  const advance = async (ms: number) => {
    const end = now + ms;
    await settle();
    for (;;) {
      const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!due) break;
      timers.delete(due[0]);
      now = Math.max(now, due[1].at);
      due[1].fn();
      await settle();
    }
    now = end;
    await settle();
  };
  return { clock, advance, timers, pending: () => timers.size, iso: () => new Date(now).toISOString() };
};
export type FakeClock = ReturnType<typeof fakeClock>;

// ---- event store -------------------------------------------------------------------------------

const categoryOf = (stream: string) => stream.slice(0, stream.indexOf("-"));
const matches = (e: RecordedEvent<TasksStoreEvent>, f?: EventFilter) =>
  (!f?.categories || f.categories.includes(categoryOf(e.streamName))) &&
  (!f?.streamName || f.streamName === e.streamName) &&
  (!f?.eventTypePrefixes || f.eventTypePrefixes.some((p) => e.type.startsWith(p)));

export const memoryStore = () => {
  const streams = new Map<string, RecordedEvent<TasksStoreEvent>[]>();
  const all: RecordedEvent<TasksStoreEvent>[] = [];
  const listeners = new Set<() => void>();
  let position = 0n;
  let reads = 0;
  let failAppends = 0;
  const revisionOf = (name: string): bigint | "no_stream" => {
    const s = streams.get(name);
    return s && s.length > 0 ? BigInt(s.length - 1) : "no_stream";
  };
  const store: EventStore<TasksStoreEvent> = {
    appendToStream: async (name, input, opts) => {
      const events = (Array.isArray(input) ? input : [input]) as readonly (TasksStoreEvent & { metadata?: Partial<RecordedEvent["metadata"]> })[];
      if (failAppends > 0) {
        failAppends--;
        throw new Error("the store is unavailable (fake)");
      }
      const expected: StreamState = opts?.streamState ?? "any";
      const at = revisionOf(name);
      const ok = expected === "any" || (expected === "no_stream" ? at === "no_stream" : expected === "stream_exists" ? at !== "no_stream" : at === expected);
      if (!ok) throw new WrongExpectedVersionError(name, expected, at);
      const cur = streams.get(name) ?? [];
      position++;
      for (const e of events) {
        const r = {
          ...e,
          id: `${name}@${cur.length}`,
          streamName: name,
          revision: BigInt(cur.length),
          position,
          schemaVersion: 1,
          metadata: { actor: "system:test", time: "", ...e.metadata },
          created: new Date(0),
        } as RecordedEvent<TasksStoreEvent>;
        cur.push(r);
        all.push(r);
      }
      streams.set(name, cur);
      for (const l of [...listeners]) l();
      return { success: true, nextExpectedRevision: BigInt(cur.length - 1), position };
    },
    readStream: async function* (name) {
      reads++;
      yield* [...(streams.get(name) ?? [])];
    },
    readAll: async function* (opts) {
      yield* all.filter((e) => matches(e, opts?.filter));
    },
    subscribeToAll: (opts) => live((e) => matches(e, opts?.filter)),
    subscribeToStream: (name) => live((e) => e.streamName === name),
    streamRevision: async (name) => revisionOf(name),
    headPosition: async () => position,
  };

  /** A subscription from the start: replays, resolves `caughtUp` as it hands out the last stored event, then follows. */
  function live(keep: (e: RecordedEvent<TasksStoreEvent>) => boolean): Subscription<TasksStoreEvent> {
    let stopped = false;
    let last = 0n;
    let wake: (() => void) | undefined;
    let caught!: (p: bigint) => void;
    const caughtUp = new Promise<bigint>((r) => (caught = r));
    const head = all.filter(keep).at(-1)?.position ?? 0n;
    if (head === 0n) caught(0n);
    const onAppend = () => wake?.();
    return {
      caughtUp,
      lastPosition: () => last,
      unsubscribe: async () => {
        stopped = true;
        listeners.delete(onAppend);
        wake?.();
      },
      [Symbol.asyncIterator]: async function* () {
        listeners.add(onAppend);
        let i = 0;
        while (!stopped) {
          if (i >= all.length) {
            await new Promise<void>((r) => (wake = r));
            continue;
          }
          const e = all[i++]!;
          last = e.position;
          if (e.position >= head) caught(head);
          if (keep(e)) yield e;
        }
      },
    };
  }

  return {
    store,
    streams,
    all,
    /** The event types of a stream, in order. */
    types: (name: string) => (streams.get(name) ?? []).map((e) => e.type),
    events: (name: string) => streams.get(name) ?? [],
    /** Appends behind the runtime's back (another core replica). */
    race: (name: string, e: TasksStoreEvent) => store.appendToStream(name, [e], { streamState: "any" }),
    reads: () => reads,
    failNextAppends: (n: number) => void (failAppends = n),
  };
};
export type MemoryStore = ReturnType<typeof memoryStore>;

// ---- JetStream ---------------------------------------------------------------------------------

export type Published = { subject: string; payload: string; msgID: string; headers: Readonly<Record<string, string>>; seq: number };

/** A controllable stream of RESULTS deliveries. */
export const deliveries = () => {
  const queue: Delivery[] = [];
  let wake: (() => void) | undefined;
  let stopped = false;
  return {
    push: (d: Delivery) => {
      queue.push(d);
      wake?.();
    },
    stop: () => {
      stopped = true;
      wake?.();
    },
    [Symbol.asyncIterator]: async function* () {
      while (!stopped) {
        const d = queue.shift();
        if (d) yield d;
        else await new Promise<void>((r) => (wake = r));
      }
    },
  };
};

/** A report as a RESULTS delivery; `acked`/`naked` say what the runtime did with it. */
export const report = (pluginId: string, body: unknown) => {
  const r = { acked: false, naked: false };
  const taskId = typeof body === "object" && body !== null && "taskId" in body ? String((body as { taskId: unknown }).taskId) : "x";
  const d: Delivery & { state: typeof r } = {
    subject: `res.${pluginId}.${taskId}`,
    json: () => (typeof body === "string" ? JSON.parse(body) : body),
    ack: () => void (r.acked = true),
    nak: () => void (r.naked = true),
    state: r,
  };
  return d;
};

export const fakeIO = () => {
  let seq = 0;
  /** On the streams now (deleted ones leave); `sent`: everything ever published. */
  const messages: Published[] = [];
  const sent: Published[] = [];
  const notified: { subject: string; payload: unknown }[] = [];
  const deleted: { stream: string; seq: number }[] = [];
  const purged: { stream: string; filter: string }[] = [];
  const streams = new Map<string, { name: string }>();
  const consumers = new Map<string, Record<string, unknown>>();
  const updates: { stream: string; consumer: string; patch: Record<string, unknown> }[] = [];
  const subs = new Map<string, (m: Inbound) => void>();
  const results = deliveries();
  const resultsBacklog = { pending: 0, ackPending: 0 };
  let failPublishes = 0;
  /** The messages of a plugin's TASKS stream, as published and not deleted. */
  const onStream = (stream: string) => messages.filter((m) => stream.startsWith("TASKS_") && m.subject.startsWith(`task.${stream.slice("TASKS_".length)}.`));
  const io: TasksIO = {
    publish: async (subject, payload, opts) => {
      if (failPublishes > 0) {
        failPublishes--;
        throw new Error("no responders (fake)");
      }
      const m = { subject, payload, msgID: opts.msgID, headers: opts.headers ?? {}, seq: ++seq };
      messages.push(m);
      sent.push(m);
      return { seq: m.seq };
    },
    notify: (subject, payload) => void notified.push({ subject, payload: JSON.parse(payload) }),
    deleteMessage: async (stream, s) => {
      deleted.push({ stream, seq: s });
      const i = messages.findIndex((m) => m.seq === s);
      if (i >= 0) messages.splice(i, 1);
    },
    purge: async (stream, filter) => void purged.push({ stream, filter }),
    streamInfo: async (name) => {
      if (!streams.has(name)) return undefined;
      const on = onStream(name);
      return { messages: on.length, firstSeq: on[0]?.seq ?? seq + 1, lastSeq: on.at(-1)?.seq ?? seq };
    },
    addStream: async (cfg) => void streams.set(cfg.name, cfg),
    deleteStream: async (name) => void streams.delete(name),
    nextMessage: async (stream, from) => {
      const m = onStream(stream).find((x) => x.seq >= from);
      return m ? { seq: m.seq, header: (k) => m.headers[k] } : undefined;
    },
    consumerInfo: async (stream, name) => {
      const c = consumers.get(`${stream}/${name}`);
      if (!c) return undefined;
      return stream === "RESULTS"
        ? { config: c, numPending: resultsBacklog.pending, numAckPending: resultsBacklog.ackPending }
        : { config: c, numPending: 0, numAckPending: 0 };
    },
    addConsumer: async (stream, cfg) => void consumers.set(`${stream}/${cfg.durable_name}`, { ...cfg }),
    deleteConsumer: async (stream, name) => void consumers.delete(`${stream}/${name}`),
    listConsumers: async (stream) =>
      [...consumers]
        .filter(([k]) => k.startsWith(`${stream}/`))
        .map(([k, c]) => ({ name: k.slice(stream.length + 1), ...(typeof c.filter_subject === "string" ? { filter: c.filter_subject } : {}) })),
    updateConsumer: async (stream, name, patch) => {
      updates.push({ stream, consumer: name, patch });
      consumers.set(`${stream}/${name}`, { ...consumers.get(`${stream}/${name}`), ...patch });
    },
    consume: async () => results,
    subscribe: (subject, _opts, onMessage) => {
      subs.set(subject, onMessage);
      return { unsubscribe: () => void subs.delete(subject) };
    },
  };
  return {
    io,
    messages,
    sent,
    notified,
    deleted,
    purged,
    streams,
    consumers,
    updates,
    results,
    resultsBacklog,
    /** Messages ever published to a subject prefix. */
    published: (prefix: string) => sent.filter((m) => m.subject.startsWith(prefix)),
    /** Delivers a core NATS message to the subscription on `pattern`. */
    deliver: (pattern: string, m: Inbound) => subs.get(pattern)?.(m),
    failNextPublishes: (n: number) => void (failPublishes = n),
  };
};
export type FakeIO = ReturnType<typeof fakeIO>;

// ---- logs, plugins, the context ----------------------------------------------------------------

/** A logger that keeps its lines, so a test can see what was warned about. */
export const recordingLog = () => {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines, messages: () => lines.map((l) => l.msg) };
};

/** A manifest as an author writes it (durations as text), with the defaults filled in. */
export const manifest = (id: string, extra: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): Manifest => {
  const d = decodeManifestValue({
    id,
    version: "1.0.0",
    description: `test plugin ${id}`,
    provides: [
      {
        type: "work.do",
        description: "does work",
        params: { type: "object", properties: { n: { type: "number" } }, required: ["n"] },
        result: { type: "object", required: ["ok"] },
        timeout: "10s",
        ...spec,
      },
    ],
    capabilities: [],
    ...extra,
  });
  if (E.isLeft(d)) throw new Error(d.left.join("\n"));
  return d.right;
};

/** Plugin events that install `m` and approve it (active). */
export const installed = (m: Manifest, grants: string[] = []): PluginEvent[] => [
  { type: "plugin.registered", data: { pluginId: m.id, version: m.version, manifest: m, selfRegistered: false } } as PluginEvent,
  { type: "plugin.capabilities.granted", data: { pluginId: m.id, capabilities: grants } } as PluginEvent,
];

export const testCtx = (o: { options?: TasksOptions; plugins?: PluginEvent[] } = {}) => {
  const clock = fakeClock();
  const store = memoryStore();
  const io = fakeIO();
  const rec = recordingLog();
  const state = createState(clock.clock.now());
  for (const e of o.plugins ?? []) state.providers = evolveProviders(state.providers, e);
  const ctx: Ctx = {
    state,
    clock: clock.clock,
    log: rec.log,
    config: configOf(o.options),
    io: io.io,
    store: store.store,
    taskStream: (id) => ({ name: `TASKS_${id}`, subjects: [`task.${id}.>`] }),
  };
  return { ctx, state, clock, store, io, log: rec };
};

/**
 * Every part wired as `startTasks` wires them, over the fakes, with the four log folds running
 * on the memory store's subscriptions (so `state.open` follows the log as it would). `submit`
 * makes task ids `t1`, `t2`, ...; `disabled` records the automatic disables.
 */
export const harness = async (o: { options?: TasksOptions; plugins?: PluginEvent[]; live?: boolean } = {}) => {
  const h = testCtx(o);
  const { ctx } = h;
  const out = dispatch(ctx);
  const cmds = taskCommands(ctx, out.effects);
  out.useLoad(cmds.load);
  const workers = workerCommands(ctx);
  const tm = timers(ctx, cmds.execute);
  const disabled: { pluginId: string; reason: string }[] = [];
  const hl = health(ctx, async (pluginId, reason) => void disabled.push({ pluginId, reason }));
  const cons = consumers(ctx);
  const fold = folds(ctx, { timers: tm, health: hl, consumers: cons, load: cmds.load });
  const sch = schemas();
  const rep = reports(ctx, { execute: cmds.execute, load: cmds.load, dispatch: out, schemas: sch });
  const live = liveness(ctx, { execute: cmds.execute, executeWorker: workers.executeWorker });
  let n = 0;
  const submit = submitter(ctx, { schemas: sch, execute: cmds.execute, newId: () => `t${++n}` });
  // The plugins are in `state.providers` already; the log gets them too, so the folds agree.
  for (const e of o.plugins ?? []) await h.store.store.appendToStream(`plugin-${e.data.pluginId}`, [e]);
  const subs = fold.start();
  await subs.pluginsCaughtUp();
  h.state.pluginsLive = true;
  await subs.tasksCaughtUp();
  h.state.tasksLive = o.live ?? true;
  await settle();
  const stop = async () => {
    h.state.stopped = true;
    tm.disarmAll();
    await subs.unsubscribe();
    await settle();
  };
  /** Submits a `work.do` task and lets the folds see it; its id. */
  const submitted = async (params: unknown = { n: 1 }, pluginId?: string) => {
    const r = await submit({ taskType: "work.do", params, ...(pluginId ? { pluginId } : {}) }, { actor: "operator:test" });
    if (E.isLeft(r)) throw new Error(r.left.message);
    await settle();
    return r.right.taskId;
  };
  /** A worker report on `res.<plugin>.<taskId>`, handled. */
  const reportOn = async (pluginId: string, body: Record<string, unknown>) => {
    await rep.handle({ subject: `res.${pluginId}.${String(body.taskId)}`, json: () => body });
    await settle();
  };
  return { ...h, out, cmds, workers, tm, hl, disabled, cons, fold, rep, live, submit, submitted, reportOn, stop };
};
export type Harness = Awaited<ReturnType<typeof harness>>;
