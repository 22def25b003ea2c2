/*
 * The xkey part of live.c without a server: a box sealed by nkeys (nats.js, tweetnacl) opens with
 * libsodium, and the xkey text of a key is what nkeys prints. The vector was made with
 * @nats-io/nkeys 2.0.3: createCurve() twice, sender.seal(message, recipient.getPublicKey()).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "live.h"

static const char *RECIPIENT_SK_HEX = "1b2402719641b39df32177b020a93331f7ff9908cfed8b756eadac0a62335072";
static const char *RECIPIENT_PK = "XBVY5QYNM7UU7FPIPGK7S6LCLKNO4ESJTKALXSOTAJYZWZ6IQL7BVDGM";
static const char *SENDER_PK = "XDCIWCCFBYDSCIJHV6CQSKRBZDOQWEEGNDVHFWSQBE3DHTL7ULIADKJM";
static const char *SEALED_B64 =
    "eGt2MShKkmmR8bq00NjFATsVk0pMehAlY26+n7zDSNrgGrOtZwPBNegcFq2W5xq9k+9TKY7l0S1irI6R0qLX0XQ1QVsZrfTE+ujJhwZ69T4xfypAhQ==";
static const char *MESSAGE = "interop: tweetnacl seals, libsodium opens";

static int failures = 0;
#define CHECK(cond, what)                                   \
    do {                                                    \
        if (cond) printf("ok - %s\n", what);                \
        else {                                              \
            printf("not ok - %s\n", what);                  \
            failures++;                                     \
        }                                                   \
    } while (0)

int main(void) {
    if (sodium_init() < 0) return 2;
    unsigned char sk[32], pk[32], sender[32], sealed[256];
    size_t sk_len = 0, sealed_len = 0;
    sodium_hex2bin(sk, sizeof sk, RECIPIENT_SK_HEX, strlen(RECIPIENT_SK_HEX), NULL, &sk_len, NULL);
    crypto_scalarmult_base(pk, sk);
    char text[57];
    live_encode_curve_public(pk, text);
    CHECK(strcmp(text, RECIPIENT_PK) == 0, "the xkey text of a public key is nkeys'");
    unsigned char back[32];
    CHECK(live_decode_curve_public(RECIPIENT_PK, back) && memcmp(back, pk, 32) == 0, "and decodes back");
    CHECK(live_decode_curve_public(SENDER_PK, sender), "the sender's key decodes");
    char bad[57];
    snprintf(bad, sizeof bad, "%s", SENDER_PK);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    CHECK(!live_decode_curve_public(bad, back), "a changed character fails the checksum");
    CHECK(!live_decode_curve_public("XABC", back), "a short key is refused");

    sodium_base642bin(sealed, sizeof sealed, SEALED_B64, strlen(SEALED_B64), NULL, &sealed_len, NULL, sodium_base64_VARIANT_ORIGINAL);
    unsigned char *value = NULL;
    size_t value_len = 0;
    const char *err = live_open_sealed(sealed, sealed_len, sender, sk, &value, &value_len);
    CHECK(!err && value_len == strlen(MESSAGE) && memcmp(value, MESSAGE, value_len) == 0, "crypto_box_open_easy opens nkeys' xkv1 seal");
    if (value) sodium_free(value);
    value = NULL;
    sealed[sealed_len - 1] ^= 1;
    CHECK(live_open_sealed(sealed, sealed_len, sender, sk, &value, &value_len) != NULL, "a changed byte does not open");
    sealed[sealed_len - 1] ^= 1;
    sealed[0] = 'y';
    CHECK(live_open_sealed(sealed, sealed_len, sender, sk, &value, &value_len) != NULL, "without the xkv1 header it is refused");
    CHECK(live_open_sealed(sealed, 10, sender, sk, &value, &value_len) != NULL, "a short box is refused");
    if (failures == 0) printf("test_live: all checks passed\n");
    else printf("test_live: %d checks failed\n", failures);
    return failures == 0 ? 0 : 1;
}
