/*
 * console.c — the console's assets and sessions (console.h).
 *
 * The assets are the files the Makefile embeds (build/console_assets.c):
 * the page, its script, the styles built from GOV.UK Frontend's Sass, GOV.UK
 * Frontend's own script, Chart.js (the same copy the report embeds) and
 * their licences.
 */
#include "console.h"

#include "token.h"
#include "util.h"

#include <string.h>

_Static_assert(CONSOLE_SECRET_CHARS == TOKEN_SECRET, "a cookie is a token's secret");

/* build/console_assets.c and build/report_assets.c */
extern const unsigned char console_index_html[], console_js[], console_css[], console_govuk_js[],
	console_licences[], console_icon[], report_chartjs[];
extern const size_t console_index_html_len, console_js_len, console_css_len, console_govuk_js_len,
	console_licences_len, console_icon_len, report_chartjs_len;

#define JS   "text/javascript; charset=utf-8"
#define TEXT "text/plain; charset=utf-8"

static const struct console_asset assets[] = {
	{ "/", "text/html; charset=utf-8", console_index_html, 0 },
	{ "/console/console.js", JS, console_js, 0 },
	{ "/console/console.css", "text/css; charset=utf-8", console_css, 0 },
	{ "/console/govuk-frontend.min.js", JS, console_govuk_js, 0 },
	{ "/console/chart.umd.js", JS, report_chartjs, 0 },
	{ "/console/licences.txt", TEXT, console_licences, 0 },
	{ "/console/icon.svg", "image/svg+xml", console_icon, 0 },
};

int console_asset(const char *path, struct console_asset *a)
{
	/* the lengths are not constant expressions in C: looked up here, into
	 * the caller's copy (the server's threads each ask for their own) */
	static const size_t *const lens[] = { &console_index_html_len, &console_js_len,
					      &console_css_len,	       &console_govuk_js_len,
					      &report_chartjs_len,     &console_licences_len,
					      &console_icon_len };
	for (size_t i = 0; i < sizeof assets / sizeof *assets; i++)
		if (!strcmp(assets[i].path, path)) {
			*a = assets[i];
			a->len = *lens[i];
			return 1;
		}
	return 0;
}

void console_secret_hash(const char *secret, char hex[65])
{
	token_hash(secret, strlen(secret), hex);
}

/* The token a link stands for, used up now; 0 if none may be used. */
static long long redeem(struct db *db, const char *link)
{
	char hash[65];
	console_secret_hash(link, hash);
	sqlite3_stmt *st = db_prepare(
		db,
		"UPDATE console_links SET used_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
		"WHERE sha256 = ?1 AND used_at IS NULL AND expires_at > strftime('%s', 'now') "
		"AND token IN (SELECT id FROM tokens WHERE revoked_at IS NULL AND (expires_at "
		"IS NULL OR expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))) RETURNING token");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	long long id = 0;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		id = db_fail(db, "using a sign-in link");
	sqlite3_finalize(st);
	return id;
}

long long console_session_open(struct db *db, const char *token, const char *link,
			       char cookie[CONSOLE_SECRET_CHARS + 1])
{
	if (db_begin(db) < 0)
		return DB_FAILED;
	long long id = 0;
	if (token) {
		struct token t;
		int rc = token_find(db, token, strlen(token), &t);
		id = rc < 0 ? rc : rc ? t.id : 0;
	} else {
		id = redeem(db, link);
	}
	char hash[65];
	if (id > 0 && token_secret(cookie) < 0)
		id = DB_FAILED;
	if (id > 0) {
		console_secret_hash(cookie, hash);
		sqlite3_stmt *st = db_prepare(
			db, "INSERT INTO console_sessions(sha256, token, opened_at, seen_at) "
			    "VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%s', "
			    "'now'))");
		int rc = st ? DB_DONE : DB_FAILED;
		if (st) {
			sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, id);
			rc = db_step_done(db, st, "opening a session");
			sqlite3_finalize(st);
		}
		if (rc < 0)
			id = rc;
	}
	if (id < 0 || db_commit(db) < 0) {
		db_rollback(db);
		return id < 0 ? id : DB_FAILED;
	}
	return id;
}

long long console_session_token(struct db *db, const char *cookie)
{
	if (strlen(cookie) != CONSOLE_SECRET_CHARS)
		return 0;
	char hash[65];
	console_secret_hash(cookie, hash);
	sqlite3_stmt *st = db_prepare(
		db,
		"SELECT token, strftime('%s', 'now') - seen_at FROM console_sessions WHERE "
		"sha256 = ?1 AND closed_at IS NULL AND seen_at > strftime('%s', 'now') - ?2 AND "
		"token IN (SELECT id FROM tokens WHERE revoked_at IS NULL AND (expires_at IS "
		"NULL OR expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))");
	if (!st)
		return DB_FAILED;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, CONSOLE_IDLE_SECONDS);
	long long id = 0, idle = 0;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		idle = sqlite3_column_int64(st, 1);
	} else if (rc != SQLITE_DONE) {
		id = db_fail(db, "reading a session");
	}
	sqlite3_finalize(st);
	/* Idle time is kept to the minute, so that a page's requests are
	 * reads: a session seen within the last minute is not written. */
	if (id > 0 && idle >= 60) {
		st = db_prepare(db, "UPDATE console_sessions SET seen_at = strftime('%s', 'now') "
				    "WHERE sha256 = ?");
		if (!st)
			return DB_FAILED;
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
		rc = db_step_done(db, st, "keeping a session open");
		sqlite3_finalize(st);
		if (rc < 0)
			return rc;
	}
	return id;
}

int console_session_close(struct db *db, const char *cookie)
{
	char hash[65];
	console_secret_hash(cookie, hash);
	sqlite3_stmt *st = db_prepare(
		db, "UPDATE console_sessions SET closed_at = strftime('%Y-%m-%dT%H:%M:%SZ', "
		    "'now') WHERE sha256 = ? AND closed_at IS NULL");
	if (!st)
		return DB_FAILED;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	int rc = db_step_done(db, st, "closing a session");
	sqlite3_finalize(st);
	return rc;
}

int console_link_new(struct db *db, long long token_id, char code[CONSOLE_SECRET_CHARS + 1])
{
	char hash[65];
	if (token_secret(code) < 0)
		return DB_FAILED;
	console_secret_hash(code, hash);
	sqlite3_stmt *st =
		db_prepare(db, "INSERT INTO console_links(sha256, token, created_at, "
			       "expires_at) VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', "
			       "'now'), strftime('%s', 'now') + ?3)");
	if (!st)
		return DB_FAILED;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, token_id);
	sqlite3_bind_int(st, 3, CONSOLE_LINK_SECONDS);
	int rc = db_step_done(db, st, "making a sign-in link");
	sqlite3_finalize(st);
	return rc;
}
