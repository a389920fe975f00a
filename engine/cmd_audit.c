/*
 * cmd_audit.c — `rollcall audit [--org ORG] [--since DATE] [--json]`: the
 * audit trail (audit.h), oldest first: when, who and how (the person
 * named, and the local user whose command it was; "rollcall" for what the
 * service did, an expiry), the organisation, what, the action, the state
 * before and after, and the note or reason.
 */
#include "cmd.h"
#include "date.h"
#include "listing.h"
#include "policy.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* a text of the entry's JSON as the terminal may show it */
static char *shown(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	char number[32];
	if (json_is_integer(v)) {
		snprintf(number, sizeof number, "%lld", (long long)json_integer_value(v));
		return xstrdup(number);
	}
	const char *t = json_string_value(v);
	return t ? text_safe(t, strlen(t), NULL) : NULL;
}

static int print_entry(json_t *o, void *arg)
{
	if (*(int *)arg) {
		char *line = json_dumps(o, JSON_COMPACT);
		puts(line);
		free(line);
		return 0;
	}
	/* stored text reaches the terminal only as text_safe makes it */
	static const char *const keys[] = { "id",   "at",	 "who",	   "via",   "org",
					    "what", "action_id", "before", "after", "detail" };
	char *t[10];
	for (int k = 1; k < 10; k++)
		t[k] = shown(o, keys[k]);
	printf("%s  %-14s %-16s action %-7s %s -> %s  by %s (%s)\n", t[1] ? t[1] : "",
	       t[4] ? t[4] : "", t[5] ? t[5] : "", t[6] ? t[6] : "-", t[7] ? t[7] : "-",
	       t[8] ? t[8] : "-", t[2] ? t[2] : "", t[3] ? t[3] : "");
	if (t[9])
		printf("    %s\n", t[9]);
	for (int k = 1; k < 10; k++)
		free(t[k]);
	return 0;
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	const char *org = NULL, *since = NULL;
	int json = 0, got;
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
	struct listing_scope scope = { .org = org };
	return listing_audit(&cli->db, &scope, since, NULL, print_entry, &json) < 0 ? EXIT_FAILURE
										    : EXIT_SUCCESS;
}
