#define _GNU_SOURCE
#include "lifecycle.h"

#include <stdio.h>
#include <string.h>

#define PLUGIN "c-counter"

bool lc_is_refusal(natsStatus s, const char *text) {
    if (s == NATS_CONNECTION_AUTH_FAILED) return true;
    if (!text) return false;
    return strcasestr(text, "authorization violation") || strcasestr(text, "authentication revoked") || strcasestr(text, "authentication expired");
}

void lc_on_closed(natsConnection *nc, void *closure) {
    lifecycle *lc = closure;
    const char *text = NULL;
    natsStatus s = natsConnection_GetLastError(nc, &text);
    if (!lc_is_refusal(s, text)) return;
    snprintf(lc->why, sizeof lc->why, "%s", text && *text ? text : natsStatus_GetText(s));
    atomic_store(&lc->refused, true);
    *lc->stop = 1;
}

void lc_message(char *out, size_t n, const char *why) {
    snprintf(out, n,
             "the server refused the credentials of plugin " PLUGIN " (%s): they were revoked, the plugin is disabled or removed, or they expired. "
             "Once the plugin is enabled, mint new ones (ganglion plugin creds " PLUGIN " -o FILE) and start the worker again",
             why);
}
