/*
 * cmd_pupil.c — `rollcall pupil UPN [--json] [--window KIND=N]...`
 *
 * A pupil's figures exactly as a policy's `p` sees them: details, latest
 * mark, streaks and windows. With no --window, a standard set is shown.
 */
#include "cmd.h"
#include "date.h"
#include "register.h"
#include "upn.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const default_windows[] = { "sessions=20", "school_weeks=6", "school_weeks=10",
					       "days=28", "academic_year" };

#define MAX_WINDOWS 16

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

static void figures_text(const char *name, const struct figures *f)
{
	char from[11] = "-", to[11] = "-";
	if (f->from >= 0) {
		date_format(f->from, from);
		date_format(f->to, to);
	}
	printf("  %-18s %-10s %-10s %8d %7d %4d %10d %12d %4d %11d %6.1f%% %6.1f%%\n", name, from,
	       to, f->possible, f->present, f->aea, f->authorised, f->unauthorised, f->late,
	       f->not_counted, 100 * f->rate, 100 * f->absence_rate);
}

int cmd_pupil(struct cli *cli, int argc, char **argv)
{
	const char *upn = NULL, *specs[MAX_WINDOWS];
	int json = 0, nspecs = 0, status = EXIT_FAILURE;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if (cmd_flag(argv, &i, "--window")) {
			if (i == argc || nspecs == MAX_WINDOWS)
				return cmd_usage(cli);
			specs[nspecs++] = argv[i++];
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
	if (!nspecs)
		for (size_t i = 0; i < sizeof default_windows / sizeof *default_windows; i++)
			specs[nspecs++] = default_windows[i];
	struct window windows[MAX_WINDOWS];
	for (int i = 0; i < nspecs; i++)
		if (parse_window(specs[i], &windows[i]) < 0) {
			error("--window %s: expected sessions=N, school_weeks=N, days=N, "
			      "since=YYYY-MM-DD or academic_year",
			      specs[i]);
			return EXIT_USAGE;
		}

	sqlite3_stmt *st = db_prepare(
		&cli->db, "SELECT p.id, p.urn, p.year_group, p.social_worker, p.sen, p.fsm, "
			  "s.la_code, s.trust_id FROM pupils p JOIN schools s ON s.urn = p.urn "
			  "WHERE p.upn = ?");
	struct registers reg = { 0 };
	struct history h = { 0 };
	json_t *out = NULL;
	if (!st)
		return EXIT_FAILURE;
	sqlite3_bind_text(st, 1, upn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			error("no pupil with upn %s", upn);
		else
			db_fail(&cli->db, "reading a pupil");
		goto out;
	}
	uint32_t pupil = (uint32_t)sqlite3_column_int64(st, 0);
	int urn = sqlite3_column_int(st, 1);
	const char *year_group = (const char *)sqlite3_column_text(st, 2);
	int social_worker = sqlite3_column_int(st, 3), fsm = sqlite3_column_int(st, 5);
	const char *sen = (const char *)sqlite3_column_text(st, 4);
	const char *la_code = (const char *)sqlite3_column_text(st, 6);
	const char *trust_id = (const char *)sqlite3_column_text(st, 7);

	if (register_open(&reg, &cli->db) < 0 || register_history(&reg, pupil, 0, &h) < 0)
		goto out;
	int absent_days, unauthorised_days, day, session, code;
	if (stats_consecutive(&h, &absent_days, &unauthorised_days) < 0)
		goto out;
	int has_last = stats_latest(&h, &day, &session, &code);
	char date[11] = "", urn_text[7];
	if (has_last)
		date_format(day, date);
	snprintf(urn_text, sizeof urn_text, "%06d", urn);

	if (json) {
		out = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:i, s:s, s:i, s:i, s:i}", "upn", upn,
				"urn", urn_text, "la_code", la_code, "trust_id", trust_id,
				"year_group", year_group, "social_worker", social_worker, "sen",
				sen, "fsm", fsm, "consecutive_absent_days", absent_days,
				"consecutive_unauthorised_days", unauthorised_days);
		json_object_set_new(out, "last",
				    has_last ? json_pack("{s:s, s:s, s:s}", "date", date, "session",
							 session ? "PM" : "AM", "code",
							 codes_get(code)->text)
					     : json_null());
		json_t *list = json_array();
		json_object_set_new(out, "windows", list);
		for (int i = 0; i < nspecs; i++) {
			struct figures f;
			if (stats_window(&h, &windows[i], &f) < 0)
				goto out;
			json_array_append_new(list, figures_json(specs[i], &f));
		}
		char *text = json_dumps(out, JSON_COMPACT);
		puts(text);
		free(text);
	} else {
		printf("pupil %s  urn %s  la %s  trust %s  year %s  sen %s  fsm %d  "
		       "social_worker %d\n",
		       upn, urn_text, la_code, trust_id ? trust_id : "-", year_group, sen, fsm,
		       social_worker);
		if (has_last)
			printf("last mark %s %s %s (%s)\n", date, session ? "PM" : "AM",
			       codes_get(code)->text,
			       codes_category_name(codes_get(code)->category));
		else
			printf("last mark: none\n");
		printf("consecutive_absent_days %d  consecutive_unauthorised_days %d\n\n",
		       absent_days, unauthorised_days);
		printf("  %-18s %-10s %-10s %8s %7s %4s %10s %12s %4s %11s %7s %7s\n", "window",
		       "from", "to", "possible", "present", "aea", "authorised", "unauthorised",
		       "late", "not_counted", "rate", "absence");
		for (int i = 0; i < nspecs; i++) {
			struct figures f;
			if (stats_window(&h, &windows[i], &f) < 0)
				goto out;
			figures_text(specs[i], &f);
		}
	}
	status = EXIT_SUCCESS;
out:
	json_decref(out);
	history_free(&h);
	if (reg.db)
		register_close(&reg);
	sqlite3_finalize(st);
	return status;
}
