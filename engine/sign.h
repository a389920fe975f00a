/*
 * sign.h — Standard Webhooks signatures (standardwebhooks.com).
 *
 *   webhook-signature: v1,<base64(HMAC-SHA256(secret, id "." timestamp "." body))>
 *
 * The secret is "whsec_" followed by base64; the HMAC key is the decoded
 * bytes. HMAC and base64 come from OpenSSL's libcrypto. An endpoint with
 * several secrets (a rotation) sends one such signature per secret,
 * space-separated in the one header (deliver.c).
 */
#ifndef ROLLCALL_SIGN_H
#define ROLLCALL_SIGN_H

#include <stddef.h>

#define SIGN_KEY_MAX	   256
#define SIGN_KEY_MIN	   16 /* bytes: shorter keys are refused */
#define SIGN_SIGNATURE_MAX 64 /* "v1," + 44 base64 chars + NUL fits */

struct sign_key {
	unsigned char bytes[SIGN_KEY_MAX];
	size_t len;
};

/* Decode a "whsec_..." secret (the prefix is optional). Returns 0, or -1
 * with why: not base64, too short or too long. */
int sign_key_parse(const char *secret, struct sign_key *key, char *why, size_t whylen);

/* Write "v1,<base64>" for (id, timestamp, body) into out. */
void sign_webhook(const struct sign_key *key, const char *id, long long timestamp, const char *body,
		  size_t body_len, char out[SIGN_SIGNATURE_MAX]);

#endif
