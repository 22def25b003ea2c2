/* Artifacts over the wire (artifacts.h; subjects.md, "Artifacts"). */
#define _GNU_SOURCE
#include "artifacts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "counter.h"

#define HDR_CHUNK "Ganglion-Chunk"
#define HDR_CHUNK_SHA256 "Ganglion-Chunk-Sha256"
#define HDR_CHUNKS "Ganglion-Chunks"
#define HDR_CURSOR "Ganglion-Cursor"
#define HDR_ERROR "Ganglion-Error"
#define GET_TIMEOUT_MS 30000
#define PUBLISH_TIMEOUT_MS 30000

static void hex_sha256(const unsigned char *data, size_t n, char out[65]) {
    unsigned char sum[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(sum, data, n);
    sodium_bin2hex(out, 65, sum, sizeof sum);
}

/* ---- the JSON of the core's answers: {"ok", "result": {"ref"}, "error": {"code", "message"}} -------- */

typedef struct {
    cc_buf code, message, ref;
    bool ok;
} answer;

static const char *error_member(const char *key, cc_json *c, void *closure) {
    answer *a = closure;
    if (strcmp(key, "code") == 0) return cc_json_string(c, &a->code);
    if (strcmp(key, "message") == 0) return cc_json_string(c, &a->message);
    return cc_json_skip(c);
}

static const char *result_member(const char *key, cc_json *c, void *closure) {
    answer *a = closure;
    if (strcmp(key, "ref") == 0) return cc_json_string(c, &a->ref);
    return cc_json_skip(c);
}

/* A member whose value is an object read by fn: skip it on a copy of the cursor to find its end. */
static const char *nested(cc_json *c, cc_member_fn fn, void *closure) {
    cc_json start = *c;
    const char *err = cc_json_skip(c);
    if (err) return err;
    return cc_json_object(start.p, (size_t)(c->p - start.p), fn, closure);
}

static const char *answer_member(const char *key, cc_json *c, void *closure) {
    answer *a = closure;
    if (strcmp(key, "ok") == 0) return cc_json_bool(c, &a->ok);
    if (strcmp(key, "result") == 0) return nested(c, result_member, a);
    if (strcmp(key, "error") == 0) return nested(c, error_member, a);
    return cc_json_skip(c);
}

static void answer_free(answer *a) {
    cc_buf_free(&a->code);
    cc_buf_free(&a->message);
    cc_buf_free(&a->ref);
}

static const char *text_or(const cc_buf *b, const char *def) { return b->p ? b->p : def; }

/* ---- reading ----------------------------------------------------------------------------------- */

static bool header_u64(natsMsg *m, const char *key, unsigned long long *out) {
    const char *v = NULL;
    if (natsMsgHeader_Get(m, key, &v) != NATS_OK || !v || !*v) return false;
    char *end = NULL;
    *out = strtoull(v, &end, 10);
    return *end == '\0' && v[0] != '-';
}

bool art_read(natsConnection *nc, const char *id, const char *task_id, art_chunk_fn fn, void *closure, bool *stopped, char *err,
              size_t errlen, bool *retryable) {
    crypto_hash_sha256_state whole;
    crypto_hash_sha256_init(&whole);
    unsigned long long total = 1, cursor = 0;
    bool ok = true;
    *stopped = false;
    *retryable = true;
    for (unsigned long long i = 0; ok && i < total; i++) {
        cc_buf req = {0};
        bool built = cc_buf_printf(&req, "{\"id\":\"%s\",\"chunk\":%llu", id, i) && (i == 0 || cc_buf_printf(&req, ",\"cursor\":%llu", cursor)) &&
                     (!task_id || (cc_buf_printf(&req, ",\"taskId\":") && cc_buf_json_string(&req, task_id, strlen(task_id)))) &&
                     cc_buf_printf(&req, "}");
        natsMsg *reply = NULL;
        natsStatus s = built ? natsConnection_Request(&reply, nc, "art.get", req.p, (int)req.len, GET_TIMEOUT_MS) : NATS_NO_MEMORY;
        cc_buf_free(&req);
        if (s != NATS_OK) {
            snprintf(err, errlen, "artifact %s chunk %llu: art.get: %s", id, i, natsStatus_GetText(s));
            return false;
        }
        const char *code = NULL, *want = NULL;
        const unsigned char *data = (const unsigned char *)natsMsg_GetData(reply);
        size_t n = (size_t)natsMsg_GetDataLength(reply);
        if (natsMsgHeader_Get(reply, HDR_ERROR, &code) == NATS_OK && code) {
            answer a = {0};
            cc_json_object((const char *)data, n, answer_member, &a);
            snprintf(err, errlen, "artifact %s chunk %llu: %.40s: %.300s", id, i, code, text_or(&a.message, "(no message)"));
            /* NotFound, InvalidRequest: the same answer again; Corrupt: the core's copy is damaged (an operator's matter). */
            *retryable = strcmp(code, "Unavailable") == 0;
            answer_free(&a);
            ok = false;
        } else if (natsMsgHeader_Get(reply, HDR_CHUNK_SHA256, &want) != NATS_OK || !want) {
            snprintf(err, errlen, "artifact %s chunk %llu: art.get: no " HDR_CHUNK_SHA256 " header", id, i);
            ok = false;
        } else {
            char got[65];
            hex_sha256(data, n, got);
            unsigned long long chunks = 0, next = 0;
            if (strcmp(got, want) != 0) {
                snprintf(err, errlen, "artifact %s chunk %llu does not match its SHA-256 (a corrupt transfer)", id, i);
                ok = false;
            } else if (!header_u64(reply, HDR_CHUNKS, &chunks) || !header_u64(reply, HDR_CURSOR, &next)) {
                snprintf(err, errlen, "artifact %s chunk %llu: art.get: no " HDR_CHUNKS " or " HDR_CURSOR " header", id, i);
                ok = false;
            } else if (chunks > ART_MAX_CHUNKS || (chunks <= i && !(chunks == 0 && n == 0)) || n > ART_CHUNK) {
                /* Bounds from subjects.md: at most 8,192 chunks of at most 128 KiB, this one among them (an empty artifact has none). */
                snprintf(err, errlen, "artifact %s chunk %llu: art.get: %llu chunks, %zu bytes is out of bounds", id, i, chunks, n);
                ok = false;
            } else {
                total = chunks;
                cursor = next;
                crypto_hash_sha256_update(&whole, data, n);
                if (!fn(data, n, closure)) {
                    *stopped = true;
                    snprintf(err, errlen, "artifact %s: stopped at chunk %llu", id, i);
                    ok = false;
                }
            }
        }
        natsMsg_Destroy(reply);
    }
    if (!ok) return false;
    unsigned char sum[crypto_hash_sha256_BYTES];
    char got[65];
    crypto_hash_sha256_final(&whole, sum);
    sodium_bin2hex(got, sizeof got, sum, sizeof sum);
    if (strcmp(got, id) != 0) {
        snprintf(err, errlen, "artifact %s: the bytes read hash to %s", id, got);
        return false;
    }
    return true;
}

/* ---- writing ----------------------------------------------------------------------------------- */

bool art_put(natsConnection *nc, jsCtx *js, const unsigned char *data, size_t len, const char *content_type, const char *task_id,
             char ref[ART_REF_LEN], char *err, size_t errlen) {
    unsigned char rnd[12];
    char upload[25], subj[40];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(upload, sizeof upload, rnd, sizeof rnd);
    snprintf(subj, sizeof subj, "artup.%s", upload);
    crypto_hash_sha256_state whole;
    crypto_hash_sha256_init(&whole);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = PUBLISH_TIMEOUT_MS;
    size_t chunks = 0;
    for (size_t off = 0; off < len; off += ART_CHUNK, chunks++) {
        size_t n = len - off < ART_CHUNK ? len - off : ART_CHUNK;
        char sum[65], index[24];
        hex_sha256(data + off, n, sum);
        snprintf(index, sizeof index, "%zu", chunks);
        crypto_hash_sha256_update(&whole, data + off, n);
        natsMsg *m = NULL;
        jsErrCode jerr = 0;
        natsStatus s = natsMsg_Create(&m, subj, NULL, (const char *)data + off, (int)n);
        if (s == NATS_OK) s = natsMsgHeader_Set(m, HDR_CHUNK, index);
        if (s == NATS_OK) s = natsMsgHeader_Set(m, HDR_CHUNK_SHA256, sum);
        if (s == NATS_OK) s = js_PublishMsg(NULL, js, m, &po, &jerr);
        natsMsg_Destroy(m);
        if (s != NATS_OK) {
            snprintf(err, errlen, "artifact chunk %zu: %s (%d)", chunks, natsStatus_GetText(s), (int)jerr);
            return false;
        }
    }
    unsigned char digest[crypto_hash_sha256_BYTES];
    char sha[65];
    crypto_hash_sha256_final(&whole, digest);
    sodium_bin2hex(sha, sizeof sha, digest, sizeof digest);
    cc_buf req = {0};
    bool built = cc_buf_printf(&req, "{\"upload\":\"%s\",\"sha256\":\"%s\",\"size\":%zu,\"chunks\":%zu,\"contentType\":", upload, sha, len, chunks) &&
                 cc_buf_json_string(&req, content_type, strlen(content_type)) &&
                 (!task_id || (cc_buf_printf(&req, ",\"taskId\":") && cc_buf_json_string(&req, task_id, strlen(task_id)))) &&
                 cc_buf_printf(&req, "}");
    natsMsg *reply = NULL;
    /* The core copies every chunk before it answers: a minute, plus a second per MiB. */
    int64_t timeout = 60000 + (int64_t)(len >> 20) * 1000;
    natsStatus s = built ? natsConnection_Request(&reply, nc, "art.put", req.p, (int)req.len, timeout) : NATS_NO_MEMORY;
    cc_buf_free(&req);
    if (s != NATS_OK) {
        snprintf(err, errlen, "art.put: %s", natsStatus_GetText(s));
        return false;
    }
    answer a = {0};
    const char *bad = cc_json_object(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), answer_member, &a);
    bool ok = false;
    if (bad) snprintf(err, errlen, "art.put: an answer that is not JSON: %s", bad);
    else if (!a.ok) snprintf(err, errlen, "art.put: %.40s: %.300s", text_or(&a.code, "(no code)"), text_or(&a.message, "(no message)"));
    else if (!a.ref.p || a.ref.len != ART_REF_LEN - 1 || strncmp(a.ref.p, "artifact://", 11) != 0 || strcmp(a.ref.p + 11, sha) != 0)
        snprintf(err, errlen, "art.put: the answer's ref is not artifact://%s", sha);
    else {
        memcpy(ref, a.ref.p, ART_REF_LEN);
        ok = true;
    }
    answer_free(&a);
    natsMsg_Destroy(reply);
    return ok;
}
