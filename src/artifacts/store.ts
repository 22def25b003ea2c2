import { createHash } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import type { ObjectInfo, ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { ARTIFACT_BUCKET, ARTIFACT_UPLOADS_STREAM, busArtifactUploadSubject } from "../contract/subjects.js";
import { ARTIFACT_CHUNK_BYTES, ArtifactHeaders, artifactRef, DEFAULT_ARTIFACT_TTL_MS } from "../contract/artifacts.js";
import type { ArtifactPutRequest, ArtifactRow } from "../contract/artifacts.js";

/**
 * The artifacts bucket (`@nats-io/obj`, stream `OBJ_artifacts` declared in `streams/`): objects
 * named by the SHA-256 (hex) of their bytes, with their description in the object's `metadata`:
 * content type, creator, creation and expiry, who it is shared with, and the SHA-256 of every
 * chunk (hex, concatenated), checked each time a chunk leaves. Only the core touches the bucket:
 * every read and write of a plugin goes through `./serve.ts`, one chunk at a time, so nothing here
 * ever holds more than a chunk of an artifact in memory.
 */

export type ArtifactMeta = ArtifactRow & { readonly nuid: string; readonly chunkSha256: readonly string[] };

/** Keys of the object's `metadata`. */
const M = {
  contentType: "ganglion-content-type",
  creator: "ganglion-creator",
  createdAt: "ganglion-created-at",
  expiresAt: "ganglion-expires-at",
  sharedWith: "ganglion-shared-with",
  chunks: "ganglion-chunk-sha256",
} as const;

export class ArtifactError extends Error {
  constructor(
    readonly code: "NotFound" | "Corrupt" | "InvalidRequest" | "Unavailable",
    message: string,
    readonly chunk?: number,
  ) {
    super(message);
  }
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const metaOf = (i: ObjectInfo): ArtifactMeta | undefined => {
  const m = i.metadata ?? {};
  if (i.deleted || m[M.chunks] === undefined || !m[M.createdAt]) return undefined;
  const all = m[M.chunks] ?? "";
  const chunkSha256 = all.match(/[0-9a-f]{64}/g) ?? [];
  return {
    id: i.name,
    ref: artifactRef(i.name),
    size: i.size,
    chunks: i.chunks,
    contentType: m[M.contentType] ?? "application/octet-stream",
    creator: m[M.creator] ?? "unknown",
    createdAt: m[M.createdAt] ?? "",
    expiresAt: m[M.expiresAt] ?? "",
    sharedWith: (m[M.sharedWith] ?? "").split(",").filter((s) => s !== ""),
    nuid: i.nuid,
    chunkSha256,
  };
};

export const rowOf = ({ nuid: _n, chunkSha256: _c, ...row }: ArtifactMeta): ArtifactRow => row;

export type ArtifactStore = {
  readonly meta: (id: string, fresh?: boolean) => Promise<ArtifactMeta | undefined>;
  /** Reads the chunks staged on `artup.<plugin>.<upload>`, checks each and the whole, stores them under their digest. */
  readonly commit: (pluginId: string, req: ArtifactPutRequest, actor: string) => Promise<{ meta: ArtifactMeta; existing: boolean }>;
  /** One chunk: from `cursor` (a stream sequence; 0 = the start) on the artifact's chunk subject, checked against its digest. */
  readonly chunk: (m: ArtifactMeta, index: number, cursor: number) => Promise<{ data: Uint8Array; sha256: string; next: number }>;
  readonly update: (m: ArtifactMeta, change: { sharedWith?: string[]; expiresAt?: string }) => Promise<ArtifactMeta>;
  readonly remove: (id: string) => Promise<boolean>;
  readonly list: () => Promise<ArtifactMeta[]>;
};

export const openArtifactStore = async (nc: NatsConnection): Promise<ArtifactStore> => {
  const js = jetstream(nc, { timeout: 30_000 });
  const jsm: JetStreamManager = await jetstreamManager(nc);
  const os: ObjectStore = await new Objm(js).open(ARTIFACT_BUCKET);
  const cache = new Map<string, { meta: ArtifactMeta; at: number }>();
  const busy = new Set<string>();

  const meta = async (id: string, fresh = false): Promise<ArtifactMeta | undefined> => {
    const c = cache.get(id);
    if (c && !fresh && Date.now() - c.at < 5_000) return c.meta;
    const i = await os.info(id);
    const m = i ? metaOf(i) : undefined;
    if (m) {
      cache.set(id, { meta: m, at: Date.now() });
      if (cache.size > 256) cache.delete(cache.keys().next().value!);
    } else cache.delete(id);
    return m;
  };

  /** The staged chunks of an upload, in order, each checked; the whole checked at the end. */
  const staged = (pluginId: string, req: ArtifactPutRequest, digests: string[]): ReadableStream<Uint8Array> => {
    const subject = busArtifactUploadSubject(pluginId, req.upload);
    const whole = createHash("sha256");
    let cursor = 1;
    let index = 0;
    let size = 0;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const m = index < req.chunks ? await jsm.direct.getMessage(ARTIFACT_UPLOADS_STREAM, { seq: cursor, next_by_subj: subject }) : null;
          if (!m) {
            if (index < req.chunks) throw new ArtifactError("InvalidRequest", `upload ${req.upload} has ${index} chunks; the put says ${req.chunks}`, index);
            if (size !== req.size) throw new ArtifactError("InvalidRequest", `upload ${req.upload} holds ${size} bytes; the put says ${req.size}`);
            const got = whole.digest("hex");
            if (got !== req.sha256) throw new ArtifactError("Corrupt", `the upload's SHA-256 is ${got}, not ${req.sha256}`);
            controller.close();
            return;
          }
          cursor = m.seq + 1;
          const declared = m.header.get(ArtifactHeaders.ChunkSha256);
          const n = m.header.get(ArtifactHeaders.Chunk);
          if (n !== String(index))
            throw new ArtifactError(
              "InvalidRequest",
              `chunk ${index} of upload ${req.upload}: its ${ArtifactHeaders.Chunk} header is ${JSON.stringify(n.slice(0, 20))}`,
              index,
            );
          const got = sha256(m.data);
          if (got !== declared)
            throw new ArtifactError(
              "Corrupt",
              `chunk ${index} of upload ${req.upload}: its bytes hash to ${got}, its header says ${declared.slice(0, 64)}`,
              index,
            );
          const last = index === req.chunks - 1;
          if (last ? m.data.length === 0 || m.data.length > ARTIFACT_CHUNK_BYTES : m.data.length !== ARTIFACT_CHUNK_BYTES)
            throw new ArtifactError(
              "InvalidRequest",
              `chunk ${index} of upload ${req.upload} holds ${m.data.length} bytes; every chunk but the last holds ${ARTIFACT_CHUNK_BYTES}`,
              index,
            );
          whole.update(m.data);
          digests.push(got);
          size += m.data.length;
          index++;
          controller.enqueue(m.data);
        },
      },
      { highWaterMark: 1 },
    );
  };

  const drain = async (rs: ReadableStream<Uint8Array>) => {
    const r = rs.getReader();
    while (!(await r.read()).done);
  };

  const commit = async (pluginId: string, req: ArtifactPutRequest, actor: string) => {
    const key = `${pluginId}/${req.upload}`;
    if (busy.has(key)) throw new ArtifactError("Unavailable", `upload ${req.upload} is being committed; ask again`);
    busy.add(key);
    try {
      const digests: string[] = [];
      const now = new Date();
      const expiresAt = new Date(now.getTime() + (req.ttlMs ?? DEFAULT_ARTIFACT_TTL_MS)).toISOString();
      const before = await meta(req.sha256, true);
      if (before) {
        // Stored already: the uploader proved it holds the bytes (every chunk is read and checked),
        // so it may read them too; the expiry moves on.
        await drain(staged(pluginId, req, digests));
        const sharedWith = before.creator === actor || before.sharedWith.includes(pluginId) ? [...before.sharedWith] : [...before.sharedWith, pluginId];
        const later = before.expiresAt > expiresAt ? before.expiresAt : expiresAt;
        return { meta: await update(before, { sharedWith, expiresAt: later }), existing: true };
      }
      const tmp = `upload.${pluginId}.${req.upload}`;
      await os.put({ name: tmp, options: { max_chunk_size: ARTIFACT_CHUNK_BYTES } }, staged(pluginId, req, digests));
      try {
        await os.update(tmp, {
          name: req.sha256,
          metadata: {
            [M.contentType]: req.contentType,
            [M.creator]: actor,
            [M.createdAt]: now.toISOString(),
            [M.expiresAt]: expiresAt,
            [M.sharedWith]: "",
            [M.chunks]: digests.join(""),
          },
        });
      } catch (err) {
        // Another commit of the same bytes won the name: keep its copy.
        await os.delete(tmp).catch(() => undefined);
        const won = await meta(req.sha256, true);
        if (!won) throw err;
        return { meta: won, existing: true };
      }
      const m = await meta(req.sha256, true);
      if (!m) throw new ArtifactError("Unavailable", `artifact ${req.sha256} was stored but cannot be read back; ask again`);
      return { meta: m, existing: false };
    } finally {
      busy.delete(key);
      await jsm.streams.purge(ARTIFACT_UPLOADS_STREAM, { filter: busArtifactUploadSubject(pluginId, req.upload) }).catch(() => undefined);
    }
  };

  const chunk = async (m: ArtifactMeta, index: number, cursor: number) => {
    if (index >= m.chunks) throw new ArtifactError("InvalidRequest", `artifact ${m.id} has ${m.chunks} chunks; there is no chunk ${index}`, index);
    const msg = await jsm.direct.getMessage(`OBJ_${ARTIFACT_BUCKET}`, { seq: Math.max(1, cursor), next_by_subj: `$O.${ARTIFACT_BUCKET}.C.${m.nuid}` });
    if (!msg) throw new ArtifactError("NotFound", `chunk ${index} of artifact ${m.id} is not there (removed meanwhile, or a cursor past its end)`, index);
    const got = sha256(msg.data);
    if (got !== m.chunkSha256[index])
      throw new ArtifactError(
        "Corrupt",
        `chunk ${index} of artifact ${m.id} hashes to ${got}, not ${m.chunkSha256[index] ?? "(no digest)"}: stored bytes are damaged, or the cursor is not that chunk's`,
        index,
      );
    return { data: msg.data, sha256: got, next: msg.seq + 1 };
  };

  const update = async (m: ArtifactMeta, change: { sharedWith?: string[]; expiresAt?: string }) => {
    const i = await os.info(m.id);
    if (!i) throw new ArtifactError("NotFound", `artifact ${m.id} is gone`);
    const md = { ...i.metadata };
    if (change.sharedWith) md[M.sharedWith] = [...new Set(change.sharedWith)].sort().join(",");
    if (change.expiresAt) md[M.expiresAt] = change.expiresAt;
    await os.update(m.id, { metadata: md });
    return (await meta(m.id, true)) ?? m;
  };

  return {
    meta,
    commit,
    chunk,
    update,
    remove: async (id) => {
      cache.delete(id);
      if (!(await os.info(id))) return false;
      await os.delete(id);
      return true;
    },
    list: async () => {
      const out: ArtifactMeta[] = [];
      for (const i of await os.list()) {
        const m = metaOf(i);
        if (m) out.push(m);
      }
      return out;
    },
  };
};
