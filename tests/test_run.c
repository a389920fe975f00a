/*
 * test_run.c — end to end with the real binary and the example policies:
 * import, `run --once --no-deliver`, `actions --json`, `params`, `check`.
 *
 * The expected actions are worked out by hand from policies/la-355.lua and
 * scripts/national.lua on tests/data (pupil J355400120001, 1-12 Sep 2025:
 * 18 possible sessions, 6 present, 2 illness, 10 unauthorised):
 *   - 10 unauthorised sessions in 10 school weeks       -> legal_step letter,
 *                                                          proposed (a person
 *                                                          decides it: signoff)
 *   - 6-week window has 18 possible sessions (< 20)     -> no low_attendance
 *   - absence 12/18 = 67%, but 18 possible sessions this year (< 20,
 *     national.MIN_POSSIBLE_SESSIONS)                   -> not yet severe
 *                                                          nor persistent
 * Every other pupil attends every session and gets nothing.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"
#include "upn.h"

#include <jansson.h>

static const char *root = e2e_root;

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct env {
	char *dir;
	char out[1 << 22], err[1 << 16];
};

static int run(struct env *e, const char *fmt, ...)
{
	char args[2048], cmd[PATH_MAX * 4 + 2048], path[PATH_MAX + 16];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "cd '%s' && %s '%s' --config rollcall.conf %s >out 2>err", e->dir,
		 e2e_wrap, e2e_bin, args);
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
		assert_string_equal(json_string_value(json_object_get(a, "policy")), "la-355.lua");
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
	{ "legal_step", "step", "letter", "medium", "2025-09-12",
	  "10+ unauthorised sessions in 10 school weeks" },
};

static void run_once_records_the_expected_actions(void **state)
{
	struct env *e = *state;
	assert_int_equal(run(e, "run --once --no-deliver"), 0);
	assert_non_null(strstr(e->err, "msg=batch"));
	assert_non_null(strstr(e->err, "actions=1"));
	actions_are(e, first_run, 1);

	/* the letter's evidence is the figures the policy read */
	assert_int_equal(run(e, "actions --json"), 0);
	json_t *a = json_loads(e->out, JSON_DISABLE_EOF_CHECK, NULL);
	json_t *ten = json_object_get(json_object_get(a, "evidence"), "school_weeks=10");
	assert_int_equal(json_integer_value(json_object_get(ten, "unauthorised")), 10);
	json_decref(a);

	/* nothing changed: nothing more to do */
	assert_int_equal(run(e, "run --once --no-deliver"), 0);
	actions_are(e, first_run, 1);
	assert_int_equal(run(e, "actions --org trust:TR00092"), 0);
	assert_string_equal(e->out, "");
}

static void sql(struct env *e, const char *statements);

/* Params steer later runs: with step_gap_days lowered to 7, a second week of
 * N marks takes the case from the letter (proposed, then approved) to a
 * meeting. */
static void params_steer_later_runs(void **state)
{
	struct env *e = *state;
	char path[PATH_MAX];
	assert_int_equal(run(e, "run --once"), 0);
	assert_int_equal(run(e, "signoff approve 1 --by 'A. Officer'"), 0);

	assert_int_equal(run(e, "params la:355 alert_rate=1.5"), 2);
	assert_non_null(strstr(e->err, "alert_rate=1.5: outside the bounds 0.5..1"));
	assert_int_equal(run(e, "params la:355 alert_rate=0.2"), 2);
	assert_int_equal(run(e, "params la:355 nosuch=1"), 2);
	assert_non_null(strstr(e->err, "declares no param \"nosuch\""));
	assert_int_equal(run(e, "params la:355 alert_rate=abc"), 2);
	assert_int_equal(run(e, "params la:999"), 2);
	assert_int_equal(run(e, "params la:355 step_gap_days=7.5"), 2);
	assert_non_null(strstr(e->err, "step_gap_days=7.5: not a whole number (la-355.lua declares "
				       "step_gap_days with integer = true)"));
	/* --reset puts a param back to its default */
	assert_int_equal(run(e, "params la:355 alert_rate=0.8"), 0);
	assert_non_null(
		strstr(e->out, "alert_rate               0.8        (default 0.9, 0.5..1, set)"));
	assert_int_equal(run(e, "params la:355 --reset alert_rate"), 0);
	assert_non_null(
		strstr(e->out, "alert_rate               0.9        (default 0.9, 0.5..1)"));
	/* a stored value the policy's bounds no longer allow is not in force */
	sql(e, "INSERT INTO params(org, name, value) VALUES ('la:355', 'recovered_rate', 0.3)");
	assert_int_equal(run(e, "params la:355"), 0);
	assert_non_null(strstr(e->out, "recovered_rate           0.95       (default 0.95, 0.8..1; "
				       "stored 0.3 is outside the bounds: not in force)"));
	assert_int_equal(run(e, "params la:355 --reset recovered_rate"), 0);
	assert_int_equal(run(e, "params la:355 --reset nosuch"), 2);
	assert_int_equal(run(e, "params la:355 --reset"), 2);
	assert_int_equal(run(e, "params la:355 step_gap_days=7"), 0);
	assert_non_null(strstr(
		e->out, "step_gap_days            7          (default 28, 7..90, whole, set)"));
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
	/* 6 weeks: 6 present of 28 = 21.4% < 90%: low attendance; 28 possible
	 * sessions this year, 22 absent: severe, and persistent with no
	 * referral open: a referral; 9 school days of unauthorised absence:
	 * not continuous yet; the letter was 7 days ago and the gap is now 7:
	 * a meeting */
	assert_int_equal(run(e, "run --once"), 0);
	struct expected want[6] = {
		first_run[0],
		{ "alert", "kind", "low_attendance", "medium", "2025-09-19",
		  "attendance 21.4% over 6 school weeks" },
		{ "alert", "kind", "severe_absence", "high", "2025-09-19", NULL },
		{ "referral", NULL, NULL, "medium", "2025-09-19",
		  "persistent absence this academic year" },
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
	snprintf(cmd, sizeof cmd, "cp '%s/policies/la-355.lua' '%s'", root, path);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof path, "%s/broken.lua", e->dir);
	write_file(path, "policy { org = 'la:202', name = 'Camden' }\nfunction on_pupil(p)\n  if "
			 "then\nend\n");
	assert_int_equal(run(e, "check %s/policies/la-355.lua copy.lua broken.lua", root), 2);
	assert_non_null(strstr(e->err, "copy.lua:"));
	assert_non_null(strstr(e->err, ": la:355 already has a policy in"));
	assert_non_null(strstr(e->err, "broken.lua:3: unexpected symbol near 'then'"));
	/* run carries on without the broken ones */
	assert_int_equal(run(e, "check broken.lua"), 2);
}

/* The first column of the first row of sql on db (a file in e->dir). */
static long long query(struct env *e, const char *db, const char *sql)
{
	char path[PATH_MAX + 64];
	sqlite3 *h;
	sqlite3_stmt *st;
	snprintf(path, sizeof path, "%s/%s", e->dir, db);
	assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* Thousands of organisations, each its own policy and Lua state, load in
 * memory that grows with their number (SECURITY.md: 20-40 KiB a state),
 * and run: every one of them is called for its own pupils and records
 * what they call for. Trust TXnnnn has one academy, URN 200000 + nnnn,
 * whose pupils are 355nnnn20000 (present both sessions of 1 September)
 * and 355nnnn20001 (absent, unauthorised, in the afternoon: rate 0.5). */
static void thousands_of_policies_load_in_bounded_memory(void **state)
{
	struct env *e = *state;
	enum { N = 3000 };
	char path[PATH_MAX + 32], conf[PATH_MAX * 2], text[512];
	snprintf(path, sizeof path, "%s/many", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof path, "%s/many/trust-TX%04d.lua", e->dir, i);
		snprintf(text, sizeof text,
			 "policy { org = 'trust:TX%04d', name = 'Trust %d' }\n"
			 "function on_pupil(p)\n"
			 "  if p:window{ school_weeks = 6 }.rate < 0.9 then\n"
			 "    alert(p, 'low_attendance', { severity = 'low' })\n"
			 "  end\n"
			 "end\n",
			 i, i);
		write_file(path, text);
	}
	FILE *csv[3];
	static const char *const names[] = { "schools", "pupils", "marks" };
	for (int k = 0; k < 3; k++) {
		snprintf(path, sizeof path, "%s/many-%s.csv", e->dir, names[k]);
		assert_non_null(csv[k] = fopen(path, "w"));
	}
	fputs("urn,name,la_code,trust_id,phase\n", csv[0]);
	fputs("upn,urn,year_group,social_worker,sen,fsm\n", csv[1]);
	fputs("upn,urn,date,session,code,minutes_late\n", csv[2]);
	for (int i = 0; i < N; i++) {
		fprintf(csv[0], "%d,Academy %d,355,TX%04d,secondary\n", 200000 + i, i, i);
		for (int k = 0; k < 2; k++) {
			char body[32], upn[40];
			snprintf(body, sizeof body, "355%04d2000%d", i, k);
			snprintf(upn, sizeof upn, "%c%s", upn_check_letter(body), body);
			fprintf(csv[1], "%s,%d,9,0,N,0\n", upn, 200000 + i);
			fprintf(csv[2], "%s,%d,2025-09-01,AM,/,\n%s,%d,2025-09-01,PM,%s,\n", upn,
				200000 + i, upn, 200000 + i, k ? "O" : "\\");
		}
	}
	for (int k = 0; k < 3; k++)
		assert_int_equal(fclose(csv[k]), 0);
	snprintf(path, sizeof path, "%s/many.conf", e->dir);
	snprintf(conf, sizeof conf,
		 "database = 'many.db'\npolicies = 'many'\nscripts = '%s/scripts'\n", root);
	write_file(path, conf);
	assert_int_equal(run(e, "-q --config many.conf check"), 0); /* 0: every one loaded */
	assert_int_equal(run(e, "-q --config many.conf init"), 0);
	assert_int_equal(run(e, "-q --config many.conf import many-schools.csv many-pupils.csv "
				"many-marks.csv"),
			 0);
	assert_int_equal(run(e, "--config many.conf run --once --no-deliver"), 0);
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru); /* the largest child so far */
	if (e2e_rss_is_rollcalls() && ru.ru_maxrss > 256 * 1024)
		fail_msg("%d policies took %ld KiB", N, ru.ru_maxrss);

	/* each policy was called for its two pupils, and none failed */
	assert_int_equal(query(e, "many.db",
			       "SELECT count(*) FROM policy_health WHERE org LIKE 'trust:TX%' "
			       "AND loaded = 1 AND calls = 2 AND failed = 0"),
			 N);
	/* each recorded one alert: for its own absent pupil, and no other */
	assert_int_equal(query(e, "many.db", "SELECT count(*) FROM actions"), N);
	assert_int_equal(query(e, "many.db",
			       "SELECT count(DISTINCT org) FROM actions WHERE action = 'alert' "
			       "AND kind = 'low_attendance' AND org = 'trust:TX' || "
			       "substr(upn, 5, 4) AND substr(upn, 9, 5) = '20001' AND "
			       "policy = 'trust-' || substr(org, 7) || '.lua'"),
			 N);
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

/* Write text as bad.conf and expect `check` to refuse it with want. */
static void config_refused(struct env *e, const char *text, const char *want)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/bad.conf", e->dir);
	write_file(path, text);
	if (run(e, "--config bad.conf check") != 2 || !strstr(e->err, want))
		fail_msg("config:\n%s\nwant \"%s\", got: %s", text, want, e->err);
}

/* Every error names the line of the assignment or key at fault, not the
 * first assignment of a name or the end of the table it is in. */
static void config_errors_name_the_line_of_the_key(void **state)
{
	struct env *e = *state;
	/* a second assignment to the same name */
	config_refused(e, "database = 'x.db'\n\ndatabase = 5\n",
		       "bad.conf:3: database must be a non-empty string");
	/* a key inside a table written over several lines */
	config_refused(e, "delivery = {\n  timeout_ms = 500,\n  bogus = 1,\n}\n",
		       "bad.conf:3: delivery: unknown key 'bogus'");
	config_refused(e, "delivery = {\n  timeout_ms = 5,\n  per_endpoint = 2,\n}\n",
		       "bad.conf:2: delivery.timeout_ms must be a whole number");
	config_refused(e, "limits = {}\n\nlimits.bogus = 1\n", "bad.conf:3: limits: unknown key");
	/* two levels down, and the endpoint itself at the line it starts on */
	config_refused(e,
		       "endpoints = {\n  ewo = {\n    url = 'https://h.example/',\n"
		       "    secret_env = 'S',\n    retries = 3,\n  },\n}\n",
		       "bad.conf:5: endpoints[\"ewo\"]: unknown key 'retries'");
	config_refused(e, "endpoints = {\n  ewo = {\n    secret_env = 'S',\n  },\n}\n",
		       "bad.conf:2: endpoints[\"ewo\"] has no url");
	config_refused(e,
		       "endpoints = {\n  ['ewo'] = {\n    secret_env = 'S',\n"
		       "    url = 'http://example.org/',\n  },\n}\n",
		       "bad.conf:4: endpoints[\"ewo\"].url: plain http://");
	config_refused(e, "database = 'x.db'\n_ENV[nil] = 1\n",
		       "bad.conf:2: only names can be assigned");
	/* an endless loop is stopped where it loops */
	config_refused(e, "database = 'x.db'\nwhile true do end\n",
		       "bad.conf:2: the configuration runs too long");
	config_refused(e, "\n\nwhile true do\n  local x = 1\nend\n",
		       "bad.conf:4: the configuration runs too long");
	/* a file that loops building a big table loses the per-key lines, and
	 * says that the line is the table's */
	config_refused(e,
		       "local t = {}\nfor i = 1, 3000 do t[i] = i end\n"
		       "delivery = {\n  timeout_ms = 500,\n  bogus = 1,\n}\n",
		       "bad.conf:6: delivery: unknown key 'bogus' (in the table set on line 6)");
}

/* The endpoints the bundled policies name: `check` refuses a policy whose
 * endpoint the configuration lacks. */
#define BUNDLED_ENDPOINTS                                                                          \
	"['ewo-team'] = { url = 'https://ewo.example.org/', secret_env = 'S' }, "                  \
	"mentors = { url = 'https://mentors.example.org/', secret_env = 'S' }, "                   \
	"['legal-team'] = { url = 'https://legal.example.org/', secret_env = 'S' }, "              \
	"['trust-attendance'] = { url = 'https://trust.example.org/', secret_env = 'S' }"

/* Plain http:// only to a loopback address, judged on the URL's host as
 * curl parses it, not on how the URL text begins. */
static void plain_http_only_to_loopback(void **state)
{
	struct env *e = *state;
	static const char *const refused[] = {
		"http://127.0.0.1.evil.example/x",
		"http://127.0.0.1@evil.example/x",
		"http://localhost.evil.example/x",
		"http://[::2]:8080/x",
		"http://128.0.0.1/x",
		"http://[::ffff:7f00:1]/x",
	};
	static const char *const allowed[] = {
		"http://127.0.0.1:8080/x", "http://127.9.8.7/x", "http://[::1]:8080/x",
		"http://localhost:8080/x", "http://LocalHost/x", "https://127.0.0.1.example.org/x",
	};
	char path[PATH_MAX + 16], conf[PATH_MAX * 3], want[256];
	snprintf(path, sizeof path, "%s/url.conf", e->dir);
	for (size_t i = 0; i < sizeof refused / sizeof *refused + sizeof allowed / sizeof *allowed;
	     i++) {
		int bad = i < sizeof refused / sizeof *refused;
		const char *url = bad ? refused[i] : allowed[i - sizeof refused / sizeof *refused];
		snprintf(conf, sizeof conf,
			 "policies = '%s/policies'\nscripts = '%s/scripts'\n"
			 "endpoints = { hook = { url = '%s', secret_env = 'S' }, " BUNDLED_ENDPOINTS
			 " }\n",
			 root, root, url);
		write_file(path, conf);
		int status = run(e, "--config url.conf check");
		if (status != (bad ? 2 : 0))
			fail_msg("%s: exit %d, want %d: %s", url, status, bad ? 2 : 0, e->err);
		snprintf(want, sizeof want, "url.conf:3: endpoints[\"hook\"].url: plain http://");
		if (bad && !strstr(e->err, want))
			fail_msg("%s: %s", url, e->err);
	}
	/* insecure = true lets plain http go anywhere */
	snprintf(conf, sizeof conf,
		 "policies = '%s/policies'\nscripts = '%s/scripts'\nendpoints = { hook = { url = "
		 "'http://127.0.0.1.evil.example/x', secret_env = 'S', insecure = true "
		 "}, " BUNDLED_ENDPOINTS " }\n",
		 root, root);
	write_file(path, conf);
	assert_int_equal(run(e, "--config url.conf check"), 0);
}

static void sql(struct env *e, const char *statements)
{
	char path[PATH_MAX + 16];
	sqlite3 *db;
	char *err = NULL;
	snprintf(path, sizeof path, "%s/rollcall.db", e->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, statements, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", statements, err);
	sqlite3_close(db);
}

/* `pupil` shows the open case as the policy sees it and the latest actions
 * from every organisation, newest first, with their delivery state. */
static void pupil_shows_open_cases_and_recent_actions(void **state)
{
	struct env *e = *state;
	assert_int_equal(run(e, "pupil J355400120001 --json"), 0);
	json_t *p = json_loads(e->out, 0, NULL);
	assert_non_null(p);
	assert_true(json_is_true(json_object_get(p, "fsm")));
	assert_true(json_is_false(json_object_get(p, "social_worker")));
	assert_int_equal(json_integer_value(json_object_get(p, "year")), 9);
	assert_string_equal(json_string_value(json_object_get(p, "year_group")), "9");
	assert_int_equal(json_array_size(json_object_get(p, "open_cases")), 0);
	assert_int_equal(json_array_size(json_object_get(p, "recent_actions")), 0);
	json_decref(p);
	assert_int_equal(run(e, "pupil J355400120001"), 0);
	/* each field as a policy sees it, with its type: the year group is text */
	assert_non_null(strstr(e->out, "p.upn \"J355400120001\"  p.urn \"135001\"  p.la_code "
				       "\"355\"  p.trust_id \"TR00092\"\n"));
	assert_non_null(strstr(e->out, "p.year_group \"9\"  p.year 9  p.sen \"N\"  p.fsm true  "
				       "p.social_worker false\n"));
	assert_non_null(strstr(e->out, "open case: none"));
	assert_non_null(strstr(e->out, "recent actions: none"));

	/* first_run: the letter, proposed; approved, it opens the case */
	assert_int_equal(run(e, "run --once --no-deliver"), 0);
	assert_int_equal(run(e, "pupil J355400120001 --json"), 0);
	assert_non_null(strstr(e->out, "\"open_cases\":[]"));
	assert_non_null(strstr(e->out, "\"state\":\"proposed\""));
	assert_int_equal(run(e, "signoff approve 1 --by 'A. Officer'"), 0);
	assert_int_equal(run(e, "pupil J355400120001 --json"), 0);
	p = json_loads(e->out, 0, NULL);
	assert_non_null(p);
	json_t *cases = json_object_get(p, "open_cases");
	assert_int_equal(json_array_size(cases), 1);
	json_t *c = json_array_get(cases, 0);
	assert_string_equal(json_string_value(json_object_get(c, "org")), "la:355");
	assert_string_equal(json_string_value(json_object_get(c, "stage")), "letter");
	assert_string_equal(json_string_value(json_object_get(c, "opened")), "2025-09-12");
	assert_true(json_is_false(json_object_get(c, "referral_open")));
	json_t *steps = json_object_get(c, "steps");
	assert_int_equal(json_array_size(steps), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0), "step")),
			    "letter");
	json_t *recent = json_object_get(p, "recent_actions");
	assert_int_equal(json_array_size(recent), 1);
	json_t *letter = json_array_get(recent, 0);
	assert_int_equal(json_integer_value(json_object_get(letter, "action_id")), 1);
	assert_string_equal(json_string_value(json_object_get(letter, "action")), "legal_step");
	assert_string_equal(json_string_value(json_object_get(letter, "step")), "letter");
	assert_string_equal(json_string_value(json_object_get(letter, "org")), "la:355");
	assert_string_equal(json_string_value(json_object_get(letter, "date")), "2025-09-12");
	json_t *d = json_array_get(json_object_get(letter, "deliveries"), 0);
	assert_string_equal(json_string_value(json_object_get(d, "endpoint")), "legal-team");
	assert_string_equal(json_string_value(json_object_get(d, "state")), "no_endpoint");
	json_decref(p);

	/* a mentor referral in the case, as a later run would add (the pupil
	 * has too few sessions yet to be persistent) */
	sql(e, "INSERT INTO actions(org, pupil, action, kind, severity, date, day, policy, "
	       "policy_sha256, case_id, upn, urn, year_group, created_at) SELECT org, pupil, "
	       "'referral', 'mentor', 'medium', '2025-09-12', day, policy, policy_sha256, "
	       "case_id, upn, urn, year_group, created_at FROM actions; "
	       "UPDATE cases SET referral_open = 1;");
	assert_int_equal(run(e, "pupil J355400120001"), 0);
	assert_non_null(strstr(e->out, "open case la:355: stage letter, opened 2025-09-12, "
				       "mentor referral open\n  2025-09-12 letter\n"
				       "  2025-09-12 referral\n"));
	char *listed = strstr(e->out, "recent actions (newest first");
	assert_non_null(listed);
	char *second = strstr(listed, "\n  2 "), *first = strstr(listed, "\n  1 ");
	assert_true(second && first && second < first);
	assert_non_null(strstr(first, "la:355         legal_step letter (approved)"));
	/* two deliveries: the proposal's and the approved step's */
	assert_non_null(strstr(first, "medium  no_endpoint,no_endpoint\n"));

	/* another organisation's actions, some later and some earlier, and a
	 * closed case: the ten latest across both, and only the open case */
	sql(e, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12) "
	       "INSERT INTO actions(org, pupil, action, kind, severity, date, day, policy, "
	       "policy_sha256, upn, urn, year_group, created_at) SELECT 'trust:TR00092', "
	       "pupil, 'alert', 'k' || i, 'low', date('2025-09-03', '+' || (i * 2) || ' days'), "
	       "CAST(julianday('2025-09-03', '+' || (i * 2) || ' days') - "
	       "julianday('1970-01-01') AS INTEGER), 'trust.lua', 'x', upn, 135001, '9', "
	       "'2025-09-30T00:00:00Z' FROM n, (SELECT DISTINCT pupil, upn FROM actions);"
	       "INSERT INTO cases(org, pupil, stage, opened, closed) SELECT 'trust:TR00092', "
	       "pupil, 'letter', '2025-09-01', '2025-09-10' FROM actions LIMIT 1;");
	assert_int_equal(run(e, "pupil J355400120001 --json"), 0);
	p = json_loads(e->out, 0, NULL);
	assert_non_null(p);
	assert_int_equal(json_array_size(json_object_get(p, "open_cases")), 1);
	recent = json_object_get(p, "recent_actions");
	assert_int_equal(json_array_size(recent), 10);
	/* k12 on 2025-09-27 ... k5 on 2025-09-13, then the two of 2025-09-12
	 * newest first: the referral, then the letter; k4 falls off */
	static const char *const want[10][2] = {
		{ "k12", "2025-09-27" },    { "k11", "2025-09-25" }, { "k10", "2025-09-23" },
		{ "k9", "2025-09-21" },	    { "k8", "2025-09-19" },  { "k7", "2025-09-17" },
		{ "k6", "2025-09-15" },	    { "k5", "2025-09-13" },  { NULL, "2025-09-12" },
		{ "letter", "2025-09-12" },
	};
	for (size_t i = 0; i < 10; i++) {
		json_t *a = json_array_get(recent, i);
		const char *kind = json_string_value(json_object_get(a, "kind"));
		const char *step = json_string_value(json_object_get(a, "step"));
		const char *got = kind ? kind : step;
		if ((want[i][0] ? !got || strcmp(got, want[i][0]) : got != NULL) ||
		    strcmp(json_string_value(json_object_get(a, "date")), want[i][1]))
			fail_msg("recent action %zu: want %s on %s, got %s", i, want[i][0],
				 want[i][1], json_dumps(a, JSON_COMPACT));
	}
	assert_string_equal(json_string_value(json_object_get(json_array_get(recent, 0), "org")),
			    "trust:TR00092");
	assert_string_equal(json_string_value(json_object_get(json_array_get(recent, 8), "action")),
			    "referral");
	json_decref(p);

	/* another pupil has none of it */
	assert_int_equal(run(e, "pupil Y355400120002 --json"), 0);
	p = json_loads(e->out, 0, NULL);
	assert_non_null(p);
	assert_int_equal(json_array_size(json_object_get(p, "open_cases")), 0);
	assert_int_equal(json_array_size(json_object_get(p, "recent_actions")), 0);
	json_decref(p);
}

/* The bundled example data through the example policies, checked against
 * tests/oracle.awk: the same rules read independently from the CSV files.
 * Every action is compared (date, org, action, kind or step, pupil,
 * severity), for every pupil in the database: tests/data from setup, then
 * examples/data with its amendments, then a few edge pupils written here.
 * The example data has no unauthorised run of 10 school days, no week
 * without a possible session and one academic year only, so the edge pupils
 * exercise those rules (docs/POLICIES.md, oracle.awk's header):
 *   Z..9101 (la:355)  20-day run over a half term, a `#` day and a Y4/O day:
 *                     continuous_absence and missing_education
 *   Y..9102 (la:355)  9 days, a `#` day inside: no continuous_absence
 *   V..9103 (la:355, TR00001)  10 days with `#` inside and last: continuous
 *   E..9104 (la:846)  10 days of G: penalty_notice and continuous_absence
 *   B..9105 (la:846, TR00001)  6 school weeks skip a half term and a week of
 *                     only Y4, reaching the C week: low_attendance; 10/100
 *                     sessions absent: persistent_absence at the boundary
 *   E..9106 (la:355)  O in July 2025: outside academic_year, inside 10 school
 *                     weeks: letter and low_attendance, no referral
 *   J..9107 (la:355)  10 days of O, one amended to I: the run is 4 days */
static void example_data_matches_the_oracle(void **state)
{
	static const struct {
		const char *upn, *urn, *from, *to, *am, *pm;
	} spans[] = {
		{ "Z355200029101", "100000", "2025-09-01", "2025-10-10", "/", "\\" },
		{ "Z355200029101", "100000", "2025-10-13", "2025-10-24", "O", "O" },
		{ "Z355200029101", "100000", "2025-11-03", "2025-11-03", "#", "#" },
		{ "Z355200029101", "100000", "2025-11-04", "2025-11-04", "Y4", "O" },
		{ "Z355200029101", "100000", "2025-11-05", "2025-11-17", "N", "N" },
		{ "Y355200429102", "100004", "2025-09-01", "2025-09-30", "/", "\\" },
		{ "Y355200429102", "100004", "2025-10-01", "2025-10-09", "O", "O" },
		{ "Y355200429102", "100004", "2025-10-10", "2025-10-10", "#", "#" },
		{ "Y355200429102", "100004", "2025-10-13", "2025-10-14", "G", "G" },
		{ "V355200229103", "100002", "2025-09-01", "2025-09-26", "/", "\\" },
		{ "V355200229103", "100002", "2025-09-29", "2025-10-03", "U", "U" },
		{ "V355200229103", "100002", "2025-10-06", "2025-10-06", "#", "#" },
		{ "V355200229103", "100002", "2025-10-07", "2025-10-13", "N", "N" },
		{ "V355200229103", "100002", "2025-10-14", "2025-10-14", "#", "#" },
		{ "E846200329104", "100003", "2025-09-01", "2025-09-19", "/", "\\" },
		{ "E846200329104", "100003", "2025-09-22", "2025-10-03", "G", "G" },
		{ "B846200129105", "100001", "2025-09-01", "2025-09-26", "/", "\\" },
		{ "B846200129105", "100001", "2025-09-29", "2025-10-03", "C", "C" },
		{ "B846200129105", "100001", "2025-10-06", "2025-10-17", "/", "\\" },
		{ "B846200129105", "100001", "2025-10-20", "2025-10-24", "Y4", "Y4" },
		{ "B846200129105", "100001", "2025-11-03", "2025-11-21", "/", "\\" },
		{ "E355200429106", "100004", "2025-07-07", "2025-07-11", "/", "\\" },
		{ "E355200429106", "100004", "2025-07-14", "2025-07-18", "O", "O" },
		{ "E355200429106", "100004", "2025-09-01", "2025-09-12", "/", "\\" },
		{ "J355200029107", "100000", "2025-09-01", "2025-09-30", "/", "\\" },
		{ "J355200029107", "100000", "2025-10-01", "2025-10-14", "O", "O" },
	};
	struct env *e = *state;
	char cmd[PATH_MAX * 12], path[PATH_MAX + 32];

	snprintf(path, sizeof path, "%s/edge-pupils.csv", e->dir);
	write_file(path, "upn,urn,year_group\n"
			 "Z355200029101,100000,5\nY355200429102,100004,4\n"
			 "V355200229103,100002,6\nE846200329104,100003,3\n"
			 "B846200129105,100001,8\nE355200429106,100004,2\n"
			 "J355200029107,100000,1\n");
	snprintf(path, sizeof path, "%s/edge-amend.csv", e->dir);
	write_file(path, "upn,urn,date,session,code\nJ355200029107,100000,2025-10-08,AM,I\n");
	snprintf(path, sizeof path, "%s/edge-marks.csv", e->dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("upn,urn,date,session,code\n", f);
	for (size_t i = 0; i < sizeof spans / sizeof *spans; i++) {
		struct tm from = { 0 }, to = { 0 }, tm;
		char day[11];
		assert_int_equal(sscanf(spans[i].from, "%d-%d-%d", &from.tm_year, &from.tm_mon,
					&from.tm_mday),
				 3);
		assert_int_equal(
			sscanf(spans[i].to, "%d-%d-%d", &to.tm_year, &to.tm_mon, &to.tm_mday), 3);
		from.tm_year -= 1900, from.tm_mon--, to.tm_year -= 1900, to.tm_mon--;
		for (time_t t = timegm(&from); t <= timegm(&to); t += 86400) {
			gmtime_r(&t, &tm);
			if (tm.tm_wday == 0 || tm.tm_wday == 6)
				continue; /* weekends have no marks */
			strftime(day, sizeof day, "%Y-%m-%d", &tm);
			fprintf(f, "%s,%s,%s,AM,%s\n%s,%s,%s,PM,%s\n", spans[i].upn, spans[i].urn,
				day, spans[i].am, spans[i].upn, spans[i].urn, day, spans[i].pm);
		}
	}
	assert_int_equal(fclose(f), 0);

	assert_int_equal(run(e,
			     "-q import %s/examples/data/schools.csv %s/examples/data/pupils.csv "
			     "%s/examples/data/marks.csv",
			     root, root, root),
			 0);
	assert_int_equal(run(e, "-q import %s/examples/data/amendments.csv", root), 0);
	assert_int_equal(run(e, "-q import edge-pupils.csv edge-marks.csv"), 0);
	assert_int_equal(run(e, "-q import edge-amend.csv"), 0);
	assert_int_equal(run(e, "run --once --no-deliver"), 0);
	/* the oracle reads every file in import order; `actions` prints id, date,
	 * org, action, kind or step, upn, severity, deliveries, message */
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && { awk -f '%s/tests/oracle.awk' '%s/tests/data/schools.csv' "
		 "'%s/tests/data/pupils.csv' '%s/tests/data/marks.csv' "
		 "'%s/examples/data/schools.csv' '%s/examples/data/pupils.csv' "
		 "'%s/examples/data/marks.csv' '%s/examples/data/amendments.csv' "
		 "edge-pupils.csv edge-marks.csv edge-amend.csv || echo oracle failed; } | "
		 "sort > want && '%s' --config rollcall.conf actions | "
		 "awk '{ print $2, $3, $4, $5, $6, $7 }' | sort > got && "
		 "test -s want && diff want got",
		 e->dir, root, root, root, root, root, root, root, root, e2e_bin);
	if (system(cmd) != 0)
		fail_msg("rollcall and the oracle disagree (see %s/want and got)", e->dir);
}

/* The actions in e->out (JSON lines) without what differs between runs,
 * keys sorted, as one sorted text. */
static char *normalised_actions(struct env *e)
{
	char *lines[4096], *text = NULL;
	size_t n = 0, len = 0;
	for (char *line = strtok(e->out, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *o = json_loads(line, 0, NULL);
		assert_non_null(o);
		if (!json_object_get(o, "summary")) {
			json_object_del(o, "action_id");
			json_object_del(o, "created_at");
			json_object_del(o, "deliveries");
			/* who approved a legal step, when, and its deadline: the
			 * replay's own ("approved on the day proposed") */
			json_object_del(o, "decide_by");
			json_object_del(o, "decided_by");
			json_object_del(o, "decided_at");
			json_object_del(o, "approved_by");
			/* case ids, like action ids, follow the order of recording
			 * (live: every organisation's pupils as their marks came;
			 * replay: one policy, pupil by pupil): whether there is one */
			json_object_set_new(
				o, "case_id",
				json_boolean(!json_is_null(json_object_get(o, "case_id"))));
			assert_true(n < 4096);
			lines[n++] = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		}
		json_decref(o);
	}
	qsort(lines, n, sizeof *lines, by_text);
	for (size_t i = 0; i < n; i++) {
		text = realloc(text, len + strlen(lines[i]) + 2);
		len += (size_t)sprintf(text + len, "%s\n", lines[i]);
		free(lines[i]);
	}
	return text ? text : strdup("");
}

/* A replay of each example policy over the example data gives exactly the
 * actions the live engine recorded when the same marks came a register (a
 * session of a school day, AM then PM) at a time — evidence and all — with
 * each proposed legal step approved on the day it was proposed (what a
 * replay takes every proposal as), and changes nothing in the database. */
static void replay_gives_what_live_did_and_changes_nothing(void **state)
{
	struct env *e = *state;
	char cmd[PATH_MAX * 8 + 1024];
	/* a database of its own: the example data alone, none of tests/data */
	assert_int_equal(run(e, "--db replay.db init"), 0);
	assert_int_equal(run(e,
			     "--db replay.db import %s/examples/data/schools.csv "
			     "%s/examples/data/pupils.csv",
			     root, root),
			 0);
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && m='%s/examples/data/marks.csv' && "
		 "for d in $(tail -n +2 \"$m\" | cut -d, -f3,4 | sort -u); do "
		 "{ head -1 \"$m\"; grep \",$d,\" \"$m\"; } > day.csv && "
		 "%s '%s' -q --config rollcall.conf --db replay.db import day.csv && "
		 "%s '%s' -q --config rollcall.conf --db replay.db run --once --no-deliver "
		 "|| exit 1; "
		 "for id in $(%s '%s' -q --config rollcall.conf --db replay.db signoff list "
		 "--json | sed 's/^{\"action_id\":\\([0-9]*\\),.*/\\1/'); do "
		 "%s '%s' -q --config rollcall.conf --db replay.db signoff approve $id --by "
		 "'A. Officer' >/dev/null || exit 1; done; done",
		 e->dir, root, e2e_wrap, e2e_bin, e2e_wrap, e2e_bin, e2e_wrap, e2e_bin, e2e_wrap,
		 e2e_bin);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(run(e, "--db replay.db actions --json"), 0);
	char *live = normalised_actions(e);
	assert_true(strlen(live) > 1000);

	char before[64], after[64], *replayed = NULL;
	snprintf(cmd, sizeof cmd, "sha256sum '%s/replay.db' | cut -c1-64 > '%s/sum'", e->dir,
		 e->dir);
	assert_int_equal(system(cmd), 0);
	snprintf(before, sizeof before, "%s/sum", e->dir);
	FILE *f = fopen(before, "r");
	assert_non_null(fgets(before, sizeof before, f));
	fclose(f);

	size_t len = 0;
	static const char *const policies[] = { "la-846", "la-355", "trust-TR00001" };
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(run(e, "--db replay.db replay --policy %s/policies/%s.lua --json",
				     root, policies[i]),
				 0);
		assert_non_null(strstr(e->out, "\"summary\""));
		char *part = normalised_actions(e);
		replayed = realloc(replayed, len + strlen(part) + 1);
		strcpy(replayed + len, part);
		len += strlen(part);
		free(part);
	}
	/* the three replays' lines, merged in order */
	char *merged[4096];
	size_t n = 0;
	for (char *line = strtok(replayed, "\n"); line; line = strtok(NULL, "\n"))
		merged[n++] = line;
	qsort(merged, n, sizeof *merged, by_text);
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strlen(merged[i]) + 1;
	char *got = calloc(1, total + 1);
	for (size_t i = 0; i < n; i++)
		strcat(strcat(got, merged[i]), "\n");
	assert_string_equal(got, live);

	assert_int_equal(system(cmd), 0);
	snprintf(after, sizeof after, "%s/sum", e->dir);
	f = fopen(after, "r");
	assert_non_null(fgets(after, sizeof after, f));
	fclose(f);
	assert_string_equal(after, before);

	/* a draft that alerts at 95% rather than 90% alerts for more pupils, and
	 * earlier, so some of its repeats fall in the cooldown on other days */
	snprintf(cmd, sizeof cmd,
		 "sed 's/default = 0.90/default = 0.95/' '%s/policies/trust-TR00001.lua' > "
		 "'%s/draft.lua'",
		 root, e->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(
		run(e,
		    "--db replay.db replay --policy %s/policies/trust-TR00001.lua --compare "
		    "draft.lua",
		    root),
		0);
	assert_non_null(strstr(e->out, "only draft.lua"));
	assert_non_null(strstr(e->out, " only in draft.lua\n"));
	assert_null(strstr(e->out, " 0 only in draft.lua"));
	free(got);
	free(replayed);
	free(live);
}

/* Every subcommand `rollcall help` lists has its own help and a place in
 * the man page, so neither falls behind the command table. */
static void every_subcommand_has_help_and_a_man_entry(void **state)
{
	struct env *e = *state;
	char man[1 << 16], names[64][32];
	int n = 0;
	FILE *f = fopen("docs/rollcall.1", "r");
	assert_non_null(f);
	man[fread(man, 1, sizeof man - 1, f)] = '\0';
	fclose(f);
	assert_int_equal(run(e, "help"), 0);
	for (char *line = strtok(e->out, "\n"); line; line = strtok(NULL, "\n"))
		if (line[0] == ' ' && line[1] == ' ' && n < 64 &&
		    sscanf(line, " %31[a-z]", names[n]) == 1)
			n++;
	assert_true(n >= 11);
	for (int i = 0; i < n; i++) {
		char want[2100], bare[2100]; /* the names are short; the compiler cannot see it */
		assert_int_equal(run(e, "help %s", names[i]), 0);
		snprintf(want, sizeof want, "usage: rollcall %s", names[i]);
		assert_non_null(strstr(e->out, want));
		snprintf(want, sizeof want, "\n.BR %s ", names[i]);
		snprintf(bare, sizeof bare, "\n.B %s\n", names[i]);
		if (!strstr(man, want) && !strstr(man, bare))
			fail_msg("docs/rollcall.1 does not describe %s", names[i]);
	}
	assert_int_equal(run(e, "help nope"), 2);
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(run_once_records_the_expected_actions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(params_steer_later_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(check_reports_every_broken_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(thousands_of_policies_load_in_bounded_memory, setup,
						teardown),
		cmocka_unit_test_setup_teardown(config_errors_name_the_line, setup, teardown),
		cmocka_unit_test_setup_teardown(config_errors_name_the_line_of_the_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(plain_http_only_to_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(pupil_shows_open_cases_and_recent_actions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(example_data_matches_the_oracle, setup, teardown),
		cmocka_unit_test_setup_teardown(replay_gives_what_live_did_and_changes_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(every_subcommand_has_help_and_a_man_entry, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("run", tests, NULL, NULL);
}
