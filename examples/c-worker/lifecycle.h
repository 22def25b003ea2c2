/*
 * The connection's lifecycle (subjects.md, "When the server refuses the credentials"): a refusal
 * of the credentials is permanent until they change, so the worker stops and exits with
 * EXIT_REFUSED; anything else (a server restart, a network cut) is retried for ever.
 */
#ifndef C_COUNTER_LIFECYCLE_H
#define C_COUNTER_LIFECYCLE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <nats/nats.h>

/* The exit code when the server refuses the credentials: they were revoked, the plugin was
 * disabled or removed, or they expired (sysexits' EX_NOPERM; the same in every Ganglion worker). */
#define EXIT_REFUSED 77

typedef struct {
    volatile sig_atomic_t *stop; /* set to ask the pull loop to stop */
    atomic_bool refused;
    char why[200]; /* what the server said, written before `refused` is set */
} lifecycle;

/* True when status/text say the server refused the credentials (Authorization Violation, User
 * Authentication Revoked or Expired): cnats reports NATS_CONNECTION_AUTH_FAILED, or the text. */
bool lc_is_refusal(natsStatus s, const char *text);

/* The connection's closed callback (closure: a lifecycle): cnats closes the connection after the
 * same auth error twice in a row, which is how a revoked or disabled plugin's worker gets here. */
void lc_on_closed(natsConnection *nc, void *closure);

/* The message an operator reads: what happened and what to do. */
void lc_message(char *out, size_t n, const char *why);

#endif
