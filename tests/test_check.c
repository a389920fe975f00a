/*
 * test_check.c — `rollcall check` finds, before a policy is live, the
 * mistakes that would fail every live call, end to end with the real
 * binary: a misspelt field, a misspelt param name (in a branch no pupil
 * reaches), os.date and print, a misspelt national function, a window with
 * a misspelt key, an endpoint rollcall.conf does not have; a policy that
 * fails only for year group X, or only while a case is open; an error only
 * a stored pupil meets, named by its UPN, with the database left as it
 * was. Each exits 2 naming the file and the line; a correct policy, and
 * the bundled ones, pass.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"

#include <dirent.h>

struct env {
	char *dir;
	char out[1 << 16], err[1 << 18];
	double seconds; /* of the last run */
};

static void slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Run `rollcall ARGS` in e->dir (no -q: check's ok lines are wanted). */
static int run(struct env *e, const char *fmt, ...)
{
	char args[4096], cmd[PATH_MAX * 3 + 4096], path[PATH_MAX + 16];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "cd '%s' && %s '%s' %s >out 2>err", e->dir, e2e_wrap, e2e_bin,
		 args);
	long long t0 = e2e_now_ms();
	int st = system(cmd);
	e->seconds = (double)(e2e_now_ms() - t0) / 1000;
	snprintf(path, sizeof path, "%s/out", e->dir);
	slurp(path, e->out, sizeof e->out);
	snprintf(path, sizeof path, "%s/err", e->dir);
	slurp(path, e->err, sizeof e->err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void put(struct env *e, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", e->dir, name);
	write_file(path, text);
}

/* rollcall.conf: the bundled policies' endpoints, the repository's
 * scripts, policies from dir. */
static void configure(struct env *e, const char *policies)
{
	char conf[PATH_MAX * 3];
	snprintf(conf, sizeof conf,
		 "database = 'rollcall.db'\n"
		 "policies = '%s'\n"
		 "scripts  = '%s/scripts'\n"
		 "endpoints = {\n"
		 "  ['ewo-team'] = { url = 'https://ewo.example.org/', secret_env = 'S' },\n"
		 "  ['mentors'] = { url = 'https://mentors.example.org/', secret_env = 'S' },\n"
		 "  ['legal-team'] = { url = 'https://legal.example.org/', secret_env = 'S' },\n"
		 "  ['trust-attendance'] = { url = 'https://trust.example.org/', secret_env = "
		 "'S' },\n"
		 "}\n",
		 policies, e2e_root);
	put(e, "rollcall.conf", conf);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof *e);
	e->dir = temp_dir();
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/policies", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	configure(e, "policies");
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

/* The test data (tests/data: Salford 355, Brighton 846, the trust
 * TR00092) in rollcall.db. */
static void load_data(struct env *e)
{
	assert_int_equal(run(e, "--config rollcall.conf init"), 0);
	if (run(e,
		"--config rollcall.conf import '%s/tests/data/schools.csv' "
		"'%s/tests/data/pupils.csv' '%s/tests/data/marks.csv'",
		e2e_root, e2e_root, e2e_root) != 0)
		fail_msg("import: %s", e->err);
}

static long long query(struct env *e, const char *sql)
{
	char path[PATH_MAX + 32];
	sqlite3 *db;
	sqlite3_stmt *st;
	snprintf(path, sizeof path, "%s/rollcall.db", e->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int count(const char *text, const char *what)
{
	int n = 0;
	for (const char *s = text; (s = strstr(s, what)); s += strlen(what))
		n++;
	return n;
}

/* `check draft.lua` of text must exit 2 and say each of want (NULL-ended). */
static void refused(struct env *e, const char *text, const char *const *want)
{
	put(e, "draft.lua", text);
	int status = run(e, "--config rollcall.conf check draft.lua");
	if (status != 2)
		fail_msg("check exited %d, want 2:\n%s%s", status, e->out, e->err);
	for (int i = 0; want[i]; i++)
		if (!strstr(e->err, want[i]))
			fail_msg("check does not say \"%s\":\n%s", want[i], e->err);
	if (strstr(e->out, "ok draft.lua"))
		fail_msg("a failing policy is said to be ok:\n%s", e->out);
}

static void a_misspelt_field_is_found(void **state)
{
	struct env *e = *state;
	refused(e,
		"policy { org = 'la:846', name = 'Typo' }\n"
		"function on_pupil(p)\n"
		"  local recent = p:window{ school_weeks = 6 }\n"
		"  if recent.possible > 0 and p.consecutive_absence > 10 then\n"
		"    alert(p, 'absent')\n"
		"  end\n"
		"end\n",
		(const char *const[]){ "draft.lua:4: the pupil has no field 'consecutive_absence' "
				       "(did you mean 'consecutive_absent_days'?) (pupil ",
				       " of 33 synthetic pupils)", NULL });
	/* one line for the error, however many pupils and points met it */
	assert_int_equal(count(e->err, "draft.lua:4:"), 1);
}

static void a_misspelt_param_is_found_in_a_branch_no_pupil_reaches(void **state)
{
	struct env *e = *state;
	static const char policy[] =
		"policy { org = 'la:846', name = 'Typo',\n"
		"  params = { alert_rate = { default = 0.9, min = 0.5, max = 1, doc = 'a rate' } } "
		"}\n"
		"function on_pupil(p)\n"
		"  local recent = p:window{ school_weeks = 6 }\n"
		"  if recent.possible > 100000 then\n"
		"    if recent.rate < param \"alert_rat\" then alert(p, 'low') end\n"
		"  end\n"
		"end\n";
	const char *want[] = { "draft.lua:6: param \"alert_rat\" is not declared in policy{ params "
			       "} (declared: alert_rate); did you mean \"alert_rate\"?",
			       NULL };
	refused(e, policy, want);
	/* param("x") too, and with nothing declared */
	refused(e,
		"policy { org = 'la:846', name = 'Typo' }\n"
		"function on_pupil(p)\n"
		"  if false then return param('alert_rate') end\n"
		"end\n",
		(const char *const[]){ "draft.lua:3: param \"alert_rate\" is not declared in "
				       "policy{ params } (declared: none)",
				       NULL });
	/* run refuses the file as well: it never goes live */
	load_data(e);
	put(e, "policies/la-846.lua", policy);
	assert_int_equal(run(e, "--config rollcall.conf run --once --no-deliver"), 0);
	assert_non_null(strstr(e->err, "la-846.lua:6: param \\\"alert_rat\\\" is not declared"));
}

static void os_date_and_print_are_found(void **state)
{
	struct env *e = *state;
	refused(e,
		"policy { org = 'la:846', name = 'Debugging' }\n"
		"function on_pupil(p)\n"
		"  local year = p:window{ academic_year = true }\n"
		"  if year.unauthorised > 0 then\n"
		"    print('unauthorised', p.upn)\n"
		"  end\n"
		"  local when = os.date('%Y-%m-%d')\n"
		"end\n",
		(const char *const[]){
			"draft.lua:5: undefined global 'print' (print is not "
			"available in a policy: log(...) writes to the engine's log)",
			"draft.lua:7: undefined global 'os' (os is not available in "
			"a policy: today() gives the evaluated date)",
			NULL });
}

static void a_misspelt_national_function_is_found_wherever_it_is(void **state)
{
	struct env *e = *state;
	const char *want[] = { "draft.lua:5: national.persistant is not defined in",
			       "scripts/national.lua (did you mean national.persistent?)", NULL };
	/* in a branch no pupil reaches */
	refused(e,
		"policy { org = 'la:846', name = 'Typo' }\n"
		"local national = require \"national\"\n"
		"function on_pupil(p)\n"
		"  if p.year == 99 then\n"
		"    if national.persistant(p) then alert(p, 'persistent') end\n"
		"  end\n"
		"end\n",
		want);
	/* on every call: said once, not again for each pupil */
	refused(e,
		"policy { org = 'la:846', name = 'Typo' }\n"
		"local national = require('national')\n"
		"function on_pupil(p)\n"
		"  local x = 1\n"
		"  if national.persistant(p) then alert(p, 'persistent') end\n"
		"end\n",
		want);
	assert_int_equal(count(e->err, "draft.lua:5: national"), 1);
}

static void a_window_with_a_misspelt_key_names_the_key(void **state)
{
	struct env *e = *state;
	refused(e,
		"policy { org = 'la:846', name = 'Typo' }\n"
		"function on_pupil(p)\n"
		"  local recent = p:window{ school_week = 6 }\n"
		"end\n",
		(const char *const[]){ "draft.lua:3: p:window{}: unknown key 'school_week' (give "
				       "one of sessions, school_weeks, days, since or "
				       "academic_year) (pupil ",
				       NULL });
}

static void an_endpoint_the_config_lacks_is_found(void **state)
{
	struct env *e = *state;
	static const char policy[] =
		"policy { org = 'la:846', name = 'Typo', endpoints = { alert = 'ewo-tem' } }\n"
		"function on_pupil(p) end\n";
	refused(e, policy,
		(const char *const[]){ "draft.lua:1: endpoints.alert = \"ewo-tem\" is not an "
				       "endpoint in rollcall.conf (it has ewo-team, legal-team, "
				       "mentors, trust-attendance); did you mean \"ewo-team\"?",
				       NULL });
	/* with no configuration there is nothing to check them against: said */
	char conf[PATH_MAX + 32], aside[PATH_MAX + 32];
	snprintf(conf, sizeof conf, "%s/rollcall.conf", e->dir);
	snprintf(aside, sizeof aside, "%s/aside.conf", e->dir);
	assert_int_equal(rename(conf, aside), 0);
	put(e, "draft.lua", policy);
	assert_int_equal(run(e, "check draft.lua"), 0);
	assert_non_null(strstr(e->err, "warning: no configuration file: the endpoints policies "
				       "name were not checked"));
	assert_non_null(strstr(e->out, "ok draft.lua: la:846 (Typo)"));
}

/* A role with no endpoint: its actions are recorded, never delivered (the
 * walk-through's draft referred pupils with no referral endpoint). A
 * warning, once a role, at the first line that calls it. */
static void an_action_whose_role_has_no_endpoint_is_warned_of(void **state)
{
	struct env *e = *state;
	put(e, "draft.lua",
	    "policy { org = 'la:846', name = 'Roles', endpoints = { alert = 'ewo-team' } }\n"
	    "function on_pupil(p)\n"
	    "  if p.fsm then refer_mentor(p) end\n"
	    "  if p.sen == 'E' then refer_mentor(p) end\n"
	    "  if p.year == 20 then close_case(p, 'never') end\n"
	    "  if p.year == 21 then alert(p, 'x') end\n"
	    "end\n");
	assert_int_equal(run(e, "check draft.lua"), 0);
	assert_non_null(strstr(e->err, "warning: draft.lua:3: refer_mentor: policy{ endpoints } "
				       "names no referral endpoint: these actions will be "
				       "recorded and never delivered"));
	assert_null(strstr(e->err, "draft.lua:4:"));
	assert_non_null(strstr(e->err, "warning: draft.lua:5: close_case: policy{ endpoints } "
				       "names no case endpoint nor a legal endpoint"));
	assert_null(strstr(e->err, "alert:"));
	assert_non_null(strstr(e->out, "ok draft.lua: la:846 (Roles)"));
}

/* p.year_group is text and p.social_worker true or false: compared with a
 * number they are never equal, and the rule they guard silently never
 * fires (28 high alerts became 0). Found in the text, in every branch,
 * whatever on_pupil's parameter is called. */
static void a_field_compared_with_a_literal_of_another_type_is_found(void **state)
{
	struct env *e = *state;
	refused(e,
		"policy { org = 'la:846', name = 'Types', endpoints = { alert = 'ewo-team' } }\n"
		"function on_pupil(pupil)\n"
		"  if pupil.year_group == 9 then alert(pupil, 'a') end\n"
		"  if pupil.social_worker == 1 then alert(pupil, 'b') end\n"
		"  if 0 ~= pupil.fsm then alert(pupil, 'c') end\n"
		"  if pupil.year == 9 or pupil.trust_id == nil or pupil.year_group == '9' or\n"
		"     pupil.sen == 'E' or pupil.consecutive_absent_days == 10 then\n"
		"    alert(pupil, 'd')\n"
		"  end\n"
		"end\n",
		(const char *const[]){
			"draft.lua:3: pupil.year_group is a string, so `pupil.year_group == 9` is "
			"never true; for the year as a number write pupil.year == 9",
			"draft.lua:4: pupil.social_worker is a boolean, so `pupil.social_worker == "
			"1` is never true; write `if pupil.social_worker then` or `if not "
			"pupil.social_worker then`",
			"draft.lua:5: pupil.fsm is a boolean, so `pupil.fsm ~= 0` is always true",
			NULL });
	assert_null(strstr(e->err, "draft.lua:6:"));
	assert_null(strstr(e->err, "draft.lua:7:"));
}

static void a_correct_policy_passes(void **state)
{
	struct env *e = *state;
	/* the draft of docs/POLICIES.md */
	put(e, "draft.lua",
	    "policy {\n"
	    "  org  = \"la:846\",\n"
	    "  name = \"Brighton and Hove (draft)\",\n"
	    "  endpoints = { alert = \"ewo-team\", referral = \"mentors\", legal = "
	    "\"legal-team\" },\n"
	    "  params = {\n"
	    "    alert_rate = { default = 0.92, min = 0.50, max = 1.00,\n"
	    "                   doc = \"alert when attendance over 6 school weeks falls below "
	    "this\" },\n"
	    "  },\n"
	    "}\n"
	    "local national = require \"national\"\n"
	    "function on_pupil(p)\n"
	    "  local recent = p:window{ school_weeks = 6 }\n"
	    "  if recent.possible >= 20 and recent.rate < param \"alert_rate\" then\n"
	    "    alert(p, \"low_attendance\", { severity = \"medium\", evidence = recent,\n"
	    "      message = string.format(\"%.1f%% over 6 school weeks\", recent.rate * 100) })\n"
	    "  end\n"
	    "  if national.persistent(p) then\n"
	    "    refer_mentor(p, { message = \"persistent absence this year\" })\n"
	    "  end\n"
	    "  if national.penalty_threshold_met(p) and not p.case then\n"
	    "    legal_step(p, \"letter\", { reason = \"10+ unauthorised sessions in 10 school "
	    "weeks\" })\n"
	    "  end\n"
	    "end\n");
	if (run(e, "--config rollcall.conf check draft.lua") != 0)
		fail_msg("a correct policy failed:\n%s", e->err);
	assert_string_equal(e->err, "");
	assert_non_null(strstr(e->out, "ok draft.lua: la:846 (Brighton and Hove (draft)), 1 "
				       "params, "));
	long calls = 0;
	const char *ran = strstr(e->out, "on_pupil ran ");
	assert_non_null(ran);
	assert_int_equal(sscanf(ran, "on_pupil ran %ld times over 33 synthetic pupils\n", &calls),
			 1);
	assert_true(calls >= 33 * 10); /* many points of each history, not one each */
	assert_true(e->seconds < 2);
}

static void an_error_only_for_year_group_x_is_caught(void **state)
{
	struct env *e = *state;
	refused(e,
		"policy { org = 'trust:TR00092', name = 'Years' }\n"
		"local stages = { [-2] = 'nursery', [-1] = 'nursery', [0] = 'reception' }\n"
		"function on_pupil(p)\n"
		"  local stage = p.year >= 7 and 'secondary' or stages[p.year] or 'primary'\n"
		"end\n",
		(const char *const[]){ "draft.lua:4: attempt to compare number with nil (pupil ",
				       ", synthetic: year X, academy of TR00092",
				       "; 2 of 33 synthetic pupils)", NULL });
}

static void an_error_only_while_a_case_is_open_is_caught(void **state)
{
	struct env *e = *state;
	refused(e,
		"policy { org = 'la:846', name = 'Cases' }\n"
		"function on_pupil(p)\n"
		"  local case = p.case\n"
		"  if case and case.stage == 'letter' then\n"
		"    legal_step(p, 'meetng', { reason = 'after the letter' })\n"
		"  end\n"
		"end\n",
		(const char *const[]){ "draft.lua:5: legal_step: 'meetng' is not a step",
				       "open case at letter", NULL });
	/* a case the policy opens itself, seen on a later call (the cases the
	 * synthetic pupils start with at letter have a referral open) */
	refused(e,
		"policy { org = 'la:846', name = 'Cases' }\n"
		"local national = require 'national'\n"
		"function on_pupil(p)\n"
		"  if national.penalty_threshold_met(p) and not p.case then\n"
		"    legal_step(p, 'letter', { reason = 'the threshold' })\n"
		"  elseif p.case and p.case.stage == 'letter' and not p.case.referral_open then\n"
		"    error('a letter was sent')\n"
		"  end\n"
		"end\n",
		(const char *const[]){ "draft.lua:7: a letter was sent (pupil ", NULL });
}

static void an_error_in_a_module_says_where_the_policy_called_it(void **state)
{
	struct env *e = *state;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/scripts", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	put(e, "scripts/helper.lua",
	    "local helper = {}\n"
	    "function helper.absent(p)\n"
	    "  return p.consecutive_absence\n"
	    "end\n"
	    "return helper\n");
	put(e, "local.conf", "policies = 'policies'\nscripts = 'scripts'\n");
	put(e, "draft.lua",
	    "policy { org = 'la:846', name = 'Helped' }\n"
	    "local helper = require 'helper'\n"
	    "function on_pupil(p)\n"
	    "  if helper.absent(p) then end\n"
	    "end\n");
	assert_int_equal(run(e, "--config local.conf check draft.lua"), 2);
	assert_non_null(strstr(e->err, "scripts/helper.lua:3: the pupil has no field "
				       "'consecutive_absence'"));
	assert_non_null(strstr(e->err, " (called from draft.lua:4) (pupil "));
}

static void the_bundled_policies_pass(void **state)
{
	struct env *e = *state;
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof dir, "%s/policies", e2e_root);
	configure(e, dir);
	/* without a database: the synthetic pupils alone */
	if (run(e, "--config rollcall.conf check") != 0)
		fail_msg("the bundled policies fail check:\n%s", e->err);
	assert_string_equal(e->err, "");
	assert_int_equal(count(e->out, "ok "), 3);
	assert_int_equal(count(e->out, "over 33 synthetic pupils\n"), 3);
	/* with one: the stored pupils too */
	load_data(e);
	if (run(e, "--config rollcall.conf check") != 0)
		fail_msg("the bundled policies fail check:\n%s", e->err);
	assert_string_equal(e->err, "");
	assert_non_null(strstr(e->out, "la:355 (Salford City Council)"));
	/* Salford has 4 pupils, 3 with marks; Brighton 1; the trust TR00001 none */
	assert_non_null(strstr(e->out, "synthetic pupils and 3 over 4 stored pupils\n"));
	assert_non_null(strstr(e->out, "synthetic pupils and 1 over 1 stored pupils\n"));
	assert_non_null(strstr(e->out, "synthetic pupils; the database has no pupil it covers\n"));
	assert_true(e->seconds < 3); /* a few milliseconds a policy */
}

/* The files of e->dir, names and sizes, as one string. */
static void listing(struct env *e, char *buf, size_t size)
{
	DIR *d = opendir(e->dir);
	struct dirent *de;
	buf[0] = '\0';
	while ((de = readdir(d))) {
		char path[PATH_MAX + 300], one[400];
		struct stat st;
		/* SQLite's readers keep their locks in the -shm file */
		if (!strcmp(de->d_name, "out") || !strcmp(de->d_name, "err") ||
		    !strcmp(de->d_name, "draft.lua") || strstr(de->d_name, "-shm"))
			continue;
		snprintf(path, sizeof path, "%s/%s", e->dir, de->d_name);
		assert_int_equal(stat(path, &st), 0);
		snprintf(one, sizeof one, "%s:%lld:%lld ", de->d_name, (long long)st.st_size,
			 (long long)st.st_mtime);
		strncat(buf, one, size - strlen(buf) - 1);
	}
	closedir(d);
}

static void an_error_only_a_stored_pupil_meets_names_it_and_nothing_is_recorded(void **state)
{
	struct env *e = *state;
	char before[4096], after[4096];
	load_data(e);
	/* the live policy first: J355400120001's letter is proposed, and once
	 * an officer approves it J has a case at letter */
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof dir, "%s/policies", e2e_root);
	configure(e, dir);
	assert_int_equal(run(e, "--config rollcall.conf run --once --no-deliver"), 0);
	assert_int_equal(run(e, "--config rollcall.conf signoff approve 1 --by 'A. Officer'"), 0);
	long long actions = query(e, "SELECT count(*) FROM actions");
	assert_true(actions > 0);
	configure(e, "policies");
	/* synthetic UPNs have 9999 where a real school's number is */
	static const char policy[] =
		"policy { org = 'la:355', name = 'Stored' }\n"
		"function on_pupil(p)\n"
		"  alert(p, 'everyone', { cooldown_days = 0 })\n"
		"  if p.upn:sub(5, 8) ~= '9999' and p.case and p.case.stage == 'letter' then\n"
		"    error('a real case at letter')\n"
		"  end\n"
		"  if p.upn == 'Y355400120002' then error('only this pupil') end\n"
		"end\n";
	put(e, "draft.lua", policy);
	sleep_ms(1100); /* a write now would move a modification time */
	listing(e, before, sizeof before);
	refused(e, policy,
		(const char *const[]){ "draft.lua:5: a real case at letter (pupil J355400120001, "
				       "2025-09-12; 1 of 4 stored pupils)",
				       "draft.lua:7: only this pupil (pupil Y355400120002, ",
				       NULL });
	assert_null(strstr(e->err, "synthetic"));
	/* read-only: nothing recorded, nothing written */
	listing(e, after, sizeof after);
	assert_string_equal(before, after);
	assert_int_equal(query(e, "SELECT count(*) FROM actions"), actions);
	assert_int_equal(query(e, "SELECT count(*) FROM actions WHERE kind = "
				  "'everyone'"),
			 0);
}

static void without_a_database_check_creates_none(void **state)
{
	struct env *e = *state;
	put(e, "draft.lua",
	    "policy { org = 'la:846', name = 'Plain' }\n"
	    "function on_pupil(p) alert(p, 'seen') end\n");
	assert_int_equal(run(e, "--config rollcall.conf check draft.lua"), 0);
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/rollcall.db", e->dir);
	assert_int_equal(access(path, F_OK), -1);
	assert_null(strstr(e->out, "stored"));
}

/* Every hostile policy of tests/hostile/lua fails check, naming its file
 * and what its first line says run will log (or the load refuses), or,
 * when check says something better, what a second line "-- check: TEXT"
 * says. */
static void every_hostile_policy_fails_check(void **state)
{
	struct env *e = *state;
	char dir[PATH_MAX + 32];
	load_data(e);
	snprintf(dir, sizeof dir, "%s/tests/hostile/lua", e2e_root);
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char path[PATH_MAX + 300], first[512];
		if (n < 5 || strcmp(de->d_name + n - 4, ".lua") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "r");
		assert_non_null(f);
		assert_non_null(fgets(first, sizeof first, f));
		char second[512] = "";
		if (!fgets(second, sizeof second, f) || strncmp(second, "-- check: ", 10) != 0)
			second[0] = '\0';
		fclose(f);
		first[strcspn(first, "\n")] = '\0';
		second[strcspn(second, "\n")] = '\0';
		const char *want = second[0] ? second + 10 : strchr(first, ':') + 2;
		int status = run(e, "--config rollcall.conf check '%s'", path);
		/* the file is named (Lua shortens a long path in a load error) */
		if (status != 2 || !strstr(e->err, de->d_name))
			fail_msg("%s: check exited %d:\n%s", de->d_name, status, e->err);
		/* the log's escapes (\n in a traceback) are not check's */
		if (!strchr(want, '\\') && !strstr(e->err, want))
			fail_msg("%s: check does not say \"%s\":\n%s", de->d_name, want, e->err);
		files++;
	}
	closedir(d);
	assert_true(files >= 70);
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_misspelt_field_is_found, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_misspelt_param_is_found_in_a_branch_no_pupil_reaches, setup, teardown),
		cmocka_unit_test_setup_teardown(os_date_and_print_are_found, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_misspelt_national_function_is_found_wherever_it_is, setup, teardown),
		cmocka_unit_test_setup_teardown(a_window_with_a_misspelt_key_names_the_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(an_endpoint_the_config_lacks_is_found, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_field_compared_with_a_literal_of_another_type_is_found, setup, teardown),
		cmocka_unit_test_setup_teardown(an_action_whose_role_has_no_endpoint_is_warned_of,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_correct_policy_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(an_error_only_for_year_group_x_is_caught, setup,
						teardown),
		cmocka_unit_test_setup_teardown(an_error_only_while_a_case_is_open_is_caught, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			an_error_in_a_module_says_where_the_policy_called_it, setup, teardown),
		cmocka_unit_test_setup_teardown(the_bundled_policies_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(
			an_error_only_a_stored_pupil_meets_names_it_and_nothing_is_recorded, setup,
			teardown),
		cmocka_unit_test_setup_teardown(without_a_database_check_creates_none, setup,
						teardown),
		cmocka_unit_test_setup_teardown(every_hostile_policy_fails_check, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
