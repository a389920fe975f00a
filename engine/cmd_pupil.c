/*
 * cmd_pupil.c — `rollcall pupil UPN [--json] [--window KIND=N]...`
 *
 * A pupil's figures exactly as a policy's `p` sees them: details, latest
 * mark, streaks and windows (with no --window, a standard set); then what
 * the organisations have done about them: each open case (as `p.case` shows
 * it to that organisation's policy) and the latest actions across all
 * organisations with their delivery state.
 */
#include "actions.h"
#include "cmd.h"
#include "date.h"
#include "listing.h"
#include "register.h"
#include "upn.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const default_windows[] = { "sessions=20", "school_weeks=6", "school_weeks=10",
					       "days=28", "academic_year" };

#define MAX_WINDOWS 16

#define RECENT_ACTIONS 10 /* shown, newest first */

/* The organisations with an open case for pupil ?1, and the pupil's latest
 * actions (indexes cases_pupil and actions_pupil). */
static const char *const orgs_with_open_case =
	"SELECT org FROM cases WHERE pupil = ?2 AND closed IS NULL AND (?1 IS NULL OR org = ?1) "
	"ORDER BY org";
static const char *const recent_actions_sql =
	"SELECT id, org, action, kind, severity, date, state FROM actions WHERE pupil = ?2 AND "
	"(?1 IS NULL OR org = ?1) ORDER BY day DESC, id DESC LIMIT ?3";

/* "sessions=N", "school_weeks=N", "days=N", "since=YYYY-MM-DD", "academic_year" */
static int parse_window(const char *spec, struct window *w)
{
	static const struct {
		const char *name;
		enum window_kind kind;
	} kinds[] = { { "sessions", WINDOW_SESSIONS },
		      { "school_weeks", WINDOW_SCHOOL_WEEKS },
		      { "days", WINDOW_DAYS },
		      { "since", WINDOW_SINCE },
		      { "academic_year", WINDOW_ACADEMIC_YEAR } };
	const char *eq = strchr(spec, '=');
	size_t len = eq ? (size_t)(eq - spec) : strlen(spec);
	memset(w, 0, sizeof *w);
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strlen(kinds[i].name) != len || strncmp(kinds[i].name, spec, len) != 0)
			continue;
		w->kind = kinds[i].kind;
		if (w->kind == WINDOW_ACADEMIC_YEAR)
			return eq ? -1 : 0;
		if (!eq)
			return -1;
		if (w->kind == WINDOW_SINCE)
			return (w->since = date_parse(eq + 1, (int)strlen(eq + 1))) < 0 ? -1 : 0;
		char *end;
		long n = strtol(eq + 1, &end, 10);
		if (*end || end == eq + 1 || n < 1 || n > 100000)
			return -1;
		w->n = (int)n;
		return 0;
	}
	return -1;
}

static json_t *figures_json(const char *name, const struct figures *f)
{
	json_t *o = stats_figures_json(f);
	json_object_set_new(o, "window", json_string(name));
	return o;
}

/* Stored text (a case's stage and steps) as JSON that jansson accepts. */
static json_t *safe_json_text(const char *s)
{
	return text_json(s, strlen(s), NULL);
}

/* Append the pupil's open cases to list: org, stage, opened, whether a
 * mentor referral is open, and the steps (the latest CASE_STEPS_MAX). */
static int open_cases(struct db *db, const struct config *cfg, const struct listing_scope *s,
		      uint32_t pupil, json_t *list)
{
	struct actions a;
	struct pupil_case c;
	int rc, status = -1;
	if (actions_open(&a, db, cfg) < 0)
		return -1;
	sqlite3_stmt *st = db_prepare(db, orgs_with_open_case);
	if (!st)
		goto out;
	listing_bind_scope(st, s);
	sqlite3_bind_int64(st, 2, pupil);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *org = (const char *)sqlite3_column_text(st, 0);
		char day[11];
		int found = actions_case(&a, NULL, org, pupil, &c);
		if (found < 0)
			goto out;
		if (!found)
			continue;
		json_t *steps = json_array();
		for (int i = 0; i < c.nsteps; i++)
			json_array_append_new(steps,
					      json_pack("{s:o, s:s}", "step",
							safe_json_text(c.steps[i].step), "date",
							date_format(c.steps[i].date, day)));
		json_array_append_new(
			list,
			json_pack("{s:o, s:o, s:o, s:b, s:o}", "org", column_json(st, 0, NULL),
				  "stage", safe_json_text(c.stage), "opened",
				  c.opened >= 0 ? json_string(date_format(c.opened, day))
						: json_null(),
				  "referral_open", c.referral_open, "steps", steps));
	}
	if (rc != SQLITE_DONE)
		db_fail(db, "reading cases");
	else
		status = 0;
out:
	sqlite3_finalize(st);
	actions_close(&a);
	return status;
}

/* Append the pupil's RECENT_ACTIONS latest actions, from every
 * organisation, newest first: the action as `actions --json` names it
 * (kind for an alert or a case closure, step for a legal step) and its
 * deliveries. */
static int recent_actions(struct db *db, const struct listing_scope *s, uint32_t pupil,
			  json_t *list)
{
	int rc, status = -1;
	sqlite3_stmt *st = db_prepare(db, recent_actions_sql);
	sqlite3_stmt *del = db_prepare(db, ACTIONS_DELIVERIES);
	if (!st || !del)
		goto out;
	listing_bind_scope(st, s);
	sqlite3_bind_int64(st, 2, pupil);
	sqlite3_bind_int(st, 3, RECENT_ACTIONS);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *action = (const char *)sqlite3_column_text(st, 2);
		json_t *o = json_object();
		json_object_set_new(o, "action_id", json_integer(sqlite3_column_int64(st, 0)));
		json_object_set_new(o, "org", column_json(st, 1, NULL));
		json_object_set_new(o, "action", column_json(st, 2, NULL));
		if (action && (!strcmp(action, "alert") || !strcmp(action, "case_closed")))
			json_object_set_new(o, "kind", column_json(st, 3, NULL));
		else if (action && !strcmp(action, "legal_step")) {
			json_object_set_new(o, "step", column_json(st, 3, NULL));
			/* its sign-off: a proposal is not a step taken */
			json_object_set_new(o, "state", column_json(st, 6, NULL));
		}
		json_object_set_new(o, "severity", column_json(st, 4, NULL));
		json_object_set_new(o, "date", column_json(st, 5, NULL));
		json_array_append_new(list, o);
		json_t *deliveries = actions_deliveries(del, sqlite3_column_int64(st, 0));
		if (!deliveries) {
			rc = SQLITE_ERROR;
			break;
		}
		json_object_set_new(o, "deliveries", deliveries);
	}
	if (rc != SQLITE_DONE)
		db_fail(db, "reading actions");
	else
		status = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(del);
	return status;
}

static const char *text_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static void cases_text(json_t *cases)
{
	size_t i, k;
	json_t *c, *step;
	if (!json_array_size(cases))
		printf("open case: none\n");
	json_array_foreach(cases, i, c)
	{
		printf("open case %s: stage %s, opened %s%s\n", text_of(c, "org"),
		       text_of(c, "stage"), text_of(c, "opened"),
		       json_is_true(json_object_get(c, "referral_open")) ? ", mentor referral open"
									 : "");
		json_array_foreach(json_object_get(c, "steps"), k, step)
		{
			printf("  %s %s\n", text_of(step, "date"), text_of(step, "step"));
		}
	}
}

static void actions_text(json_t *recent)
{
	size_t i, k;
	json_t *a, *d;
	if (!json_array_size(recent)) {
		printf("recent actions: none\n");
		return;
	}
	printf("recent actions (newest first, at most %d):\n", RECENT_ACTIONS);
	printf("  %-6s %-10s %-14s %-10s %-28s %-7s %s\n", "id", "date", "org", "action",
	       "kind/step", "sev", "deliveries");
	json_array_foreach(recent, i, a)
	{
		/* as `rollcall actions` shows them: a referral's kind is "mentor" */
		const char *kind = json_object_get(a, "kind")	? text_of(a, "kind")
				   : json_object_get(a, "step") ? text_of(a, "step")
								: "mentor";
		char step[64];
		if (json_object_get(a, "state")) { /* a legal step, and its sign-off */
			snprintf(step, sizeof step, "%s (%s)", kind, text_of(a, "state"));
			kind = step;
		}
		char states[128] = "";
		json_array_foreach(json_object_get(a, "deliveries"), k, d)
		{
			snprintf(states + strlen(states), sizeof states - strlen(states), "%s%s",
				 *states ? "," : "", text_of(d, "state"));
		}
		/* the rest were made safe by column_json; the states were not */
		char *safe_states = text_safe(states, strlen(states), NULL);
		printf("  %-6lld %-10s %-14s %-10s %-28s %-7s %s\n",
		       (long long)json_integer_value(json_object_get(a, "action_id")),
		       text_of(a, "date"), text_of(a, "org"), text_of(a, "action"), kind,
		       text_of(a, "severity"), *safe_states ? safe_states : "-");
		free(safe_states);
	}
}

/* The pupil's school is the scope's: ?1 the org, NULL for any. */
static const char *const pupil_sql =
	"SELECT p.id, p.urn, p.year_group, p.social_worker, p.sen, p.fsm, s.la_code, s.trust_id "
	"FROM pupils p JOIN schools s ON s.urn = p.urn WHERE p.upn = ?2 AND (?1 IS NULL OR "
	"'la:' || s.la_code = ?1 OR 'trust:' || s.trust_id = ?1)";

json_t *listing_pupil(struct db *db, const struct config *cfg, const struct listing_scope *s,
		      const char *upn, const char *const *specs, int nspecs, int *found)
{
	struct window windows[MAX_WINDOWS];
	*found = 1;
	if (!specs || !nspecs) {
		specs = default_windows;
		nspecs = sizeof default_windows / sizeof *default_windows;
	}
	for (int i = 0; i < nspecs && i < MAX_WINDOWS; i++)
		if (parse_window(specs[i], &windows[i]) < 0) {
			error("window %s: expected sessions=N, school_weeks=N, days=N, "
			      "since=YYYY-MM-DD or academic_year",
			      specs[i]);
			return NULL;
		}
	sqlite3_stmt *st = db_prepare(db, pupil_sql);
	struct registers reg = { 0 };
	struct history h = { 0 };
	json_t *out = NULL, *cases = json_array(), *recent = json_array();
	if (!st)
		goto out;
	/* with an organisation, the pupil is one of its own or not there at all */
	struct listing_scope org = { .org = s && s->at_schools ? s->org : NULL };
	listing_bind_scope(st, &org);
	sqlite3_bind_text(st, 2, upn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			*found = 0;
		else
			db_fail(db, "reading a pupil");
		goto out;
	}
	uint32_t pupil = (uint32_t)sqlite3_column_int64(st, 0);
	int urn = sqlite3_column_int(st, 1);
	int social_worker = sqlite3_column_int(st, 3), fsm = sqlite3_column_int(st, 5), year = 0;
	const char *group = (const char *)sqlite3_column_text(st, 2);
	int has_year = group && year_group_year(group, &year);

	if (register_open(&reg, db) < 0 || register_history(&reg, pupil, 0, &h) < 0)
		goto out;
	int absent_days, unauthorised_days, day, session, code;
	if (stats_consecutive(&h, &absent_days, &unauthorised_days) < 0)
		goto out;
	int has_last = stats_latest(&h, &day, &session, &code);
	if (open_cases(db, cfg, s, pupil, cases) < 0 || recent_actions(db, s, pupil, recent) < 0)
		goto out;
	char date[11] = "", urn_text[7];
	if (has_last)
		date_format(day, date);
	snprintf(urn_text, sizeof urn_text, "%06d", urn);
	/* upn was checked by the caller; the stored text goes through column_json */
	/* the types a policy sees: booleans, the year a number */
	out = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:b, s:i, s:i}", "upn", upn,
			"urn", urn_text, "la_code", column_json(st, 6, NULL), "trust_id",
			column_json(st, 7, NULL), "year_group", column_json(st, 2, NULL), "year",
			has_year ? json_integer(year) : json_null(), "social_worker", social_worker,
			"sen", column_json(st, 4, NULL), "fsm", fsm, "consecutive_absent_days",
			absent_days, "consecutive_unauthorised_days", unauthorised_days);
	json_object_set_new(out, "last",
			    has_last ? json_pack("{s:s, s:s, s:s}", "date", date, "session",
						 session ? "PM" : "AM", "code",
						 codes_get(code)->text)
				     : json_null());
	json_t *list = json_array();
	json_object_set_new(out, "windows", list);
	for (int i = 0; i < nspecs; i++) {
		struct figures f;
		if (stats_window(&h, &windows[i], &f) < 0) {
			json_decref(out);
			out = NULL;
			goto out;
		}
		json_array_append_new(list, figures_json(specs[i], &f));
	}
	json_object_set(out, "open_cases", cases);
	json_object_set(out, "recent_actions", recent);
out:
	json_decref(cases);
	json_decref(recent);
	history_free(&h);
	if (reg.db)
		register_close(&reg);
	sqlite3_finalize(st);
	return out;
}

static long long int_of(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void pupil_text(json_t *o)
{
	/* every text in o came through column_json; made safe for the terminal again,
	 * as it may hold what a writer stored */
	const char *keys[] = { "upn", "urn", "la_code", "trust_id", "year_group", "sen" };
	char *t[6];
	for (int i = 0; i < 6; i++) {
		const char *v = json_string_value(json_object_get(o, keys[i]));
		t[i] = v ? text_safe(v, strlen(v), NULL) : NULL;
	}
	/* as a policy sees each field, with its Lua type: "9" is text,
	 * so p.year_group == 9 is never true, while p.year == 9 is */
	char year_text[16] = "nil";
	if (json_is_integer(json_object_get(o, "year")))
		snprintf(year_text, sizeof year_text, "%lld", int_of(o, "year"));
	printf("pupil %s, as a policy sees it:\n"
	       "  p.upn \"%s\"  p.urn \"%s\"  p.la_code \"%s\"  p.trust_id %s%s%s\n"
	       "  p.year_group \"%s\"  p.year %s  p.sen \"%s\"  p.fsm %s  "
	       "p.social_worker %s\n",
	       t[0], t[0], t[1], t[2] ? t[2] : "", t[3] ? "\"" : "", t[3] ? t[3] : "nil",
	       t[3] ? "\"" : "", t[4] ? t[4] : "", year_text, t[5] ? t[5] : "",
	       json_is_true(json_object_get(o, "fsm")) ? "true" : "false",
	       json_is_true(json_object_get(o, "social_worker")) ? "true" : "false");
	for (int i = 0; i < 6; i++)
		free(t[i]);
	json_t *last = json_object_get(o, "last");
	if (json_is_object(last)) {
		const char *code = text_of(last, "code");
		printf("last mark %s %s %s (%s)\n", text_of(last, "date"), text_of(last, "session"),
		       code,
		       codes_category_name(
			       codes_get(codes_find(code, (int)strlen(code)))->category));
	} else
		printf("last mark: none\n");
	printf("consecutive_absent_days %lld  consecutive_unauthorised_days %lld\n\n",
	       int_of(o, "consecutive_absent_days"), int_of(o, "consecutive_unauthorised_days"));
	printf("  %-18s %-10s %-10s %8s %7s %4s %10s %12s %4s %11s %7s %7s\n", "window", "from",
	       "to", "possible", "present", "aea", "authorised", "unauthorised", "late",
	       "not_counted", "rate", "absence");
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(o, "windows"), i, w)
	{
		printf("  %-18s %-10s %-10s %8lld %7lld %4lld %10lld %12lld %4lld %11lld %6.1f%% "
		       "%6.1f%%\n",
		       text_of(w, "window"), text_of(w, "from"), text_of(w, "to"),
		       int_of(w, "possible"), int_of(w, "present"), int_of(w, "aea"),
		       int_of(w, "authorised"), int_of(w, "unauthorised"), int_of(w, "late"),
		       int_of(w, "not_counted"),
		       100 * json_number_value(json_object_get(w, "rate")),
		       100 * json_number_value(json_object_get(w, "absence_rate")));
	}
	printf("\n");
	cases_text(json_object_get(o, "open_cases"));
	actions_text(json_object_get(o, "recent_actions"));
}

int cmd_pupil(struct cli *cli, int argc, char **argv)
{
	const char *upn = NULL, *specs[MAX_WINDOWS];
	int json = 0, nspecs = 0, found;
	const char *spec;
	for (int i = 1, got; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if ((got = cmd_option(argc, argv, &i, "--window", &spec)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
			if (nspecs == MAX_WINDOWS) {
				error("at most %d --window options", MAX_WINDOWS);
				return cmd_usage(cli);
			}
			specs[nspecs++] = spec;
		} else if (argv[i][0] == '-' || upn)
			return cmd_usage(cli);
		else
			upn = argv[i++];
	}
	if (!upn)
		return cmd_usage(cli);
	if (!upn_valid(upn, (int)strlen(upn))) {
		error("\"%s\" is not a valid UPN (13 characters with a matching check letter)",
		      upn);
		return EXIT_USAGE;
	}
	struct window w;
	for (int i = 0; i < nspecs; i++)
		if (parse_window(specs[i], &w) < 0) {
			error("--window %s: expected sessions=N, school_weeks=N, days=N, "
			      "since=YYYY-MM-DD or academic_year",
			      specs[i]);
			return EXIT_USAGE;
		}
	json_t *o = listing_pupil(&cli->db, &cli->cfg, NULL, upn, specs, nspecs, &found);
	if (!o) {
		if (!found)
			error("no pupil with upn %s", upn);
		return EXIT_FAILURE;
	}
	if (json) {
		char *text = json_dumps(o, JSON_COMPACT);
		puts(text);
		free(text);
	} else
		pupil_text(o);
	json_decref(o);
	return EXIT_SUCCESS;
}
