/*
 * trickle.c — another program writing into rollcall's incoming table, as
 * a school's register system would: one row a transaction, at a steady
 * rate, each stamped with the wall-clock time of its commit.
 *
 *   trickle DB MARKS.CSV ROWS_PER_SECOND > sent
 *
 * MARKS.CSV is build/gen's (plain fields: upn,urn,date,session,code,...).
 * Prints "upn date session ms" per row, ms being Unix milliseconds just
 * after the commit, for bench/latency to pair with the receiver's arrivals.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ms(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	if (argc != 4 || atof(argv[3]) <= 0) {
		fprintf(stderr, "usage: trickle DB MARKS.CSV ROWS_PER_SECOND\n");
		return 2;
	}
	FILE *f = fopen(argv[2], "r");
	sqlite3 *db;
	sqlite3_stmt *st;
	if (!f || sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "trickle: cannot open %s or %s\n", argv[1], argv[2]);
		return 1;
	}
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO incoming(upn, urn, date, session, code) VALUES "
			       "(?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "trickle: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	double gap_ms = 1000.0 / atof(argv[3]);
	long long start = now_ms(CLOCK_MONOTONIC);
	char line[256];
	long n = 0;
	if (!fgets(line, sizeof line, f)) /* the header */
		return 1;
	while (fgets(line, sizeof line, f)) {
		char upn[16], urn[8], date[11], session[3], code[3];
		if (sscanf(line, "%13[^,],%6[^,],%10[^,],%2[^,],%2[^,\r\n]", upn, urn, date,
			   session, code) != 5)
			continue;
		long long due = start + (long long)(n * gap_ms),
			  wait = due - now_ms(CLOCK_MONOTONIC);
		if (wait > 0) {
			struct timespec ts = { wait / 1000, (wait % 1000) * 1000000 };
			nanosleep(&ts, NULL);
		}
		const char *v[] = { upn, urn, date, session, code };
		for (int i = 0; i < 5; i++)
			sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			fprintf(stderr, "trickle: %s\n", sqlite3_errmsg(db));
			return 1;
		}
		sqlite3_reset(st);
		printf("%s %s %s %lld\n", upn, date, session, now_ms(CLOCK_REALTIME));
		n++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	fclose(f);
	return 0;
}
