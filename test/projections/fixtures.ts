import type { PluginEvent } from "../../src/events/plugin.js";
import type { TaskEvent } from "../../src/events/task.js";
import type { WorkerEvent } from "../../src/events/worker.js";
import type { PipelineRunEvent } from "../../src/events/pipeline.js";
import type { ViewEvent } from "../../src/projections/view.js";

export type AnyBusEvent = PluginEvent | TaskEvent | WorkerEvent | PipelineRunEvent;
/** One append: events of one stream that must land together (one commit). */
export type Commit = { readonly streamName: string; readonly events: AnyBusEvent[] };

/** A small deterministic PRNG, so a scenario is the same on every run. */
export const prng = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};

export const manifest = (id: string, version: string, capabilities: string[]) => ({
  id,
  version,
  description: `plugin ${id}`,
  provides: [
    {
      type: `${id}.run`,
      description: "runs",
      params: { type: "object" },
      result: { type: "object" },
      timeout: 30_000,
      retry: { maxAttempts: 2, backoff: [100] },
    },
  ],
  capabilities,
  limits: { concurrency: 4, rate: { count: 100, perMs: 1000 } },
  health: { maxConsecutiveFailures: 5, failureRatio: 0.5, window: 60_000 },
});

const iso = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString();

/**
 * A run of the bus as the core would log it: plugins registered, granted, revoked, disabled,
 * upgraded and removed; workers coming and going; `tasks` tasks that complete, fail and retry,
 * die, or get cancelled. Every event is valid against the families' codecs.
 */
export const scenario = (opts: { plugins?: number; tasks?: number; seed?: number; pipelines?: number } = {}): Commit[] => {
  const rnd = prng(opts.seed ?? 7);
  const nPlugins = opts.plugins ?? 5;
  const nTasks = opts.tasks ?? 50;
  const out: Commit[] = [];
  let clock = 0;
  const at = () => iso(clock++);
  const ids = Array.from({ length: nPlugins }, (_, i) => `p${i}`);
  for (const id of ids) {
    const caps = [`task.submit:${id}.run`, `topic.publish:news.${id}`, "secret.read:db"];
    out.push({
      streamName: `plugin-${id}`,
      events: [{ type: "plugin.registered", data: { pluginId: id, version: "1.0.0", manifest: manifest(id, "1.0.0", caps), selfRegistered: false } }],
    });
    out.push({ streamName: `plugin-${id}`, events: [{ type: "plugin.capabilities.granted", data: { pluginId: id, capabilities: caps.slice(0, 2) } }] });
    out.push({
      streamName: `plugin-${id}`,
      events: [
        { type: "plugin.credentials.issued", data: { pluginId: id, publicKey: `U${id.toUpperCase()}1`, expiresAt: null, capabilities: caps.slice(0, 2) } },
      ],
    });
    out.push({ streamName: `worker-${id}`, events: [{ type: "worker.online", data: { pluginId: id, instance: `${id}-a`, version: "1.0.0", at: at() } }] });
  }
  // Revocations, a disable/enable, an upgrade and a removal.
  out.push({
    streamName: "plugin-p1",
    events: [
      { type: "plugin.credentials.revoked", data: { pluginId: "p1", publicKeys: ["UP11"], reason: "capabilities revoked" } },
      { type: "plugin.capability.revoked", data: { pluginId: "p1", capabilities: ["topic.publish:news.p1"] } },
    ],
  });
  out.push({ streamName: "plugin-p2", events: [{ type: "plugin.disabled", data: { pluginId: "p2", reason: "too many failures", automatic: true } }] });
  out.push({ streamName: "plugin-p2", events: [{ type: "plugin.enabled", data: { pluginId: "p2" } }] });
  out.push({
    streamName: "plugin-p3",
    events: [
      {
        type: "plugin.upgraded",
        data: {
          pluginId: "p3",
          fromVersion: "1.0.0",
          version: "2.0.0",
          manifest: manifest("p3", "2.0.0", ["task.submit:p3.run", "secret.read:db"]),
          carriedOver: ["task.submit:p3.run"],
          pending: ["secret.read:db"],
          dropped: ["topic.publish:news.p3"],
        },
      },
    ],
  });
  out.push({ streamName: "plugin-p4", events: [{ type: "plugin.removed", data: { pluginId: "p4", reason: "retired" } }] });
  out.push({ streamName: "worker-p0", events: [{ type: "worker.online", data: { pluginId: "p0", instance: "p0-b", version: "1.0.0", at: at() } }] });
  out.push({ streamName: "worker-p1", events: [{ type: "worker.offline", data: { pluginId: "p1", instance: "p1-a", reason: "silent", at: at() } }] });

  const live = ids.slice(0, 4);
  for (let i = 0; i < nTasks; i++) {
    const pluginId = live[Math.floor(rnd() * live.length)]!;
    const taskId = `t${i}`;
    const s = `task-${taskId}`;
    const instance = `${pluginId}-a`;
    out.push({
      streamName: s,
      events: [
        {
          type: "task.submitted",
          data: {
            taskId,
            pluginId,
            pluginVersion: "1.0.0",
            taskType: `${pluginId}.run`,
            params: { n: i },
            retry: { maxAttempts: 2, backoffMs: [100] },
            timeouts: { startToCloseMs: 30_000 },
            at: at(),
          },
        },
      ],
    });
    const fate = rnd();
    if (fate < 0.1) continue; // still scheduled
    out.push({ streamName: s, events: [{ type: "task.started", data: { taskId, attempt: 1, instance, delivery: 1, at: at() } }] });
    if (fate < 0.2) continue; // running
    if (fate < 0.6) {
      out.push({ streamName: s, events: [{ type: "task.progress", data: { taskId, attempt: 1, done: 1, total: 2, at: at() } }] });
      out.push({ streamName: s, events: [{ type: "task.completed", data: { taskId, attempt: 1, instance, result: { ok: i }, at: at() } }] });
    } else if (fate < 0.8) {
      const t1 = at();
      out.push({
        streamName: s,
        events: [
          { type: "task.failed", data: { taskId, attempt: 1, instance, error: { message: "boom", kind: "handler" }, at: t1 } },
          { type: "task.retry_scheduled", data: { taskId, attempt: 2, retryAt: at(), delayMs: 100, at: t1 } },
        ],
      });
      out.push({ streamName: s, events: [{ type: "task.dispatched", data: { taskId, attempt: 2, at: at() } }] });
      out.push({ streamName: s, events: [{ type: "task.started", data: { taskId, attempt: 2, instance, delivery: 1, at: at() } }] });
      out.push({ streamName: s, events: [{ type: "task.completed", data: { taskId, attempt: 2, instance, result: { ok: i, retried: true }, at: at() } }] });
    } else if (fate < 0.9) {
      const t1 = at();
      out.push({
        streamName: s,
        events: [
          { type: "task.timed_out", data: { taskId, attempt: 1, kind: "start_to_close", instance, at: t1 } },
          {
            type: "task.dead_lettered",
            data: { taskId, attempts: 1, failures: [{ attempt: 1, at: t1, error: { message: "start_to_close timeout", kind: "timeout" } }], at: t1 },
          },
        ],
      });
    } else {
      out.push({ streamName: s, events: [{ type: "task.cancelled", data: { taskId, at: at(), reason: "operator" } }] });
    }
  }
  // Pipelines: runs of a two-step pipeline, every other one failing at its second step.
  const definition = {
    name: "pl",
    version: "1.0.0",
    params: { type: "object" },
    steps: ["a", "b"].map((id) => ({ id, type: "p0.run", params: {}, onFailure: "stop" as const })),
  };
  for (let i = 0; i < (opts.pipelines ?? 0); i++) {
    const runId = `run${i}`;
    const s = `pipeline-${runId}`;
    out.push({ streamName: s, events: [{ type: "pipeline.started", data: { runId, name: "pl", version: "1.0.0", definition, params: { i }, at: at() } }] });
    for (const stepId of ["a", "b"]) {
      const taskId = `pl-${runId}${stepId}`;
      out.push({ streamName: s, events: [{ type: "pipeline.step.scheduled", data: { runId, stepId, attempt: 1, taskId, at: at() } }] });
      if (stepId === "b" && i % 2 === 1) {
        const t1 = at();
        out.push({
          streamName: s,
          events: [
            { type: "pipeline.step.failed", data: { runId, stepId, attempt: 1, error: "boom", taskId, at: t1 } },
            { type: "pipeline.failed", data: { runId, stepId, error: "boom", at: t1 } },
          ],
        });
      } else out.push({ streamName: s, events: [{ type: "pipeline.step.completed", data: { runId, stepId, taskId, result: { i }, at: at() } }] });
    }
    if (i % 2 === 0) out.push({ streamName: s, events: [{ type: "pipeline.completed", data: { runId, result: { i }, at: at() } }] });
  }
  return out;
};

/** The commits as a view sees them once stored at positions 1, 2, … */
export const asViewEvents = (commits: Commit[], start = 1): ViewEvent[] =>
  commits.flatMap((c, i) =>
    c.events.map((e, index) => ({
      type: e.type,
      data: e.data,
      streamName: c.streamName,
      position: start + i,
      index,
      metadata: { actor: "operator:test", time: iso(1000 + i) },
      created: iso(1000 + i),
    })),
  );
