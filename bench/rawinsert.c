/*
 * bench/rawinsert.c — the limit the engine's import is measured against:
 * the same marks rows inserted by plain SQLite, a prepared statement, into a
 * table with no secondary index, in one transaction, WAL and
 * synchronous=NORMAL (docs/PERFORMANCE.md, "What the parts can do": about
 * 1.2 M rows/s).
 *
 *   build/bench-rawinsert DB MARKS.CSV      prints "rawinsert: N rows in S s = R rows/s"
 *
 * MARKS.CSV is build/gen's (upn,urn,date,session,code,minutes_late). The file
 * is read into memory first; the time covers splitting the lines, binding and
 * stepping, and the COMMIT. DB is created afresh.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "rawinsert: %s: %s\n", sql, msg);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bench-rawinsert DB MARKS.CSV\n");
		return 2;
	}
	FILE *f = fopen(argv[2], "rb");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	rewind(f);
	char *buf = malloc((size_t)size + 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "rawinsert: cannot read %s\n", argv[2]);
		return 1;
	}
	buf[size] = 0;
	fclose(f);

	remove(argv[1]);
	sqlite3 *db;
	sqlite3_stmt *st;
	if (sqlite3_open(argv[1], &db) != SQLITE_OK || exec(db, "PRAGMA journal_mode=WAL") ||
	    exec(db, "PRAGMA synchronous=NORMAL") ||
	    exec(db, "CREATE TABLE marks(upn TEXT, school INTEGER, date TEXT, session TEXT, "
		     "code TEXT, recorded_at INTEGER)") ||
	    sqlite3_prepare_v2(db, "INSERT INTO marks VALUES (?, ?, ?, ?, ?, ?)", -1, &st, NULL) !=
		    SQLITE_OK) {
		fprintf(stderr, "rawinsert: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	long rows = 0;
	sqlite3_int64 stamp = (sqlite3_int64)time(NULL);
	double t0 = now();
	if (exec(db, "BEGIN"))
		return 1;
	char *p = strchr(buf, '\n'); /* past the header */
	while (p && *++p) {
		char *end = strchr(p, '\n'), *field[6];
		if (end)
			*end = 0;
		int n = 0;
		for (char *q = p; n < 6; q++) {
			field[n++] = q;
			q = strchr(q, ',');
			if (!q)
				break;
			*q = 0;
		}
		if (n >= 5) {
			sqlite3_bind_text(st, 1, field[0], -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, atol(field[1]));
			sqlite3_bind_text(st, 3, field[2], -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, field[3], -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 5, field[4], -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 6, stamp);
			if (sqlite3_step(st) != SQLITE_DONE) {
				fprintf(stderr, "rawinsert: %s\n", sqlite3_errmsg(db));
				return 1;
			}
			sqlite3_reset(st);
			rows++;
		}
		p = end;
	}
	if (exec(db, "COMMIT"))
		return 1;
	double t = now() - t0;
	printf("rawinsert: %ld rows in %.3f s = %.0f rows/s\n", rows, t, rows / t);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(buf);
	return 0;
}
