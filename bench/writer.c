/*
 * bench/writer.c — another program writing a whole school day into
 * rollcall's incoming table as fast as it can: a prepared statement,
 * ROWS_PER_TX rows a transaction (default 10000), like a nightly bulk feed.
 *
 *   build/bench-writer DB MARKS.CSV [ROWS_PER_TX]
 *
 * MARKS.CSV is build/gen's (upn,urn,date,session,code,...). Prints one line:
 * "writer: ROWS rows FIRST_MS LAST_MS", the Unix milliseconds just before the
 * first row's INSERT and just after the last COMMIT, so that bench/daybatch
 * measures the day batch from the first incoming row.
 */
#include <sqlite3.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	fprintf(stderr, "writer: %s: %s\n", sql, sqlite3_errmsg(db));
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: bench-writer DB MARKS.CSV [ROWS_PER_TX]\n");
		return 2;
	}
	long per_tx = argc == 4 ? atol(argv[3]) : 10000;
	FILE *f = fopen(argv[2], "r");
	sqlite3 *db;
	sqlite3_stmt *st;
	if (per_tx < 1 || !f ||
	    sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "writer: cannot open %s or %s\n", argv[1], argv[2]);
		return 1;
	}
	/* the daemon holds the write lock for a whole batch */
	sqlite3_busy_timeout(db, 600000);
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO incoming(upn, urn, date, session, code) VALUES "
			       "(?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "writer: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	char line[256];
	long n = 0;
	long long first = 0;
	if (!fgets(line, sizeof line, f)) /* the header */
		return 1;
	while (fgets(line, sizeof line, f)) {
		char upn[16], urn[8], date[11], session[3], code[3];
		if (sscanf(line, "%13[^,],%6[^,],%10[^,],%2[^,],%2[^,\r\n]", upn, urn, date,
			   session, code) != 5)
			continue;
		if (n % per_tx == 0) {
			if (n && exec(db, "COMMIT"))
				return 1;
			if (!n)
				first = now_ms();
			if (exec(db, "BEGIN IMMEDIATE"))
				return 1;
		}
		const char *v[] = { upn, urn, date, session, code };
		for (int i = 0; i < 5; i++)
			sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			fprintf(stderr, "writer: %s\n", sqlite3_errmsg(db));
			return 1;
		}
		sqlite3_reset(st);
		n++;
	}
	if (n && exec(db, "COMMIT"))
		return 1;
	struct rusage ru; /* the CPU the writing took, for bench/daybatch's budget */
	getrusage(RUSAGE_SELF, &ru);
	printf("writer: %ld rows %lld %lld %.3f\n", n, first, now_ms(),
	       (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		       ru.ru_stime.tv_usec / 1e6);
	sqlite3_finalize(st);
	sqlite3_close(db);
	fclose(f);
	return 0;
}
