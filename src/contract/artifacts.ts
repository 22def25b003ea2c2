import * as t from "io-ts";
import { ARTIFACT_UPLOAD_ID, PLUGIN_ID } from "./subjects.js";

/**
 * The artifact wire contract (subjects.md, "Artifacts"): what a worker in any language sends on
 * `art.get`, `art.put` and `artup.<upload>`, and what it gets back. Artifacts are named by the
 * SHA-256 of their bytes (64 lower-case hex digits); params and results hold references
 * `artifact://<sha256>`, never the bytes.
 */

/** Every chunk but the last holds exactly this many bytes (the object store's chunk size too). */
export const ARTIFACT_CHUNK_BYTES = 128 * 1024;
/** The largest artifact (8,192 chunks: the chunk digests, kept in the object's meta, stay under 600 KB). */
export const MAX_ARTIFACT_BYTES = 1024 * 1024 * 1024;
/** Retention: an artifact is removed this long after its last put, unless the put asked for another `ttlMs` within the bounds. */
export const DEFAULT_ARTIFACT_TTL_MS = 7 * 24 * 3600 * 1000;
export const MIN_ARTIFACT_TTL_MS = 60 * 1000;
export const MAX_ARTIFACT_TTL_MS = 30 * 24 * 3600 * 1000;

export const ARTIFACT_SCHEME = "artifact://";
export const SHA256_HEX = /^[0-9a-f]{64}$/;
export const ARTIFACT_REF = /^artifact:\/\/([0-9a-f]{64})$/;
export const artifactRef = (id: string) => `${ARTIFACT_SCHEME}${id}`;
/** The id of a reference (or of a bare id), undefined when it is neither. */
export const artifactIdOf = (ref: string): string | undefined => (SHA256_HEX.test(ref) ? ref : ARTIFACT_REF.exec(ref)?.[1]);

/** Every artifact id referenced in a JSON value (strings `artifact://<sha256>`), at most `max` of them and 64 levels deep. */
export const artifactRefsIn = (v: unknown, max = 1000): string[] => {
  const out = new Set<string>();
  const walk = (x: unknown, depth: number) => {
    if (out.size >= max || depth > 64) return;
    if (typeof x === "string") {
      const id = ARTIFACT_REF.exec(x)?.[1];
      if (id) out.add(id);
    } else if (Array.isArray(x)) for (const y of x) walk(y, depth + 1);
    else if (x && typeof x === "object") for (const y of Object.values(x)) walk(y, depth + 1);
  };
  walk(v, 0);
  return [...out];
};

/** Headers of chunk messages, both ways. */
export const ArtifactHeaders = {
  /** The chunk's index, from 0. */
  Chunk: "Ganglion-Chunk",
  /** SHA-256 (hex) of the chunk's bytes. */
  ChunkSha256: "Ganglion-Chunk-Sha256",
  /** On a `get` answer: what to send as `cursor` to get the next chunk. */
  Cursor: "Ganglion-Cursor",
  /** On a `get` answer: the artifact's chunk count, size, SHA-256 and content type. */
  Chunks: "Ganglion-Chunks",
  Size: "Ganglion-Size",
  Sha256: "Ganglion-Sha256",
  ContentType: "Ganglion-Content-Type",
  /** On a refused `get`: the error code (the body is `{"error": {code, message}}`). */
  Error: "Ganglion-Error",
} as const;

const Int = (min: number, max: number, name: string) => t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= min && n <= max, name);
export const ArtifactId = t.refinement(t.string, (s) => SHA256_HEX.test(s), "ArtifactId (64 lower-case hex digits)");
/** An id or a reference, as operators type it. */
export const ArtifactIdOrRef = t.refinement(t.string, (s) => artifactIdOf(s) !== undefined, "ArtifactRef (artifact://<sha256> or the sha256)");
export const UploadId = t.refinement(t.string, (s) => ARTIFACT_UPLOAD_ID.test(s), "UploadId ([A-Za-z0-9_-]{8,64})");
/** A MIME type, as `type/subtype[; params]`, printable ASCII. */
export const ContentType = t.refinement(t.string, (s) => s.length <= 200 && /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(;[ -~]*)?$/i.test(s), "ContentType");
const TaskIdField = t.refinement(t.string, (s) => s.length <= 64 && /^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(s), "TaskId");

/**
 * `art.get`: one chunk. `chunk` from 0; `cursor` is the `Ganglion-Cursor` of the previous answer
 * (absent for chunk 0). `taskId` names the task whose params reference the artifact, when the
 * plugin did not create it and it was not shared with it.
 */
export const ArtifactGetRequest = t.intersection([
  t.type({ id: ArtifactId, chunk: Int(0, MAX_ARTIFACT_BYTES / ARTIFACT_CHUNK_BYTES, "ChunkIndex") }),
  t.partial({ cursor: Int(0, Number.MAX_SAFE_INTEGER, "Cursor"), taskId: TaskIdField }),
]);
export type ArtifactGetRequest = t.TypeOf<typeof ArtifactGetRequest>;

/** `art.put`: commit the chunks published on `artup.<upload>` as one artifact. */
export const ArtifactPutRequest = t.intersection([
  t.type({
    upload: UploadId,
    sha256: ArtifactId,
    size: Int(0, MAX_ARTIFACT_BYTES, "Size"),
    chunks: Int(0, MAX_ARTIFACT_BYTES / ARTIFACT_CHUNK_BYTES, "Chunks"),
    contentType: ContentType,
  }),
  t.partial({ ttlMs: Int(MIN_ARTIFACT_TTL_MS, MAX_ARTIFACT_TTL_MS, "TtlMs"), taskId: TaskIdField }),
]);
export type ArtifactPutRequest = t.TypeOf<typeof ArtifactPutRequest>;

/** The result of a put: `existing` when the bytes were already there (their expiry moved on). */
export const ArtifactPut = t.type({ ref: t.string, id: t.string, size: t.number, existing: t.boolean, expiresAt: t.string });
export type ArtifactPut = t.TypeOf<typeof ArtifactPut>;

/** One artifact as operators see it (`artifact ls`, `artifact.list`). Never the bytes, nor the chunk digests. */
export const ArtifactRow = t.type({
  id: t.string,
  ref: t.string,
  size: t.number,
  chunks: t.number,
  contentType: t.string,
  creator: t.string,
  createdAt: t.string,
  expiresAt: t.string,
  sharedWith: t.array(t.string),
});
export type ArtifactRow = t.TypeOf<typeof ArtifactRow>;

export const ArtifactListRequest = t.partial({ creator: t.string, limit: Int(1, 10_000, "Limit") });
export const ArtifactIdRequest = t.type({ id: ArtifactIdOrRef });
export const ArtifactRemoveRequest = t.intersection([t.type({ id: ArtifactIdOrRef }), t.partial({ reason: t.string })]);
export const ArtifactShareRequest = t.type({ id: ArtifactIdOrRef, pluginId: t.refinement(t.string, (s) => PLUGIN_ID.test(s), "PluginId") });

/** Error codes of `art.get` / `art.put` (a subset of the service's). */
export type ArtifactErrorCode = "InvalidRequest" | "NotFound" | "Forbidden" | "Corrupt" | "PayloadTooLarge" | "Unavailable";
