/* Secrets and live config over the wire: see live.h. */
#define _GNU_SOURCE
#include "live.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "counter.h"

#define CONFIG_SUBJECT "cfg"
#define XKEY_VERSION "xkv1"
#define CURVE_PREFIX (23 << 3) /* base32-encodes to 'X' */

struct live {
    char plugin[65], secret[129];
    unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
    char pk_text[57];
    natsConnection *nc;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* What the thread must do next (set by callbacks, under mu). */
    bool want_config, want_secret, stop;
    /* What this process holds: -1 / 0 before the first answer. */
    long config_version, secret_version;
    bool answered;    /* the first cfg answer came */
    int config_tries; /* unanswered cfg requests in a row */
};

/* ---- xkeys: base32 (RFC 4648, no padding) of prefix + key + CRC-16/XMODEM little endian --------- */

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static uint16_t crc16(const unsigned char *d, size_t n) {
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(d[i] << 8);
        for (int b = 0; b < 8; b++) crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

void live_encode_curve_public(const unsigned char pk[32], char out[57]) {
    unsigned char raw[35];
    raw[0] = CURVE_PREFIX;
    memcpy(raw + 1, pk, 32);
    uint16_t crc = crc16(raw, 33);
    raw[33] = (unsigned char)(crc & 0xff);
    raw[34] = (unsigned char)(crc >> 8);
    size_t j = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof raw; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 5) out[j++] = B32[(acc >> (bits -= 5)) & 31];
    }
    if (bits > 0) out[j++] = B32[(acc << (5 - bits)) & 31];
    out[j] = '\0'; /* 35 bytes = 280 bits = 56 characters exactly */
}

bool live_decode_curve_public(const char *s, unsigned char pk[32]) {
    if (strlen(s) != 56) return false;
    unsigned char raw[35];
    size_t j = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < 56; i++) {
        const char *at = strchr(B32, s[i]);
        if (!at || !s[i]) return false;
        acc = (acc << 5) | (uint32_t)(at - B32);
        bits += 5;
        if (bits >= 8) raw[j++] = (unsigned char)(acc >> (bits -= 8));
    }
    if (j != sizeof raw || raw[0] != CURVE_PREFIX) return false;
    if (crc16(raw, 33) != (uint16_t)(raw[33] | raw[34] << 8)) return false;
    memcpy(pk, raw + 1, 32);
    return true;
}

const char *live_open_sealed(const unsigned char *sealed, size_t n, const unsigned char sender_pk[32], const unsigned char sk[32], unsigned char **out,
                             size_t *out_len) {
    size_t head = strlen(XKEY_VERSION) + crypto_box_NONCEBYTES;
    if (n < head + crypto_box_MACBYTES || memcmp(sealed, XKEY_VERSION, strlen(XKEY_VERSION)) != 0) return "not an xkv1 sealed box";
    size_t len = n - head - crypto_box_MACBYTES;
    unsigned char *m = sodium_malloc(len + 1);
    if (!m) return "out of memory";
    if (crypto_box_open_easy(m, sealed + head, n - head, sealed + strlen(XKEY_VERSION), sender_pk, sk) != 0) {
        sodium_free(m);
        return "the sealed value does not open with this worker's key";
    }
    *out = m;
    *out_len = len;
    return NULL;
}

/* ---- JSON: members kept as spans of the text (a nested object is read again on its own) -------- */

typedef struct {
    const char *p;
    size_t n;
} span;

static const char *take_object(cc_json *c, span *out) {
    const char *start = c->p;
    if (c->p >= c->end || *c->p != '{') return "expected an object";
    const char *err = cc_json_skip(c);
    if (!err) *out = (span){start, (size_t)(c->p - start)};
    return err;
}

/* The number member `key` of an object span, if any. */
typedef struct {
    const char *key;
    double value;
    bool found;
} lookup;

static const char *lookup_member(const char *key, cc_json *c, void *closure) {
    lookup *k = closure;
    if (strcmp(key, k->key) != 0) return cc_json_skip(c);
    k->found = true;
    return cc_json_number(c, &k->value);
}

/* A notice or an answer: every field any of them has. */
typedef struct {
    cc_buf type, name, sealed, sender;
    double version, config_version;
    bool has_version, has_config_number;
    span config, secrets, error;
} message;

static const char *message_member(const char *key, cc_json *c, void *closure) {
    message *m = closure;
    if (strcmp(key, "type") == 0) return cc_json_string(c, &m->type);
    if (strcmp(key, "name") == 0) return cc_json_string(c, &m->name);
    if (strcmp(key, "sealed") == 0) return cc_json_string(c, &m->sealed);
    if (strcmp(key, "sender") == 0) return cc_json_string(c, &m->sender);
    if (strcmp(key, "version") == 0) {
        m->has_version = true;
        return cc_json_number(c, &m->version);
    }
    if (strcmp(key, "secrets") == 0) return take_object(c, &m->secrets);
    if (strcmp(key, "error") == 0) return take_object(c, &m->error);
    if (strcmp(key, "config") == 0) {
        /* An object in config.changed and the cfg answer, a version number in live.versions. */
        if (c->p < c->end && *c->p == '{') return take_object(c, &m->config);
        m->has_config_number = true;
        return cc_json_number(c, &m->config_version);
    }
    return cc_json_skip(c);
}

static void message_free(message *m) {
    cc_buf_free(&m->type);
    cc_buf_free(&m->name);
    cc_buf_free(&m->sealed);
    cc_buf_free(&m->sender);
}

/* Whether `name` is listed in a secrets span, and at which version. */
static bool listed(span s, const char *name, long *version) {
    lookup k = {.key = name};
    if (!s.p || cc_json_object(s.p, s.n, lookup_member, &k) || !k.found) return false;
    *version = (long)k.value;
    return true;
}

/* ---- what this process holds (under mu) ------------------------------------------------------- */

static void apply_config(live *l, long version, span config) {
    if (version <= l->config_version || !config.p) return; /* never replace a newer config by an older one */
    l->config_version = version;
    printf("%s config version %ld %.*s\n", l->plugin, version, (int)config.n, config.p);
}

static void forget_secret(live *l) {
    if (l->secret_version <= 0) return;
    l->secret_version = 0;
    printf("%s secret %s removed\n", l->plugin, l->secret);
}

/* A list of secret versions in force (live.versions, the cfg answer): ask again when newer, forget when gone. */
static void compare_secrets(live *l, span secrets) {
    if (!l->secret[0]) return;
    long v = 0;
    if (!listed(secrets, l->secret, &v)) forget_secret(l);
    else if (v > l->secret_version) l->want_secret = true;
}

/* ---- fetches (on the live thread) ------------------------------------------------------------- */

static void fetch_config(live *l) {
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_RequestString(&reply, l->nc, CONFIG_SUBJECT, "{}", 5000);
    if (s != NATS_OK) {
        fprintf(stderr, "%s: no config from the core (%s); running with the last one\n", l->plugin, natsStatus_GetText(s));
        /* After a server restart the core may come back after us (no responders yet): try a few
         * times, further apart; then the core's next live.versions catches us up. */
        pthread_mutex_lock(&l->mu);
        int tries = ++l->config_tries;
        pthread_mutex_unlock(&l->mu);
        if (tries < 10) {
            nats_Sleep(500 * tries);
            pthread_mutex_lock(&l->mu);
            l->want_config = true;
            pthread_mutex_unlock(&l->mu);
        }
        return;
    }
    message m = {0};
    const char *err = cc_json_object(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), message_member, &m);
    pthread_mutex_lock(&l->mu);
    l->config_tries = 0;
    if (err || !m.has_version) fprintf(stderr, "%s: the core's config answer does not decode: %s\n", l->plugin, err ? err : "no version");
    else {
        apply_config(l, (long)m.version, m.config);
        /* At start ask for the secret (a refusal is shown); later, from a core that lists versions,
         * only when it changed; from one that does not, again. */
        if ((!l->answered || !m.secrets.p) && l->secret[0]) l->want_secret = true;
        else compare_secrets(l, m.secrets);
        l->answered = true;
    }
    pthread_mutex_unlock(&l->mu);
    message_free(&m);
    natsMsg_Destroy(reply);
}

static void secret_error(live *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void secret_error(live *l, const char *fmt, ...) {
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    printf("%s secret %s error %s\n", l->plugin, l->secret, why);
}

static void fetch_secret(live *l) {
    char subject[160], body[96];
    snprintf(subject, sizeof subject, "secret.%s", l->secret);
    snprintf(body, sizeof body, "{\"publicKey\":\"%s\"}", l->pk_text);
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_RequestString(&reply, l->nc, subject, body, 5000);
    if (s != NATS_OK) {
        /* Without the grant the account has no route: no responders, or a timeout. */
        secret_error(l, "no answer (%s): is the plugin granted secret.read:%s?", natsStatus_GetText(s), l->secret);
        return;
    }
    message m = {0};
    const char *err = cc_json_object(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), message_member, &m);
    unsigned char sender[32], *value = NULL, *sealed = NULL;
    size_t value_len = 0, sealed_len = 0;
    if (err) secret_error(l, "the answer does not decode: %s", err);
    else if (m.error.p) secret_error(l, "refused: %.*s", (int)(m.error.n > 300 ? 300 : m.error.n), m.error.p);
    else if (!m.sealed.p || !m.sender.p || !m.has_version) secret_error(l, "%s", "the answer lacks sealed, sender or version");
    else if (!live_decode_curve_public(m.sender.p, sender)) secret_error(l, "%s", "sender is not a curve public key");
    else if (!(sealed = malloc(m.sealed.len + 1)) ||
             sodium_base642bin(sealed, m.sealed.len, m.sealed.p, m.sealed.len, NULL, &sealed_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        secret_error(l, "%s", "sealed is not base64");
    else if ((err = live_open_sealed(sealed, sealed_len, sender, l->sk, &value, &value_len)))
        secret_error(l, "%s", err);
    else {
        unsigned char sum[crypto_hash_sha256_BYTES];
        char hex[2 * crypto_hash_sha256_BYTES + 1];
        crypto_hash_sha256(sum, value, value_len);
        sodium_bin2hex(hex, sizeof hex, sum, sizeof sum);
        sodium_free(value); /* zeroes it: this example only shows that it opened */
        pthread_mutex_lock(&l->mu);
        if ((long)m.version > l->secret_version) {
            l->secret_version = (long)m.version;
            printf("%s secret %s version %ld sha256 %s\n", l->plugin, l->secret, l->secret_version, hex);
        }
        pthread_mutex_unlock(&l->mu);
    }
    free(sealed);
    message_free(&m);
    natsMsg_Destroy(reply);
}

static void *run(void *arg) {
    live *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !l->want_config && !l->want_secret) pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop) break;
        bool config = l->want_config, secret = l->want_secret && l->secret[0];
        l->want_config = l->want_secret = false;
        pthread_mutex_unlock(&l->mu);
        if (config) fetch_config(l); /* may ask for the secret again: want_secret */
        if (secret) fetch_secret(l);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- the API ---------------------------------------------------------------------------------- */

live *live_new(const char *plugin, const char *secret) {
    if (sodium_init() < 0) return NULL;
    live *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    snprintf(l->plugin, sizeof l->plugin, "%s", plugin);
    snprintf(l->secret, sizeof l->secret, "%s", secret ? secret : "");
    crypto_box_keypair(l->pk, l->sk);
    live_encode_curve_public(l->pk, l->pk_text);
    l->config_version = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    return l;
}

bool live_start(live *l, natsConnection *nc) {
    pthread_mutex_lock(&l->mu);
    l->nc = nc;
    l->want_config = true; /* the first answer asks for the secret */
    pthread_mutex_unlock(&l->mu);
    l->started = pthread_create(&l->thread, NULL, run, l) == 0;
    return l->started;
}

bool live_on_control(live *l, const char *data, size_t len) {
    message m = {0};
    bool handled = false;
    if (!cc_json_object(data, len, message_member, &m) && m.type.p) {
        const char *t = m.type.p;
        bool ours = m.name.p && strcmp(m.name.p, l->secret) == 0;
        pthread_mutex_lock(&l->mu);
        if (strcmp(t, "config.changed") == 0 && m.has_version) {
            apply_config(l, (long)m.version, m.config);
            handled = true;
        } else if (strcmp(t, "secret.rotated") == 0) {
            if (ours && (long)m.version > l->secret_version) l->want_secret = true;
            handled = true;
        } else if (strcmp(t, "secret.removed") == 0) {
            if (ours) forget_secret(l);
            handled = true;
        } else if (strcmp(t, "live.versions") == 0 && m.has_config_number) {
            if ((long)m.config_version > l->config_version) l->want_config = true;
            if (m.secrets.p) compare_secrets(l, m.secrets);
            handled = true;
        }
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
    message_free(&m);
    return handled;
}

void live_on_reconnected(live *l) {
    pthread_mutex_lock(&l->mu);
    l->want_config = true; /* its answer lists the secret versions in force */
    l->config_tries = 0;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void live_free(live *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->started) pthread_join(l->thread, NULL);
    sodium_memzero(l->sk, sizeof l->sk);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}
