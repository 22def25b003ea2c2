/*
 * Secrets and live config over the wire (subjects.md, "Secrets", "Configuration, live" and
 * "Live versions"), with cnats and libsodium only: a curve key made in this process, the sealed
 * answer opened with crypto_box_open_easy (an nkeys xkey seal is "xkv1", a 24-byte nonce, then the
 * NaCl box curve25519-xsalsa20-poly1305), the notices on ctl.<plugin>, and a catch-up after a
 * reconnect. Fetches run on a thread of their own: a callback only says what to ask again.
 */
#ifndef C_COUNTER_LIVE_H
#define C_COUNTER_LIVE_H

#include <stdbool.h>
#include <stddef.h>

#include <nats/nats.h>

typedef struct live live;

/*
 * Makes the curve key pair (libsodium) for `secret` (NULL or "": no secret, config only). Prints
 * on stdout, one line each: "<plugin> config version <n> <json>" for every newer config,
 * "<plugin> secret <name> version <n> sha256 <hex>" for every newer value (never the value),
 * "<plugin> secret <name> removed" and "<plugin> secret <name> error <message>". NULL when
 * libsodium cannot start.
 */
live *live_new(const char *plugin, const char *secret);

/* Starts the fetch thread on a connected nc: it asks for the config in force and the secret at once. */
bool live_start(live *l, natsConnection *nc);

/* A message on ctl.<plugin>: true when it was a live notice (config.changed, secret.*, live.versions). */
bool live_on_control(live *l, const char *data, size_t len);

/* After a reconnect: notices sent meanwhile were lost; ask for what is in force again. */
void live_on_reconnected(live *l);

/* Stops the thread, wipes the key and the value. */
void live_free(live *l);

/* The xkey text of a curve public key ("X" + 55 base32 characters), into out[57]. Exposed for test_live. */
void live_encode_curve_public(const unsigned char pk[32], char out[57]);
/* Decodes an xkey public key; false when it is not one (prefix, length, checksum). */
bool live_decode_curve_public(const char *s, unsigned char pk[32]);
/* Opens an xkv1 sealed box (raw bytes) from sender_pk with sk into out (the value, out_len bytes; caller frees); NULL or a reason. */
const char *live_open_sealed(const unsigned char *sealed, size_t n, const unsigned char sender_pk[32], const unsigned char sk[32], unsigned char **out,
                             size_t *out_len);

#endif
