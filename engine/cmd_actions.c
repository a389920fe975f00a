/*
 * cmd_actions.c — `rollcall actions [--org ORG] [--since DATE] [--json]`:
 * recorded actions, oldest first. --json prints one object per line in the
 * form SPEC.md section 4 gives (the webhook body's `data`, plus deliveries).
 */
#include "cmd.h"
#include "date.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static json_t *parsed(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	return v ? v : json_null();
}

static const char *text_or_null(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

int cmd_actions(struct cli *cli, int argc, char **argv)
{
	const char *org = NULL, *since = NULL;
	int json = 0;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if (cmd_flag(argv, &i, "--org") && i < argc)
			org = argv[i++];
		else if (cmd_flag(argv, &i, "--since") && i < argc)
			since = argv[i++];
		else
			return cmd_usage(cli);
	}
	if (since && date_parse(since, (int)strlen(since)) < 0) {
		error("--since %s: expected a date YYYY-MM-DD", since);
		return EXIT_USAGE;
	}
	sqlite3_stmt *st = db_prepare(
		&cli->db,
		"SELECT a.id, a.action, a.org, a.policy, a.policy_sha256, a.kind, a.severity, "
		"a.message, p.upn, p.urn, p.year_group, a.evidence, a.data, a.date, a.created_at "
		"FROM actions a JOIN pupils p ON p.id = a.pupil "
		"WHERE (?1 IS NULL OR a.org = ?1) AND (?2 IS NULL OR a.date >= ?2) ORDER BY a.id");
	if (!st)
		return EXIT_FAILURE;
	if (org)
		sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	if (since)
		sqlite3_bind_text(st, 2, since, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *action = text_or_null(st, 1), *kind = text_or_null(st, 5);
		char urn[8];
		snprintf(urn, sizeof urn, "%06d", sqlite3_column_int(st, 9));
		if (!json) {
			printf("%-6lld %s  %-12s %-10s %-28s %s %-7s %s\n",
			       (long long)sqlite3_column_int64(st, 0), text_or_null(st, 13),
			       text_or_null(st, 2), action, kind, text_or_null(st, 8),
			       text_or_null(st, 6) ? text_or_null(st, 6) : "-",
			       text_or_null(st, 7) ? text_or_null(st, 7) : "");
			continue;
		}
		json_t *o = json_pack(
			"{s:I, s:s, s:s, s:s, s:s, s:s?, s:s?, s:{s:s, s:s, s:s}, s:o, s:o, s:s, "
			"s:s, s:[]}",
			"action_id", (json_int_t)sqlite3_column_int64(st, 0), "action", action,
			"org", text_or_null(st, 2), "policy", text_or_null(st, 3), "policy_sha256",
			text_or_null(st, 4), "severity", text_or_null(st, 6), "message",
			text_or_null(st, 7), "pupil", "upn", text_or_null(st, 8), "urn", urn,
			"year_group", text_or_null(st, 10), "evidence", parsed(st, 11), "data",
			parsed(st, 12), "date", text_or_null(st, 13), "created_at",
			text_or_null(st, 14), "deliveries");
		if (!strcmp(action, "alert"))
			json_object_set_new(o, "kind", json_string(kind));
		else if (!strcmp(action, "legal_step"))
			json_object_set_new(o, "step", json_string(kind));
		char *line = json_dumps(o, JSON_COMPACT);
		puts(line);
		free(line);
		json_decref(o);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(&cli->db, "reading actions") < 0 ? EXIT_FAILURE : EXIT_FAILURE;
	return EXIT_SUCCESS;
}
