/*
 * cmd_actions.c — `rollcall actions [--org ORG] [--since DATE] [--json]`:
 * recorded actions (alerts, referrals, legal steps and case closures),
 * oldest first, with their delivery state. --json prints one object per
 * line: the action as docs/WEBHOOKS.md gives it (the webhook body's `data`,
 * with its case_id and the params in force) plus `deliveries`. A legal
 * step's sign-off (proposed, approved, declined, expired) is said before
 * its message, so that a proposal is never read as a step taken.
 */
#include "actions.h"
#include "cmd.h"
#include "date.h"
#include "listing.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

int cmd_actions(struct cli *cli, int argc, char **argv)
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
	if (since && date_parse(since, (int)strlen(since)) < 0) {
		error("--since %s: expected a date YYYY-MM-DD", since);
		return EXIT_USAGE;
	}
	return cmd_print_actions(&cli->db, org, since, json) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

static const char *or_none(const char *s, const char *none)
{
	return s ? s : none;
}

static int print_action(const struct action_row *row, json_t *o, void *arg)
{
	const struct action_row a = *row;
	if (*(int *)arg) {
		char *line = json_dumps(o, JSON_COMPACT);
		puts(line);
		free(line);
		return 0;
	}
	char states[128] = "";
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(o, "deliveries"), i, d)
	{
		size_t n = strlen(states);
		snprintf(states + n, sizeof states - n, "%s%s", n ? "," : "",
			 json_string_value(json_object_get(d, "state")));
	}
	/* Stored text is printed only as text_safe made it: a message
	 * holding ESC must not drive the terminal, nor bytes that are
	 * not UTF-8 garble it. */
	const struct action_text shown[] = { a.date, a.org,	 a.action,  a.kind,
					     a.upn,  a.severity, a.message, a.state };
	enum { COLUMNS = sizeof shown / sizeof *shown };
	char *text[COLUMNS], *safe_states = text_safe(states, strlen(states), NULL);
	for (int k = 0; k < COLUMNS; k++)
		text[k] = shown[k].s ? text_safe(shown[k].s, shown[k].len, NULL) : NULL;
	printf("%-6lld %s  %-12s %-10s %-28s %s %-7s %-11s %s%s%s%s\n", a.id, or_none(text[0], ""),
	       or_none(text[1], ""), or_none(text[2], ""), or_none(text[3], ""),
	       or_none(text[4], ""), or_none(text[5], "-"), safe_states, text[7] ? "[" : "",
	       or_none(text[7], ""), text[7] ? "] " : "", or_none(text[6], ""));
	for (int k = 0; k < COLUMNS; k++)
		free(text[k]);
	free(safe_states);
	return 0;
}

int cmd_print_actions(struct db *db, const char *org, const char *since, int json)
{
	struct listing_scope s = { .org = org };
	struct listing_actions_filter f = { .since = since };
	return listing_actions(db, &s, &f, NULL, print_action, &json);
}
