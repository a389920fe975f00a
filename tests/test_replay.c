/*
 * test_replay.c — `rollcall replay` is what the live service does, end to
 * end with the real binary on a real SQLite file:
 *
 * - a day whose AM and PM registers arrive in two batches gives the same
 *   actions live and in a replay, with a policy that reacts to the AM;
 * - the case history and cooldowns carry from the first stored day:
 *   --from and --to only choose which actions are printed;
 * - --param replays with a threshold not in force (and beside the one in
 *   force with --compare); an undeclared name or a value the policy's
 *   bounds refuse is exit 2 naming it and the file;
 * - --pupil replays one pupil; an unknown one, or one the policy does not
 *   cover, is exit 2;
 * - a policy that fails on some pupils: exit 1, with the count and the
 *   first pupils and lines named, and what was recorded still printed.
 *
 * The marks are written here, a pattern per pupil over the autumn term of
 * 2025 (tests/data's schools and pupils), so each expected action can be
 * worked out by hand.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"
#include "upn.h"

#include <jansson.h>

/* tests/data/pupils.csv: J and Y at 135001 (la 355, trust TR00092), H at
 * 105210 (la 355, no trust), V at 146410 (la 846). */
static const struct {
	const char *upn, *urn;
} pupils[] = {
	{ "J355400120001", "135001" },
	{ "Y355400120002", "135001" },
	{ "H355210120003", "105210" },
	{ "V846410120004", "146410" },
};
enum { J, Y, H, V, PUPILS };

/* Pupil k's mark for a session of a school day, or NULL for none:
 * - J misses every Wednesday (O, unauthorised, both sessions);
 * - Y misses every Monday morning (N);
 * - H has no AM register on 4 September and no PM one on 5 September;
 * - otherwise present (/ in the morning, \ in the afternoon). */
static const char *mark(int k, int day, int session)
{
	int wd = date_weekday(day);
	if (k == J && wd == 2)
		return "O";
	if (k == Y && wd == 0 && session == 0)
		return "N";
	if (k == H && ((day == day_of("2025-09-04") && session == 0) ||
		       (day == day_of("2025-09-05") && session == 1)))
		return NULL;
	return session ? "\\" : "/";
}

/* Write the marks of school days first..last (session -1: both) to path;
 * returns how many, and adds each pupil's to per[] if not NULL. */
static int write_marks(const char *path, const char *first, const char *last, int session, int *per)
{
	FILE *f = fopen(path, "w");
	int n = 0;
	assert_non_null(f);
	fputs("upn,urn,date,session,code,minutes_late\n", f);
	for (int day = day_of(first); day <= day_of(last); day++) {
		char date[11];
		if (date_weekday(day) >= 5)
			continue;
		date_format(day, date);
		for (int s = 0; s < 2; s++) {
			if (session >= 0 && s != session)
				continue;
			for (int k = 0; k < PUPILS; k++) {
				const char *code = mark(k, day, s);
				if (!code)
					continue;
				fprintf(f, "%s,%s,%s,%s,%s,\n", pupils[k].upn, pupils[k].urn, date,
					s ? "PM" : "AM", code);
				n++;
				if (per)
					per[k]++;
			}
		}
	}
	assert_int_equal(fclose(f), 0);
	return n;
}

/* Reacts to a morning's register alone (one possible session so far that
 * day), and to any unauthorised absence that day. */
static const char sessions_policy[] =
	"policy { org = 'la:355', name = 'Sessions', endpoints = {} }\n"
	"function on_pupil(p)\n"
	"  local d = p:window{ days = 1 }\n"
	"  if d.possible == 1 then\n"
	"    alert(p, 'first_register', { severity = 'low', cooldown_days = 0 })\n"
	"  end\n"
	"  if d.unauthorised >= 1 then\n"
	"    alert(p, 'absent', { severity = 'medium' })\n"
	"  end\n"
	"end\n";

/* An alert with the default 28-day cooldown, and a referral (one open at a
 * time), on any day with an unauthorised absence. */
static const char repeats_policy[] = "policy { org = 'la:355', name = 'Repeats', endpoints = {} }\n"
				     "function on_pupil(p)\n"
				     "  if p:window{ days = 1 }.unauthorised >= 1 then\n"
				     "    alert(p, 'absent', { severity = 'medium' })\n"
				     "    refer_mentor(p, { message = 'absent' })\n"
				     "  end\n"
				     "end\n";

static const char thresholds_policy[] =
	"policy { org = 'la:355', name = 'Thresholds', endpoints = {},\n"
	"  params = {\n"
	"    alert_rate = { default = 0.90, min = 0.50, max = 1.00,\n"
	"                   doc = 'alert below this attendance this year' },\n"
	"    min_sessions = { default = 4, min = 1, max = 100, integer = true,\n"
	"                     doc = 'sessions before any alert' } } }\n"
	"function on_pupil(p)\n"
	"  local y = p:window{ academic_year = true }\n"
	"  if y.possible >= param 'min_sessions' and y.rate < param 'alert_rate' then\n"
	"    alert(p, 'low_rate', { severity = 'medium' })\n"
	"  end\n"
	"end\n";

/* Fails at line 5 for every pupil but J. */
static const char broken_policy[] = "policy { org = 'la:355', name = 'Broken', endpoints = {} }\n"
				    "function on_pupil(p)\n"
				    "  if p.upn ~= 'J355400120001' then\n"
				    "    local t = nil\n"
				    "    return t.x\n"
				    "  end\n"
				    "  alert(p, 'seen', { severity = 'low' })\n"
				    "end\n";

struct env {
	struct e2e *e;
	char out[1 << 20], err[1 << 16];
	int per[PUPILS]; /* each pupil's marks in data/marks.csv */
};

/* rollcall ARGS in the test's directory; its output in e->out and e->err. */
static int rc(struct env *v, const char *fmt, ...)
{
	char args[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	int status = e2e_rollcall(v->e, args);
	e2e_slurp(v->e, "out", v->out, sizeof v->out);
	e2e_slurp(v->e, "err", v->err, sizeof v->err);
	return status;
}

static void put_policy(struct env *v, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/policies/%s", v->e->dir, name);
	write_file(path, text);
}

static int setup(void **state)
{
	struct env *v = calloc(1, sizeof *v);
	char path[PATH_MAX + 64], conf[PATH_MAX + 128];
	v->e = e2e_new();
	snprintf(path, sizeof path, "%s/policies", v->e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/data", v->e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/rollcall.conf", v->e->dir);
	snprintf(conf, sizeof conf, "policies = 'policies'\nscripts = '%s/scripts'\n", e2e_root);
	write_file(path, conf);
	assert_int_equal(rc(v, "init"), 0);
	assert_int_equal(rc(v, "import '%s/tests/data/schools.csv' '%s/tests/data/pupils.csv'",
			    e2e_root, e2e_root),
			 0);
	*state = v;
	return 0;
}

static int teardown(void **state)
{
	struct env *v = *state;
	e2e_free(v->e);
	free(v);
	return 0;
}

/* The autumn term's marks, imported at once (the history a replay reads). */
static void import_term(struct env *v)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/data/marks.csv", v->e->dir);
	write_marks(path, "2025-09-01", "2025-11-28", -1, v->per);
	assert_int_equal(rc(v, "import data/marks.csv"), 0);
}

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The actions among out's JSON lines (not the summary) dated from..to
 * (NULL: unbounded) and of upn (NULL: any), without the fields named in
 * drop, one per line, sorted if sort. The caller frees. */
static char *actions_of(const char *out, const char *from, const char *to, const char *upn,
			const char *const *drop, int sort)
{
	char *copy = strdup(out), *lines[4096], *text = strdup("");
	size_t n = 0, len = 0;
	for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *o = json_loads(line, 0, NULL);
		if (!o)
			fail_msg("not JSON: %s", line);
		const char *date = json_string_value(json_object_get(o, "date"));
		const char *who =
			json_string_value(json_object_get(json_object_get(o, "pupil"), "upn"));
		if (date && (!from || strcmp(date, from) >= 0) && (!to || strcmp(date, to) <= 0) &&
		    (!upn || (who && !strcmp(who, upn)))) {
			for (int i = 0; drop && drop[i]; i++)
				json_object_del(o, drop[i]);
			assert_true(n < 4096);
			lines[n++] = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		}
		json_decref(o);
	}
	if (sort)
		qsort(lines, n, sizeof *lines, by_text);
	for (size_t i = 0; i < n; i++) {
		text = realloc(text, len + strlen(lines[i]) + 2);
		len += (size_t)sprintf(text + len, "%s\n", lines[i]);
		free(lines[i]);
	}
	free(copy);
	return text;
}

static int count_lines(const char *text)
{
	int n = 0;
	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* The summary object of a replay --json (borrowed from root). */
static json_t *summary_of(const char *out, json_t **root)
{
	const char *at = strstr(out, "{\"summary\"");
	assert_non_null(at);
	*root = json_loads(at, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(*root);
	return json_object_get(*root, "summary");
}

/* Live, the morning's register of each day comes in a batch of its own,
 * then the afternoon's: a policy that reacts to the morning alone acts
 * then. A replay evaluates after each session's register, so it takes the
 * very same actions — the same dates, kinds and evidence (a day window of
 * one possible session at the AM). Replaying once a day, after the PM,
 * would see two sessions and miss every morning alert. */
static void registers_in_two_batches_replay_as_they_ran_live(void **state)
{
	struct env *v = *state;
	char path[PATH_MAX + 64];
	int marks = 0, per[PUPILS] = { 0 };
	put_policy(v, "la-355.lua", sessions_policy);
	snprintf(path, sizeof path, "%s/data/session.csv", v->e->dir);
	for (int day = day_of("2025-09-01"); day <= day_of("2025-09-10"); day++) {
		char date[11];
		if (date_weekday(day) >= 5)
			continue;
		date_format(day, date);
		for (int s = 0; s < 2; s++) {
			marks += write_marks(path, date, date, s, per);
			assert_int_equal(rc(v, "import data/session.csv"), 0);
			assert_int_equal(rc(v, "run --once --no-deliver"), 0);
		}
	}
	assert_int_equal(marks, 8 * 2 * PUPILS - 2); /* H's two missing registers */
	assert_int_equal(rc(v, "actions --json"), 0);
	static const char *const drop[] = { "action_id", "created_at", "deliveries", "case_id",
					    NULL };
	char *live = actions_of(v->out, NULL, NULL, NULL, drop, 1);
	/* a first_register alert for each of J, Y, H on each of the 8 days (H's
	 * on 4 September after its PM, the day's only register), and J's and
	 * Y's first absences */
	assert_int_equal(count_lines(live), 3 * 8 + 2);
	assert_non_null(strstr(live, "\"kind\":\"first_register\""));

	assert_int_equal(rc(v, "replay --policy policies/la-355.lua --json"), 0);
	char *replayed = actions_of(v->out, NULL, NULL, NULL, drop, 1);
	assert_string_equal(replayed, live);
	/* one call after each register of la:355's pupils: J, Y and H */
	json_t *root, *s = summary_of(v->out, &root);
	json_t *calls = json_object_get(s, "policy_calls");
	assert_int_equal(json_integer_value(json_object_get(calls, "made")),
			 per[J] + per[Y] + per[H]);
	assert_int_equal(json_integer_value(json_object_get(calls, "failed")), 0);
	json_decref(root);
	free(replayed);
	free(live);
}

/* Cooldowns and cases carry from the first stored day: a replay --from a
 * later date prints exactly the actions a full replay took on those dates
 * — a pupil alerted and referred in October is not alerted again on the
 * first absence of November, nor referred again — and --to likewise. */
static void from_and_to_only_choose_what_is_printed(void **state)
{
	struct env *v = *state;
	put_policy(v, "repeats.lua", repeats_policy);
	import_term(v);
	static const char *const drop[] = { "created_at", NULL };
	assert_int_equal(rc(v, "replay --policy policies/repeats.lua --json"), 0);
	char *full = strdup(v->out);
	/* J: absent Wednesdays, alerted 3 Sep, 1 Oct, 29 Oct, 26 Nov (every 28
	 * days), referred once; Y: absent Monday mornings, 1 Sep, 29 Sep, 27
	 * Oct, 24 Nov, referred once */
	char *all = actions_of(full, NULL, NULL, NULL, drop, 0);
	assert_int_equal(count_lines(all), 10);

	assert_int_equal(rc(v, "replay --policy policies/repeats.lua --from 2025-11-03 --json"), 0);
	char *later = actions_of(v->out, NULL, NULL, NULL, drop, 0);
	char *want = actions_of(full, "2025-11-03", NULL, NULL, drop, 0);
	assert_string_equal(later, want);
	assert_int_equal(count_lines(later), 2);
	assert_non_null(strstr(later, "\"date\":\"2025-11-24\""));
	assert_non_null(strstr(later, "\"date\":\"2025-11-26\""));
	assert_null(strstr(later, "\"action\":\"referral\""));
	json_t *root, *s = summary_of(v->out, &root);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "actions"), "all")),
			 2);
	json_decref(root);
	free(later);
	free(want);

	assert_int_equal(rc(v, "replay --policy policies/repeats.lua --from 2025-10-02 --to "
			       "2025-10-31 --json"),
			 0);
	/* the same actions, numbered by a replay that stopped on 31 October */
	static const char *const unnumbered[] = { "created_at", "action_id", NULL };
	later = actions_of(v->out, NULL, NULL, NULL, unnumbered, 0);
	want = actions_of(full, "2025-10-02", "2025-10-31", NULL, unnumbered, 0);
	assert_string_equal(later, want);
	assert_int_equal(count_lines(later), 2); /* Y 27 Oct, J 29 Oct */
	free(later);
	free(want);
	free(all);
	free(full);
}

static const char *const bad_params[][3] = {
	/* the argument, then what the error must say besides the file */
	{ "nope=1", "nope", "declares no param" },
	{ "alert_rate=1.5", "alert_rate", "outside the bounds" },
	{ "alert_rate=0.2", "alert_rate", "outside the bounds" },
	{ "min_sessions=2.5", "min_sessions", "not a whole number" },
	{ "alert_rate=high", "alert_rate", "not a number" },
	{ "alert_rate", "alert_rate", "NAME=VALUE" },
};

/* --param replays with a threshold not in force; the names and values
 * are checked as `rollcall params` checks them. With --compare it applies
 * to --policy only: the file compared with runs with the values in force,
 * so a draft threshold is seen beside the live one. */
static void param_replays_a_threshold_not_in_force(void **state)
{
	struct env *v = *state;
	put_policy(v, "la-355.lua", thresholds_policy);
	import_term(v);
	/* at 0.90 J (80% this year) and Y (90%, less early in a week) are
	 * alerted, every 28 days: J 3 Sep (its 5th session), Y 2 Sep (its 4th:
	 * 75%), and so on to 26 and 25 November */
	assert_int_equal(rc(v, "replay --policy policies/la-355.lua"), 0);
	assert_non_null(strstr(v->out, "would have taken 8 actions for 2 pupils"));
	assert_null(strstr(v->out, "not in force"));
	/* at 0.50 nobody */
	assert_int_equal(rc(v, "replay --policy policies/la-355.lua --param alert_rate=0.5"), 0);
	assert_non_null(strstr(v->out, "would have taken 0 actions for 0 pupils"));
	assert_non_null(strstr(v->out, "with params not in force: alert_rate=0.5 (in force: 0.9)"));
	/* no alert before 40 sessions (26 September), and at 85%: J alone (Y is
	 * at 90% then, 88% after a Monday morning) */
	assert_int_equal(rc(v,
			    "replay --policy policies/la-355.lua --param min_sessions=40 --param "
			    "alert_rate=0.85 --json"),
			 0);
	json_t *root, *s = summary_of(v->out, &root);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "actions"), "all")),
			 3); /* 26 Sep, 24 Oct, 21 Nov */
	json_t *p = json_object_get(s, "params_not_in_force");
	assert_true(json_real_value(json_object_get(json_object_get(p, "alert_rate"), "value")) ==
		    0.85);
	assert_true(json_real_value(
			    json_object_get(json_object_get(p, "alert_rate"), "in_force")) == 0.9);
	assert_true(json_real_value(
			    json_object_get(json_object_get(p, "min_sessions"), "in_force")) == 4);
	json_decref(root);

	for (size_t i = 0; i < sizeof bad_params / sizeof *bad_params; i++) {
		assert_int_equal(
			rc(v, "replay --policy policies/la-355.lua --param %s", bad_params[i][0]),
			2);
		if (!strstr(v->err, bad_params[i][1]) || !strstr(v->err, bad_params[i][2]) ||
		    (i + 1 < sizeof bad_params / sizeof *bad_params &&
		     !strstr(v->err, "policies/la-355.lua")))
			fail_msg("--param %s: %s", bad_params[i][0], v->err);
		assert_string_equal(v->out, "");
	}

	/* the trust lead's question: a draft at 0.95 beside 0.60 in force */
	assert_int_equal(rc(v, "params la:355 alert_rate=0.6"), 0);
	assert_int_equal(rc(v, "replay --policy policies/la-355.lua"), 0);
	assert_non_null(strstr(v->out, "would have taken 0 actions"));
	assert_int_equal(rc(v, "replay --policy policies/la-355.lua --param alert_rate=0.95 "
			       "--compare policies/la-355.lua"),
			 0);
	assert_non_null(strstr(v->out, "only policies/la-355.lua [alert_rate=0.95] 2025-09-"));
	assert_non_null(strstr(v->out, "8 actions only in policies/la-355.lua [alert_rate=0.95], "
				       "0 only in policies/la-355.lua [in force]\n"));
	assert_non_null(strstr(v->out, "policies/la-355.lua: replayed with params not in force: "
				       "alert_rate=0.95 (in force: 0.6)\n"));
	/* the same, as JSON: a line per difference, then the comparison */
	assert_int_equal(rc(v, "replay --policy policies/la-355.lua --param alert_rate=0.95 "
			       "--compare policies/la-355.lua --json"),
			 0);
	const char *at = strstr(v->out, "{\"compare\"");
	assert_non_null(at);
	root = json_loads(at, JSON_DISABLE_EOF_CHECK, NULL);
	json_t *sides = json_object_get(root, "compare");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(sides, 0), "only")), 8);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(sides, 1), "only")), 0);
	assert_true(json_real_value(json_object_get(
			    json_object_get(json_object_get(json_array_get(sides, 0),
							    "params_not_in_force"),
					    "alert_rate"),
			    "in_force")) == 0.6);
	assert_int_equal(
		json_object_size(json_object_get(json_array_get(sides, 1), "params_not_in_force")),
		0);
	json_decref(root);
}

/* --pupil replays one pupil: exactly what a full replay did for that
 * pupil. An unknown UPN, or a pupil the policy does not cover, is an
 * error naming it. */
static void pupil_replays_one_pupil(void **state)
{
	struct env *v = *state;
	put_policy(v, "repeats.lua", repeats_policy);
	import_term(v);
	/* ids follow the order of recording: one pupil's replay numbers its
	 * actions and cases from 1 */
	static const char *const drop[] = { "action_id", "created_at", "case_id", NULL };
	assert_int_equal(rc(v, "replay --policy policies/repeats.lua --json"), 0);
	char *want = actions_of(v->out, NULL, NULL, pupils[Y].upn, drop, 0);
	assert_int_equal(count_lines(want), 5);
	assert_int_equal(
		rc(v, "replay --policy policies/repeats.lua --pupil %s --json", pupils[Y].upn), 0);
	char *got = actions_of(v->out, NULL, NULL, NULL, drop, 0);
	assert_string_equal(got, want);
	json_t *root, *s = summary_of(v->out, &root);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(s, "policy_calls"), "made")),
		v->per[Y]);
	json_decref(root);
	free(got);
	free(want);

	char body[13] = "355400129999", unknown[14];
	unknown[0] = upn_check_letter(body);
	memcpy(unknown + 1, body, 13);
	assert_true(upn_valid(unknown, 13));
	assert_int_equal(rc(v, "replay --policy policies/repeats.lua --pupil %s", unknown), 2);
	assert_non_null(strstr(v->err, unknown));
	assert_non_null(strstr(v->err, "no such pupil"));
	assert_int_equal(rc(v, "replay --policy policies/repeats.lua --pupil NOTAUPN"), 2);
	assert_non_null(strstr(v->err, "NOTAUPN"));
	/* V is at a school of la:846 */
	assert_int_equal(rc(v, "replay --policy policies/repeats.lua --pupil %s", pupils[V].upn),
			 2);
	assert_non_null(strstr(v->err, pupils[V].upn));
	assert_non_null(strstr(v->err, "does not cover"));
	assert_string_equal(v->out, "");
}

/* A policy that fails on some pupils: the replay goes on, prints what it
 * recorded, says last how many calls failed and names the first pupils
 * and lines, and exits 1. */
static void failed_calls_are_counted_named_and_exit_1(void **state)
{
	struct env *v = *state;
	put_policy(v, "broken.lua", broken_policy);
	import_term(v);
	int calls = v->per[J] + v->per[Y] + v->per[H], failed = v->per[Y] + v->per[H];
	assert_int_equal(rc(v, "replay --policy policies/broken.lua"), 1);
	assert_non_null(strstr(v->out, "alert      seen"));
	assert_non_null(strstr(v->out, "for 1 pupils\n"));
	char want[512];
	snprintf(want, sizeof want, "%d of %d policy calls failed", failed, calls);
	assert_non_null(strstr(v->out, want));
	snprintf(want, sizeof want,
		 "replay: %d of %d policy calls failed (policies/broken.lua); the first: "
		 "policies/broken.lua:5: attempt to index a nil value (local 't') (pupil %s)\n",
		 failed, calls, pupils[Y].upn);
	if (!strstr(v->err, want))
		fail_msg("wanted %s in: %s", want, v->err);
	snprintf(want, sizeof want,
		 "replay: then: policies/broken.lua:5: attempt to index a nil value (local 't') "
		 "(pupil %s)\n",
		 pupils[H].upn);
	assert_non_null(strstr(v->err, want));
	/* the last thing said */
	assert_non_null(strstr(v->err, want) + strlen(want) == v->err + strlen(v->err));

	assert_int_equal(rc(v, "replay --policy policies/broken.lua --json"), 1);
	json_t *root, *s = summary_of(v->out, &root);
	json_t *c = json_object_get(s, "policy_calls");
	assert_int_equal(json_integer_value(json_object_get(c, "made")), calls);
	assert_int_equal(json_integer_value(json_object_get(c, "failed")), failed);
	json_t *first = json_array_get(json_object_get(c, "first_failed"), 0);
	assert_string_equal(json_string_value(json_object_get(first, "upn")), pupils[Y].upn);
	json_decref(root);
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(registers_in_two_batches_replay_as_they_ran_live,
						setup, teardown),
		cmocka_unit_test_setup_teardown(from_and_to_only_choose_what_is_printed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(param_replays_a_threshold_not_in_force, setup,
						teardown),
		cmocka_unit_test_setup_teardown(pupil_replays_one_pupil, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_calls_are_counted_named_and_exit_1, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("replay", tests, NULL, NULL);
}
