/*
 * c-counter: a Ganglion worker written in C against the wire contract alone (subjects.md,
 * "Tasks, topics and health" and "Writing a worker in another language"): cnats and libc, not a
 * line of Ganglion.
 *
 * It serves the task type text.count of the plugin c-counter (manifest.yaml next to this file):
 *
 *   params {text: string, encoding?: "utf8"|"base64"|"artifact", store?: boolean}
 *     -> result {bytes, chars, words, lines, artifact?}
 *
 * Artifacts (artifacts.c; subjects.md, "Artifacts"): encoding "artifact" counts the bytes of the
 * artifact text names (artifact://<sha256>), read chunk by chunk over art.get, each checked; store:
 * true also puts the decoded text as an artifact (chunks on artup.<upload>, then art.put) and
 * returns its reference in the result's "artifact".
 *
 * How it connects (subjects.md, "Writing a worker in another language"): the .creds file is a user
 * of the plugin's own NATS account, with no permissions and no inbox prefix to set. That account
 * has no JetStream of its own: it imports its consumer's API from the BUS account under the prefix
 * $JS.BUS.API, so JetStream is opened with jsOptions.Prefix = "$JS.BUS.API". It binds to the
 * consumer of its one task type, task_c-counter_text_dcount (filter task.c-counter.text.count), on
 * its own work queue TASKS_c-counter (the core makes one consumer per task type: task_<plugin>_<type
 * with '_' as '_u' and '.' as '_d'>; a worker binds those of the types it serves),
 * publishes reports on res.c-counter.<taskId> (JetStream: the stream acks them) and heartbeats on
 * hb.c-counter.<instance>, and listens for cancellations on ctl.c-counter. What the account does
 * not import reaches nothing.
 *
 * Environment:
 *   GANGLION_CREDS    the plugin's .creds file (ganglion plugin creds c-counter -o FILE); default ./c-counter.creds
 *   NATS_URL          default nats://127.0.0.1:4222
 *   WORKER_INSTANCE   this process's instance id (a subject token); default <host>-<pid>
 *   HEARTBEAT_MS      heartbeat period, default 5000
 *   GANGLION_TLS_CA   optional: a CA certificate (PEM) file; when set, the connection uses TLS and
 *                     verifies the server's certificate against this CA (natsOptions_SetSecure,
 *                     natsOptions_LoadCATrustedCertificates)
 *   GANGLION_TLS_CERT optional, with GANGLION_TLS_KEY: a client certificate and its private key
 *   GANGLION_TLS_KEY  (PEM files) presented to a server that requires mutual TLS
 *                     (natsOptions_LoadCertificatesChain); one without the other is refused at start
 *   GANGLION_SECRET   optional: a secret this worker reads at start and again whenever the core says
 *                     a newer version is in force (the plugin must be granted secret.read:<name>).
 *                     Only its version and SHA-256 are printed, never the value (live.c).
 *
 * Its config is asked on "cfg" at start and followed live: each newer version is printed as
 * "c-counter config version <n> <json>" (live.c, with libsodium for the sealed secrets).
 *
 * It runs one task at a time (the manifest's concurrency is 1). It prints
 * "c-counter worker <instance> running" on stdout once it pulls tasks, logs on stderr, and on
 * SIGTERM or SIGINT stops pulling, finishes the running task, says goodbye and exits 0. When the
 * server refuses its credentials (revoked, the plugin disabled or removed, expired), at start or
 * while it runs, it says so on stderr and exits 77 (lifecycle.c).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "artifacts.h"
#include "counter.h"
#include "lifecycle.h"
#include "live.h"

#define PLUGIN_ID "c-counter"
#define VERSION "1.0.0"
#define TASK_TYPE "text.count"

/* Subjects, stream and consumer names (subjects.md). */
#define JS_API_PREFIX "$JS.BUS.API" /* the BUS account's JetStream API as the plugin's account imports it */
#define CONTROL_SUBJECT "ctl." PLUGIN_ID
#define TASKS_STREAM "TASKS_" PLUGIN_ID
/* One consumer per task type: task_<plugin>_<type, '_' written '_u' and '.' written '_d'>. */
#define TASKS_CONSUMER "task_" PLUGIN_ID "_text_dcount"
#define TASKS_FILTER "task." PLUGIN_ID ".text.count"
#define RESULT_PREFIX "res." PLUGIN_ID "."
#define HEARTBEAT_PREFIX "hb." PLUGIN_ID "."

/* Headers of a task message (subjects.md). */
#define HDR_TASK_ID "Ganglion-Task-Id"
#define HDR_TASK_TYPE "Ganglion-Task-Type"
#define HDR_ATTEMPT "Ganglion-Attempt"
#define HDR_DEADLINE "Ganglion-Deadline"

/* Inputs longer than one chunk are "long": counted chunk by chunk with progress reports. */
#define CHUNK (64 * 1024)
#define PROGRESS_EVERY_MS 250

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

typedef struct {
    natsConnection *nc;
    jsCtx *js;
    char instance[65];
    int heartbeat_ms;
    int64_t ack_wait_ms;
    atomic_int in_flight;
    atomic_bool stop_heartbeats;

    /* Secrets and config, live (live.c): notices on ctl.<plugin>, a catch-up after a reconnect. */
    live *live;

    /* The running attempt, for cancellations from the core (the control callback's thread). */
    pthread_mutex_t mu;
    char task_id[128];
    int attempt;
    atomic_bool cancelled;
} worker;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s " PLUGIN_ID ": ", when);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const char *env(const char *name, const char *def) {
    const char *v = getenv(name);
    return v && *v ? v : def;
}

/* A valid subject token: lower-case letters, digits, '-' and '_' (instance ids end hb.<plugin>.<instance>). */
static void token(const char *s, char *out, size_t n) {
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 1 < n; i++) {
        char ch = (char)tolower((unsigned char)s[i]);
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) ch = '-';
        if (j == 0 && (ch == '-' || ch == '_')) continue;
        out[j++] = ch;
    }
    if (j == 0) out[j++] = 'w';
    out[j] = '\0';
}

static bool task_id_ok(const char *id) {
    if (!*id || strlen(id) >= 128) return false;
    for (const char *p = id; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_')) return false;
    return true;
}

/* ---- heartbeats ------------------------------------------------------------------------------ */

static void heartbeat(worker *w, const char *state) {
    if (natsConnection_IsClosed(w->nc)) return;
    char subj[128], body[256];
    snprintf(subj, sizeof subj, HEARTBEAT_PREFIX "%s", w->instance);
    /* intervalMs: the core records the instance offline after two periods of silence (clamped to [2 s, 120 s]). */
    snprintf(body, sizeof body, "{\"instance\":\"%s\",\"version\":\"" VERSION "\",\"inFlight\":%d,\"state\":\"%s\",\"intervalMs\":%d}",
             w->instance, atomic_load(&w->in_flight), state, w->heartbeat_ms);
    natsStatus s = natsConnection_PublishString(w->nc, subj, body);
    if (s != NATS_OK) logf_("heartbeat: %s", natsStatus_GetText(s));
}

static void *heartbeats(void *arg) {
    worker *w = arg;
    while (!atomic_load(&w->stop_heartbeats)) {
        for (int waited = 0; waited < w->heartbeat_ms && !atomic_load(&w->stop_heartbeats); waited += 50) nats_Sleep(50);
        if (!atomic_load(&w->stop_heartbeats)) heartbeat(w, "running");
    }
    return NULL;
}

/* ---- cancellations: {"type":"cancel","taskId":..,"attempt":..,"reason":..} on ctl.<plugin> ------ */

typedef struct {
    cc_buf type, task_id, reason;
    double attempt;
} control;

static const char *control_member(const char *key, cc_json *c, void *closure) {
    control *k = closure;
    if (strcmp(key, "type") == 0) return cc_json_string(c, &k->type);
    if (strcmp(key, "taskId") == 0) return cc_json_string(c, &k->task_id);
    if (strcmp(key, "reason") == 0) return cc_json_string(c, &k->reason);
    if (strcmp(key, "attempt") == 0) return cc_json_number(c, &k->attempt);
    return cc_json_skip(c);
}

static void on_control(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)nc;
    (void)sub;
    worker *w = closure;
    control k = {0};
    if (live_on_control(w->live, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg))) {
        natsMsg_Destroy(msg);
        return;
    }
    if (!cc_json_object(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), control_member, &k) && k.type.p &&
        strcmp(k.type.p, "cancel") == 0 && k.task_id.p) {
        pthread_mutex_lock(&w->mu);
        if (strcmp(w->task_id, k.task_id.p) == 0 && w->attempt == (int)k.attempt) {
            atomic_store(&w->cancelled, true);
            logf_("task %s attempt %d withdrawn by the core: %s", k.task_id.p, w->attempt, k.reason.p ? k.reason.p : "");
        }
        pthread_mutex_unlock(&w->mu);
    }
    cc_buf_free(&k.type);
    cc_buf_free(&k.task_id);
    cc_buf_free(&k.reason);
    natsMsg_Destroy(msg);
}

/* ---- reports on res.<plugin>.<taskId> (RESULTS stream) ------------------------------------------ */

/*
 * Stores a report (a JetStream publish: the stream acknowledges it), retried a few times. `tail`
 * is the rest of the JSON object after the common fields, starting with a comma. RESULTS refuses a
 * report over 1 MiB + 64 KiB (JetStream error 10054) and the core a result over 1 MiB (1,048,576
 * bytes): a larger result is reported failed with "kind":"invalid_result", "retryable":false
 * (subjects.md, "Size"). This worker's counts are a few bytes.
 */
static bool report_tries(worker *w, const char *task_id, int attempt, const char *status, const char *tail, int tries) {
    char subj[200];
    snprintf(subj, sizeof subj, RESULT_PREFIX "%s", task_id);
    cc_buf b = {0};
    bool built = cc_buf_printf(&b, "{\"taskId\":\"%s\",\"attempt\":%d,\"instance\":\"%s\",\"status\":\"%s\"%s}", task_id, attempt,
                               w->instance, status, tail ? tail : "");
    if (!built) return false;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 5000;
    bool ok = false;
    for (int i = 1; i <= tries && !ok && !natsConnection_IsClosed(w->nc); i++) {
        jsErrCode jerr = 0;
        natsStatus s = js_Publish(NULL, w->js, subj, b.p, (int)b.len, &po, &jerr);
        if (s == NATS_OK) ok = true;
        else {
            logf_("report %s %s not stored (try %d): %s (%d)", task_id, status, i, natsStatus_GetText(s), (int)jerr);
            nats_Sleep(250 * i);
        }
    }
    cc_buf_free(&b);
    return ok;
}

static bool report(worker *w, const char *task_id, int attempt, const char *status, const char *tail) {
    return report_tries(w, task_id, attempt, status, tail, 10);
}

static bool report_failed(worker *w, const char *task_id, int attempt, const char *message, bool retryable) {
    cc_buf tail = {0};
    bool ok = cc_buf_printf(&tail, ",\"error\":{\"message\":") && cc_buf_json_string(&tail, message, strlen(message)) &&
              cc_buf_printf(&tail, ",\"retryable\":%s}", retryable ? "true" : "false") && report(w, task_id, attempt, "failed", tail.p);
    cc_buf_free(&tail);
    return ok;
}

static bool report_progress(worker *w, const char *task_id, int attempt, uint64_t done, uint64_t total) {
    char tail[160];
    snprintf(tail, sizeof tail, ",\"progress\":{\"done\":%llu,\"total\":%llu,\"message\":\"counting\"}", (unsigned long long)done,
             (unsigned long long)total);
    return report_tries(w, task_id, attempt, "progress", tail, 1); /* only news: one try */
}

/* ---- one attempt ------------------------------------------------------------------------------- */

static bool deadline_passed(const char *iso) {
    struct tm tm = {0};
    const char *rest = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) return false;
    return timegm(&tm) < time(NULL) - 1;
}

static void set_running(worker *w, const char *task_id, int attempt) {
    pthread_mutex_lock(&w->mu);
    snprintf(w->task_id, sizeof w->task_id, "%s", task_id);
    w->attempt = attempt;
    atomic_store(&w->cancelled, false);
    pthread_mutex_unlock(&w->mu);
}

/* An artifact being counted (encoding artifact): each checked chunk, with progress and keep-alive. */
typedef struct {
    worker *w;
    natsMsg *msg;
    const char *task_id;
    int attempt;
    cc_counter *counter;
    int64_t last_progress, last_working;
} reading;

static bool count_chunk(const unsigned char *data, size_t n, void *closure) {
    reading *r = closure;
    if (atomic_load(&r->w->cancelled)) return false;
    cc_count(r->counter, data, n);
    int64_t now = nats_Now();
    if (now - r->last_progress >= PROGRESS_EVERY_MS) {
        r->last_progress = now;
        /* The size is known only from the headers: the total stays one ahead until the end. */
        report_progress(r->w, r->task_id, r->attempt, r->counter->n.bytes, r->counter->n.bytes + 1);
    }
    if (now - r->last_working >= r->w->ack_wait_ms / 3) {
        r->last_working = now;
        natsMsg_InProgress(r->msg, NULL);
    }
    return true;
}

/* Runs one attempt: started, progress while it works, then completed or failed; ack last. */
static void handle(worker *w, natsMsg *msg) {
    const char *task_id = NULL, *attempt_s = NULL, *type = NULL, *deadline = NULL;
    natsMsgHeader_Get(msg, HDR_TASK_ID, &task_id);
    natsMsgHeader_Get(msg, HDR_ATTEMPT, &attempt_s);
    natsMsgHeader_Get(msg, HDR_TASK_TYPE, &type);
    natsMsgHeader_Get(msg, HDR_DEADLINE, &deadline);
    char *endp = NULL;
    long attempt = attempt_s ? strtol(attempt_s, &endp, 10) : 0;
    if (!task_id || !task_id_ok(task_id) || !attempt_s || *endp || attempt < 1) {
        logf_("a task message on %s without a valid task id or attempt; terminated", natsMsg_GetSubject(msg));
        natsMsg_Term(msg, NULL);
        return;
    }
    if (deadline && deadline_passed(deadline)) {
        natsMsg_Term(msg, NULL);
        return;
    }
    char id[128];
    snprintf(id, sizeof id, "%s", task_id);
    uint64_t delivery = 1;
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        delivery = meta->NumDelivered;
        jsMsgMetaData_Destroy(meta);
    }

    set_running(w, id, (int)attempt);
    atomic_store(&w->in_flight, 1);
    char tail[64];
    snprintf(tail, sizeof tail, ",\"delivery\":%llu", (unsigned long long)delivery);
    if (!report(w, id, (int)attempt, "started", tail)) {
        natsMsg_Nak(msg, NULL);
        goto done;
    }

    if (!type || strcmp(type, TASK_TYPE) != 0) {
        char m[200];
        snprintf(m, sizeof m, "instance %s has no handler for %.100s", w->instance, type ? type : "(no type)");
        if (report_failed(w, id, (int)attempt, m, true)) natsMsg_Ack(msg, NULL);
        goto done;
    }

    char err[300];
    cc_params p;
    if (!cc_decode_params(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &p, err, sizeof err)) {
        logf_("task %s failed: %s", id, err);
        /* Bad params fail the attempt for good: another attempt would fail the same way. */
        if (report_failed(w, id, (int)attempt, err, false)) natsMsg_Ack(msg, NULL);
        goto done;
    }

    cc_counter counter;
    cc_count_init(&counter);
    char ref[ART_REF_LEN] = "";
    if (p.artifact_id[0]) {
        /* encoding artifact: count the artifact's bytes as they come, one checked chunk at a time. */
        reading r = {.w = w, .msg = msg, .task_id = id, .attempt = (int)attempt, .counter = &counter, .last_working = nats_Now()};
        bool stopped = false, retryable = true;
        bool read = art_read(w->nc, p.artifact_id, id, count_chunk, &r, &stopped, err, sizeof err, &retryable);
        cc_params_free(&p);
        if (!read && !stopped) {
            logf_("task %s failed: %s", id, err);
            if (report_failed(w, id, (int)attempt, err, retryable)) natsMsg_Ack(msg, NULL);
            goto done;
        }
    } else {
        bool is_long = p.data.len > CHUNK;
        int64_t last_progress = 0, last_working = nats_Now();
        for (size_t off = 0; off < p.data.len && !atomic_load(&w->cancelled); off += CHUNK) {
            size_t n = p.data.len - off < CHUNK ? p.data.len - off : CHUNK;
            cc_count(&counter, (const unsigned char *)p.data.p + off, n);
            int64_t now = nats_Now();
            if (is_long && (last_progress == 0 || now - last_progress >= PROGRESS_EVERY_MS || off + n == p.data.len)) {
                last_progress = now;
                report_progress(w, id, (int)attempt, off + n, p.data.len);
            }
            /* Keep the message ours while we work: JetStream redelivers it after ack_wait otherwise. */
            if (now - last_working >= w->ack_wait_ms / 3) {
                last_working = now;
                natsMsg_InProgress(msg, NULL);
            }
        }
        /* store: also put the decoded text as an artifact (artifacts.c); the result names it. */
        if (p.store && !atomic_load(&w->cancelled) &&
            !art_put(w->nc, w->js, (const unsigned char *)p.data.p, p.data.len, "application/octet-stream", id, ref, err, sizeof err)) {
            cc_params_free(&p);
            logf_("task %s failed: %s", id, err);
            if (report_failed(w, id, (int)attempt, err, true)) natsMsg_Ack(msg, NULL);
            goto done;
        }
        cc_params_free(&p);
    }
    cc_counts n = cc_count_end(&counter);

    if (atomic_load(&w->cancelled)) {
        /* The core withdrew the attempt (cancelled, timed out): no report. */
        natsMsg_Term(msg, NULL);
        goto done;
    }
    char result[384];
    snprintf(result, sizeof result, ",\"result\":{\"bytes\":%llu,\"chars\":%llu,\"words\":%llu,\"lines\":%llu%s%s%s}",
             (unsigned long long)n.bytes, (unsigned long long)n.chars, (unsigned long long)n.words, (unsigned long long)n.lines,
             ref[0] ? ",\"artifact\":\"" : "", ref, ref[0] ? "\"" : "");
    if (report(w, id, (int)attempt, "completed", result)) natsMsg_Ack(msg, NULL);

done:
    set_running(w, "", 0);
    atomic_store(&w->in_flight, 0);
}

/* ---- connection and the pull loop ------------------------------------------------------------- */

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure) {
    (void)sub;
    (void)closure;
    const char *last = NULL;
    natsConnection_GetLastError(nc, &last);
    logf_("connection error: %s%s%s", natsStatus_GetText(err), last ? ": " : "", last ? last : "");
}
static void on_disconnected(natsConnection *nc, void *closure) {
    (void)nc;
    (void)closure;
    logf_("disconnected");
}
static void on_reconnected(natsConnection *nc, void *closure) {
    (void)nc;
    worker *w = closure;
    logf_("reconnected");
    /* Notices on ctl are core NATS: those sent while we were away are lost; ask what is in force. */
    live_on_reconnected(w->live);
}

#define DIE(...)                 \
    do {                         \
        logf_(__VA_ARGS__);      \
        exit(1);                 \
    } while (0)

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    worker w = {.heartbeat_ms = 5000, .ack_wait_ms = 30000};
    pthread_mutex_init(&w.mu, NULL);
    char host[64] = "c", raw[128];
    gethostname(host, sizeof host - 1);
    snprintf(raw, sizeof raw, "%s-%d", host, (int)getpid());
    token(env("WORKER_INSTANCE", raw), w.instance, sizeof w.instance);
    const char *hb = env("HEARTBEAT_MS", "5000");
    char *endp;
    long hbms = strtol(hb, &endp, 10);
    if (*endp || hbms < 100) DIE("HEARTBEAT_MS must be a number of milliseconds >= 100, got \"%s\"", hb);
    w.heartbeat_ms = (int)hbms;
    const char *creds = env("GANGLION_CREDS", "./" PLUGIN_ID ".creds");
    if (access(creds, R_OK) != 0) DIE("credentials %s: %s (mint them with: ganglion plugin creds " PLUGIN_ID " -o FILE)", creds, strerror(errno));
    const char *tls_ca = env("GANGLION_TLS_CA", NULL), *tls_cert = env("GANGLION_TLS_CERT", NULL), *tls_key = env("GANGLION_TLS_KEY", NULL);
    if (tls_ca && access(tls_ca, R_OK) != 0) DIE("GANGLION_TLS_CA %s: %s", tls_ca, strerror(errno));
    if (!tls_cert != !tls_key) DIE("GANGLION_TLS_CERT and GANGLION_TLS_KEY go together: set both or neither");
    if (tls_cert && access(tls_cert, R_OK) != 0) DIE("GANGLION_TLS_CERT %s: %s", tls_cert, strerror(errno));
    if (tls_key && access(tls_key, R_OK) != 0) DIE("GANGLION_TLS_KEY %s: %s", tls_key, strerror(errno));

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    natsOptions *opts = NULL;
    char name[128];
    snprintf(name, sizeof name, PLUGIN_ID ":%s", w.instance);
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, env("NATS_URL", "nats://127.0.0.1:4222"));
    /* A user of the plugin's own account: no inbox prefix, replies come back across the account
     * boundary on subjects the server maps for us. */
    if (s == NATS_OK) s = natsOptions_SetUserCredentialsFromFiles(opts, creds, NULL);
    /* TLS only when asked for: with a CA the server's certificate is verified against it (and its
     * host name against the URL's); a client certificate is for servers that require mutual TLS. */
    if (s == NATS_OK && (tls_ca || tls_cert)) s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && tls_ca) s = natsOptions_LoadCATrustedCertificates(opts, tls_ca);
    if (s == NATS_OK && tls_cert) s = natsOptions_LoadCertificatesChain(opts, tls_cert, tls_key);
    if (s == NATS_OK) s = natsOptions_SetName(opts, name);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, on_error, NULL);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
    if (!(w.live = live_new(PLUGIN_ID, env("GANGLION_SECRET", NULL)))) DIE("libsodium did not start");
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, &w);
    lifecycle lc = {.stop = &stop_requested};
    if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, lc_on_closed, &lc);
    if (s != NATS_OK) DIE("options: %s: %s", natsStatus_GetText(s), nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
    s = natsConnection_Connect(&w.nc, opts);
    char refusal[600];
    if (s != NATS_OK && lc_is_refusal(s, nats_GetLastError(NULL))) {
        lc_message(refusal, sizeof refusal, nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s));
        logf_("%s", refusal);
        return EXIT_REFUSED;
    }
    if (s != NATS_OK) DIE("connect: %s: %s", natsStatus_GetText(s), nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
    /* The plugin's account has no JetStream: BUS's consumer API is imported under $JS.BUS.API, and
     * only this plugin's consumer (info, next, acks) is: no stream lookups, no $JS.API.INFO. */
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Prefix = JS_API_PREFIX;
    jo.Wait = 5000;
    if ((s = natsConnection_JetStream(&w.js, w.nc, &jo)) != NATS_OK) DIE("jetstream: %s", natsStatus_GetText(s));
    natsSubscription *ctl = NULL;
    if ((s = natsConnection_Subscribe(&ctl, w.nc, CONTROL_SUBJECT, on_control, &w)) != NATS_OK)
        DIE("subscribe " CONTROL_SUBJECT ": %s", natsStatus_GetText(s));

    if (!live_start(w.live, w.nc)) DIE("cannot start the live thread");

    heartbeat(&w, "running");
    pthread_t hb_thread;
    if (pthread_create(&hb_thread, NULL, heartbeats, &w) != 0) DIE("cannot start the heartbeat thread");

    /*
     * The durable consumer exists, and the plugin's account imports it, once the plugin is approved
     * and enabled: wait for it instead of failing. Look it up first: cnats binds a pull
     * subscription even when the lookup finds no responder (what an account without the import
     * gets), and the worker would then run on guessed settings, fetching nothing.
     */
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = TASKS_STREAM;
    so.Consumer = TASKS_CONSUMER;
    bool warned = false;
    while (!stop_requested) {
        jsErrCode jerr = 0;
        jsConsumerInfo *ci = NULL;
        s = js_GetConsumerInfo(&ci, w.js, TASKS_STREAM, TASKS_CONSUMER, &jo, &jerr);
        if (s == NATS_OK) {
            if (ci->Config && ci->Config->AckWait > 0) w.ack_wait_ms = ci->Config->AckWait / 1000000;
            jsConsumerInfo_Destroy(ci);
            s = js_PullSubscribe(&sub, w.js, TASKS_FILTER, TASKS_CONSUMER, &jo, &so, &jerr);
        }
        if (s == NATS_OK) break;
        if (!warned) logf_("consumer " TASKS_CONSUMER " not available yet (is the plugin approved and enabled?): %s (%d); retrying",
                           natsStatus_GetText(s), (int)jerr);
        warned = true;
        sub = NULL;
        nats_Sleep(500);
    }
    if (sub) printf(PLUGIN_ID " worker %s running\n", w.instance);

    natsStatus last_error = NATS_OK;
    while (sub && !stop_requested) {
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        s = natsSubscription_Fetch(&list, sub, 1, 1000, &jerr);
        if (s == NATS_OK) {
            for (int i = 0; i < list.Count; i++) {
                if (stop_requested) natsMsg_Nak(list.Msgs[i], NULL); /* give it back for another instance */
                else handle(&w, list.Msgs[i]);
            }
            natsMsgList_Destroy(&list);
        } else if (s != NATS_TIMEOUT && !stop_requested) {
            /* Logged once per distinct error: a long outage (revoked, server gone) must not flood the log. */
            if (s != last_error) logf_("fetch: %s (%d); retrying", natsStatus_GetText(s), (int)jerr);
            last_error = s;
            nats_Sleep(500);
        }
        if (s == NATS_OK) last_error = NATS_OK;
    }

    logf_("stopping");
    atomic_store(&w.stop_heartbeats, true);
    pthread_join(hb_thread, NULL);
    heartbeat(&w, "stopping");
    if (sub) natsSubscription_Destroy(sub);
    natsSubscription_Destroy(ctl);
    live_free(w.live);
    natsConnection_FlushTimeout(w.nc, 2000);
    if (natsConnection_Drain(w.nc) != NATS_OK) natsConnection_Close(w.nc);
    for (int i = 0; i < 200 && !natsConnection_IsClosed(w.nc); i++) nats_Sleep(50);
    natsConnection_Destroy(w.nc);
    jsCtx_Destroy(w.js);
    natsOptions_Destroy(opts);
    nats_CloseAndWait(2000);
    logf_("stopped");
    if (atomic_load(&lc.refused)) {
        lc_message(refusal, sizeof refusal, lc.why);
        logf_("%s", refusal);
        return EXIT_REFUSED;
    }
    return 0;
}
