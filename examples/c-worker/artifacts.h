/*
 * Artifacts over the wire contract alone (subjects.md, "Artifacts"), with cnats and libsodium: large
 * inputs and results live in the bus's object store, named by their SHA-256; params and results
 * carry artifact://<sha256>. The plugin's account has no JetStream of its own, so every byte goes
 * through the core:
 *
 *   - write: JetStream-publish chunks of exactly 128 KiB (the last shorter) on artup.<upload>, each
 *     with headers Ganglion-Chunk (index) and Ganglion-Chunk-Sha256, then request art.put;
 *   - read: request art.get for one chunk at a time, passing back Ganglion-Cursor, checking every
 *     chunk against Ganglion-Chunk-Sha256 and the whole against the id (crypto_hash_sha256's
 *     streaming API: one chunk in memory).
 */
#ifndef C_COUNTER_ARTIFACTS_H
#define C_COUNTER_ARTIFACTS_H

#include <stdbool.h>
#include <stddef.h>

#include <nats/nats.h>

#define ART_CHUNK (128 * 1024)
/* At most 1 GiB per artifact. */
#define ART_MAX_CHUNKS 8192
/* "artifact://" + 64 hex digits + NUL. */
#define ART_REF_LEN (11 + 64 + 1)

/* Called with each chunk read, once checked; false stops the read (the attempt was withdrawn). */
typedef bool (*art_chunk_fn)(const unsigned char *data, size_t n, void *closure);

/*
 * Reads the artifact id (64 hex digits) chunk by chunk, each checked, calling fn for each; task_id
 * names the task whose params reference it (what lets this plugin read an artifact it did not
 * make). Answers true when every byte was read and the whole matches the id; else false with a
 * message in err naming the artifact and the chunk, and *retryable (false for NotFound and
 * InvalidRequest: another attempt would get the same answer). *stopped is set when fn said stop.
 */
bool art_read(natsConnection *nc, const char *id, const char *task_id, art_chunk_fn fn, void *closure, bool *stopped, char *err,
              size_t errlen, bool *retryable);

/*
 * Puts len bytes as an artifact (an upload of a random id, then art.put naming task_id) and writes
 * its reference into ref[ART_REF_LEN]. False with a message in err (retryable: a failed put is a
 * transfer problem, or the core's answer Unavailable).
 */
bool art_put(natsConnection *nc, jsCtx *js, const unsigned char *data, size_t len, const char *content_type, const char *task_id,
             char ref[ART_REF_LEN], char *err, size_t errlen);

#endif
