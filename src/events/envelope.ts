import * as t from "io-ts";

/** Who did it, and why: recorded on every event. */
export const EventMetadata = t.intersection([
  t.type({
    /** `operator:<name>`, `plugin:<id>`, `core`, `system:<component>`. Never a secret. */
    actor: t.string,
    /** ISO-8601 time at which the command that caused the event was decided. */
    time: t.string,
  }),
  t.partial({
    correlationId: t.string,
    causationId: t.string,
  }),
]);
export type EventMetadata = t.TypeOf<typeof EventMetadata>;

/** One event as stored: the unit the log, projections and audit speak about. */
export const StoredEvent = t.type({
  id: t.string,
  type: t.string,
  schemaVersion: t.number,
  data: t.unknown,
  metadata: EventMetadata,
});
export type StoredEvent = t.TypeOf<typeof StoredEvent>;

/**
 * The payload of one message on `ev.<category>.<id>`: one commit of one or more events, so an
 * append of several events is all-or-none (nats-server 2.9 has no atomic batch publish).
 * Headers carry `Ganglion-Revision` (revision of the first event) for readers that skip payloads.
 */
export const Commit = t.type({
  events: t.array(StoredEvent),
});
export type Commit = t.TypeOf<typeof Commit>;
