import * as t from "io-ts";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { natsEventStore } from "../../store/eventStore.js";
import type { EventStore, RecordedEvent } from "../../store/types.js";
import type { ViewManifest } from "../manifest.js";
import type { AnyView, ViewEvent } from "../view.js";

/**
 * What the live runner and replay read: the log, as `ViewEvent`s, and the views the manifests
 * name.
 */

/** Any stored event: the runner reads everything and lets each view decode what it folds. */
export const AnyEvent = t.type({ type: t.string, data: t.unknown });
export type AnyEvent = t.TypeOf<typeof AnyEvent>;

export const toViewEvent = (r: RecordedEvent<AnyEvent>, index: number): ViewEvent => ({
  type: r.type,
  data: r.data,
  streamName: r.streamName,
  position: Number(r.position),
  index,
  metadata: r.metadata,
  created: r.created.toISOString(),
});

/** Numbers the events of each commit (they share a position) as they go by. */
export const indexer = () => {
  let pos = -1;
  let i = 0;
  return (r: RecordedEvent<AnyEvent>): ViewEvent => {
    const p = Number(r.position);
    i = p === pos ? i + 1 : 0;
    pos = p;
    return toViewEvent(r, i);
  };
};

/** A read-only store that hands out every event, whatever its type (views decode). */
export const readerStore = (nc: NatsConnection, log?: Logger): EventStore<AnyEvent> =>
  natsEventStore(nc, {
    codec: AnyEvent,
    // Only the core appends to EVENTS, each event decoded in full first: a commit of the right
    // shape is read as it is (views sniff each event's data before folding it, see `trustedDecodeFor`).
    trustLog: true,
    onSkipped: (s) => log?.warn({ position: String(s.position), subject: s.subject, errors: s.errors }, "undecodable commit skipped"),
  });

/** Pairs manifests with their views; a manifest without code is a deployment error. */
export const resolveViews = (manifests: readonly ViewManifest[], views: Readonly<Record<string, AnyView>>) =>
  manifests.map((m) => {
    const view = views[m.name];
    if (!view) throw new Error(`projections/${m.name}.json declares view "${m.name}", but no such view is built in (${Object.keys(views).join(", ")})`);
    return { manifest: m, view };
  });

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
