#include "counter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffers ------------------------------------------------------------------------------- */

void cc_buf_free(cc_buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static bool grow(cc_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

bool cc_buf_put(cc_buf *b, const void *data, size_t n) {
    if (!grow(b, n)) return false;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

bool cc_buf_printf(cc_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !grow(b, (size_t)n)) return false;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return true;
}

bool cc_buf_json_string(cc_buf *b, const char *s, size_t n) {
    if (!cc_buf_put(b, "\"", 1)) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool ok;
        if (ch == '"') ok = cc_buf_put(b, "\\\"", 2);
        else if (ch == '\\') ok = cc_buf_put(b, "\\\\", 2);
        else if (ch == '\n') ok = cc_buf_put(b, "\\n", 2);
        else if (ch == '\r') ok = cc_buf_put(b, "\\r", 2);
        else if (ch == '\t') ok = cc_buf_put(b, "\\t", 2);
        else if (ch < 0x20) ok = cc_buf_printf(b, "\\u%04x", ch);
        else ok = cc_buf_put(b, &s[i], 1);
        if (!ok) return false;
    }
    return cc_buf_put(b, "\"", 1);
}

/* ---- JSON reading ---------------------------------------------------------------------------- */

#define MAX_DEPTH 64

static void ws(cc_json *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static bool hex4(cc_json *c, unsigned *u) {
    if (c->end - c->p < 4) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(c->p[i]);
        if (h < 0) return false;
        v = v * 16 + (unsigned)h;
    }
    c->p += 4;
    *u = v;
    return true;
}

static bool put_utf8(cc_buf *out, unsigned cp) {
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return out ? cc_buf_put(out, b, n) : true;
}

const char *cc_json_string(cc_json *c, cc_buf *out) {
    if (c->p >= c->end || *c->p != '"') return "expected a string";
    c->p++;
    while (c->p < c->end) {
        const char *run = c->p;
        while (c->p < c->end && *c->p != '"' && *c->p != '\\' && (unsigned char)*c->p >= 0x20) c->p++;
        if (out && c->p > run && !cc_buf_put(out, run, (size_t)(c->p - run))) return "out of memory";
        if (c->p >= c->end) break;
        char ch = *c->p++;
        if (ch == '"') {
            if (out && !out->p && !cc_buf_put(out, "", 0)) return "out of memory";
            return NULL;
        }
        if (ch != '\\') return "a control character inside a string";
        if (c->p >= c->end) break;
        char e = *c->p++;
        const char *simple = NULL;
        switch (e) {
            case '"': simple = "\""; break;
            case '\\': simple = "\\"; break;
            case '/': simple = "/"; break;
            case 'b': simple = "\b"; break;
            case 'f': simple = "\f"; break;
            case 'n': simple = "\n"; break;
            case 'r': simple = "\r"; break;
            case 't': simple = "\t"; break;
            case 'u': break;
            default: return "an invalid escape in a string";
        }
        if (simple) {
            if (out && !cc_buf_put(out, simple, 1)) return "out of memory";
            continue;
        }
        unsigned u;
        if (!hex4(c, &u)) return "an invalid \\u escape in a string";
        if (u >= 0xDC00 && u <= 0xDFFF) return "a lone surrogate (\\u escape) is not valid UTF-8";
        if (u >= 0xD800 && u <= 0xDBFF) {
            unsigned lo;
            if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u') return "a lone surrogate (\\u escape) is not valid UTF-8";
            c->p += 2;
            if (!hex4(c, &lo) || lo < 0xDC00 || lo > 0xDFFF) return "a lone surrogate (\\u escape) is not valid UTF-8";
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (!put_utf8(out, u)) return "out of memory";
    }
    return "an unterminated string";
}

const char *cc_json_number(cc_json *c, double *out) {
    const char *start = c->p;
    if (c->p < c->end && *c->p == '-') c->p++;
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return "expected a number";
    if (*c->p == '0') c->p++;
    else
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return "expected digits after '.'";
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return "expected digits in an exponent";
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    }
    if (out) {
        char tmp[64];
        size_t n = (size_t)(c->p - start);
        if (n >= sizeof tmp) n = sizeof tmp - 1;
        memcpy(tmp, start, n);
        tmp[n] = '\0';
        *out = strtod(tmp, NULL);
    }
    return NULL;
}

static const char *literal(cc_json *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return "an unexpected character";
    c->p += n;
    return NULL;
}

static const char *skip(cc_json *c, int depth) {
    if (depth > MAX_DEPTH) return "nested too deeply";
    ws(c);
    if (c->p >= c->end) return "unexpected end of input";
    const char *err;
    switch (*c->p) {
        case '"': return cc_json_string(c, NULL);
        case 't': return literal(c, "true");
        case 'f': return literal(c, "false");
        case 'n': return literal(c, "null");
        case '[':
        case '{': {
            char close = *c->p == '[' ? ']' : '}';
            bool object = close == '}';
            c->p++;
            ws(c);
            if (c->p < c->end && *c->p == close) {
                c->p++;
                return NULL;
            }
            for (;;) {
                ws(c);
                if (object) {
                    if ((err = cc_json_string(c, NULL))) return err;
                    ws(c);
                    if (c->p >= c->end || *c->p != ':') return "expected ':'";
                    c->p++;
                }
                if ((err = skip(c, depth + 1))) return err;
                ws(c);
                if (c->p < c->end && *c->p == ',') {
                    c->p++;
                    continue;
                }
                if (c->p < c->end && *c->p == close) {
                    c->p++;
                    return NULL;
                }
                return object ? "expected ',' or '}'" : "expected ',' or ']'";
            }
        }
        default: return cc_json_number(c, NULL);
    }
}

const char *cc_json_skip(cc_json *c) { return skip(c, 1); }

const char *cc_json_bool(cc_json *c, bool *out) {
    ws(c);
    if (c->p < c->end && *c->p == 't') {
        *out = true;
        return literal(c, "true");
    }
    if (c->p < c->end && *c->p == 'f') {
        *out = false;
        return literal(c, "false");
    }
    return "expected true or false";
}

const char *cc_json_object(const char *json, size_t len, cc_member_fn fn, void *closure) {
    cc_json c = {json, json + len};
    const char *err = NULL;
    cc_buf key = {0};
    ws(&c);
    if (c.p >= c.end || *c.p != '{') return "expected an object";
    c.p++;
    ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            ws(&c);
            key.len = 0;
            if ((err = cc_json_string(&c, &key))) goto done;
            ws(&c);
            if (c.p >= c.end || *c.p != ':') {
                err = "expected ':'";
                goto done;
            }
            c.p++;
            ws(&c);
            if ((err = fn(key.p, &c, closure))) goto done;
            ws(&c);
            if (c.p < c.end && *c.p == ',') {
                c.p++;
                continue;
            }
            if (c.p < c.end && *c.p == '}') {
                c.p++;
                break;
            }
            err = "expected ',' or '}'";
            goto done;
        }
    }
    ws(&c);
    if (c.p != c.end) err = "trailing characters after the object";
done:
    cc_buf_free(&key);
    return err;
}

/* ---- params of text.count -------------------------------------------------------------------- */

typedef struct {
    cc_buf text, encoding;
    bool has_text, has_encoding, store;
    char *err;
    size_t errlen;
} params_walk;

static const char *param_member(const char *key, cc_json *c, void *closure) {
    params_walk *w = closure;
    const char *err;
    if (strcmp(key, "text") == 0) {
        if ((err = cc_json_string(c, &w->text))) {
            snprintf(w->err, w->errlen, "params.text: %s", err);
            return w->err;
        }
        w->has_text = true;
        return NULL;
    }
    if (strcmp(key, "encoding") == 0) {
        if ((err = cc_json_string(c, &w->encoding))) {
            snprintf(w->err, w->errlen, "params.encoding: %s", err);
            return w->err;
        }
        w->has_encoding = true;
        return NULL;
    }
    if (strcmp(key, "store") == 0) {
        if ((err = cc_json_bool(c, &w->store))) {
            snprintf(w->err, w->errlen, "params.store: %s", err);
            return w->err;
        }
        return NULL;
    }
    snprintf(w->err, w->errlen, "params.%.64s: not allowed (expected only text, encoding and store)", key);
    return w->err;
}

static int b64val(char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

/* Standard base64 with padding; on failure answers the offending character's position + 1. */
static size_t base64_decode(const char *s, size_t n, cc_buf *out) {
    if (n % 4 != 0) return n + 1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char ch = s[i + k];
            if (ch == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad > 0 || (v[k] = b64val(ch)) < 0) return i + (size_t)k + 1;
        }
        unsigned char b[3] = {(unsigned char)(v[0] << 2 | v[1] >> 4), (unsigned char)((v[1] & 15) << 4 | v[2] >> 2),
                              (unsigned char)((v[2] & 3) << 6 | v[3])};
        if (!cc_buf_put(out, b, (size_t)(3 - pad))) return n + 1;
    }
    if (!out->p) cc_buf_put(out, "", 0);
    return 0;
}

bool cc_decode_params(const char *json, size_t len, cc_params *out, char *err, size_t errlen) {
    params_walk w = {.err = err, .errlen = errlen};
    memset(out, 0, sizeof *out);
    const char *e = cc_json_object(json, len, param_member, &w);
    bool ok = false;
    if (e) {
        if (e != err) snprintf(err, errlen, "params: %s", e);
    } else if (!w.has_text) {
        snprintf(err, errlen, "params.text: required");
    } else if (!w.has_encoding || strcmp(w.encoding.p, "utf8") == 0) {
        out->data = w.text;
        w.text = (cc_buf){0};
        ok = true;
    } else if (strcmp(w.encoding.p, "base64") == 0) {
        size_t bad = base64_decode(w.text.p, w.text.len, &out->data);
        if (bad == 0) ok = true;
        else if (bad > w.text.len) snprintf(err, errlen, "params.text: not valid base64 (its length %zu is not a multiple of 4)", w.text.len);
        else snprintf(err, errlen, "params.text: not valid base64 at character %zu", bad);
        if (!ok) cc_buf_free(&out->data);
    } else if (strcmp(w.encoding.p, "artifact") == 0) {
        /* artifact://<sha256>: 64 lower-case hex digits (subjects.md, "Artifacts"). */
        static const char scheme[] = "artifact://";
        bool ref = w.text.len == sizeof scheme - 1 + 64 && memcmp(w.text.p, scheme, sizeof scheme - 1) == 0;
        for (size_t i = sizeof scheme - 1; ref && i < w.text.len; i++)
            ref = (w.text.p[i] >= '0' && w.text.p[i] <= '9') || (w.text.p[i] >= 'a' && w.text.p[i] <= 'f');
        if (!ref) snprintf(err, errlen, "params.text: not artifact://<sha256> (64 lower-case hex digits)");
        else if (w.store) snprintf(err, errlen, "params.store: does not apply to encoding artifact");
        else {
            memcpy(out->artifact_id, w.text.p + sizeof scheme - 1, 64);
            out->artifact_id[64] = '\0';
            ok = true;
        }
    } else {
        snprintf(err, errlen, "params.encoding: expected utf8, base64 or artifact");
    }
    if (ok) out->store = w.store;
    cc_buf_free(&w.text);
    cc_buf_free(&w.encoding);
    return ok;
}

void cc_params_free(cc_params *p) { cc_buf_free(&p->data); }

/* ---- counting --------------------------------------------------------------------------------- */

void cc_count_init(cc_counter *c) { memset(c, 0, sizeof *c); }

static bool space(unsigned char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'; }

void cc_count(cc_counter *c, const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = s[i];
        c->n.bytes++;
        if ((ch & 0xC0) != 0x80) c->n.chars++;
        if (ch == '\n') c->n.lines++;
        if (space(ch)) c->in_word = false;
        else if (!c->in_word) {
            c->in_word = true;
            c->n.words++;
        }
    }
    if (n > 0) c->last = s[n - 1];
}

cc_counts cc_count_end(cc_counter *c) {
    cc_counts n = c->n;
    /* A last line without a newline still counts. */
    if (n.bytes > 0 && c->last != '\n') n.lines++;
    return n;
}
