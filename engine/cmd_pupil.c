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

#define MAX_WINDOWS    LISTING_WINDOWS_MAX
#define RECENT_ACTIONS LISTING_RECENT_ACTIONS

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
	for (int i = 0; i < nspecs; i++)
		if (!listing_window_valid(specs[i])) {
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
