/*
 * cmd_reevaluate.c — `rollcall reevaluate ORG [--since DATE]`: queue an
 * organisation's pupils to be evaluated again by its policy, on demand
 * (after a fix to a policy whose calls failed, say, or to apply a new
 * version to pupils whose marks have not changed since).
 *
 * The pupils go into `deferred` for ORG, the table the engine already keeps
 * for pupils a policy has still to see (engine.c: a cut-off policy's, and
 * those of an organisation whose file does not load): `rollcall run`
 * evaluates them with ORG's policy alone in its next batches, at most
 * limits.batch_pupils a batch, and at once if it is running (this
 * command's commits move PRAGMA data_version, which it watches). The
 * table's key (org, pupil) keeps one row a pupil, so queuing twice, or a
 * pupil already waiting, adds nothing. Rows are written in transactions
 * of at most REEVALUATE_CHUNK pupils, so other writers wait for the lock
 * no longer than one of those takes.
 */
#include "cmd.h"
#include "date.h"
#include "policy.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define REEVALUATE_CHUNK 10000 /* pupils queued a transaction */

/* Does pupil have a mark on or after day? A register holds one academic
 * year from 1 September, a byte a session, trimmed after the latest mark:
 * so yes if that year's register reaches day's slot, or any later year
 * has a register. Returns 1, 0, or -1. */
static int marked_since(struct db *db, sqlite3_stmt *len, uint32_t pupil, int day, int last_year)
{
	int year = date_academic_year(day);
	int slot = 2 * (day - date_from_ymd(year, 9, 1));
	for (int y = year; y <= last_year; y++) {
		sqlite3_bind_int64(len, 1, (int64_t)y << 32 | pupil);
		int rc = sqlite3_step(len);
		long long n = rc == SQLITE_ROW ? sqlite3_column_int64(len, 0) : 0;
		sqlite3_reset(len);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return db_fail(db, "reading registers");
		if (n > (y == year ? slot : 0))
			return 1;
	}
	return 0;
}

/* The pupils of org's schools (with a mark on or after since_day, unless
 * it is negative), in id order. Returns how many, or -1. */
static long org_pupils(struct db *db, const char *org, int since_day, uint32_t **out)
{
	int trust = !strncmp(org, "trust:", 6);
	sqlite3_stmt *list = db_prepare(
		db, trust ? "SELECT p.id FROM pupils p JOIN schools s ON s.urn = p.urn WHERE "
			    "s.trust_id = ? ORDER BY p.id"
			  : "SELECT p.id FROM pupils p JOIN schools s ON s.urn = p.urn WHERE "
			    "s.la_code = ? ORDER BY p.id");
	sqlite3_stmt *len = db_prepare(db, "SELECT length(slots) FROM registers WHERE id = ?");
	sqlite3_stmt *years = db_prepare(db, "SELECT max(id) >> 32 FROM registers");
	long n = 0, cap = 0;
	int rc = list && len && years ? SQLITE_OK : SQLITE_ERROR, last_year = 0;
	if (rc == SQLITE_OK && sqlite3_step(years) == SQLITE_ROW)
		last_year = sqlite3_column_int(years, 0);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(list, 1, strchr(org, ':') + 1, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
			uint32_t pupil = (uint32_t)sqlite3_column_int64(list, 0);
			int marked = since_day < 0
					     ? 1
					     : marked_since(db, len, pupil, since_day, last_year);
			if (marked < 0) {
				n = -1;
				break;
			}
			if (!marked)
				continue;
			if (n == cap)
				*out = xrealloc(*out, (size_t)(cap = cap ? 2 * cap : 1024) *
							      sizeof **out);
			(*out)[n++] = pupil;
		}
		if (n >= 0 && rc != SQLITE_DONE)
			n = db_fail(db, "reading the organisation's pupils");
	} else
		n = -1;
	sqlite3_finalize(list);
	sqlite3_finalize(len);
	sqlite3_finalize(years);
	return n;
}

/* How many schools org's code names (la_code, or trust_id), or -1. */
static long long org_schools(struct db *db, const char *org)
{
	int trust = !strncmp(org, "trust:", 6);
	sqlite3_stmt *st = db_prepare(db, trust ? "SELECT count(*) FROM schools WHERE trust_id = ?"
						: "SELECT count(*) FROM schools WHERE la_code = ?");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, strchr(org, ':') + 1, -1, SQLITE_STATIC);
	long long n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return n < 0 ? db_fail(db, "counting schools") : n;
}

int cmd_reevaluate(struct cli *cli, int argc, char **argv)
{
	const char *org = NULL, *since = NULL;
	int got;
	for (int i = 1; i < argc;) {
		if ((got = cmd_option(argc, argv, &i, "--since", &since)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
		} else if (argv[i][0] == '-' || org)
			return cmd_usage(cli);
		else
			org = argv[i++];
	}
	if (!org)
		return cmd_usage(cli);
	if (!policy_org_valid(org)) {
		error("%s: expected la:NNN (an LA code) or trust:ID", org);
		return EXIT_USAGE;
	}
	int since_day = -1;
	if (since && (strlen(since) != 10 || (since_day = date_parse(since, 10)) < 0)) {
		error("--since %s: expected a date, YYYY-MM-DD", since);
		return EXIT_USAGE;
	}
	/* Only a file named for the organisation is ever its policy: with none,
	 * nothing would take the pupils from `deferred`. */
	char path[4200];
	struct stat sb;
	int trust = !strncmp(org, "trust:", 6);
	snprintf(path, sizeof path, "%s/%s-%s.lua", cli->cfg.policies, trust ? "trust" : "la",
		 strchr(org, ':') + 1);
	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		error("%s: no policy file %s: nothing would evaluate its pupils", org, path);
		return EXIT_USAGE;
	}

	struct db *db = &cli->db;
	uint32_t *pupils = NULL;
	long n = -1, queued = 0, added = 0;
	long long schools = -1;
	int status = EXIT_FAILURE;
	sqlite3_stmt *put = NULL;
	/* one snapshot to read; then short write transactions */
	if (db_exec(db, "BEGIN") == 0) {
		if ((schools = org_schools(db, org)) > 0)
			n = org_pupils(db, org, since_day, &pupils);
		db_exec(db, "COMMIT");
	}
	if (schools == 0) {
		error("%s: no school of this organisation is known (its %s)", org,
		      trust ? "trust_id" : "la_code");
		status = EXIT_USAGE;
		goto out;
	}
	if (n < 0 ||
	    !(put = db_prepare(db, "INSERT OR IGNORE INTO deferred(org, pupil) VALUES (?, ?)")))
		goto out;
	sqlite3_bind_text(put, 1, org, -1, SQLITE_STATIC);
	while (queued < n) {
		if (db_begin(db) < 0)
			goto out;
		long end = queued + REEVALUATE_CHUNK < n ? queued + REEVALUATE_CHUNK : n, new = 0;
		for (long i = queued; i < end; i++) {
			sqlite3_bind_int64(put, 2, pupils[i]);
			if (db_step_done(db, put, "queuing pupils") < 0) {
				db_rollback(db);
				goto out;
			}
			new += sqlite3_changes(db->h);
		}
		if (db_commit(db) < 0) {
			db_rollback(db);
			goto out;
		}
		queued = end;
		added += new;
	}
	if (cli->verbosity >= 0)
		printf("%s: %ld pupils%s%s queued for evaluation by its policy (%ld of them were "
		       "already waiting)\n",
		       org, queued, since ? " with marks since " : "", since ? since : "",
		       queued - added);
	status = EXIT_SUCCESS;
out:
	if (status == EXIT_FAILURE && queued)
		error("%s: %ld of %ld pupils were queued before the failure", org, queued, n);
	sqlite3_finalize(put);
	free(pupils);
	return status;
}
