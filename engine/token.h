/*
 * token.h — the API's bearer tokens (`rollcall token`, and every request
 * `rollcall serve` authenticates).
 *
 * A token is "rc_" and 43 characters: the base64url form (RFC 4648 §5, no
 * padding) of 32 bytes from OpenSSL's RAND_bytes, 256 bits no one can
 * guess. It is shown once, when it is made; the database keeps only its
 * SHA-256 (hex), so a copy of the database gives no one a working token.
 * A token belongs to one organisation at one role; roles are a ladder,
 * each including the one before (TOKEN_ROLES).
 */
#ifndef ROLLCALL_TOKEN_H
#define ROLLCALL_TOKEN_H

#include "db.h"

#include <stddef.h>

#define TOKEN_PREFIX   "rc_"
#define TOKEN_RANDOM   32		  /* bytes of RAND_bytes */
#define TOKEN_SECRET   43		  /* base64url of TOKEN_RANDOM bytes, unpadded */
#define TOKEN_LEN      (3 + TOKEN_SECRET) /* "rc_" and the secret */
#define TOKEN_HASH_HEX 65		  /* SHA-256 as hex, and its NUL */
#define TOKEN_NAME_MAX 200		  /* bytes of the person's name */

/* The roles, lowest first: a token may do what its role and every role
 * below it may (docs/API.md, "Tokens"). */
enum token_role { ROLE_VIEWER, ROLE_THRESHOLDS, ROLE_OFFICER, ROLE_AUTHOR, TOKEN_ROLES };

/* "viewer", "thresholds", "officer", "author" */
extern const char *const token_role_names[TOKEN_ROLES];

/* The role called name, or -1. */
int token_role(const char *name);

/* A token as the database holds it, and as a request that presented it is
 * known by. */
struct token {
	long long id;
	char org[24];
	enum token_role role;
	char name[TOKEN_NAME_MAX + 1];
};

/* A new secret: TOKEN_RANDOM bytes of RAND_bytes as base64url (RFC 4648
 * §5, no padding), into out (a token's, and the web console's cookies and
 * sign-in links). Returns 0, or -1 if the random generator failed
 * (reported). */
int token_secret(char out[TOKEN_SECRET + 1]);

/* A new token into out (TOKEN_LEN + 1 bytes) and its SHA-256 hex into hash.
 * Returns 0, or -1 if the random generator failed (reported). */
int token_generate(char out[TOKEN_LEN + 1], char hash[TOKEN_HASH_HEX]);

/* The SHA-256 of text[0..len) as lower-case hex. */
void token_hash(const char *text, size_t len, char hash[TOKEN_HASH_HEX]);

/* Make a token for org at role, for the person name, expiring at expires
 * (UTC "YYYY-MM-DDTHH:MM:SSZ", or NULL: never), made by created_by; audited
 * (token.add, who the local user) in the same transaction. The token is
 * written to out, its id to *id. Returns DB_DONE or the failure (reported). */
int token_add(struct db *db, const char *org, enum token_role role, const char *name,
	      const char *expires, const char *created_by, const char *via, char out[TOKEN_LEN + 1],
	      long long *id);

/* Revoke token id, audited (token.revoke). Returns DB_DONE, 1 if there is
 * no such token or it was revoked already (nothing changed), or the
 * failure (reported). */
int token_revoke(struct db *db, long long id, const char *who, const char *via);

/* Which token text[0..len) is, by its SHA-256, compared in constant time
 * (CRYPTO_memcmp) with the stored one: 1 and *t filled if it is a token
 * that is neither revoked nor expired now; 0 if it is none of those (a
 * wrong, revoked or expired token are alike to the caller); or a failure
 * (negative, reported). */
int token_find(struct db *db, const char *text, size_t len, struct token *t);

/* Token id, as token_find finds one (the web console's session stands for
 * a token by its id): 1 and *t filled if it is neither revoked nor expired
 * now, 0 if it is, or no such token; or a failure (negative, reported). */
int token_get(struct db *db, long long id, struct token *t);

#endif
