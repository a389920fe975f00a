/*
 * test_run.c — end to end with the real binary and the example policies:
 * import, `run --once --no-deliver`, `actions --json`, `params`, `check`.
 *
 * The expected actions are worked out by hand from policies/salford.lua and
 * scripts/national.lua on tests/data (pupil J355400120001, 1-12 Sep 2025:
 * 18 possible sessions, 6 present, 2 illness, 10 unauthorised):
 *   - severe absence: absence 12/18 = 67% >= 50%        -> alert severe_absence (high)
 *   - persistent, no case yet                           -> referral
 *   - 10 unauthorised sessions in 10 school weeks       -> legal_step letter
 *   - 6-week window has 18 possible sessions (< 20)     -> no low_attendance
 * Every other pupil attends every session and gets nothing.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "testutil.h"

#include <jansson.h>
#include <limits.h>
#include <sys/wait.h>

static char bin[PATH_MAX], root[PATH_MAX];

struct env {
	char *dir;
	char out[1 << 18], err[1 << 16];
};

static int run(struct env *e, const char *fmt, ...)
{
	char args[2048], cmd[PATH_MAX * 4 + 2048], path[PATH_MAX + 16];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "cd '%s' && '%s' --config rollcall.conf %s >out 2>err", e->dir,
		 bin, args);
	int st = system(cmd);
	FILE *f;
	snprintf(path, sizeof path, "%s/out", e->dir);
	f = fopen(path, "r");
	e->out[fread(e->out, 1, sizeof e->out - 1, f)] = '\0';
	fclose(f);
	snprintf(path, sizeof path, "%s/err", e->dir);
	f = fopen(path, "r");
	e->err[fread(e->err, 1, sizeof e->err - 1, f)] = '\0';
	fclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof *e);
	char path[PATH_MAX + 32], conf[PATH_MAX * 3];
	e->dir = temp_dir();
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(conf, sizeof conf,
		 "-- test configuration\n"
		 "database = \"rollcall.db\"\n"
		 "policies = \"%s/policies\"\n"
		 "scripts  = \"%s/scripts\"\n",
		 root, root);
	write_file(path, conf);
	assert_int_equal(run(e, "init"), 0);
	assert_int_equal(run(e,
			     "import %s/tests/data/schools.csv %s/tests/data/pupils.csv "
			     "%s/tests/data/marks.csv",
			     root, root, root),
			 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	remove_tree(e->dir);
	free(e->dir);
	free(e);
	return 0;
}

struct expected {
	const char *action, *kind_key, *kind, *severity, *date, *message;
};

/* Compare `actions --json --org la:355` line by line with want. */
static void actions_are(struct env *e, const struct expected *want, size_t n)
{
	assert_int_equal(run(e, "actions --json"), 0);
	char *line = e->out;
	size_t i = 0;
	for (char *nl; (nl = strchr(line, '\n')); line = nl + 1, i++) {
		*nl = '\0';
		if (i >= n)
			fail_msg("more actions than expected: %s", line);
		json_t *a = json_loads(line, 0, NULL);
		assert_non_null(a);
		const struct expected *w = &want[i];
		const char *got_action = json_string_value(json_object_get(a, "action"));
		const char *got_kind =
			w->kind_key ? json_string_value(json_object_get(a, w->kind_key)) : NULL;
		if (strcmp(got_action, w->action) ||
		    (w->kind && (!got_kind || strcmp(got_kind, w->kind))))
			fail_msg("action %zu: got %s", i + 1, line);
		assert_string_equal(json_string_value(json_object_get(a, "org")), "la:355");
		assert_string_equal(json_string_value(json_object_get(a, "policy")), "salford.lua");
		assert_int_equal(strlen(json_string_value(json_object_get(a, "policy_sha256"))),
				 64);
		assert_string_equal(json_string_value(json_object_get(a, "severity")), w->severity);
		assert_string_equal(json_string_value(json_object_get(a, "date")), w->date);
		json_t *pupil = json_object_get(a, "pupil");
		assert_string_equal(json_string_value(json_object_get(pupil, "upn")),
				    "J355400120001");
		assert_string_equal(json_string_value(json_object_get(pupil, "urn")), "135001");
		assert_string_equal(json_string_value(json_object_get(pupil, "year_group")), "9");
		if (w->message)
			assert_string_equal(json_string_value(json_object_get(a, "message")),
					    w->message);
		assert_true(json_is_object(json_object_get(a, "evidence")));
		assert_true(json_is_array(json_object_get(a, "deliveries")));
		json_decref(a);
	}
	assert_int_equal(i, n);
}

static const struct expected first_run[] = {
	{ "alert", "kind", "severe_absence", "high", "2025-09-12", NULL },
	{ "referral", NULL, NULL, "medium", "2025-09-12", "persistent absence this academic year" },
	{ "legal_step", "step", "letter", "medium", "2025-09-12",
	  "10+ unauthorised sessions in 10 school weeks" },
};

static void run_once_records_the_expected_actions(void **state)
{
	struct env *e = *state;
	assert_int_equal(run(e, "run --once --no-deliver"), 0);
	assert_non_null(strstr(e->err, "msg=batch"));
	assert_non_null(strstr(e->err, "actions=3"));
	actions_are(e, first_run, 3);

	/* the letter's evidence is the figures the policy read */
	assert_int_equal(run(e, "actions --json"), 0);
	char *third = strstr(strstr(strstr(e->out, "\n") + 1, "\n") + 1, "{");
	json_t *a = json_loads(third, JSON_DISABLE_EOF_CHECK, NULL);
	json_t *ten = json_object_get(json_object_get(a, "evidence"), "school_weeks=10");
	assert_int_equal(json_integer_value(json_object_get(ten, "unauthorised")), 10);
	json_decref(a);

	/* nothing changed: nothing more to do */
	assert_int_equal(run(e, "run --once --no-deliver"), 0);
	actions_are(e, first_run, 3);
	assert_int_equal(run(e, "actions --org trust:TR00092"), 0);
	assert_string_equal(e->out, "");
}

/* Params steer later runs: with step_gap_days lowered to 7, a second week of
 * N marks takes the case from the letter to a meeting. */
static void params_steer_later_runs(void **state)
{
	struct env *e = *state;
	char path[PATH_MAX];
	assert_int_equal(run(e, "run --once"), 0);

	assert_int_equal(run(e, "params la:355 alert_rate=1.5"), 2);
	assert_non_null(strstr(e->err, "alert_rate=1.5: outside the bounds 0.5..1"));
	assert_int_equal(run(e, "params la:355 alert_rate=0.2"), 2);
	assert_int_equal(run(e, "params la:355 nosuch=1"), 2);
	assert_non_null(strstr(e->err, "declares no param \"nosuch\""));
	assert_int_equal(run(e, "params la:355 alert_rate=abc"), 2);
	assert_int_equal(run(e, "params la:999"), 2);
	assert_int_equal(run(e, "params la:355 step_gap_days=7"), 0);
	assert_non_null(
		strstr(e->out, "step_gap_days            7          (default 28, 7..90, set)"));
	assert_non_null(
		strstr(e->out, "alert_rate               0.9        (default 0.9, 0.5..1)"));

	snprintf(path, sizeof path, "%s/week3.csv", e->dir);
	write_file(path,
		   "upn,urn,date,session,code\n"
		   "J355400120001,135001,2025-09-15,AM,N\nJ355400120001,135001,2025-09-15,PM,N\n"
		   "J355400120001,135001,2025-09-16,AM,N\nJ355400120001,135001,2025-09-16,PM,N\n"
		   "J355400120001,135001,2025-09-17,AM,N\nJ355400120001,135001,2025-09-17,PM,N\n"
		   "J355400120001,135001,2025-09-18,AM,N\nJ355400120001,135001,2025-09-18,PM,N\n"
		   "J355400120001,135001,2025-09-19,AM,N\nJ355400120001,135001,2025-09-19,PM,N\n");
	assert_int_equal(run(e, "-q import week3.csv"), 0);
	/* 6 weeks: 6 present of 28 = 21.4% < 90%: low attendance; severe again
	 * within 28 days: suppressed; referral open: none; 9 school days of
	 * unauthorised absence: not continuous yet; the letter was 7 days ago
	 * and the gap is now 7: a meeting */
	assert_int_equal(run(e, "run --once"), 0);
	struct expected want[6] = {
		first_run[0],
		first_run[1],
		first_run[2],
		{ "alert", "kind", "low_attendance", "medium", "2025-09-19",
		  "attendance 21.4% over 6 school weeks" },
		{ "legal_step", "step", "meeting", "medium", "2025-09-19",
		  "absence continued after the letter" },
		{ "alert", "kind", "continuous_absence", "urgent", "2025-09-22",
		  "10 school days of unauthorised absence" },
	};
	actions_are(e, want, 5);

	/* one more day: 10 school days of unauthorised absence; the meeting was
	 * 3 days ago: no step; low attendance again within 28 days: suppressed */
	snprintf(path, sizeof path, "%s/day.csv", e->dir);
	write_file(path,
		   "upn,urn,date,session,code\n"
		   "J355400120001,135001,2025-09-22,AM,N\nJ355400120001,135001,2025-09-22,PM,N\n");
	assert_int_equal(run(e, "-q import day.csv"), 0);
	assert_int_equal(run(e, "run --once"), 0);
	actions_are(e, want, 6);
}

static void check_reports_every_broken_policy(void **state)
{
	struct env *e = *state;
	char path[PATH_MAX + 16];
	assert_int_equal(run(e, "check"), 0);
	assert_non_null(strstr(e->out, "ok "));
	assert_non_null(strstr(e->out, "la:355 (Salford City Council)"));

	snprintf(path, sizeof path, "%s/copy.lua", e->dir);
	char cmd[PATH_MAX * 3 + 64];
	snprintf(cmd, sizeof cmd, "cp '%s/policies/salford.lua' '%s'", root, path);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof path, "%s/broken.lua", e->dir);
	write_file(path, "policy { org = 'la:202', name = 'Camden' }\nfunction on_pupil(p)\n  if "
			 "then\nend\n");
	assert_int_equal(run(e, "check %s/policies/salford.lua copy.lua broken.lua", root), 2);
	assert_non_null(strstr(e->err, "copy.lua:"));
	assert_non_null(strstr(e->err, ": la:355 already has a policy in"));
	assert_non_null(strstr(e->err, "broken.lua:3: unexpected symbol near 'then'"));
	/* run carries on without the broken ones */
	assert_int_equal(run(e, "check broken.lua"), 2);
}

static void config_errors_name_the_line(void **state)
{
	struct env *e = *state;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/bad.conf", e->dir);
	write_file(path, "database = 'x.db'\n\ndelivery = { timeout_ms = 5 }\n");
	assert_int_equal(run(e, "--config bad.conf check"), 2);
	assert_non_null(strstr(e->err, "bad.conf:3: delivery.timeout_ms must be a whole number"));
	write_file(path, "databse = 'x.db'\n");
	assert_int_equal(run(e, "--config bad.conf check"), 2);
	assert_non_null(strstr(e->err, "bad.conf:1: unknown key 'databse'"));
	write_file(path, "database = os.getenv('HOME')\n");
	assert_int_equal(run(e, "--config bad.conf check"), 2);
	assert_non_null(strstr(e->err, "bad.conf:1: 'os' is not defined"));
	assert_int_equal(run(e, "--config missing.conf check"), 2);
}

/* The bundled example data through the example policies, checked against
 * tests/oracle.awk: the same rules read independently from the CSV files. */
static void example_data_matches_the_oracle(void **state)
{
	struct env *e = *state;
	char cmd[PATH_MAX * 8];
	assert_int_equal(run(e,
			     "-q import %s/examples/data/schools.csv %s/examples/data/pupils.csv "
			     "%s/examples/data/marks.csv",
			     root, root, root),
			 0);
	assert_int_equal(run(e, "-q import %s/examples/data/amendments.csv", root), 0);
	assert_int_equal(run(e, "run --once --no-deliver"), 0);
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && awk -f '%s/tests/oracle.awk' '%s/examples/data/schools.csv' "
		 "'%s/examples/data/pupils.csv' '%s/examples/data/marks.csv' "
		 "'%s/examples/data/amendments.csv' | sort > want && '%s' --config rollcall.conf "
		 "actions | awk '{ print $3, $4, $5, $6 }' | grep -E "
		 "'severe_absence|referral|letter|penalty_notice|persistent_absence' | "
		 "grep -v J355400120001 | sort > got && test -s want && diff want got",
		 e->dir, root, root, root, root, root, bin);
	if (system(cmd) != 0)
		fail_msg("rollcall and the oracle disagree (see %s/want and got)", e->dir);
}

int main(void)
{
	if (!realpath("build/rollcall", bin) || !realpath(".", root))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(run_once_records_the_expected_actions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(params_steer_later_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(check_reports_every_broken_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(config_errors_name_the_line, setup, teardown),
		cmocka_unit_test_setup_teardown(example_data_matches_the_oracle, setup, teardown),
	};
	return cmocka_run_group_tests_name("run", tests, NULL, NULL);
}
