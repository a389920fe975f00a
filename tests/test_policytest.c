/*
 * test_policytest.c — `rollcall test`, end to end with the real binary:
 *
 * - the bundled policies pass their bundled tests (policies/tests), and
 *   every action line of each is reached;
 * - a bundled policy broken on purpose (a legal_step line deleted, a
 *   threshold changed) fails, naming the case, the line of the expectation
 *   and what happened instead;
 * - the notation of marks: days advancing over weekdays, '|' weeks, '@'
 *   jumps, NN*N, '-' for no mark, two-character codes, AM-only days, and
 *   evaluation after every session or at named points;
 * - coverage names the action lines no case reached, and a never item
 *   for an alert kind the policy never raises is warned of;
 * - a pending case that fails is reported and passes the run; one that
 *   passes fails it;
 * - bad test files (an unknown key, a bad mark, a bad date, a miscounted
 *   week, a param outside its bounds) exit 2 naming FILE:LINE, and run
 *   nothing.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "e2e.h"

#include <sys/stat.h>

struct env {
	struct e2e *e;
	char out[1 << 16], err[1 << 16];
};

static int setup(void **state)
{
	struct env *env = calloc(1, sizeof *env);
	env->e = e2e_new();
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/policies", env->e->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/policies/tests", env->e->dir);
	mkdir(path, 0700);
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;
	e2e_free(env->e);
	free(env);
	return 0;
}

static void put(struct env *env, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", env->e->dir, name);
	write_file(path, text);
}

/* The repository's file at rel, as text (the caller frees). */
static char *slurp_root(const char *rel)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", e2e_root, rel);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = calloc(1, 1 << 20);
	buf[fread(buf, 1, (1 << 20) - 1, f)] = '\0';
	fclose(f);
	return buf;
}

/* rollcall.conf: the policies directory of the test's own, scripts from
 * the repository (national.lua). */
static void own_config(struct env *env)
{
	char conf[PATH_MAX * 2];
	snprintf(conf, sizeof conf, "policies = \"policies\"\nscripts = \"%s/scripts\"\n",
		 e2e_root);
	put(env, "rollcall.conf", conf);
}

/* rollcall ARGS (with -q, as e2e_rollcall runs it: no ok lines); out and
 * err are kept. */
static int test_run(struct env *env, const char *args)
{
	int status = e2e_rollcall(env->e, args);
	e2e_slurp(env->e, "out", env->out, sizeof env->out);
	e2e_slurp(env->e, "err", env->err, sizeof env->err);
	return status;
}

static int count_of(const char *s, const char *what)
{
	int n = 0;
	for (const char *at = s; (at = strstr(at, what)); at += strlen(what))
		n++;
	return n;
}

/* The line of path (in the repository) that holds text, or 0. */
static int line_of(const char *rel, const char *text)
{
	char *src = slurp_root(rel), *at = strstr(src, text);
	int line = 0;
	if (at) {
		line = 1;
		for (char *p = src; p < at; p++)
			line += *p == '\n';
	}
	free(src);
	return line;
}

static void bundled_policies_pass_their_tests(void **state)
{
	struct env *env = *state;
	char conf[PATH_MAX * 3];
	snprintf(conf, sizeof conf, "policies = \"%s/policies\"\nscripts = \"%s/scripts\"\n",
		 e2e_root, e2e_root);
	put(env, "rollcall.conf", conf);
	if (test_run(env, "test") != 0)
		fail_msg("rollcall test on the bundled policies:\n%s%s", env->out, env->err);
	assert_null(strstr(env->out, "FAIL"));
	assert_non_null(strstr(env->out, " in 3 files: "));
	assert_non_null(strstr(env->out, ", 0 failed"));
	/* every action line of every bundled policy is reached */
	const char *const policies[] = { "la-355.lua", "la-846.lua", "trust-TR00001.lua" };
	for (int i = 0; i < 3; i++) {
		char want[PATH_MAX + 64];
		snprintf(want, sizeof want, "%s/policies/%s: ", e2e_root, policies[i]);
		const char *line = strstr(env->out, want);
		if (!line)
			fail_msg("no coverage line for %s in:\n%s", policies[i], env->out);
		int reached = 0, lines = 0;
		assert_int_equal(sscanf(line + strlen(want), "%d of %d action lines reached",
					&reached, &lines),
				 2);
		assert_true(lines >= 2);
		if (reached != lines)
			fail_msg("%s: %.300s", policies[i], line);
	}
	assert_int_equal(count_of(env->out, " action lines reached"), 3);
}

/* Copy the bundled la-355 policy and its tests into the test's directory,
 * the policy edited: from the first line containing from (to its end of
 * line) replaced by to. */
static void broken_la355(struct env *env, const char *from, const char *to)
{
	char *src = slurp_root("policies/la-355.lua"), *at = strstr(src, from);
	assert_non_null(at);
	char *end = strchr(at, '\n');
	size_t n = strlen(src) + strlen(to) + 1;
	char *out = malloc(n);
	snprintf(out, n, "%.*s%s%s", (int)(at - src), src, to, end);
	put(env, "policies/la-355.lua", out);
	free(out);
	free(src);
	char *tests = slurp_root("policies/tests/la-355.lua");
	put(env, "policies/tests/la-355.lua", tests);
	free(tests);
	own_config(env);
}

static void a_deleted_legal_step_fails_its_case(void **state)
{
	struct env *env = *state;
	/* the Notice to Improve is never followed by a penalty notice */
	broken_la355(env, "legal_step(p, \"penalty_notice\"", "      -- deleted");
	assert_int_equal(test_run(env, "test"), 1);
	int line = line_of("policies/tests/la-355.lua",
			   "{ legal_step = \"penalty_notice\", date = \"2025-12-01\"");
	char want[256];
	snprintf(
		want, sizeof want,
		"FAIL policies/tests/la-355.lua:%d: case \"absent every day: the whole ladder, one "
		"rung every 28 days\": expected legal_step penalty_notice for J355400120001 on "
		"2025-12-01 exactly 1 time, got 0: ",
		line);
	if (!strstr(env->out, want))
		fail_msg("wanted\n%s\nin\n%s", want, env->out);
	/* what did happen for the pupil is listed */
	assert_non_null(strstr(env->out, "legal_step notice_to_improve on 2025-11-03"));
	assert_non_null(strstr(env->out, "FAIL policies/tests/la-355.lua:"));
	assert_non_null(strstr(env->out, "step_gap_days = 14: the rungs come two weeks apart"));
	assert_non_null(strstr(env->out, ", 2 failed"));
}

static void a_changed_threshold_fails_its_case(void **state)
{
	struct env *env = *state;
	broken_la355(env, "step_gap_days = { default = 28",
		     "    step_gap_days = { default = 21, min = 7, max = 90, integer = true,");
	assert_int_equal(test_run(env, "test"), 1);
	int line = line_of("policies/tests/la-355.lua",
			   "{ legal_step = \"meeting\", date = \"2025-10-03\"");
	char want[256];
	snprintf(
		want, sizeof want,
		"FAIL policies/tests/la-355.lua:%d: case \"absent every day: the whole ladder, one "
		"rung every 28 days\": expected legal_step meeting for J355400120001 on "
		"2025-10-03 exactly 1 time, got 0: ",
		line);
	if (!strstr(env->out, want))
		fail_msg("wanted\n%s\nin\n%s", want, env->out);
	assert_non_null(strstr(env->out, "legal_step meeting on 2025-09-26"));
	/* the case that sets step_gap_days itself still passes */
	assert_null(strstr(env->out, "step_gap_days = 14"));
}

/* A policy that alerts on every session, so that each evaluation shows:
 * kind "am" or "pm" after the register taken, severity high for N. */
static const char probe[] =
	"policy { org = 'la:355', name = 'Probe' }\n"
	"function on_pupil(p)\n"
	"  alert(p, p.last.session == 'AM' and 'am' or 'pm',\n"
	"        { cooldown_days = 0, severity = p.last.code == 'N' and 'high' or 'low' })\n"
	"  if p.last.code == 'Y3' then refer_mentor(p) end\n"
	"end\n";

static void the_notation_of_marks(void **state)
{
	struct env *env = *state;
	own_config(env);
	put(env, "policies/la-355.lua", probe);
	put(env, "policies/tests/la-355.lua",
	    "schools = { { urn = '135001', la_code = '355' } }\n"
	    "start = '2025-09-03'  -- a Wednesday\n"
	    "cases = {\n"
	    "  { name = 'days, weeks, jumps and repeats',\n"
	    "    pupils = { { upn = 'J355400120001', marks = [[\n"
	    "        /\\ NN --  |\n"		/* Wed, Thu, no marks on Friday */
	    "        /- -\\ Y3Y3 L\\*2 |\n"	/* Mon AM only, Tue PM only, Wed Y3 */
	    "        @2025-09-22 C1/ ]] } },\n" /* a jump; a two-character code */
	    "    expect = {\n"
	    "      { alert = 'am', date = '2025-09-03', severity = 'low' },\n"
	    "      { alert = 'pm', date = '2025-09-04', severity = 'high' },\n"
	    "      { alert = 'am', date = '2025-09-08' },\n"
	    "      { alert = 'pm', date = '2025-09-09' },\n"
	    "      { alert = 'am', date = '2025-09-11..2025-09-12', count = 2 },\n"
	    "      { alert = 'am', date = '2025-09-22' },\n"
	    "      { alert = 'pm', date = '2025-09-22' },\n"
	    "      { referral = true, date = '2025-09-10', count = 1 },\n"
	    "      { alert = true, count = 14 },\n"
	    "    },\n"
	    "    never = {\n"
	    "      { alert = true, date = '2025-09-05' },\n"
	    "      { alert = 'pm', date = '2025-09-08' },\n"
	    "      { alert = 'am', date = '2025-09-09' },\n"
	    "      { alert = true, date = '2025-09-13..2025-09-21' },\n"
	    "    },\n"
	    "    nothing_else = true },\n"
	    "  { name = 'evaluated only at the points named',\n"
	    "    evaluate = { '2025-09-04', '2025-09-08 AM' },\n"
	    "    pupils = { { upn = 'J355400120001', marks = [[ /\\ NN --  | NN NN ]] } },\n"
	    "    expect = {\n"
	    "      { alert = 'pm', date = '2025-09-04', severity = 'high', count = 1 },\n"
	    "      { alert = 'am', date = '2025-09-08', severity = 'high', count = 1 },\n"
	    "    },\n"
	    "    nothing_else = true },\n"
	    "  { name = 'two pupils, one register a session',\n"
	    "    pupils = { { upn = 'J355400120001', marks = [[ /\\ ]] },\n"
	    "               { upn = 'Y355400120002', start = '2025-09-04', marks = 'NN' } },\n"
	    "    expect = {\n"
	    "      { alert = 'am', upn = 'J355400120001', date = '2025-09-03' },\n"
	    "      { alert = 'pm', upn = 'Y355400120002', date = '2025-09-04', severity = 'high' "
	    "},\n"
	    "      { alert = true, count = 4 },\n"
	    "    } },\n"
	    "}\n");
	if (test_run(env, "test") != 0)
		fail_msg("%s%s", env->out, env->err);
	assert_non_null(strstr(env->out, "3 cases in 1 file: 3 passed, 0 failed"));
	/* both of the probe's action lines */
	assert_non_null(strstr(env->out, "policies/la-355.lua: 2 of 2 action lines reached\n"));
}

static void failures_say_what_happened(void **state)
{
	struct env *env = *state;
	own_config(env);
	put(env, "policies/la-355.lua", probe);
	put(env, "policies/tests/la-355.lua",
	    "schools = { { urn = '135001', la_code = '355' } }\n"
	    "start = '2025-09-01'\n"
	    "cases = {\n"
	    "  { name = 'wrong on purpose',\n"
	    "    pupils = { { upn = 'J355400120001', marks = [[ /\\ NN ]] } },\n"
	    "    expect = {\n"
	    "      { alert = 'am', date = '2025-09-03' },\n"
	    "      { alert = 'pm', severity = 'high', count = 2 },\n"
	    "    },\n"
	    "    never = { { alert = 'am', severity = 'high' } },\n"
	    "    nothing_else = true },\n"
	    "}\n");
	assert_int_equal(test_run(env, "test"), 1);
	assert_non_null(strstr(
		env->out,
		"FAIL policies/tests/la-355.lua:7: case \"wrong on purpose\": expected alert am "
		"for "
		"J355400120001 on 2025-09-03, got: alert am (low) on 2025-09-01, alert pm (low) on "
		"2025-09-01, alert am (high) on 2025-09-02, alert pm (high) on 2025-09-02\n"));
	assert_non_null(strstr(env->out, "FAIL policies/tests/la-355.lua:8: case \"wrong on "
					 "purpose\": expected alert pm (high) for J355400120001 "
					 "exactly 2 times, got 1: "));
	assert_non_null(strstr(
		env->out, "FAIL policies/tests/la-355.lua:10: case \"wrong on purpose\": never "
			  "alert am (high) for J355400120001, but got: alert am (high) on "
			  "2025-09-02\n"));
	assert_non_null(strstr(env->out,
			       "FAIL policies/tests/la-355.lua:4: case \"wrong on "
			       "purpose\": nothing else expected, but got: alert am (low) "
			       "for J355400120001 on 2025-09-01, "));
	assert_non_null(strstr(env->out, "1 case in 1 file: 0 passed, 1 failed\n"));
}

static void coverage_names_the_lines_not_reached(void **state)
{
	struct env *env = *state;
	broken_la355(env, "-- Salford City Council", "-- Salford City Council, as bundled");
	put(env, "policies/tests/la-355.lua",
	    "schools = { { urn = '135001', la_code = '355' } }\n"
	    "start = '2025-09-01'\n"
	    "cases = { { name = 'only a letter',\n"
	    "  pupils = { { upn = 'J355400120001', marks = [[ /\\*5 | NN*5 ]] } },\n"
	    "  expect = { { legal_step = 'letter', date = '2025-09-12' } },\n"
	    "  never = { { alert = 'severe_absense' } } } }\n");
	assert_int_equal(test_run(env, "test"), 0);
	/* a never item that cannot fail is said to be one */
	assert_non_null(strstr(env->err, "policies/tests/la-355.lua:6: warning: case \"only a "
					 "letter\": never[1]: la-355.lua never raises alert "
					 "\"severe_absense\" (its alerts: low_attendance, "
					 "severe_absence, continuous_absence, missing_education)"));
	int close = line_of("policies/la-355.lua", "close_case(p,");
	int missing = line_of("policies/la-355.lua", "alert(p, \"missing_education\"");
	int letter = line_of("policies/la-355.lua", "legal_step(p, \"letter\"");
	assert_true(close > 0 && missing > 0 && letter > 0);
	char want[256];
	snprintf(want, sizeof want, "policies/la-355.lua:%d alert \"missing_education\"", missing);
	assert_non_null(strstr(env->out, want));
	snprintf(want, sizeof want, "policies/la-355.lua:%d close_case \"attendance recovered\"",
		 close);
	assert_non_null(strstr(env->out, want));
	snprintf(want, sizeof want, "policies/la-355.lua:%d legal_step", letter);
	assert_null(strstr(env->out, want)); /* reached */
	assert_non_null(strstr(env->out, "policies/la-355.lua: 4 of 10 action lines reached; "
					 "not reached: "));
}

static void pending_cases(void **state)
{
	struct env *env = *state;
	own_config(env);
	put(env, "policies/la-355.lua", probe);
	const char *test =
		"schools = { { urn = '135001', la_code = '355' } }\n"
		"start = '2025-09-01'\n"
		"cases = { { name = 'known to fail', pending = 'a rule not yet in force',\n"
		"  pupils = { { upn = 'J355400120001', marks = [[ /\\ ]] } },\n"
		"  never = { { alert = '%s' } } } }\n";
	char text[512];
	snprintf(text, sizeof text, test, "am");
	put(env, "policies/tests/la-355.lua", text);
	assert_int_equal(test_run(env, "test"), 0);
	assert_non_null(strstr(env->out, "PENDING policies/tests/la-355.lua:5: case \"known to "
					 "fail\": never alert am for J355400120001, but got: "));
	assert_non_null(strstr(env->out, "PENDING policies/tests/la-355.lua:3: case \"known to "
					 "fail\": fails, as its pending says: a rule not yet in "
					 "force\n"));
	assert_non_null(strstr(env->out, "0 passed, 0 failed, 1 pending"));
	/* the rule is in force now: the mark must go */
	snprintf(text, sizeof text, test, "urgent_thing");
	put(env, "policies/tests/la-355.lua", text);
	assert_int_equal(test_run(env, "test"), 1);
	assert_non_null(strstr(env->out, "FAIL policies/tests/la-355.lua:3: case \"known to "
					 "fail\": passes now, but is marked pending"));
}

static void a_policy_error_fails_the_case(void **state)
{
	struct env *env = *state;
	own_config(env);
	put(env, "policies/la-355.lua",
	    "policy { org = 'la:355', name = 'Broken' }\n"
	    "function on_pupil(p)\n"
	    "  if p.last.code == 'N' then return p.nope end\n"
	    "end\n");
	put(env, "policies/tests/la-355.lua",
	    "schools = { { urn = '135001', la_code = '355' } }\n"
	    "start = '2025-09-01'\n"
	    "cases = { { name = 'errs', pupils = { { upn = 'J355400120001',\n"
	    "  marks = [[ /\\ /\\ /N ]] } }, nothing_else = true } }\n");
	assert_int_equal(test_run(env, "test"), 1);
	assert_non_null(strstr(env->out, "FAIL policies/tests/la-355.lua:3: case \"errs\": 1 call "
					 "of on_pupil failed, the first after the PM register of "
					 "2025-09-03"));
	assert_non_null(strstr(env->err, "policies/la-355.lua:3:"));
}

/* Each bad test file exits 2 with FILE:LINE and the key or token. */
static void bad_test_files(void **state)
{
	struct env *env = *state;
	own_config(env);
	put(env, "policies/la-355.lua", probe);
	static const struct {
		const char *text, *error;
	} bad[] = {
		{ "schools = { { urn = '135001', la_code = '355' } }\nstart = '2025-09-01'\n"
		  "cases = { { name = 'x',\n"
		  "  pupils = { { upn = 'J355400120001', marks = '/\\\\' } },\n"
		  "  expect = { { alert = 'am', dat = '2025-09-01' } } } }\n",
		  "bad.lua:5: case \"x\": expect[1]: unknown key 'dat' in an expectation (keys: " },
		{ "schools = { { urn = '135001', la_code = '355' } }\nstart = '2025-09-01'\n"
		  "cases = { { name = 'x',\n"
		  "  pupils = { { upn = 'J355400120001', marks = [[\n"
		  "    /\\ /\\\n"
		  "    NA /\\ ]] } },\n"
		  "  nothing_else = true } }\n",
		  "bad.lua:6: case \"x\": pupils[1]: J355400120001: marks: 'NA': 'A' is not an "
		  "attendance code" },
		{ "schools = { { urn = '135001', la_code = '355' } }\nstart = '2025-09-01'\n"
		  "cases = { { name = 'x',\n"
		  "  pupils = { { upn = 'J355400120001', marks = [[ /\\ NN\\ ]] } },\n"
		  "  nothing_else = true } }\n",
		  "bad.lua:4: case \"x\": pupils[1]: J355400120001: marks: 'NN\\': a day is two "
		  "marks" },
		{ "schools = { { urn = '135001', la_code = '355' } }\nstart = '2025-09-01'\n"
		  "cases = { { name = 'x',\n"
		  "  pupils = { { upn = 'J355400120001', marks = [[ /\\ ]] } },\n"
		  "  expect = {\n"
		  "    { alert = 'am', date = '2025-02-30' } } } }\n",
		  "bad.lua:6: case \"x\": expect[1]: date \"2025-02-30\": not a date" },
		{ "schools = { { urn = '135001', la_code = '355' } }\nstart = '2025-09-01'\n"
		  "cases = { { name = 'x',\n"
		  "  pupils = { { upn = 'J355400120001', marks = [[ /\\*4 | /\\ ]] } },\n"
		  "  nothing_else = true } }\n",
		  "bad.lua:4: case \"x\": pupils[1]: J355400120001: marks: '|' starts a new week, "
		  "but the next day is Friday 2025-09-05, 4 school days into its week" },
		{ "schools = { { urn = '135001', la_code = '355' } }\nstart = '2025-09-01'\n"
		  "cases = { { name = 'x',\n"
		  "  pupils = { { upn = 'A355400120001', marks = [[ /\\ ]] } },\n"
		  "  nothing_else = true } }\n",
		  "bad.lua:4: case \"x\": pupils[1]: upn \"A355400120001\": wrong check letter "
		  "(the "
		  "digits give J: J355400120001)" },
		{ "schools = { { urn = '135001', la_code = '355' } }\nstart = '2025-09-01'\n"
		  "colour = 'red'\ncases = {}\n",
		  "bad.lua:3: unknown key 'colour' in a test file (keys: policy, schools, start, "
		  "params, cases)" },
		{ "policy = 'missing.lua'\ncases = {}\n",
		  "bad.lua:1: policies/tests/missing.lua: " },
		{ "policy = '../la-355.lua'\nschools = { { urn = '135001', la_code = '355' } }\n"
		  "cases = { { name = 'x', params = { alert_rate = 0.5 },\n"
		  "  pupils = { { upn = 'J355400120001', marks = [[ /\\ ]] } }, nothing_else = "
		  "true "
		  "} }\n",
		  "bad.lua:3: case \"x\": params: la-355.lua declares no param 'alert_rate' (its "
		  "params: none)" },
		{ "schools = { { urn = '135001', la_code = '355' } }\n"
		  "cases = { { name = 'x',\n"
		  "  pupils = { { upn = 'J355400120001', marks = [[ /\\ ]] } },\n"
		  "  nothing_else = true } }\n",
		  "bad.lua:3: case \"x\": pupils[1]: J355400120001: marks: no start date" },
		{ "schools = { { urn = '135001', la_code = '355' } }\nstart = '2025-09-01'\n"
		  "cases = { { name = 'x',\n"
		  "  pupils = { { upn = 'J355400120001', marks = [[ /\\ ]] } } } }\n",
		  "bad.lua:3: case \"x\": the case checks nothing" },
		{ "cases = os.exit()\n", "bad.lua:1: 'os' is not defined" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char text[2048];
		/* the policy, unless the file names its own */
		snprintf(text, sizeof text, "%s%s",
			 strstr(bad[i].text, "policy =") ? "" : "policy = '../la-355.lua'\n",
			 bad[i].text);
		/* the error's line counts the line added above */
		char want[512];
		int line;
		const char *colon = strchr(bad[i].error, ':');
		assert_int_equal(sscanf(colon + 1, "%d", &line), 1);
		snprintf(want, sizeof want, "policies/tests/bad.lua:%d%s",
			 line + !strstr(bad[i].text, "policy ="), strchr(colon + 1, ':'));
		put(env, "policies/tests/bad.lua", text);
		int status = test_run(env, "test policies/tests/bad.lua");
		if (status != 2 || !strstr(env->err, want))
			fail_msg("bad file %zu: exit %d, wanted\n%s\nin\n%s", i, status, want,
				 env->err);
		assert_non_null(strstr(env->out, "0 cases in 1 file: 0 passed, 0 failed; 1 test "
						 "file could not be read"));
	}
	/* no test files at all */
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/policies/tests/bad.lua", env->e->dir);
	unlink(path);
	assert_int_equal(test_run(env, "test"), 2);
	assert_non_null(strstr(env->err, "policies/tests: no test files"));
}

int main(void)
{
	if (e2e_init() < 0) {
		fprintf(stderr, "run from the top of the repository after make\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(bundled_policies_pass_their_tests, setup, teardown),
		cmocka_unit_test_setup_teardown(a_deleted_legal_step_fails_its_case, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_changed_threshold_fails_its_case, setup,
						teardown),
		cmocka_unit_test_setup_teardown(the_notation_of_marks, setup, teardown),
		cmocka_unit_test_setup_teardown(failures_say_what_happened, setup, teardown),
		cmocka_unit_test_setup_teardown(coverage_names_the_lines_not_reached, setup,
						teardown),
		cmocka_unit_test_setup_teardown(pending_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(a_policy_error_fails_the_case, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_test_files, setup, teardown),
	};
	return cmocka_run_group_tests_name("policytest", tests, NULL, NULL);
}
