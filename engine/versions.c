/*
 * versions.c — the kept versions of policies (versions.h).
 */
#include "versions.h"

#include "util.h"

#include <string.h>

int versions_keep(struct db *db, const char *org, const char *file, const char *text, size_t len,
		  const char *sha256, const char *published_by)
{
	sqlite3_stmt *st = db_prepare(
		db,
		"INSERT INTO policy_versions(sha256, org, file, text, first_loaded, last_loaded, "
		"published_by, published_at) VALUES (?1, ?2, ?3, ?4, "
		"strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), "
		"?5, CASE WHEN ?5 IS NOT NULL THEN strftime('%Y-%m-%dT%H:%M:%SZ', 'now') END) "
		"ON CONFLICT(sha256) DO UPDATE SET last_loaded = excluded.last_loaded, "
		"published_by = coalesce(published_by, excluded.published_by), "
		"published_at = coalesce(published_at, excluded.published_at)");
	if (!st)
		return DB_FAILED;
	sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, file, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, text, (int)len, SQLITE_STATIC);
	if (published_by)
		sqlite3_bind_text(st, 5, published_by, -1, SQLITE_STATIC);
	int rc = db_step_done(db, st, "keeping a policy version");
	sqlite3_finalize(st);
	return rc;
}

char *versions_text(struct db *db, const char *org, const char *sha256, size_t *len)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT text FROM policy_versions WHERE sha256 = ?1 "
					  "AND (?2 IS NULL OR org = ?2)");
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
	if (org)
		sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	char *text = NULL;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*len = (size_t)sqlite3_column_bytes(st, 0);
		text = xmalloc(*len + 1);
		if (*len)
			memcpy(text, sqlite3_column_blob(st, 0), *len);
		text[*len] = '\0';
	} else if (rc != SQLITE_DONE) {
		db_fail(db, "reading a policy version");
	}
	sqlite3_finalize(st);
	return text;
}
