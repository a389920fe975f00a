/*
 * bench/figures.c — how fast every pupil's figures can be computed from the
 * stored registers: for each pupil, load the history (current academic year,
 * earlier ones on demand), then the streaks and five windows a typical
 * policy reads. Prints pupils/s on one line.
 *
 *   build/bench-figures DB
 */
#include "date.h"
#include "db.h"
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
	struct db db;
	struct registers reg;
	if (argc != 2 || db_open(&db, argv[1], 0) < 0 || register_open(&reg, &db) < 0)
		return 1;
	if (!reg.nyears) {
		fprintf(stderr, "%s: no registers\n", argv[1]);
		return 1;
	}
	const struct window windows[] = {
		{ WINDOW_SESSIONS, 20, 0 },	{ WINDOW_SCHOOL_WEEKS, 6, 0 },
		{ WINDOW_SCHOOL_WEEKS, 10, 0 }, { WINDOW_DAYS, 28, 0 },
		{ WINDOW_ACADEMIC_YEAR, 0, 0 },
	};
	sqlite3_stmt *st = db_prepare(&db, "SELECT id FROM pupils ORDER BY id");
	struct history h = { 0 };
	long pupils = 0, possible = 0, streaks = 0;
	int year = reg.years[reg.nyears - 1];
	double t0 = now();
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint32_t pupil = (uint32_t)sqlite3_column_int64(st, 0);
		int absent, unauthorised;
		if (register_history(&reg, pupil, year, &h) < 0 ||
		    stats_consecutive(&h, &absent, &unauthorised) < 0)
			return 1;
		streaks += absent;
		for (size_t w = 0; w < sizeof windows / sizeof *windows; w++) {
			struct figures f;
			if (stats_window(&h, &windows[w], &f) < 0)
				return 1;
			possible += f.possible;
		}
		pupils++;
	}
	double t = now() - t0;
	printf("figures: %ld pupils in %.2f s = %.0f pupils/s (5 windows + streaks each; "
	       "checksum %ld/%ld)\n",
	       pupils, t, pupils / t, possible, streaks);
	sqlite3_finalize(st);
	history_free(&h);
	register_close(&reg);
	db_close(&db);
	return 0;
}
