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

void listing_bind_scope(sqlite3_stmt *st, const struct listing_scope *s)
{
	if (s && s->org)
		sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
	if (s && s->org && s->at_schools)
		sqlite3_bind_text(st, 9, s->org, -1, SQLITE_STATIC);
}

/* ?1 org, ?2 since, ?3 kind, ?4 state, ?7 one id; ?9 the scope's pupils */
#define ACTIONS_WHERE                                                                              \
	" FROM actions WHERE (?1 IS NULL OR org = ?1) AND (?2 IS NULL OR date >= ?2) AND (?3 IS "  \
	"NULL OR kind = ?3) AND (?4 IS NULL OR state = ?4) AND (?7 IS NULL OR id = ?7) AND "       \
	"" LISTING_AT_SCHOOLS("actions.pupil")

/* The command's order, and the API's (by id, a page from ?5, ?6 of them):
 * one WHERE. */
static const char *const actions_sql[2] = {
	"SELECT " ACTIONS_COLUMNS ACTIONS_WHERE " ORDER BY date, id",
	"SELECT " ACTIONS_COLUMNS ACTIONS_WHERE " AND id > ?5 ORDER BY id LIMIT ?6",
};

/* The rows of st, a query of ACTIONS_COLUMNS (and more columns after, which
 * add may read), each given to each with its deliveries; with a page, at
 * most page->limit of them, and page->next said. */
int listing_action_rows(struct db *db, sqlite3_stmt *st, struct listing_page *page,
			void (*add)(sqlite3_stmt *st, json_t *item), listing_action_fn each,
			void *arg)
{
	int rc, status = -1;
	long n = 0;
	long long last = 0;
	sqlite3_stmt *del = db_prepare(db, ACTIONS_DELIVERIES);
	if (!del)
		return -1;
	if (page) {
		page->next = 0;
		if (page->limit) {
			sqlite3_bind_int64(st, 5, page->after);
			sqlite3_bind_int64(st, 6, page->limit + 1); /* one more: is there a next? */
		}
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (page && page->limit && n == page->limit) {
			page->next = last;
			break;
		}
		struct action_row a;
		actions_row(st, 0, &a);
		json_t *deliveries = actions_deliveries(del, a.id);
		if (!deliveries) {
			rc = SQLITE_ERROR;
			break;
		}
		json_t *o = actions_payload(&a);
		json_object_set_new(o, "deliveries", deliveries);
		if (add)
			add(st, o);
		int stop = each(&a, o, arg);
		json_decref(o);
		if (stop < 0)
			goto out;
		last = a.id;
		n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		db_fail(db, "reading actions");
	else
		status = 0;
out:
	sqlite3_finalize(del);
	return status;
}

int listing_actions(struct db *db, const struct listing_scope *s,
		    const struct listing_actions_filter *f, struct listing_page *page,
		    listing_action_fn each, void *arg)
{
	sqlite3_stmt *st = db_prepare(db, actions_sql[page && page->limit]);
	if (!st)
		return -1;
	listing_bind_scope(st, s);
	const char *filters[] = { f ? f->since : NULL, f ? f->kind : NULL, f ? f->state : NULL };
	for (int i = 0; i < 3; i++)
		if (filters[i])
			sqlite3_bind_text(st, i + 2, filters[i], -1, SQLITE_STATIC);
	if (f && f->id)
		sqlite3_bind_int64(st, 7, f->id);
	int rc = listing_action_rows(db, st, page, NULL, each, arg);
	sqlite3_finalize(st);
	return rc;
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
