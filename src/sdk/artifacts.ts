import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { headers as natsHeaders, nuid } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/nats-core";
import type { JetStreamClient } from "@nats-io/jetstream";
import { artifactSubject, artifactUploadSubject } from "../contract/subjects.js";
import { ARTIFACT_CHUNK_BYTES, ArtifactHeaders, artifactIdOf, artifactRef, MAX_ARTIFACT_BYTES } from "../contract/artifacts.js";

/**
 * Artifacts from a worker (subjects.md, "Artifacts"): `put` publishes the bytes in chunks of
 * 128 KiB on `artup.<upload>` (a JetStream publish each, a few in flight) and commits them with
 * `art.put`; `get` asks `art.get` for one chunk at a time and checks each against its SHA-256
 * and the whole against the artifact's id. Memory stays at a few chunks whatever the size.
 */

export class ArtifactError extends Error {
  override name = "ArtifactError";
  constructor(
    readonly code: string,
    message: string,
    readonly chunk?: number,
  ) {
    super(message);
  }
}

export type PutOptions = {
  /** MIME type (default `application/octet-stream`). */
  readonly contentType?: string;
  /** Retention: removed this long after the put (default 7 days, 1 minute to 30 days). */
  readonly ttlMs?: number;
};

export type Artifacts = {
  /** Stores the bytes (a Buffer, a string, or any stream of chunks) and answers their reference `artifact://<sha256>`. */
  readonly put: (
    data: Uint8Array | string | Readable | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
    opts?: PutOptions,
  ) => Promise<string>;
  /** The bytes of `ref`, streamed and checked (an `ArtifactError` on the stream when a chunk or the whole does not match). */
  readonly get: (ref: string) => Readable;
  /** The whole artifact in memory, refused (`PayloadTooLarge`) beyond `maxBytes` (default 64 MiB). */
  readonly getBuffer: (ref: string, opts?: { maxBytes?: number }) => Promise<Buffer>;
};

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const bytes = (c: Uint8Array | string) => (typeof c === "string" ? Buffer.from(c, "utf8") : c);

/** Cuts any sequence of pieces into chunks of exactly `ARTIFACT_CHUNK_BYTES` (the last may be shorter). */
async function* chunked(src: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>): AsyncGenerator<Uint8Array> {
  let buf = Buffer.alloc(ARTIFACT_CHUNK_BYTES);
  let fill = 0;
  for await (const piece of src) {
    let b = bytes(piece);
    while (b.length > 0) {
      const n = Math.min(b.length, ARTIFACT_CHUNK_BYTES - fill);
      buf.set(b.subarray(0, n), fill);
      fill += n;
      b = b.subarray(n);
      if (fill === ARTIFACT_CHUNK_BYTES) {
        yield buf;
        buf = Buffer.alloc(ARTIFACT_CHUNK_BYTES);
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

export const artifactsClient = (
  nc: NatsConnection,
  js: JetStreamClient | undefined,
  opts: { taskId?: string; inFlight?: number; timeoutMs?: number; getSubject?: string } = {},
): Artifacts => {
  const timeout = opts.timeoutMs ?? 30_000;

  const put: Artifacts["put"] = async (data, o = {}) => {
    const upload = nuid.next();
    const whole = createHash("sha256");
    const pending: Promise<unknown>[] = [];
    let size = 0;
    let chunks = 0;
    const src = typeof data === "string" || data instanceof Uint8Array ? [data] : data;
    for await (const c of chunked(src)) {
      size += c.length;
      if (size > MAX_ARTIFACT_BYTES) throw new ArtifactError("PayloadTooLarge", `an artifact holds at most ${MAX_ARTIFACT_BYTES} bytes`);
      whole.update(c);
      const h = natsHeaders();
      h.set(ArtifactHeaders.Chunk, String(chunks++));
      h.set(ArtifactHeaders.ChunkSha256, sha256(c));
      if (!js) throw new ArtifactError("Forbidden", "this client cannot put artifacts");
      pending.push(js.publish(artifactUploadSubject(upload), c, { headers: h, timeout }));
      if (pending.length >= (opts.inFlight ?? 4)) await pending.shift();
    }
    await Promise.all(pending);
    const req = {
      upload,
      sha256: whole.digest("hex"),
      size,
      chunks,
      contentType: o.contentType ?? "application/octet-stream",
      ...(o.ttlMs ? { ttlMs: o.ttlMs } : {}),
      ...(opts.taskId ? { taskId: opts.taskId } : {}),
    };
    // The core copies every chunk before it answers: allow a second per MiB, at least a minute.
    const m = await nc.request(artifactSubject("put"), JSON.stringify(req), { timeout: Math.max(60_000, Math.min(15 * 60_000, size / 1024)) });
    const r = m.json() as { ok: boolean; result?: { ref: string }; error?: { code: string; message: string; details?: { chunk?: number } } };
    if (!r.ok || !r.result) throw new ArtifactError(r.error?.code ?? "Internal", r.error?.message ?? "the core refused the artifact", r.error?.details?.chunk);
    return r.result.ref;
  };

  async function* chunks(ref: string): AsyncGenerator<Uint8Array> {
    const id = artifactIdOf(ref);
    if (!id) throw new ArtifactError("InvalidRequest", `${JSON.stringify(ref.slice(0, 100))} is not artifact://<sha256>`);
    const whole = createHash("sha256");
    let cursor: number | undefined;
    let total = 1;
    for (let i = 0; i < total; i++) {
      const body = { id, chunk: i, ...(cursor !== undefined ? { cursor } : {}), ...(opts.taskId ? { taskId: opts.taskId } : {}) };
      const m = await nc.request(opts.getSubject ?? artifactSubject("get"), JSON.stringify(body), { timeout });
      const code = m.headers?.get(ArtifactHeaders.Error);
      if (code) {
        const e = (m.json() as { error?: { message?: string } }).error;
        throw new ArtifactError(code, e?.message ?? code, i);
      }
      total = Number(m.headers?.get(ArtifactHeaders.Chunks) ?? "0");
      cursor = Number(m.headers?.get(ArtifactHeaders.Cursor));
      const got = sha256(m.data);
      if (got !== m.headers?.get(ArtifactHeaders.ChunkSha256)) throw new ArtifactError("Corrupt", `chunk ${i} of ${id} does not match its SHA-256`, i);
      whole.update(m.data);
      yield m.data;
    }
    const got = whole.digest("hex");
    if (got !== id) throw new ArtifactError("Corrupt", `artifact ${id}: the bytes received hash to ${got}`);
  }

  return {
    put,
    get: (ref) => Readable.from(chunks(ref), { objectMode: false, highWaterMark: ARTIFACT_CHUNK_BYTES }),
    getBuffer: async (ref, o = {}) => {
      const max = o.maxBytes ?? 64 * 1024 * 1024;
      const parts: Uint8Array[] = [];
      let n = 0;
      for await (const c of chunks(ref)) {
        n += c.length;
        if (n > max) throw new ArtifactError("PayloadTooLarge", `artifact ${ref} is over ${max} bytes: read it with get()`);
        parts.push(c);
      }
      return Buffer.concat(parts);
    },
  };
};

/**
 * Results over the bus's comfort: every Buffer/Uint8Array in a handler's result, and every string
 * longer than `thresholdBytes`, is put as an artifact and replaced by its `artifact://` reference,
 * so the report (and the events and views after it) carry only references.
 */
export const externalize = async (v: unknown, a: Artifacts, thresholdBytes: number): Promise<unknown> =>
  needsArtifacts(v, thresholdBytes, 0) ? replace(v, a, thresholdBytes, 0) : v;

const plain = (v: object) => {
  const proto = Object.getPrototypeOf(v) as unknown;
  return Array.isArray(v) || proto === Object.prototype || proto === null;
};

/** A synchronous look first: most results hold nothing to put, and need no promise per value. */
const needsArtifacts = (v: unknown, threshold: number, depth: number): boolean => {
  if (v instanceof Uint8Array) return true;
  if (typeof v === "string") return v.length > threshold / 4 && Buffer.byteLength(v) > threshold;
  if (depth > 64 || v === null || typeof v !== "object" || !plain(v)) return false;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (needsArtifacts(x, threshold, depth + 1)) return true;
  return false;
};

const replace = async (v: unknown, a: Artifacts, threshold: number, depth: number): Promise<unknown> => {
  if (!needsArtifacts(v, threshold, depth)) return v;
  if (v instanceof Uint8Array) return a.put(v, { contentType: "application/octet-stream" });
  if (typeof v === "string") return a.put(v, { contentType: "text/plain; charset=utf-8" });
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const x of v) out.push(await replace(x, a, threshold, depth + 1));
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as object)) out[k] = await replace(x, a, threshold, depth + 1);
  return out;
};

export { artifactRef };
