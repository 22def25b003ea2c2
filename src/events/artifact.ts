import * as t from "io-ts";

/**
 * The life of an artifact, on the stream `artifact-<sha256>` (subject `ev.artifact.<sha256>`).
 * Appended by the core's artifact store only. No event holds the bytes: the id is their SHA-256.
 * `metadata.actor` says who: the creating plugin (`plugin:<id>`), an operator, or
 * `system:retention` for an expiry.
 */

/** An artifact was put. `existing`: the bytes were already stored; the put only moved `expiresAt`. */
export const ArtifactCreated = t.type({
  type: t.literal("artifact.created"),
  data: t.intersection([
    t.type({ id: t.string, size: t.number, chunks: t.number, contentType: t.string, expiresAt: t.string, existing: t.boolean }),
    t.partial({ taskId: t.string }),
  ]),
});
export type ArtifactCreated = t.TypeOf<typeof ArtifactCreated>;

/** A plugin may now read the artifact (besides its creator and the plugins whose tasks' params reference it). */
export const ArtifactShared = t.type({
  type: t.literal("artifact.shared"),
  data: t.type({ id: t.string, pluginId: t.string }),
});
export type ArtifactShared = t.TypeOf<typeof ArtifactShared>;

/** The artifact's bytes were purged: by an operator (`removed`), or past its expiry (`expired`). */
export const ArtifactRemoved = t.type({
  type: t.literal("artifact.removed"),
  data: t.intersection([t.type({ id: t.string, reason: t.keyof({ removed: null, expired: null }) }), t.partial({ message: t.string })]),
});
export type ArtifactRemoved = t.TypeOf<typeof ArtifactRemoved>;

export const ArtifactEvent = t.union([ArtifactCreated, ArtifactShared, ArtifactRemoved]);
export type ArtifactEvent = t.TypeOf<typeof ArtifactEvent>;

/** Stream category of every artifact's events (`ev.artifact.>`). */
export const ARTIFACT_CATEGORY = "artifact";
export const artifactStreamName = (id: string) => `${ARTIFACT_CATEGORY}-${id}`;
