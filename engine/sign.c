/*
 * sign.c — Standard Webhooks signing with OpenSSL.
 */
#include "sign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sign_key_parse(const char *secret, struct sign_key *key, char *why, size_t whylen)
{
	if (strncmp(secret, "whsec_", 6) == 0)
		secret += 6;
	size_t n = strlen(secret);
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > SIGN_KEY_MAX) {
		snprintf(why, whylen, "not whsec_ followed by base64 of 16-256 bytes");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char c = secret[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			 (c >= '0' && c <= '9') || c == '+' || c == '/' || (c == '=' && i >= n - 2);
		if (!ok || (c != '=' && i > 0 && secret[i - 1] == '=')) {
			snprintf(why, whylen, "not valid base64 after whsec_");
			return -1;
		}
	}
	/* EVP_DecodeBlock counts padding as zero bytes: take them off. */
	int len = EVP_DecodeBlock(key->bytes, (const unsigned char *)secret, (int)n);
	if (len < 0) {
		snprintf(why, whylen, "not valid base64 after whsec_");
		return -1;
	}
	len -= (secret[n - 1] == '=') + (secret[n - 2] == '=');
	if (len < SIGN_KEY_MIN) {
		snprintf(why, whylen, "the key is %d bytes; at least %d are needed", len,
			 SIGN_KEY_MIN);
		return -1;
	}
	key->len = (size_t)len;
	return 0;
}

void sign_webhook(const struct sign_key *key, const char *id, long long timestamp, const char *body,
		  size_t body_len, char out[SIGN_SIGNATURE_MAX])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char prefix[320];
	int n = snprintf(prefix, sizeof prefix, "%.256s.%lld.", id, timestamp);

	/* HMAC() signs one buffer: id.timestamp.body */
	unsigned char *msg = xmalloc((size_t)n + body_len);
	memcpy(msg, prefix, (size_t)n);
	memcpy(msg + n, body, body_len);
	HMAC(EVP_sha256(), key->bytes, (int)key->len, msg, (size_t)n + body_len, mac, &mac_len);
	free(msg);

	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mac_len);
}
