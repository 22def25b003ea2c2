import * as t from "io-ts";
import type { EventMetadata } from "../events/envelope.js";
import { pluginStreamName } from "../events/plugin.js";
import { limitsStreamName, taskStreamName } from "../events/task.js";
import { workerStreamName } from "../events/worker.js";
import { configStreamName } from "../events/config.js";
import type { EventStore, RecordedEvent } from "../store/types.js";
import { parseDuration } from "../contract/duration.js";

/** One line of the audit trail (`ganglion audit --json`, `audit export`, `ganglion.v1.audit.query`). */
export type AuditEntry = {
  readonly position: string;
  readonly stream: string;
  readonly revision: string;
  readonly id: string;
  readonly type: string;
  readonly time: string;
  readonly stored: string;
  readonly actor: string;
  readonly metadata: EventMetadata;
  readonly data: unknown;
};

/** ISO-8601 time, or a duration back from now in the one grammar (src/contract/duration.ts): `90s`, `15m`, `1h30m`, `1.5h`, `7d`. */
export const TimeBound = t.string;

/** What to keep. All given filters must match (AND). */
export const AuditFilter = t.partial({
  pluginId: t.string,
  taskId: t.string,
  /** Event type prefix, e.g. `plugin.` or `task.completed`. */
  type: t.string,
  since: TimeBound,
  until: TimeBound,
});
export type AuditFilter = t.TypeOf<typeof AuditFilter>;

/** `since`/`until` → epoch ms; `undefined` when the text is neither ISO nor a duration. */
export const parseTimeBound = (s: string, now: Date): number | undefined => {
  const back = parseDuration(s);
  if (back !== undefined) return now.getTime() - back;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : ms;
};

export class AuditFilterError extends Error {
  override name = "AuditFilterError";
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

export const toAuditEntry = (e: RecordedEvent): AuditEntry => ({
  position: e.position.toString(),
  stream: e.streamName,
  revision: e.revision.toString(),
  id: e.id,
  type: e.type,
  time: e.metadata.time,
  stored: e.created.toISOString(),
  actor: e.metadata.actor,
  metadata: e.metadata,
  data: e.data,
});

const taskIdOf = (data: unknown): string | undefined => {
  const v = typeof data === "object" && data !== null ? (data as { taskId?: unknown; pluginId?: unknown }) : {};
  return typeof v.taskId === "string" ? v.taskId : undefined;
};
const pluginIdOf = (data: unknown): string | undefined => {
  const v = typeof data === "object" && data !== null ? (data as { pluginId?: unknown }).pluginId : undefined;
  return typeof v === "string" ? v : undefined;
};

/** The start of every task's stream name. */
const TASK_STREAMS = taskStreamName("");

/**
 * The audit trail, oldest first. `taskId` reads only that task's stream; `pluginId` keeps the
 * plugin's, its workers' and its limit overrides' streams and every event of the tasks submitted
 * to it (task events after the submission name only the task, so the scan remembers the plugin's
 * task ids).
 */
export async function* audit(store: EventStore<{ type: string; data: unknown }>, f: AuditFilter, now = new Date()): AsyncGenerator<AuditEntry> {
  const since = f.since === undefined ? undefined : parseTimeBound(f.since, now);
  const until = f.until === undefined ? undefined : parseTimeBound(f.until, now);
  if (f.since !== undefined && since === undefined)
    throw new AuditFilterError(`since: ${JSON.stringify(f.since)} is neither an ISO time nor a duration like 15m`, "since");
  if (f.until !== undefined && until === undefined)
    throw new AuditFilterError(`until: ${JSON.stringify(f.until)} is neither an ISO time nor a duration like 15m`, "until");
  const keep = (e: RecordedEvent) => {
    const time = Date.parse(e.metadata.time);
    return (f.type === undefined || e.type.startsWith(f.type)) && (since === undefined || time >= since) && (until === undefined || time <= until);
  };
  if (f.taskId !== undefined) {
    for await (const e of store.readStream(taskStreamName(f.taskId))) {
      if (f.pluginId !== undefined && e.type === "task.submitted" && pluginIdOf(e.data) !== f.pluginId) return;
      if (keep(e)) yield toAuditEntry(e);
    }
    return;
  }
  const tasks = new Set<string>();
  const own =
    f.pluginId === undefined
      ? new Set<string>()
      : new Set([pluginStreamName(f.pluginId), workerStreamName(f.pluginId), limitsStreamName(f.pluginId), configStreamName(f.pluginId)]);
  for await (const e of store.readAll()) {
    if (f.pluginId !== undefined) {
      let mine = own.has(e.streamName);
      if (!mine && e.streamName.startsWith(TASK_STREAMS)) {
        const id = taskIdOf(e.data);
        if (e.type === "task.submitted" && pluginIdOf(e.data) === f.pluginId && id) tasks.add(id);
        mine = id !== undefined && tasks.has(id);
      }
      if (!mine) continue;
    }
    if (keep(e)) yield toAuditEntry(e);
  }
}
