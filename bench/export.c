/*
 * bench/export.c — every pupil's figures, computed by the engine's own
 * register.c and stats.c, as JSON lines for the peer (bench/peer.js), so
 * that json-rules-engine is measured on rule evaluation alone.
 *
 *   build/bench-export DB > figures.jsonl
 *
 * One object a pupil with marks: upn, then the facts the bench rules read:
 * six school weeks (possible6, rate6), ten school weeks (unauthorised10),
 * the academic year (year_possible, year_absence_rate) and the run of
 * unauthorised school days (consecutive_unauthorised_days). Rates are
 * printed to 17 digits, so both sides compare the same doubles.
 */
#include "db.h"
#include "register.h"
#include "stats.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	struct db db;
	struct registers reg;
	if (argc != 2 || db_open(&db, argv[1], DB_READONLY) < 0 || register_open(&reg, &db) < 0)
		return 1;
	if (!reg.nyears) {
		fprintf(stderr, "%s: no registers\n", argv[1]);
		return 1;
	}
	const struct window w6 = { WINDOW_SCHOOL_WEEKS, 6, 0 },
			    w10 = { WINDOW_SCHOOL_WEEKS, 10, 0 },
			    year = { WINDOW_ACADEMIC_YEAR, 0, 0 };
	sqlite3_stmt *st = db_prepare(&db, "SELECT id, upn FROM pupils ORDER BY id");
	struct history h = { 0 };
	int from = reg.years[reg.nyears - 1], day, session, code;
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		uint32_t pupil = (uint32_t)sqlite3_column_int64(st, 0);
		struct figures f6, f10, fy;
		int absent, unauthorised;
		if (register_history(&reg, pupil, from, &h) < 0)
			return 1;
		if (!stats_latest(&h, &day, &session, &code))
			continue; /* no marks: the engine evaluates nothing either */
		if (stats_window(&h, &w6, &f6) < 0 || stats_window(&h, &w10, &f10) < 0 ||
		    stats_window(&h, &year, &fy) < 0 ||
		    stats_consecutive(&h, &absent, &unauthorised) < 0)
			return 1;
		printf("{\"upn\":\"%s\",\"possible6\":%d,\"rate6\":%.17g,\"unauthorised10\":%d,"
		       "\"year_possible\":%d,\"year_absence_rate\":%.17g,"
		       "\"consecutive_unauthorised_days\":%d}\n",
		       (const char *)sqlite3_column_text(st, 1), f6.possible, f6.rate,
		       f10.unauthorised, fy.possible, fy.absence_rate, unauthorised);
	}
	sqlite3_finalize(st);
	history_free(&h);
	register_close(&reg);
	db_close(&db);
	return 0;
}
