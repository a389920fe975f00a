/*
 * token.c — making, revoking and recognising the API's tokens (token.h).
 *
 * The lookup is by the SHA-256 of what was presented (the UNIQUE index on
 * tokens.sha256), and the stored hash is then compared with CRYPTO_memcmp,
 * so that how long a comparison takes says nothing of how much of a guess
 * was right. Whether a token is revoked or expired is read from its row at
 * every request: a revocation holds from the next request on.
 */
#include "token.h"

#include "audit.h"
#include "util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

const char *const token_role_names[TOKEN_ROLES] = { "viewer", "thresholds", "officer", "author" };

int token_role(const char *name)
{
	for (int i = 0; i < TOKEN_ROLES; i++)
		if (!strcmp(name, token_role_names[i]))
			return i;
	return -1;
}

void token_hash(const char *text, size_t len, char hash[TOKEN_HASH_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_Digest(text, len, md, &n, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < n; i++)
		snprintf(hash + 2 * i, 3, "%02x", md[i]);
}

int token_secret(char out[TOKEN_SECRET + 1])
{
	unsigned char random[TOKEN_RANDOM];
	unsigned char b64[4 * ((TOKEN_RANDOM + 2) / 3) + 1];
	if (RAND_bytes(random, sizeof random) != 1) {
		error("token: the random generator failed");
		return -1;
	}
	int n = EVP_EncodeBlock(b64, random, sizeof random);
	OPENSSL_cleanse(random, sizeof random);
	/* RFC 4648 §5: '+' and '/' become '-' and '_', and no '=' padding */
	while (n > 0 && b64[n - 1] == '=')
		n--;
	for (int i = 0; i < n; i++)
		b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	snprintf(out, TOKEN_SECRET + 1, "%.*s", n, (const char *)b64);
	OPENSSL_cleanse(b64, sizeof b64);
	return 0;
}

int token_generate(char out[TOKEN_LEN + 1], char hash[TOKEN_HASH_HEX])
{
	char secret[TOKEN_SECRET + 1];
	if (token_secret(secret) < 0)
		return -1;
	snprintf(out, TOKEN_LEN + 1, "%s%s", TOKEN_PREFIX, secret);
	OPENSSL_cleanse(secret, sizeof secret);
	token_hash(out, strlen(out), hash);
	return 0;
}

int token_add(struct db *db, const char *org, enum token_role role, const char *name,
	      const char *expires, const char *who, const char *via, char out[TOKEN_LEN + 1],
	      long long *id)
{
	char hash[TOKEN_HASH_HEX], after[512];
	if (token_generate(out, hash) < 0)
		return DB_FAILED;
	sqlite3_stmt *st = db_prepare(
		db, "INSERT INTO tokens(org, role, name, sha256, created_at, created_by, "
		    "expires_at) VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?, ?)");
	if (!st)
		return DB_FAILED;
	int rc = db_begin(db);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, token_role_names[role], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, via, -1, SQLITE_STATIC);
	if (expires)
		sqlite3_bind_text(st, 6, expires, -1, SQLITE_STATIC);
	if ((rc = db_step_done(db, st, "storing a token")) < 0)
		goto fail;
	*id = sqlite3_last_insert_rowid(db->h);
	/* the audit row names the token by id, role and person, never by its text */
	snprintf(after, sizeof after, "token %lld, %s, expires %s", *id, token_role_names[role],
		 expires ? expires : "never");
	struct audit_entry e = { .who = who,
				 .via = via,
				 .org = org,
				 .what = "token.add",
				 .after = after,
				 .detail = name };
	if ((rc = audit_add(db, &e)) < 0)
		goto fail;
	rc = db_commit(db);
	goto out;
fail:
	db_rollback(db);
out:
	sqlite3_finalize(st);
	if (rc < 0)
		OPENSSL_cleanse(out, TOKEN_LEN + 1);
	return rc;
}

int token_revoke(struct db *db, long long id, const char *who, const char *via)
{
	sqlite3_stmt *get = db_prepare(db, "SELECT org, name FROM tokens WHERE id = ? AND "
					   "revoked_at IS NULL");
	sqlite3_stmt *set = db_prepare(db, "UPDATE tokens SET revoked_at = strftime('%Y-%m-%dT"
					   "%H:%M:%SZ', 'now') WHERE id = ?");
	int rc = DB_FAILED;
	if (!get || !set || (rc = db_begin(db)) < 0)
		goto out;
	sqlite3_bind_int64(get, 1, id);
	int step = sqlite3_step(get);
	if (step != SQLITE_ROW) {
		rc = step == SQLITE_DONE ? 1 : db_fail(db, "reading a token");
		db_rollback(db);
		goto out;
	}
	char before[64];
	snprintf(before, sizeof before, "token %lld", id);
	struct audit_entry e = { .who = who,
				 .via = via,
				 .org = (const char *)sqlite3_column_text(get, 0),
				 .what = "token.revoke",
				 .before = before,
				 .after = "revoked",
				 .detail = (const char *)sqlite3_column_text(get, 1) };
	sqlite3_bind_int64(set, 1, id);
	if ((rc = db_step_done(db, set, "revoking a token")) < 0 || (rc = audit_add(db, &e)) < 0) {
		db_rollback(db);
		goto out;
	}
	rc = db_commit(db);
out:
	sqlite3_finalize(get);
	sqlite3_finalize(set);
	return rc;
}

/* A token's id, org, role and name, columns 0 to 3 of st, into *t: 1, or
 * 0 if the row is not one this rollcall could have written. */
static int from_row(sqlite3_stmt *st, struct token *t)
{
	const char *org = (const char *)sqlite3_column_text(st, 1);
	const char *name = (const char *)sqlite3_column_text(st, 3);
	int role = token_role((const char *)sqlite3_column_text(st, 2));
	if (role < 0 || !org || !name || strlen(org) >= sizeof t->org)
		return 0;
	t->id = sqlite3_column_int64(st, 0);
	snprintf(t->org, sizeof t->org, "%s", org);
	t->role = (enum token_role)role;
	snprintf(t->name, sizeof t->name, "%s", name);
	return 1;
}

int token_find(struct db *db, const char *text, size_t len, struct token *t)
{
	char hash[TOKEN_HASH_HEX];
	if (len != TOKEN_LEN || strncmp(text, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
		return 0;
	token_hash(text, len, hash);
	sqlite3_stmt *st = db_prepare(
		db,
		"SELECT id, org, role, name, sha256, revoked_at IS NULL AND (expires_at IS NULL "
		"OR expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')) FROM tokens WHERE "
		"sha256 = ?");
	if (!st)
		return DB_FAILED;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = 0;
	if (rc == SQLITE_ROW) {
		const char *stored = (const char *)sqlite3_column_text(st, 4);
		found = stored && strlen(stored) == TOKEN_HASH_HEX - 1 &&
			CRYPTO_memcmp(stored, hash, TOKEN_HASH_HEX - 1) == 0 &&
			sqlite3_column_int(st, 5) && from_row(st, t);
	} else if (rc != SQLITE_DONE)
		found = db_fail(db, "reading tokens");
	sqlite3_finalize(st);
	OPENSSL_cleanse(hash, sizeof hash);
	return found;
}

int token_get(struct db *db, long long id, struct token *t)
{
	sqlite3_stmt *st = db_prepare(
		db,
		"SELECT id, org, role, name FROM tokens WHERE id = ? AND revoked_at IS NULL AND "
		"(expires_at IS NULL OR expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))");
	if (!st)
		return DB_FAILED;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st), found = 0;
	if (rc == SQLITE_ROW)
		found = from_row(st, t);
	else if (rc != SQLITE_DONE)
		found = db_fail(db, "reading tokens");
	sqlite3_finalize(st);
	return found;
}
