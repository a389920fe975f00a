/*
 * bench/evaluate.c — rollcall's policy evaluation alone, for the comparison
 * with the peer: one policy (bench/rules.lua) called through policy_evaluate
 * for every pupil, as the engine calls it, its actions recorded by
 * actions.c into TEMP copies of the outcome tables (the database is opened
 * read-only, as `rollcall replay` does).
 *
 *   build/bench-evaluate DB POLICY.lua SCRIPTS_DIR FIRED
 *
 * Writes "upn kind" per recorded action to FIRED, sorted, and prints one
 * line: pupils, actions, the seconds inside policy_evaluate (the Lua call,
 * the windows it reads, recording its actions) and the seconds loading the
 * histories, which the peer is given precomputed.
 */
#include "actions.h"
#include "db.h"
#include "policy.h"
#include "register.h"
#include "stats.h"

#include <stdio.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const char *const outcomes[] = { "actions", "cases", "deliveries", NULL };
	struct db db;
	struct registers reg;
	struct actions act;
	struct policy pol;
	char err[4096];
	if (argc != 5) {
		fprintf(stderr, "usage: bench-evaluate DB POLICY.lua SCRIPTS_DIR FIRED\n");
		return 2;
	}
	if (db_open(&db, argv[1], DB_READONLY) < 0 || db_check_version(&db) < 0 ||
	    db_shadow(&db, outcomes) < 0 || register_open(&reg, &db) < 0 ||
	    actions_open(&act, &db, NULL) < 0)
		return 1;
	if (policy_load(&pol, argv[2], argv[3], 64u << 20, 10000000, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	sqlite3_stmt *st =
		db_prepare(&db, "SELECT p.id, p.upn, p.urn, p.year_group, "
				"p.social_worker, p.sen, p.fsm, s.la_code, s.trust_id "
				"FROM pupils p JOIN schools s ON s.urn = p.urn ORDER BY p.id");
	if (!st || db_exec(&db, "BEGIN") < 0)
		return 1;
	struct history h = { 0 };
	int year = reg.years[reg.nyears ? reg.nyears - 1 : 0];
	long pupils = 0, errors = 0;
	double load = 0, eval = 0;
	struct actions_draft draft = { 0 };
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint32_t id = (uint32_t)sqlite3_column_int64(st, 0);
		double t0 = now();
		if (register_history(&reg, id, year, &h) < 0)
			return 1;
		struct pupil_view v = {
			.id = id,
			.upn = (const char *)sqlite3_column_text(st, 1),
			.urn = sqlite3_column_int(st, 2),
			.year_group = (const char *)sqlite3_column_text(st, 3),
			.social_worker = sqlite3_column_int(st, 4),
			.sen = *(const char *)sqlite3_column_text(st, 5),
			.fsm = sqlite3_column_int(st, 6),
			.la_code = (const char *)sqlite3_column_text(st, 7),
			.trust_id = (const char *)sqlite3_column_text(st, 8),
			.h = &h,
		};
		double t1 = now();
		int rc = policy_evaluate(&pol, &v, &act, &draft, err, sizeof err);
		if (rc == 0 && actions_commit(&act, &draft) < 0)
			return 1;
		double t2 = now();
		if (rc == -2)
			return 1;
		if (rc < 0 && errors++ == 0)
			fprintf(stderr, "%s: %s\n", v.upn, err);
		load += t1 - t0;
		eval += t2 - t1;
		pupils++;
	}
	sqlite3_finalize(st);
	FILE *out = fopen(argv[4], "w");
	st = db_prepare(&db, "SELECT upn, kind FROM actions ORDER BY upn, kind");
	long fired = 0;
	while (out && st && sqlite3_step(st) == SQLITE_ROW) {
		fprintf(out, "%s %s\n", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
		fired++;
	}
	sqlite3_finalize(st);
	if (!out || fclose(out) != 0)
		return 1;
	db_exec(&db, "ROLLBACK");
	printf("evaluate: %ld pupils %ld actions %ld errors %.6f eval_s %.6f load_s\n", pupils,
	       fired, errors, eval, load);
	history_free(&h);
	policy_free(&pol);
	actions_close(&act);
	register_close(&reg);
	db_close(&db);
	return errors ? 1 : 0;
}
