/*
 * cmd_audit.c — `rollcall audit [--org ORG] [--since DATE] [--json]`: the
 * audit trail (audit.h), oldest first: when, who and how (the person
 * named, and the local user whose command it was; "rollcall" for what the
 * service did, an expiry), the organisation, what, the action, the state
 * before and after, and the note or reason.
 */
#include "cmd.h"
#include "date.h"
#include "policy.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	const char *org = NULL, *since = NULL;
	int json = 0, got, rc;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if ((got = cmd_option(argc, argv, &i, "--org", &org)) != 0 ||
			 (got = cmd_option(argc, argv, &i, "--since", &since)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
		} else
			return cmd_usage(cli);
	}
	if (org && !policy_org_valid(org)) {
		char *safe = text_safe(org, strlen(org), NULL);
		error("--org %s: expected la:NNN or trust:ID", safe);
		free(safe);
		return EXIT_USAGE;
	}
	if (since && date_parse(since, (int)strlen(since)) < 0) {
		char *safe = text_safe(since, strlen(since), NULL);
		error("--since %s: expected a date YYYY-MM-DD (UTC)", safe);
		free(safe);
		return EXIT_USAGE;
	}
	sqlite3_stmt *st = db_prepare(
		&cli->db, "SELECT id, at, who, via, org, what, action_id, before, after, "
			  "detail FROM audit WHERE (?1 IS NULL OR org = ?1) AND (?2 IS "
			  "NULL OR at >= ?2) ORDER BY id");
	if (!st)
		return EXIT_FAILURE;
	if (org)
		sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	if (since)
		sqlite3_bind_text(st, 2, since, -1, SQLITE_STATIC);
	static const char *const keys[] = { "id",   "at",	 "who",	   "via",   "org",
					    "what", "action_id", "before", "after", "detail" };
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json) {
			json_t *o = json_object();
			for (int k = 0; k < 10; k++)
				json_object_set_new(
					o, keys[k],
					k == 0 || k == 6
						? (sqlite3_column_type(st, k) == SQLITE_NULL
							   ? json_null()
							   : json_integer(
								     sqlite3_column_int64(st, k)))
						: column_json(st, k, NULL));
			char *line = json_dumps(o, JSON_COMPACT);
			puts(line);
			free(line);
			json_decref(o);
			continue;
		}
		/* stored text reaches the terminal only as column_safe makes it */
		char *t[10];
		for (int k = 1; k < 10; k++)
			t[k] = column_safe(st, k, NULL);
		printf("%s  %-14s %-16s action %-7s %s -> %s  by %s (%s)\n", t[1] ? t[1] : "",
		       t[4] ? t[4] : "", t[5] ? t[5] : "", t[6] ? t[6] : "-", t[7] ? t[7] : "-",
		       t[8] ? t[8] : "-", t[2] ? t[2] : "", t[3] ? t[3] : "");
		if (t[9])
			printf("    %s\n", t[9]);
		for (int k = 1; k < 10; k++)
			free(t[k]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_fail(&cli->db, "reading the audit trail");
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
