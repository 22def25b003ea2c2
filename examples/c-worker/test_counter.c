/* Checks the pure part of c-counter (params decoding, counting, JSON strings): `make check`. */
#include "counter.h"

#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            failures++;                                               \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);      \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, "\n");                                    \
        }                                                             \
    } while (0)

static cc_counts count_json(const char *json, bool *ok, char *err, size_t errlen) {
    cc_params p;
    cc_counts n = {0};
    *ok = cc_decode_params(json, strlen(json), &p, err, errlen);
    if (*ok) {
        cc_counter c;
        cc_count_init(&c);
        /* Feed it in uneven chunks: the result must not depend on the chunking. */
        for (size_t off = 0; off < p.data.len; off += 3) {
            size_t len = p.data.len - off < 3 ? p.data.len - off : 3;
            cc_count(&c, (const unsigned char *)p.data.p + off, len);
        }
        n = cc_count_end(&c);
        cc_params_free(&p);
    }
    return n;
}

static void expect_counts(const char *json, uint64_t bytes, uint64_t chars, uint64_t words, uint64_t lines) {
    char err[256] = "";
    bool ok;
    cc_counts n = count_json(json, &ok, err, sizeof err);
    CHECK(ok, "%s: refused: %s", json, err);
    CHECK(n.bytes == bytes && n.chars == chars && n.words == words && n.lines == lines,
          "%s: got bytes=%llu chars=%llu words=%llu lines=%llu", json, (unsigned long long)n.bytes,
          (unsigned long long)n.chars, (unsigned long long)n.words, (unsigned long long)n.lines);
}

static void expect_refused(const char *json, const char *message) {
    char err[256] = "";
    bool ok;
    count_json(json, &ok, err, sizeof err);
    CHECK(!ok, "%s: accepted", json);
    CHECK(strstr(err, message) != NULL, "%s: error %s does not say %s", json, err, message);
}

int main(void) {
    expect_counts("{\"text\":\"\"}", 0, 0, 0, 0);
    expect_counts("{\"text\":\"the quick brown fox\"}", 19, 19, 4, 1);
    expect_counts("{\"text\":\"a b\\nc d\\n\"}", 8, 8, 4, 2);
    expect_counts(" { \"encoding\" : \"utf8\" , \"text\" : \"  spaced\\t out  \" } ", 15, 15, 2, 1);
    expect_counts("{\"text\":\"caf\\u00e9 \\ud83d\\ude00\"}", 10, 6, 2, 1);
    expect_counts("{\"text\":\"h\xc3\xa9\"}", 3, 2, 1, 1);
    expect_counts("{\"text\":\"aGVsbG8gd29ybGQK\",\"encoding\":\"base64\"}", 12, 12, 2, 1);
    expect_counts("{\"text\":\"YQ==\",\"encoding\":\"base64\"}", 1, 1, 1, 1);

    expect_refused("{\"text\":\"abc\",\"encoding\":\"base64\"}", "params.text: not valid base64 (its length 3");
    expect_refused("{\"text\":\"ab!d\",\"encoding\":\"base64\"}", "params.text: not valid base64 at character 3");
    expect_refused("{\"text\":\"a\\ud800b\"}", "params.text: a lone surrogate");
    expect_refused("{\"words\":1}", "params.words: not allowed");
    expect_refused("{}", "params.text: required");
    expect_refused("{\"text\":3}", "params.text: expected a string");
    expect_refused("{\"text\":\"a\",\"encoding\":\"latin1\"}", "params.encoding: expected utf8, base64 or artifact");
    expect_refused("[1]", "params: expected an object");
    /* Artifacts: a reference of 64 lower-case hex digits; store is a boolean, not for a reference. */
    expect_refused("{\"text\":\"artifact://ABC\",\"encoding\":\"artifact\"}", "params.text: not artifact://<sha256>");
    expect_refused("{\"text\":\"artifact://0000000000000000000000000000000000000000000000000000000000000000\",\"encoding\":\"artifact\","
                   "\"store\":true}",
                   "params.store: does not apply to encoding artifact");
    expect_refused("{\"text\":\"a\",\"store\":1}", "params.store: expected true or false");
    {
        static const char ref[] = "{\"encoding\":\"artifact\",\"text\":\"artifact://9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"}";
        char err[256] = "";
        cc_params p;
        CHECK(cc_decode_params(ref, strlen(ref), &p, err, sizeof err) && p.data.len == 0 && !p.store &&
                  strcmp(p.artifact_id, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08") == 0,
              "an artifact reference: %s", err);
        cc_params_free(&p);
        static const char st[] = "{\"text\":\"ab\",\"store\":true}";
        CHECK(cc_decode_params(st, strlen(st), &p, err, sizeof err) && p.store && p.data.len == 2 && !p.artifact_id[0], "store: %s", err);
        cc_params_free(&p);
    }
    expect_refused("{\"text\":\"a\"} x", "params: trailing characters");
    expect_refused("{\"text\":\"a", "params.text: an unterminated string");

    cc_buf b = {0};
    cc_buf_json_string(&b, "q\"\\\n\x01", 5);
    CHECK(strcmp(b.p, "\"q\\\"\\\\\\n\\u0001\"") == 0, "json string: %s", b.p);
    cc_buf_free(&b);

    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_counter: all checks passed\n");
    return 0;
}
