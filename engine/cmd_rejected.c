/*
 * cmd_rejected.c — `rollcall rejected [--since DATE] [--source FILE]
 * [--limit N] [--json]`: the rows rollcall refused, with why. A row lands
 * in `rejected` when `import --skip-invalid` stores a file's good rows
 * without its bad ones (source: the file name as given, line: its line),
 * or when `rollcall run` takes a row from incoming that it cannot accept
 * (source: incoming, line: the row's incoming.id). Newest first, at most
 * --limit (default 100); when there are more it says how many on standard
 * error, so a listing is never silently cut. --json prints one object per
 * line.
 */
#include "cmd.h"
#include "date.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define REJECTED_LIMIT_DEFAULT 100
#define REJECTED_LIMIT_MAX     100000

/* ?1 since (YYYY-MM-DD, compared with rejected_at's ISO text), ?2 source */
#define REJECTED_WHERE                                                                             \
	" FROM rejected WHERE (?1 IS NULL OR rejected_at >= ?1) AND (?2 IS NULL OR source = ?2)"

static const char *const list_sql =
	"SELECT id, source, line, row, reason, rejected_at" REJECTED_WHERE
	" ORDER BY id DESC LIMIT ?3";

static const char *const count_sql = "SELECT count(*)" REJECTED_WHERE;

static void bind_filters(sqlite3_stmt *st, const char *since, const char *source)
{
	if (since)
		sqlite3_bind_text(st, 1, since, -1, SQLITE_STATIC);
	if (source)
		sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
}

static void print_json(sqlite3_stmt *st)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(o, "source", column_json(st, 1, NULL));
	json_object_set_new(o, "line",
			    sqlite3_column_type(st, 2) == SQLITE_NULL
				    ? json_null()
				    : json_integer(sqlite3_column_int64(st, 2)));
	json_object_set_new(o, "row", column_json(st, 3, TEXT_KEEP_JSON));
	json_object_set_new(o, "reason", column_json(st, 4, NULL));
	json_object_set_new(o, "rejected_at", column_json(st, 5, NULL));
	char *line = json_dumps(o, JSON_COMPACT);
	puts(line);
	free(line);
	json_decref(o);
}

static void print_text(sqlite3_stmt *st)
{
	/* every byte here came from outside: a file, or another program's
	 * INSERT; it reaches the terminal only as text_safe made it */
	char *source = column_safe(st, 1, NULL), *row = column_safe(st, 3, NULL),
	     *reason = column_safe(st, 4, NULL), *at = column_safe(st, 5, NULL);
	printf("%s %s:%lld: %s\n    %s\n", at ? at : "", source ? source : "",
	       (long long)sqlite3_column_int64(st, 2), reason ? reason : "", row ? row : "");
	free(source);
	free(row);
	free(reason);
	free(at);
}

int cmd_rejected(struct cli *cli, int argc, char **argv)
{
	const char *since = NULL, *source = NULL, *limit_text = NULL;
	int json = 0, got, status = EXIT_FAILURE, rc;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if ((got = cmd_option(argc, argv, &i, "--since", &since)) != 0 ||
			 (got = cmd_option(argc, argv, &i, "--source", &source)) != 0 ||
			 (got = cmd_option(argc, argv, &i, "--limit", &limit_text)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
		} else
			return cmd_usage(cli);
	}
	if (since && (strlen(since) != 10 || date_parse(since, 10) < 0)) {
		error("--since %s: expected a date, YYYY-MM-DD", since);
		return EXIT_USAGE;
	}
	long limit = REJECTED_LIMIT_DEFAULT;
	if (limit_text) {
		char *end;
		limit = strtol(limit_text, &end, 10);
		if (*end || end == limit_text || limit < 1 || limit > REJECTED_LIMIT_MAX) {
			error("--limit %s: expected a whole number from 1 to %d", limit_text,
			      REJECTED_LIMIT_MAX);
			return EXIT_USAGE;
		}
	}

	sqlite3_stmt *st = db_prepare(&cli->db, list_sql), *count = NULL;
	if (!st)
		goto out;
	bind_filters(st, since, source);
	sqlite3_bind_int64(st, 3, limit + 1); /* one more: are there more? */
	long shown = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && shown < limit) {
		shown++;
		if (json)
			print_json(st);
		else
			print_text(st);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_fail(&cli->db, "reading rejected rows");
		goto out;
	}
	if (rc == SQLITE_ROW) { /* cut at --limit: say by how much */
		if (!(count = db_prepare(&cli->db, count_sql)))
			goto out;
		bind_filters(count, since, source);
		if (sqlite3_step(count) != SQLITE_ROW) {
			db_fail(&cli->db, "counting rejected rows");
			goto out;
		}
		fprintf(stderr,
			"rollcall: %ld of %lld rejected rows shown, newest first (--limit N shows "
			"more)\n",
			shown, (long long)sqlite3_column_int64(count, 0));
	}
	status = EXIT_SUCCESS;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(count);
	return status;
}
