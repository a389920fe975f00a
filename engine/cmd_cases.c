/*
 * cmd_cases.c — `rollcall cases [--org ORG] [--open|--closed] [--pupil UPN]
 * [--limit N] [--json]`: the cases policies opened (a referral or a legal
 * step opens one; close_case ends it), newest first: id, organisation,
 * pupil, stage, opened, closed and why, and how many steps (referrals and
 * legal steps once approved) it holds. At most --limit (default 100); when there are more
 * it says how many on standard error, so a listing is never silently cut.
 * --json prints one object per line, with the steps themselves (action id,
 * step, date), in the order taken.
 *
 * Newest first is by the date a case opened (the evaluated date of its
 * first step), then by id: index cases_opened.
 */
#include "cmd.h"
#include "listing.h"
#include "policy.h"
#include "upn.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define CASES_LIMIT_DEFAULT 100
#define CASES_LIMIT_MAX	    100000

/* The pupils.id of upn: > 0, 0 if none (reported), -1 on error. */
static long long pupil_id(struct db *db, const char *upn)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id FROM pupils WHERE upn = ?");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, upn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	long long id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, "reading a pupil");
	if (!id)
		error("no pupil with upn %s", upn);
	return id;
}

/* a text of the case's JSON as the terminal may show it */
static char *shown(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? text_safe(v, strlen(v), NULL) : NULL;
}

static int print_case(json_t *o, void *arg)
{
	if (*(int *)arg) {
		char *line = json_dumps(o, JSON_COMPACT);
		puts(line);
		free(line);
		return 0;
	}
	/* stored text leaves only as text_safe made it: a reason is a policy's
	 * words, and an org or stage could be anything a writer stored */
	char *org = shown(o, "org"), *upn = shown(o, "upn"), *stage = shown(o, "stage"),
	     *opened = shown(o, "opened"), *closed = shown(o, "closed"),
	     *reason = shown(o, "reason");
	printf("%-6lld %-14s %-13s %-27s %-10s %-10s %3lld steps%s%s\n",
	       (long long)json_integer_value(json_object_get(o, "id")), org ? org : "",
	       upn ? upn : "-", stage ? stage : "", opened ? opened : "", closed ? closed : "open",
	       (long long)json_array_size(json_object_get(o, "steps")), reason ? "  " : "",
	       reason ? reason : "");
	free(org);
	free(upn);
	free(stage);
	free(opened);
	free(closed);
	free(reason);
	return 0;
}

int cmd_cases(struct cli *cli, int argc, char **argv)
{
	const char *org = NULL, *upn = NULL, *limit_text = NULL;
	int json = 0, open = -1, got, status = EXIT_FAILURE;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if (cmd_flag(argv, &i, "--open") || cmd_flag(argv, &i, "--closed")) {
			int want = !strcmp(argv[i - 1], "--open");
			if (open >= 0 && open != want) {
				error("--open and --closed: give one or neither");
				return EXIT_USAGE;
			}
			open = want;
		} else if ((got = cmd_option(argc, argv, &i, "--org", &org)) != 0 ||
			   (got = cmd_option(argc, argv, &i, "--pupil", &upn)) != 0 ||
			   (got = cmd_option(argc, argv, &i, "--limit", &limit_text)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
		} else
			return cmd_usage(cli);
	}
	if (org && !policy_org_valid(org)) {
		error("--org %s: expected la:NNN (an LA code) or trust:ID", org);
		return EXIT_USAGE;
	}
	if (upn && !upn_valid(upn, (int)strlen(upn))) {
		error("--pupil \"%s\" is not a valid UPN (13 characters with a matching check "
		      "letter)",
		      upn);
		return EXIT_USAGE;
	}
	long limit = CASES_LIMIT_DEFAULT;
	if (limit_text) {
		char *end;
		limit = strtol(limit_text, &end, 10);
		if (*end || end == limit_text || limit < 1 || limit > CASES_LIMIT_MAX) {
			error("--limit %s: expected a whole number from 1 to %d", limit_text,
			      CASES_LIMIT_MAX);
			return EXIT_USAGE;
		}
	}
	long long pupil = 0;
	if (upn && (pupil = pupil_id(&cli->db, upn)) <= 0)
		return EXIT_FAILURE;

	struct listing_scope scope = { .org = org };
	long long total = 0;
	if (listing_cases(&cli->db, &scope, open, pupil, 0, NULL, limit, &total, print_case,
			  &json) < 0)
		goto out;
	if (total)
		fprintf(stderr,
			"rollcall: %ld of %lld cases shown, newest first (--limit N shows more)\n",
			limit, total);
	status = EXIT_SUCCESS;
out:
	return status;
}
