import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import type { ConsumerConfig, StreamConfig } from "@nats-io/jetstream";
import {
  DOTTED,
  legacyTaskConsumer,
  RESULTS_ALL,
  RESULTS_CONSUMER,
  Streams,
  taskConsumer,
  tasksStream,
  topicConsumer,
  topicSubject,
  taskSubject,
} from "../../contract/subjects.js";
import { subscribedTopics } from "../providers.js";
import type { Provider } from "../providers.js";
import { limitsOf } from "./state.js";
import type { Ctx } from "./state.js";

export const nanos = (ms: number) => ms * 1_000_000;

/** The settings of a consumer that follow the runtime's options and a plugin's limits: changed in place. */
const TUNABLE = ["ack_wait", "max_ack_pending", "max_deliver"] as const;

/**
 * The JetStream streams and durable consumers the runtime owns: a TASKS_<plugin> stream per plugin
 * that provides task types, with a consumer per task type (its `max_ack_pending` is the plugin's
 * concurrency), a TOPICS consumer per topic a plugin subscribes to, and the RESULTS consumer.
 * Created when missing, their tunable settings updated when they differ; a task consumer whose
 * type the manifest dropped is deleted.
 */
export const consumers = (ctx: Ctx) => {
  const { io, log, config, state } = ctx;

  const ensureConsumer = async (stream: string, cfg: Partial<ConsumerConfig> & { durable_name: string }) => {
    let have = await io.consumerInfo(stream, cfg.durable_name);
    // A consumer of that name reading other subjects is not ours to tune: it would hand its reader
    // messages it was never granted. It is replaced (it cannot be changed in place).
    if (have && cfg.filter_subject !== undefined && have.config.filter_subject !== cfg.filter_subject) {
      log.warn(
        { stream, consumer: cfg.durable_name, found: have.config.filter_subject, wanted: cfg.filter_subject },
        "a consumer with the wrong filter was replaced",
      );
      await io.deleteConsumer(stream, cfg.durable_name);
      have = undefined;
    }
    if (!have) return io.addConsumer(stream, cfg);
    if (TUNABLE.some((k) => cfg[k] !== undefined && have.config[k] !== cfg[k])) {
      await io.updateConsumer(stream, cfg.durable_name, { ack_wait: cfg.ack_wait, max_ack_pending: cfg.max_ack_pending, max_deliver: cfg.max_deliver });
    }
  };

  const ensureStream = async (cfg: Partial<StreamConfig> & { name: string }) => {
    if (!(await io.streamInfo(cfg.name))) await io.addStream(cfg);
  };

  /**
   * A plugin's task consumers: one per task type of its manifest, filter `task.<plugin>.<type>`,
   * so an instance pulls only the types it serves (a rolling upgrade has instances with different
   * handler sets). Consumers of types the manifest no longer provides, and the single
   * `tasks-<plugin>` of earlier versions (its `task.<plugin>.>` overlaps the others', which a work
   * queue refuses), are deleted first; their unacked messages stay on the stream for the consumer
   * of their type. One consumer listing per plugin event, nothing per task.
   */
  const ensureTaskConsumers = async (p: Provider) => {
    const wanted = new Map(p.manifest.provides.map((s) => [taskConsumer(p.pluginId, s.type), taskSubject(p.pluginId, s.type)]));
    const stream = tasksStream(p.pluginId);
    if (wanted.size > 0) await ensureStream(ctx.taskStream(p.pluginId));
    // (A consumer of a wanted name with another filter goes too, before it can overlap a new one.)
    for (const c of await io.listConsumers(stream)) {
      if (wanted.get(c.name) === c.filter) continue;
      await io.deleteConsumer(stream, c.name);
      log.info({ stream, consumer: c.name, legacy: c.name === legacyTaskConsumer(p.pluginId) }, "removed a task consumer the manifest does not ask for");
    }
    for (const [name, filter] of wanted) {
      await ensureConsumer(stream, {
        durable_name: name,
        filter_subject: filter,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(config.ackWaitMs),
        max_ack_pending: limitsOf(ctx.state, config, p).concurrency,
        max_deliver: config.maxDeliver,
      });
    }
  };

  /** A plugin's TASKS stream and task consumers, and its topic consumers (none while it is pending). */
  const ensureConsumers = async (p: Provider) => {
    if (p.status === "pending") return;
    await ensureTaskConsumers(p);
    for (const topic of subscribedTopics(p)) {
      if (!DOTTED.test(topic)) continue;
      await ensureConsumer(Streams.Topics, {
        durable_name: topicConsumer(p.pluginId, topic),
        filter_subject: topicSubject(topic),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        ack_wait: nanos(config.ackWaitMs),
        max_deliver: config.maxDeliver,
      });
    }
  };

  /** One pass at a time per plugin: the plugin and limits folds both call it, and two passes raced on a delete. */
  const passes = new Map<string, Promise<void>>();
  /** As `ensureConsumers`, a failure logged rather than thrown (the next plugin event tries again). */
  const ensureConsumersLogged = (p: Provider, what = "creating the plugin's consumers failed") => {
    const run = (passes.get(p.pluginId) ?? Promise.resolve()).then(() =>
      ensureConsumers(state.providers.get(p.pluginId) ?? p).catch((err) => log.error({ err, pluginId: p.pluginId }, what)),
    );
    passes.set(p.pluginId, run);
    void run.finally(() => passes.get(p.pluginId) === run && passes.delete(p.pluginId));
    return run;
  };

  const ensureResultsConsumer = () =>
    ensureConsumer(Streams.Results, {
      durable_name: RESULTS_CONSUMER,
      filter_subject: RESULTS_ALL,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      // Short on purpose: reports a crashed core had pulled but not handled come back to the next
      // core within seconds, before the attempts they complete reach their start-to-close timeout
      // (test/faults/coreCrash.int.test.ts; with 30 s, tasks timed out and the plugin was disabled).
      ack_wait: nanos(5_000),
      max_ack_pending: 1000,
    });

  /**
   * The one-account topology (0.1) had a single TASKS work queue for every plugin. Its subjects
   * overlap the per-plugin streams', so it goes before they are made; the attempts it held are
   * queued again from the log by `reconcile` (scheduled attempts) or time out and retry (running
   * ones: their workers' credentials were revoked by the upgrade anyway).
   */
  const retireLegacyTasks = async () => {
    const info = await io.streamInfo(Streams.LegacyTasks).catch(() => undefined);
    if (!info) return;
    await io.deleteStream(Streams.LegacyTasks);
    log.warn({ messages: info.messages }, "removed the shared TASKS stream of the one-account topology; its attempts are queued again per plugin");
  };

  return { ensureConsumer, ensureConsumers, ensureConsumersLogged, ensureResultsConsumer, retireLegacyTasks };
};
export type Consumers = ReturnType<typeof consumers>;
