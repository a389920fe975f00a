/*
 * cmd_replay.c — `rollcall replay --policy FILE [--from DATE] [--to DATE]
 * [--json] [--compare OTHER.lua]`: what a policy (a draft, or a live one)
 * would have done over the stored history, day by day as if it had been
 * live — the same figures, repeat rules and refusals, from an empty case
 * history — then a summary. With --compare, what each of two policies would
 * have done that the other would not.
 *
 * It changes nothing and sends nothing: the database is opened read-only,
 * and the actions, cases and deliveries the replay records go to TEMP
 * copies of those tables (db_shadow) that vanish with the connection.
 */
#include "cmd.h"
#include "date.h"
#include "engine.h"
#include "util.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const outcomes[] = { "actions", "cases", "deliveries", NULL };

static void progress(long done, long total)
{
	fprintf(stderr, "\rreplay: %ld of %ld pupils", done, total);
	if (done == total)
		fputc('\n', stderr);
}

/* Replay the policy in path into the TEMP tables, emptied first. */
static int replay(struct engine *e, const char *path, int from, int to, int tty)
{
	char *files[] = { (char *)path };
	if (engine_load_policies(e, files, 1, cmd_policy_error) != 0)
		return EXIT_USAGE;
	if (db_exec(e->db, "DELETE FROM temp.actions; DELETE FROM temp.cases; "
			   "DELETE FROM temp.deliveries") < 0 ||
	    engine_replay(e, e->policies[0], from, to, tty ? progress : NULL) < 0)
		return EXIT_FAILURE;
	return EXIT_SUCCESS;
}

/* Run sql, whose rows are (label, count), into a JSON object. */
static json_t *counts(struct db *db, const char *sql)
{
	json_t *o = json_object();
	sqlite3_stmt *st = db_prepare(db, sql);
	while (st && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
				    json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_finalize(st);
	return o;
}

static void summary(struct db *db, const char *path, int json)
{
	json_t *kinds = counts(db, "SELECT action || ' ' || kind, count(*) FROM actions "
				   "GROUP BY 1 ORDER BY 1");
	json_t *months = counts(db, "SELECT substr(date, 1, 7), count(*) FROM actions GROUP BY 1 "
				    "ORDER BY 1");
	json_t *o = json_pack("{s:{s:s, s:o, s:o, s:o, s:o}}", "summary", "policy", path, "actions",
			      counts(db, "SELECT 'all', count(*) FROM actions"), "by_kind", kinds,
			      "by_month", months, "pupils",
			      counts(db, "SELECT 'affected', count(DISTINCT pupil) FROM actions"));
	if (json) {
		char *line = json_dumps(o, JSON_COMPACT);
		puts(line);
		free(line);
	} else {
		json_t *s = json_object_get(o, "summary");
		printf("\n%s would have taken %lld actions for %lld pupils\n", path,
		       (long long)json_integer_value(
			       json_object_get(json_object_get(s, "actions"), "all")),
		       (long long)json_integer_value(
			       json_object_get(json_object_get(s, "pupils"), "affected")));
		const char *key;
		json_t *v;
		printf("by kind:\n");
		json_object_foreach(kinds, key, v)
		{
			printf("  %-36s %lld\n", key, (long long)json_integer_value(v));
		}
		printf("by month:\n");
		json_object_foreach(months, key, v)
		{
			printf("  %-36s %lld\n", key, (long long)json_integer_value(v));
		}
	}
	json_decref(o);
}

/* What the first replay did (kept in temp.replay_first) that the second
 * (in temp.actions) did not, and the other way round. */
static int compare(struct db *db, const char *a, const char *b, int json)
{
	static const char *const sql =
		"SELECT * FROM (SELECT 1, date, upn, action, kind FROM replay_first EXCEPT "
		"SELECT 1, date, upn, action, kind FROM actions) UNION ALL "
		"SELECT * FROM (SELECT 2, date, upn, action, kind FROM actions EXCEPT "
		"SELECT 2, date, upn, action, kind FROM replay_first) ORDER BY 2, 3, 1";
	sqlite3_stmt *st = db_prepare(db, sql);
	long only[3] = { 0 };
	int rc;
	while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int side = sqlite3_column_int(st, 0);
		const char *who = side == 1 ? a : b;
		only[side]++;
		if (json) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "only_in", who, "date",
					      sqlite3_column_text(st, 1), "upn",
					      sqlite3_column_text(st, 2), "action",
					      sqlite3_column_text(st, 3), "kind",
					      sqlite3_column_text(st, 4));
			char *line = json_dumps(o, JSON_COMPACT);
			puts(line);
			free(line);
			json_decref(o);
		} else {
			printf("only %-30s %s %s %-10s %s\n", who, sqlite3_column_text(st, 1),
			       sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
			       sqlite3_column_text(st, 4));
		}
	}
	sqlite3_finalize(st);
	if (!st || rc != SQLITE_DONE)
		return db_fail(db, "comparing replays");
	if (!json)
		printf("\n%ld actions only in %s, %ld only in %s\n", only[1], a, only[2], b);
	return 0;
}

static int day_option(const char *name, const char *value, int *day)
{
	if (value && (*day = date_parse(value, (int)strlen(value))) < 0) {
		error("%s %s: expected a date YYYY-MM-DD", name, value);
		return -1;
	}
	return 0;
}

int cmd_replay(struct cli *cli, int argc, char **argv)
{
	const char *policy = NULL, *other = NULL, *from_text = NULL, *to_text = NULL;
	int json = 0, from = INT_MIN, to = INT_MAX, got, status = EXIT_FAILURE;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if ((got = cmd_option(argc, argv, &i, "--policy", &policy)) ||
			 (got = cmd_option(argc, argv, &i, "--compare", &other)) ||
			 (got = cmd_option(argc, argv, &i, "--from", &from_text)) ||
			 (got = cmd_option(argc, argv, &i, "--to", &to_text))) {
			if (got < 0)
				return cmd_usage(cli);
		} else
			return cmd_usage(cli);
	}
	if (!policy)
		return cmd_usage(cli);
	if (day_option("--from", from_text, &from) < 0 || day_option("--to", to_text, &to) < 0)
		return EXIT_USAGE;

	struct engine e;
	int tty = isatty(STDERR_FILENO) && cli->verbosity >= 0;
	if (db_open(&cli->db, cli->db_path, DB_READONLY) < 0 || db_check_version(&cli->db) < 0 ||
	    db_shadow(&cli->db, outcomes) < 0 || engine_open(&e, &cli->db, &cli->cfg) < 0)
		return EXIT_FAILURE;
	status = replay(&e, policy, from, to, tty);
	if (status == EXIT_SUCCESS && other) {
		if (db_exec(&cli->db, "CREATE TEMP TABLE replay_first AS SELECT * FROM actions") <
		    0)
			status = EXIT_FAILURE;
		else
			status = replay(&e, other, from, to, tty);
		if (status == EXIT_SUCCESS && compare(&cli->db, policy, other, json) < 0)
			status = EXIT_FAILURE;
	} else if (status == EXIT_SUCCESS) {
		if (cmd_print_actions(&cli->db, NULL, NULL, json) < 0)
			status = EXIT_FAILURE;
		else
			summary(&cli->db, policy, json);
	}
	engine_close(&e);
	return status;
}
