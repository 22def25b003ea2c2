import * as E from "fp-ts/lib/Either.js";
import { reportErrors } from "../../contract/decodeErrors.js";
import { MAX_INSTANCE, MAX_JSON_DEPTH, MAX_REPORT_BYTES, valueDepth } from "../../contract/limits.js";

/** Free text a worker puts in the log, cut to size (with a marker) rather than refused. */
export const MAX_ERROR_MESSAGE = 4_000;
export const MAX_PROGRESS_MESSAGE = 1_000;
const bounded = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 14)}… (truncated)` : s);
import { taskStreamName } from "../../events/task.js";
import type { TaskError } from "../../events/task.js";
import type { TaskCommand, TaskState } from "../decider.js";
import { assertNever } from "../../events/exhaustive.js";
import { Report } from "../../contract/wire.js";
import { isoOf } from "./clock.js";
import type { Execute } from "./commands.js";
import type { Dispatch } from "./dispatch.js";
import type { Deliveries } from "./ports.js";
import { schemaErrors } from "./schemas.js";
import type { Schemas } from "./schemas.js";
import type { Ctx } from "./state.js";

/** Worker reports handled at once (different tasks; one task's reports stay in order). */
export const REPORT_CONCURRENCY = 64;

/** A task id as the event store takes it in a stream name (`task-<id>`): a leading `-` is not one (it was redelivered for ever). */
const TASK_ID = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;

/** What a refusal is about; the rate limit counts per task and kind. */
export type RefusalKind = "malformed" | "foreign" | "NotHeld" | "NotApplicable" | "AlreadyEnded";

/** Refusal windows kept at most (oldest dropped first): the rate limit's memory is bounded too. */
export const MAX_REFUSAL_WINDOWS = 10_000;

/** Ended tasks remembered for refusing late reports without a log read (oldest dropped first). */
export const MAX_ENDED_REMEMBERED = 10_000;
/** What a late report needs of an ended task: its owner and final attempt. Final states are the same on every core replica. */
type Ended = { readonly pluginId: string; readonly status: string; readonly attempt: number; readonly instance: string | undefined };

/** What a report turns into: a command on the task, a keep-alive only, or nothing at all. */
export type ReportAction = { readonly kind: "command"; readonly cmd: TaskCommand } | { readonly kind: "keepAlive" };

/**
 * The worker reports on RESULTS (`res.<plugin>.<taskId>`): each is checked (protocol, subject,
 * owner, held attempt, result schema), turned into a task command and decided; a report that
 * does not count is refused, its holder told to stop, and the refusal audited on the task's
 * stream. Owns `state.lastProgressEvent` and writes `state.lastActive` (keep-alives).
 */
export const reports = (
  ctx: Ctx,
  deps: { execute: Execute; load: (taskId: string) => Promise<{ state: TaskState }>; dispatch: Dispatch; schemas: Schemas },
) => {
  const { state, clock, log, config, store } = ctx;
  const ended = new Map<string, Ended>();
  const remember = (s: TaskState) => {
    if (s.status === "absent" || (s.status !== "completed" && s.status !== "cancelled" && s.status !== "dead_lettered")) return;
    ended.delete(s.taskId);
    if (ended.size >= MAX_ENDED_REMEMBERED) ended.delete(ended.keys().next().value!);
    ended.set(s.taskId, { pluginId: s.pluginId, status: s.status, attempt: s.attempt, instance: s.instance });
  };

  /**
   * Whether a refusal of this kind on this task is recorded now: at most one per task and kind per
   * `refusalWindowMs` (1,000 stale progress reports were 1,000 permanent events and 1,000
   * cancels). Returns how many were suppressed since the last recorded one, or undefined to drop it.
   */
  const admit = (taskId: string, kind: RefusalKind): number | undefined => {
    const now = clock.now();
    // By kind, not by reason: reasons quote the report's instance, attempt and fields.
    const key = `${taskId} ${kind}`;
    const w = state.refusals.get(key);
    if (w && now - w.since < config.refusalWindowMs) {
      w.suppressed++;
      return undefined;
    }
    if (state.refusals.size >= MAX_REFUSAL_WINDOWS) {
      for (const [k, v] of state.refusals) if (now - v.since >= config.refusalWindowMs) state.refusals.delete(k);
      // Still full of live windows (a flood over many tasks): the oldest go first.
      for (const k of state.refusals.keys()) {
        if (state.refusals.size < MAX_REFUSAL_WINDOWS) break;
        state.refusals.delete(k);
      }
    }
    state.refusals.delete(key);
    state.refusals.set(key, { since: now, suppressed: 0 });
    return w?.suppressed ?? 0;
  };

  /** Audits a report that does not count on the task's stream; a holder that should not run is told to stop. Rate-limited (`admit`). */
  const refuse = async (pluginId: string, r: Report, reason: string, kind: RefusalKind) => {
    const suppressed = admit(r.taskId, kind);
    if (suppressed === undefined) {
      log.debug({ pluginId, taskId: r.taskId, reason }, "worker report refused (not recorded: rate limit)");
      return;
    }
    log.warn(
      { pluginId, report: { taskId: r.taskId, attempt: r.attempt, instance: r.instance, status: r.status }, reason, suppressed },
      "worker report refused",
    );
    if (r.status === "started" || r.status === "progress") deps.dispatch.sendCancel(pluginId, r.taskId, r.attempt, `refused: ${reason}`);
    const at = isoOf(clock);
    await store
      .appendToStream(
        taskStreamName(r.taskId),
        [
          {
            type: "task.report_refused",
            data: {
              taskId: r.taskId,
              attempt: r.attempt,
              instance: r.instance,
              pluginId,
              status: r.status,
              reason,
              at,
              ...(suppressed > 0 ? { suppressed } : {}),
            },
            metadata: { actor: `plugin:${pluginId}`, time: at },
          },
        ],
        { streamState: "stream_exists" },
      )
      .catch((err) => log.warn({ err, taskId: r.taskId }, "could not audit a refused report"));
  };

  /** The command a valid report on the task `s` (which it may hold) asks for. */
  const actionOf = (pluginId: string, r: Report, s: Exclude<TaskState, { status: "absent" }>, at: string): ReportAction => {
    switch (r.status) {
      case "started":
        return { kind: "command", cmd: { type: "start", attempt: r.attempt, instance: r.instance, delivery: r.delivery ?? 1, at } };
      case "progress": {
        const held = s.status === "running" && s.attempt === r.attempt && s.instance === r.instance;
        const last = state.lastProgressEvent.get(r.taskId) ?? 0;
        // No `progress` body: a keep-alive (the SDK's `working()`); it restarts start-to-close only.
        if (held && (r.progress === undefined || clock.now() - last < config.progressThrottleMs)) return { kind: "keepAlive" };
        return {
          kind: "command",
          cmd: {
            type: "progress",
            attempt: r.attempt,
            instance: r.instance,
            done: r.progress?.done ?? 0,
            total: r.progress?.total ?? 0,
            at,
            ...(r.progress?.message !== undefined ? { message: bounded(r.progress.message, MAX_PROGRESS_MESSAGE) } : {}),
          },
        };
      }
      case "completed": {
        // Before anything walks or encodes it: a 20,000-deep array overflowed the stack when it was
        // encoded into the log, and the report came back every 500 ms until the attempt timed out.
        const depth = valueDepth(r.result);
        if (depth > MAX_JSON_DEPTH) {
          const error = { message: `the result nests more than ${MAX_JSON_DEPTH} levels deep`, kind: "invalid_result", retryable: false };
          return { kind: "command", cmd: { type: "fail", attempt: r.attempt, instance: r.instance, at, error } };
        }
        const size = Buffer.byteLength(JSON.stringify(r.result ?? null));
        if (size > config.maxResultBytes) {
          // It fits RESULTS but would not fit the log, a view row or a reply: say so, instead of
          // redelivering it until start-to-close and calling it a timeout.
          const error = {
            message: `the result is ${size} bytes; the limit is ${config.maxResultBytes} (keep large outputs elsewhere and return a reference)`,
            kind: "invalid_result",
            retryable: false,
          };
          return { kind: "command", cmd: { type: "fail", attempt: r.attempt, instance: r.instance, at, error } };
        }
        const p = state.providers.get(pluginId);
        const v = p && deps.schemas.validator(p, s.taskType, "result");
        if (!v) {
          const error = {
            message: `plugin ${pluginId} no longer provides ${s.taskType}: the result cannot be validated`,
            kind: "invalid_result",
            retryable: false,
          };
          return { kind: "command", cmd: { type: "fail", attempt: r.attempt, instance: r.instance, at, error } };
        }
        if (!v(r.result)) {
          const paths = schemaErrors(v, "result");
          const error = { message: `the result does not match the result schema of ${s.taskType}: ${paths.join("; ")}`, kind: "invalid_result", paths };
          return { kind: "command", cmd: { type: "fail", attempt: r.attempt, instance: r.instance, at, error } };
        }
        return { kind: "command", cmd: { type: "complete", attempt: r.attempt, instance: r.instance, result: r.result, at } };
      }
      case "failed": {
        const error: TaskError = {
          message: bounded(r.error?.message ?? "failed without a message", MAX_ERROR_MESSAGE),
          // A worker that could not deliver its result says so (the SDK, for one over the size limit).
          kind: r.error?.kind ?? "handler",
          ...(r.error?.retryable !== undefined ? { retryable: r.error.retryable } : {}),
        };
        return { kind: "command", cmd: { type: "fail", attempt: r.attempt, instance: r.instance, at, error } };
      }
      default:
        return assertNever(r.status, "report status");
    }
  };

  /** A final report starts its attempt too when that attempt is still scheduled (the decider checks, on the log's state). */
  const startingWith = (a: ReportAction, r: Report): ReportAction =>
    a.kind === "command" && (a.cmd.type === "complete" || a.cmd.type === "fail") && r.status !== "started"
      ? { kind: "command", cmd: { ...a.cmd, startsAttempt: { delivery: r.delivery ?? 1 } } }
      : a;

  /** A report that does not decode: dropped, and audited on the task its subject names. */
  const malformed = async (subject: string, pluginId: string, subjectTaskId: string, raw: unknown, errors: string[]) => {
    log.warn({ subject, errors }, "a worker report does not match the protocol; dropped");
    if (!TASK_ID.test(subjectTaskId)) return;
    const o = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
    const shown: Report = {
      taskId: subjectTaskId,
      attempt: typeof o.attempt === "number" ? o.attempt : 0,
      // Cut: a refusal is permanent, and a 4 MiB instance or status made it a 4 MiB event.
      instance: typeof o.instance === "string" ? bounded(o.instance, MAX_INSTANCE) : "unknown",
      status: (typeof o.status === "string" ? bounded(o.status, 40) : "unknown") as Report["status"],
    };
    // `path: reason` per field, bounded: a refusal is a permanent event, not a place for a dump.
    const reason = `malformed report: ${errors.join("; ")}`;
    await refuse(pluginId, shown, reason.length > 500 ? `${reason.slice(0, 497)}...` : reason, "malformed");
  };

  /**
   * A `started` or `progress` on the very attempt that ended while no instance held it (cancelled
   * while scheduled): the worker pulled the message before the end reached the queue. A race every
   * cancel can meet, not a misbehaving worker: it is told to stop, and nothing is recorded (it was a
   * `task.report_refused` after the `task.cancelled`, on one cancel in three in the lifecycle test).
   */
  const straggler = (pluginId: string, r: Report, e: { readonly attempt: number; readonly instance?: string | undefined; readonly status: string }) => {
    if (e.instance !== undefined || e.attempt !== r.attempt || (r.status !== "started" && r.status !== "progress")) return false;
    log.debug(
      { taskId: r.taskId, attempt: r.attempt, instance: r.instance, status: e.status },
      "a worker started an attempt that had ended unstarted; told to stop",
    );
    deps.dispatch.sendCancel(pluginId, r.taskId, r.attempt, `the task is ${e.status}`);
    return true;
  };

  /** A report on a task known to have ended, decided as the log would decide it: the holder's own duplicate is dropped, anyone else's refused. */
  const lateOnEnded = (pluginId: string, r: Report, e: Ended) => {
    if (e.pluginId !== pluginId) return refuse(pluginId, r, `the task belongs to plugin ${e.pluginId}`, "foreign");
    if (e.attempt === r.attempt && e.instance === r.instance) {
      log.debug({ taskId: r.taskId, status: e.status }, "duplicate report on an ended task ignored");
      return;
    }
    if (straggler(pluginId, r, e)) return;
    if (r.status === "started" || r.status === "progress") return refuse(pluginId, r, `task ${r.taskId} is ${e.status}`, "NotHeld");
    return refuse(pluginId, r, `task ${r.taskId} is already ${e.status}`, "AlreadyEnded");
  };

  /** Handles one report; resolves once its outcome is in the log (or it was dropped). Throws to have it redelivered. */
  const handle = async (m: { readonly subject: string; readonly data?: Uint8Array; readonly json: () => unknown }) => {
    const [, pluginId = "", subjectTaskId = ""] = m.subject.split(".");
    // RESULTS refuses larger reports (max_msg_size); one stored before that limit is not parsed either.
    if ((m.data?.length ?? 0) > MAX_REPORT_BYTES) {
      log.warn({ subject: m.subject, bytes: m.data?.length, limit: MAX_REPORT_BYTES }, "a worker report over the size limit; dropped unread");
      return;
    }
    let raw: unknown;
    try {
      raw = m.json();
    } catch {
      log.warn({ subject: m.subject }, "a worker report is not JSON; dropped");
      return;
    }
    const d = Report.decode(raw);
    if (E.isLeft(d)) return malformed(m.subject, pluginId, subjectTaskId, raw, reportErrors(d.left));
    const r = d.right;
    if (r.instance.length > MAX_INSTANCE)
      return malformed(m.subject, pluginId, subjectTaskId, raw, [`instance: at most ${MAX_INSTANCE} characters, got ${r.instance.length}`]);
    if (r.taskId !== subjectTaskId || !TASK_ID.test(r.taskId)) {
      log.warn({ subject: m.subject, taskId: r.taskId }, "a worker report names another task than its subject; dropped");
      return;
    }
    // Refusals a cached state proves without a log read (each refused report read the task's stream):
    const cached = state.open.get(r.taskId);
    const gone = cached ? undefined : ended.get(r.taskId);
    // - an ended task (a dead-lettered one may be retried: only its own attempts are surely over);
    if (gone && (gone.status !== "dead_lettered" || r.attempt <= gone.attempt)) return lateOnEnded(pluginId, r, gone);
    // - an attempt before the open task's current one (attempts only grow, on every replica).
    if (cached && cached.pluginId === pluginId && r.attempt < cached.attempt)
      return refuse(pluginId, r, `attempt ${r.attempt} of task ${r.taskId} is not current (current: ${cached.attempt} or later)`, "NotHeld");
    // `open` is trusted for the owner (it never changes); what the report may do is decided on the log.
    let s: TaskState = cached ?? (await deps.load(r.taskId)).state;
    remember(s);
    if (s.status === "absent") {
      log.warn({ pluginId, taskId: r.taskId }, "a worker reported on an unknown task; dropped");
      return;
    }
    if (s.pluginId !== pluginId) return refuse(pluginId, r, `the task belongs to plugin ${s.pluginId}`, "foreign");
    const actor = `plugin:${pluginId}`;
    const at = isoOf(clock);
    // A worker may skip `started` (a minimal Go or C worker, or the SDK when the handler ended
    // within its started delay): its first report starts the attempt. A final report does so in
    // the same commit (`startsAttempt`, decided on the log's state); a progress report first.
    if (r.status === "progress" && s.status === "scheduled" && s.attempt === r.attempt) s = (await deps.load(r.taskId)).state;
    if (r.status === "progress" && s.status === "scheduled" && s.attempt === r.attempt) {
      const st = await deps.execute(r.taskId, { type: "start", attempt: r.attempt, instance: r.instance, delivery: r.delivery ?? 1, at }, actor);
      if (E.isRight(st)) s = st.right.state;
    }
    if (s.status === "absent") return;
    const action = startingWith(actionOf(pluginId, r, s, at), r);
    if (action.kind === "keepAlive") {
      state.lastActive.set(r.taskId, clock.now());
      return;
    }
    if (action.cmd.type === "progress" && state.open.has(r.taskId)) state.lastProgressEvent.set(r.taskId, clock.now());
    const res = await deps.execute(r.taskId, action.cmd, actor);
    if (E.isRight(res)) remember(res.right.state);
    if (E.isLeft(res)) {
      const own = s.attempt === r.attempt && s.instance === r.instance;
      // The holder's own `started`/`progress` redelivered after its attempt ended (RESULTS' ack
      // wait ran out while the core was busy): a late duplicate, not a stranger's report. It was
      // audited as a refusal per task (8,175 of them in a 10,000-task run under load).
      if (own && s.status !== "scheduled" && s.status !== "running" && (r.status === "started" || r.status === "progress")) {
        log.debug({ taskId: r.taskId, rejection: res.left }, "late duplicate report on an ended attempt ignored");
        return;
      }
      if (res.left._tag === "NotHeld" && (r.status === "started" || r.status === "progress")) {
        // Ended between the read above and the decision (a cancel that raced this report).
        const now = (await deps.load(r.taskId)).state;
        if (now.status !== "absent" && now.status !== "scheduled" && now.status !== "running" && straggler(pluginId, r, now)) return;
      }
      if (res.left._tag === "NotHeld" || res.left._tag === "NotApplicable") return refuse(pluginId, r, res.left.message, res.left._tag);
      // AlreadyEnded: the holder's own duplicate (a redelivered report) is ignored; anyone else's
      // report on an ended task is refused and audited.
      if (own) log.debug({ taskId: r.taskId, rejection: res.left }, "duplicate report on an ended task ignored");
      else return refuse(pluginId, r, res.left.message, "AlreadyEnded");
    }
  };

  /**
   * Consumes RESULTS: reports of different tasks are handled concurrently, those of one task in
   * order (they arrive in order on its subject), so a slow append for one task does not hold up
   * the rest. A report is acked once handled, nak'ed (redelivered) when handling it threw.
   */
  const run = async (deliveries: Deliveries) => {
    const perTask = new Map<string, Promise<void>>();
    let inFlight = 0;
    let freed: (() => void) | undefined;
    for await (const m of deliveries) {
      while (inFlight >= REPORT_CONCURRENCY) await new Promise<void>((r) => (freed = r));
      inFlight++;
      const key = m.subject;
      const next = (perTask.get(key) ?? Promise.resolve()).then(async () => {
        try {
          await handle(m);
          m.ack();
        } catch (err) {
          log.warn({ err, subject: m.subject }, "handling a worker report failed; redelivering");
          m.nak(500);
        }
      });
      perTask.set(key, next);
      void next.finally(() => {
        if (perTask.get(key) === next) perTask.delete(key);
        inFlight--;
        const f = freed;
        freed = undefined;
        f?.();
      });
    }
  };

  return { handle, refuse, run };
};
export type Reports = ReturnType<typeof reports>;
