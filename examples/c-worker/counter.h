/*
 * The pure part of the c-counter worker: JSON reading and writing, params decoding, counting.
 * No NATS here (worker.c is the adapter); test_counter.c checks it without a server.
 */
#ifndef CC_COUNTER_H
#define CC_COUNTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer (always NUL-terminated; may hold NULs before len). */
typedef struct {
    char *p;
    size_t len, cap;
} cc_buf;

void cc_buf_free(cc_buf *b);
bool cc_buf_put(cc_buf *b, const void *data, size_t n);
bool cc_buf_printf(cc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s (n bytes) as a JSON string literal, quotes included. */
bool cc_buf_json_string(cc_buf *b, const char *s, size_t n);

/* A cursor over JSON text. */
typedef struct {
    const char *p, *end;
} cc_json;

/*
 * Calls fn for each member of the top-level object in json; fn must consume the value with
 * cc_json_string, cc_json_number or cc_json_skip and return NULL, or return an error. Answers
 * NULL when the whole text is one well-formed object, else a reason (static or in err).
 */
typedef const char *(*cc_member_fn)(const char *key, cc_json *c, void *closure);
const char *cc_json_object(const char *json, size_t len, cc_member_fn fn, void *closure);
/* Reads a string value into out (decoded to UTF-8); NULL or a reason. */
const char *cc_json_string(cc_json *c, cc_buf *out);
const char *cc_json_number(cc_json *c, double *out);
const char *cc_json_skip(cc_json *c);
/* Reads true or false. */
const char *cc_json_bool(cc_json *c, bool *out);

/*
 * The params of text.count: {"text": string, "encoding"?: "utf8" | "base64" | "artifact",
 * "store"?: boolean}. With encoding artifact, text is artifact://<sha256> and the bytes counted are
 * the artifact's (artifacts.c reads them); store: true also puts the decoded text as an artifact.
 */
typedef struct {
    cc_buf data;           /* the text's bytes, base64-decoded when encoding is base64; empty for artifact */
    bool store;            /* also put data as an artifact */
    char artifact_id[65];  /* encoding artifact: the 64 hex digits of the reference, else "" */
} cc_params;

/*
 * Decodes params; on failure answers false with a message naming the path (for example
 * "params.text: not valid base64 at character 5") in err.
 */
bool cc_decode_params(const char *json, size_t len, cc_params *out, char *err, size_t errlen);
void cc_params_free(cc_params *p);

typedef struct {
    uint64_t bytes, chars, words, lines;
} cc_counts;

/* Counting in chunks: init, feed any number of chunks, end. */
typedef struct {
    cc_counts n;
    bool in_word;
    unsigned char last;
} cc_counter;

void cc_count_init(cc_counter *c);
void cc_count(cc_counter *c, const unsigned char *s, size_t n);
cc_counts cc_count_end(cc_counter *c);

#endif
