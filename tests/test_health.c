/*
 * test_health.c — nothing is lost to a policy that does not load, and
 * `rollcall status` tells the truth, end to end: the real binary on a real
 * SQLite file, generated data for councils 355 and 846 (the generator puts
 * one of 355's schools in trust TR00001), build/receiver on 127.0.0.1.
 *
 * - an organisation whose policy file is there but does not load keeps its
 *   changed pupils in `deferred`, one row each however often they change;
 *   a good version evaluates them, with that policy alone — at once when
 *   the service reloads it;
 * - `rollcall reevaluate ORG [--since DATE]` queues an organisation's
 *   pupils again, and the running service takes them;
 * - `status` exits 1 and names what and where: a file that does not load
 *   (FILE:LINE), failed calls (count, error, pupil), a draft in the
 *   policies directory, rows rejected from incoming, actions with no
 *   endpoint, a database file replaced under the service; and says ok
 *   when all is well;
 * - `rollcall rejected` lists rejects with their reasons; `rollcall
 *   --version`; a version 5 database migrates to 6.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "e2e.h"

#include "db.h"

#include <jansson.h>
#include <sys/stat.h>

#define PUPILS 600

static const char good355[] =
	"policy { org = 'la:355', name = 'Good', endpoints = { alert = 'hook' } }\n"
	"function on_pupil(p) alert(p, 'seen', { severity = 'low', cooldown_days = 0 }) end\n";

static const char broken355[] = /* a typo on line 2 */
	"policy { org = 'la:355', name = 'Broken', endpoints = { alert = 'hook' } }\n"
	"function on_pupil(p) if then end end\n";

static const char fixed355[] =
	"policy { org = 'la:355', name = 'Fixed', endpoints = { alert = 'hook' } }\n"
	"function on_pupil(p) alert(p, 'fixed', { severity = 'low', cooldown_days = 0 }) end\n";

static const char good846[] =
	"policy { org = 'la:846', name = 'Good', endpoints = { alert = 'hook' } }\n"
	"function on_pupil(p) alert(p, 'seen', { severity = 'low', cooldown_days = 0 }) end\n";

static const char trust[] =
	"policy { org = 'trust:TR00001', name = 'Trust', endpoints = { alert = 'hook' } }\n"
	"function on_pupil(p) alert(p, 'trust', { severity = 'low', cooldown_days = 0 }) end\n";

static int setup(void **state)
{
	*state = e2e_new();
	return 0;
}

static int teardown(void **state)
{
	e2e_free(*state);
	return 0;
}

static void put_policy(struct e2e *e, const char *name, const char *text)
{
	char path[PATH_MAX + 64], tmp[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/policies/%s", e->dir, name);
	snprintf(tmp, sizeof tmp, "%s/policies/.%s.tmp", e->dir, name);
	write_file(tmp, text); /* as an editor saves: whole, then renamed */
	assert_int_equal(rename(tmp, path), 0);
}

/* Generated data for days school days; schools and pupils imported, the
 * marks left in data/marks.csv. One endpoint, hook, on port. */
static void setup_data(struct e2e *e, int days, int port)
{
	char cmd[PATH_MAX * 3], path[PATH_MAX + 64];
	snprintf(cmd, sizeof cmd,
		 "'%s/gen' --pupils %d --days %d --las 355,846 --out '%s/data' >/dev/null",
		 e2e_build, PUPILS, days, e->dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof path, "%s/policies", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(cmd, sizeof cmd,
		 "policies = 'policies'\nscripts = '%s/scripts'\n"
		 "endpoints = { hook = { url = 'http://127.0.0.1:%d/hook', secret_env = "
		 "'HOOK_SECRET' } }\n",
		 e2e_root, port);
	write_file(path, cmd);
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	assert_int_equal(e2e_rollcall(e, "import data/schools.csv data/pupils.csv"), 0);
}

static long long count(struct e2e *e, const char *fmt, const char *arg)
{
	char sql[1024];
	snprintf(sql, sizeof sql, fmt, arg);
	return e2e_query(e, sql);
}

static long long pupils_of(struct e2e *e, const char *la)
{
	return count(e,
		     "SELECT count(*) FROM pupils p JOIN schools s ON s.urn = p.urn WHERE "
		     "s.la_code = '%s'",
		     la);
}

static long long trust_pupils(struct e2e *e)
{
	return e2e_query(e, "SELECT count(*) FROM pupils p JOIN schools s ON s.urn = p.urn WHERE "
			    "s.trust_id = 'TR00001'");
}

static long long actions_of(struct e2e *e, const char *org)
{
	return count(e, "SELECT count(*) FROM actions WHERE org = '%s'", org);
}

static long long deferred_of(struct e2e *e, const char *org)
{
	return count(e, "SELECT count(*) FROM deferred WHERE org = '%s'", org);
}

/* The last run's standard output, whole. */
static char *out_of(struct e2e *e)
{
	static char text[1 << 16];
	e2e_slurp(e, "out", text, sizeof text);
	return text;
}

static void must_say(const char *text, const char *what)
{
	if (!strstr(text, what))
		fail_msg("wanted \"%s\" in:\n%s", what, text);
}

/* The marks of data/marks.csv up to (not including) day index cut in
 * data/early.csv, the rest in data/late.csv. */
static void split_days(struct e2e *e)
{
	char cmd[PATH_MAX * 3];
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && last=$(tail -n +2 data/marks.csv | cut -d, -f3 | sort | tail -1) && "
		 "awk -F, -v last=$last 'NR == 1 || $3 != last' data/marks.csv >data/early.csv && "
		 "awk -F, -v last=$last 'NR == 1 || $3 == last' data/marks.csv >data/late.csv",
		 e->dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- no evaluation is lost to a missing policy ---- */

/* At start a file that does not load: its pupils wait, one row each, while
 * they keep changing; the fixed version sees each of them once, alone (the
 * trust's policy does not see its pupils again). */
static void a_policy_that_does_not_load_keeps_its_pupils(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 5, 1);
	split_days(e);
	put_policy(e, "la-355.lua", broken355);
	put_policy(e, "la-846.lua", good846);
	put_policy(e, "trust-TR00001.lua", trust);
	long long n355 = pupils_of(e, "355"), n846 = pupils_of(e, "846"), nt = trust_pupils(e);
	assert_true(n355 > 100 && n846 > 100 && nt > 50 && nt < n355);

	assert_int_equal(e2e_rollcall(e, "import data/early.csv"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(actions_of(e, "la:846"), n846);
	assert_int_equal(actions_of(e, "trust:TR00001"), nt);
	assert_int_equal(actions_of(e, "la:355"), 0);
	assert_int_equal(deferred_of(e, "la:355"), n355);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deferred WHERE org != 'la:355'"), 0);

	/* status says what and where */
	assert_int_equal(e2e_rollcall(e, "status"), 1);
	char *out = out_of(e);
	must_say(out, "attention: la:355: policies/la-355.lua does not load");
	must_say(out, "policies/la-355.lua:2:");
	char want[128];
	snprintf(want, sizeof want, "%lld pupils wait for it", n355);
	must_say(out, want);

	/* another day while it is still broken: still one row a pupil */
	assert_int_equal(e2e_rollcall(e, "import data/late.csv"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(deferred_of(e, "la:355"), n355);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deferred"), n355);
	assert_int_equal(actions_of(e, "la:846"), 2 * n846);
	assert_int_equal(actions_of(e, "trust:TR00001"), 2 * nt);

	/* fixed: each waiting pupil once, by la:355 alone, on its latest marks */
	put_policy(e, "la-355.lua", fixed355);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(actions_of(e, "la:355"), n355);
	assert_int_equal(e2e_query(e, "SELECT count(DISTINCT pupil) FROM actions WHERE org = "
				      "'la:355' AND kind = 'fixed'"),
			 n355);
	assert_int_equal(e2e_query(e, "SELECT count(DISTINCT date) FROM actions WHERE org = "
				      "'la:355'"),
			 1);
	assert_int_equal(actions_of(e, "trust:TR00001"), 2 * nt);
	assert_int_equal(actions_of(e, "la:846"), 2 * n846);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deferred"), 0);
	e2e_rollcall(e, "status");
	out = out_of(e);
	if (strstr(out, "attention: la:355"))
		fail_msg("still said after the fix:\n%s", out);
}

/* The service started with a broken file (a restart with it on disk):
 * status says so; the fix, reloaded, evaluates the waiting pupils at once,
 * with no mark arriving; reevaluate while it runs is taken at once; and
 * with everything delivered, status says ok. */
static void a_reload_evaluates_the_waiting_pupils_at_once(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "");
	setup_data(e, 3, e->port);
	put_policy(e, "la-355.lua", good355);
	put_policy(e, "la-846.lua", good846);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0); /* nothing to do yet */
	assert_int_equal(e2e_rollcall(e, "status"), 0);

	put_policy(e, "la-846.lua", /* refused: speaks for another council */
		   "policy { org = 'la:355', name = 'Impostor', endpoints = {} }\n"
		   "function on_pupil(p) end\n");
	long long n355 = pupils_of(e, "355"), n846 = pupils_of(e, "846");
	e2e_daemon_start(e, "");
	assert_int_equal(e2e_rollcall(e, "import data/marks.csv"), 0);
	assert_true(
		e2e_wait_for(e, "SELECT count(*) FROM deferred WHERE org = 'la:846'", n846, 20000));
	assert_true(
		e2e_wait_for(e, "SELECT count(*) FROM actions WHERE org = 'la:355'", n355, 20000));
	assert_int_equal(e2e_rollcall(e, "status"), 1);
	char *out = out_of(e);
	must_say(out, "attention: la:846: policies/la-846.lua does not load");
	must_say(out, "speaks only for la:846");

	put_policy(e, "la-846.lua", good846);
	if (!e2e_wait_for(e, "SELECT count(*) FROM actions WHERE org = 'la:846'", n846, 10000))
		fail_msg("the waiting pupils were not evaluated after the reload; see %s",
			 e->daemon_log);
	assert_true(e2e_wait_for(e, "SELECT count(*) FROM deferred", 0, 5000));
	assert_int_equal(e2e_query(e, "SELECT count(DISTINCT pupil) FROM actions WHERE org = "
				      "'la:846'"),
			 n846);

	/* on demand, with the service running */
	assert_int_equal(e2e_rollcall(e, "reevaluate la:355"), 0);
	if (!e2e_wait_for(e, "SELECT count(*) FROM actions WHERE org = 'la:355'", 2 * n355, 10000))
		fail_msg("the running service did not take the queued pupils; see %s",
			 e->daemon_log);
	assert_int_equal(actions_of(e, "la:846"), n846);

	/* all delivered: ok */
	assert_true(e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state != 'delivered'", 0,
				 20000));
	if (e2e_rollcall(e, "-v status") != 0)
		fail_msg("status not ok:\n%s", out_of(e));
	must_say(out_of(e), "policies     2 files: 2 running, 0 not loading, 0 with failed calls");
	must_say(out_of(e), "\nok\n");
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 10000), 0);
}

/* reevaluate ORG [--since DATE]: the organisation's pupils (with a mark on
 * or after DATE) queued for its policy alone, one row each. */
static void reevaluate_queues_an_organisation_s_pupils(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 3, 1);
	split_days(e);
	/* half the pupils have no mark on the last day */
	char cmd[PATH_MAX * 2];
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && awk -F, 'NR == 1 || substr($1, 13, 1) ~ /[0-4]/' data/late.csv "
		 ">data/half.csv",
		 e->dir);
	assert_int_equal(system(cmd), 0);
	put_policy(e, "la-355.lua", good355);
	put_policy(e, "la-846.lua", good846);
	assert_int_equal(e2e_rollcall(e, "import data/early.csv data/half.csv"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	long long n355 = pupils_of(e, "355"), n846 = pupils_of(e, "846");
	assert_int_equal(actions_of(e, "la:355"), n355);

	assert_int_equal(e2e_rollcall(e, "reevaluate la:355"), 0);
	assert_int_equal(deferred_of(e, "la:355"), n355);
	assert_int_equal(e2e_rollcall(e, "reevaluate la:355"), 0); /* again: nothing more */
	assert_int_equal(deferred_of(e, "la:355"), n355);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(actions_of(e, "la:355"), 2 * n355);
	assert_int_equal(actions_of(e, "la:846"), n846);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deferred"), 0);

	/* --since the last day: those with a mark on it */
	char *last = e2e_text(e, "SELECT max(date) FROM marks");
	long long marked =
		count(e,
		      "SELECT count(DISTINCT m.pupil) FROM marks m JOIN pupils p ON p.id "
		      "= m.pupil JOIN schools s ON s.urn = p.urn WHERE s.la_code = '355' "
		      "AND m.date >= '%s'",
		      last);
	assert_true(marked > 10 && marked < n355);
	snprintf(cmd, sizeof cmd, "-v reevaluate la:355 --since %s", last);
	assert_int_equal(e2e_rollcall(e, cmd), 0);
	assert_int_equal(deferred_of(e, "la:355"), marked);
	char want[64];
	snprintf(want, sizeof want, "la:355: %lld pupils with marks since %s", marked, last);
	must_say(out_of(e), want);
	/* a day later than any mark: nobody */
	assert_int_equal(e2e_rollcall(e, "reevaluate la:846 --since 2099-01-01"), 0);
	assert_int_equal(deferred_of(e, "la:846"), 0);
	free(last);

	static const char *const bad[] = {
		"reevaluate",
		"reevaluate la:35",
		"reevaluate la:355 --since 2025-13-01",
		"reevaluate la:355 --since",
		"reevaluate la:355 la:846",
		"reevaluate la:999", /* no policy file */
		"reevaluate la:355 --bogus",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (e2e_rollcall(e, bad[i]) != 2)
			fail_msg("%s: want exit 2", bad[i]);
	put_policy(e, "la-999.lua", good355); /* a file, but no school of la:999 */
	assert_int_equal(e2e_rollcall(e, "reevaluate la:999"), 2);
	char err[4096];
	e2e_slurp(e, "err", err, sizeof err);
	must_say(err, "la:999: no school of this organisation is known");
}

/* ---- status tells the truth ---- */

/* Calls that fail (count, FILE:LINE, pupil), rows rejected from incoming,
 * actions whose endpoint is not configured: each said, exit 1; and
 * `rollcall rejected` lists the rejects with why. */
static void status_names_failed_calls_rejects_and_endpointless_actions(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 2, 1);
	put_policy(
		e, "la-355.lua",
		"policy { org = 'la:355', name = 'Nowhere', endpoints = { alert = 'missing' } }\n"
		"function on_pupil(p) alert(p, 'seen', { cooldown_days = 0 }) end\n");
	put_policy(e, "la-846.lua",
		   "policy { org = 'la:846', name = 'Fails', endpoints = { alert = 'hook' } }\n"
		   "function on_pupil(p)\n"
		   "  if p.upn:sub(13) == '7' then error('no rule for ' .. p.upn) end\n"
		   "  alert(p, 'seen', { cooldown_days = 0 })\n"
		   "end\n");
	assert_int_equal(e2e_rollcall(e, "import data/marks.csv"), 0);
	e2e_exec(e, "INSERT INTO incoming(upn, urn, date, session, code) VALUES "
		    "('B801200005001', 100001, '2025-09-01', 'AM', 'Q9'), "
		    "('X', 1, '2025-13-01', 'PM', '/')");
	long long n846 = pupils_of(e, "846");
	long long failing =
		e2e_query(e, "SELECT count(*) FROM pupils p JOIN schools s ON s.urn = "
			     "p.urn WHERE s.la_code = '846' AND substr(p.upn, 13) = '7'");
	assert_true(failing > 0 && failing < n846);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);

	assert_int_equal(e2e_rollcall(e, "status"), 1);
	char *out = out_of(e);
	char want[256];
	snprintf(want, sizeof want,
		 "attention: la:846: %lld of %lld calls failed in its last batch; the latest, at ",
		 failing, n846);
	must_say(out, want);
	must_say(out, ": policies/la-846.lua:3: no rule for ");
	char *upn = e2e_text(e, "SELECT last_pupil FROM policy_health WHERE org = 'la:846'");
	assert_int_equal(strlen(upn), 13);
	assert_int_equal(upn[12], '7');
	snprintf(want, sizeof want, "for pupil %s: policies/la-846.lua:3: no rule for %s", upn,
		 upn);
	must_say(out, want);
	free(upn);
	must_say(out, "attention: 2 rows from incoming rejected in the last 24 h; the latest, at ");
	must_say(out, "incoming:2: upn \"X\"");
	must_say(out, "(see: rollcall rejected --source incoming --since ");
	snprintf(want, sizeof want, "attention: %lld actions of the last 24 h have no endpoint",
		 pupils_of(e, "355"));
	must_say(out, want);
	must_say(out, "endpoint \"missing\" is not configured");
	/* la:846's deliveries are pending (run --no-deliver), due since they
	 * were recorded a moment ago: not for decades */
	assert_true(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending'") > 0);
	assert_int_equal(e2e_rollcall(e, "status --max-age 3600"), 1);
	if (strstr(out_of(e), "has been due"))
		fail_msg("a delivery recorded a moment ago said to be overdue:\n%s", out_of(e));

	/* the same as JSON, with each policy's record */
	assert_int_equal(e2e_rollcall(e, "status --json"), 1);
	json_error_t jerr;
	json_t *o = json_loads(out_of(e), 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "attention");
	json_t *policies = json_object_get(o, "policies");
	assert_int_equal(json_array_size(policies), 2);
	json_t *p846 = json_array_get(policies, 1);
	assert_string_equal(json_string_value(json_object_get(p846, "org")), "la:846");
	assert_int_equal(json_integer_value(json_object_get(p846, "calls")), n846);
	assert_int_equal(json_integer_value(json_object_get(p846, "failed")), failing);
	assert_true(json_is_true(json_object_get(p846, "loaded")));
	assert_non_null(
		strstr(json_string_value(json_object_get(p846, "last_error")), "stack traceback"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "incoming"),
							    "rejected_recently")),
			 2);
	json_decref(o);

	/* rejected: newest first, with why */
	assert_int_equal(e2e_rollcall(e, "rejected --source incoming"), 0);
	out = out_of(e);
	must_say(out, " incoming:2: upn \"X\": must be 13 characters\n    X,1,2025-13-01,PM,/,,\n");
	must_say(out, " incoming:1: ");
	assert_true(strstr(out, "incoming:2:") < strstr(out, "incoming:1:"));
	assert_int_equal(e2e_rollcall(e, "rejected --json --limit 1"), 0);
	o = json_loads(out_of(e), 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "source")), "incoming");
	assert_int_equal(json_integer_value(json_object_get(o, "line")), 2);
	assert_string_equal(json_string_value(json_object_get(o, "row")), "X,1,2025-13-01,PM,/,,");
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "upn \"X\""));
	json_decref(o);
	char err[1024];
	e2e_slurp(e, "err", err, sizeof err);
	must_say(err, "1 of 2 rejected rows shown");
	assert_int_equal(e2e_rollcall(e, "rejected --source other.csv"), 0);
	assert_int_equal(strlen(out_of(e)), 0);
	assert_int_equal(e2e_rollcall(e, "rejected --since 2099-01-01"), 0);
	assert_int_equal(strlen(out_of(e)), 0);
	assert_int_equal(e2e_rollcall(e, "rejected --since 2000-01-01 --json"), 0);
	assert_int_equal(lines_with(strcat(strcpy(err, e->dir), "/out"), "\"reason\"", NULL), 2);
	assert_int_equal(e2e_rollcall(e, "rejected --since yesterday"), 2);
	assert_int_equal(e2e_rollcall(e, "rejected --limit 0"), 2);

	/* a failure is said while it is in the last batch, or within --recent
	 * (default a day) of now */
	e2e_exec(e, "UPDATE policy_health SET failed = 0, last_failed_at = "
		    "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-2 hours') WHERE org = 'la:846'");
	assert_int_equal(e2e_rollcall(e, "status"), 1);
	must_say(out_of(e), "attention: la:846: a call failed at ");
	assert_int_equal(e2e_rollcall(e, "status --recent 3600"), 1);
	if (strstr(out_of(e), "la:846"))
		fail_msg("a failure 2 h ago said with --recent 3600:\n%s", out_of(e));
	assert_int_equal(e2e_rollcall(e, "status --recent x"), 2);

	/* a new version starts with a clean record: once it has run, nothing
	 * is said of la:846 */
	put_policy(e, "la-846.lua",
		   "policy { org = 'la:846', name = 'Fixed', endpoints = { alert = 'hook' } }\n"
		   "function on_pupil(p) alert(p, 'seen', { cooldown_days = 0 }) end\n");
	assert_int_equal(e2e_rollcall(e, "reevaluate la:846"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(
		e2e_query(e,
			  "SELECT calls = (SELECT count(*) FROM pupils p JOIN schools s ON s.urn "
			  "= p.urn WHERE s.la_code = '846') AND failed = 0 AND last_error IS "
			  "NULL FROM policy_health WHERE org = 'la:846'"),
		1);
	e2e_rollcall(e, "status");
	if (strstr(out_of(e), "la:846"))
		fail_msg("said of a fixed policy:\n%s", out_of(e));
}

/* A draft in the policies directory is never loaded: said, exit 1, even
 * with nothing else to say. */
static void status_names_a_file_that_is_not_a_policy(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 1, 1);
	put_policy(e, "la-355.lua", good355);
	assert_int_equal(e2e_rollcall(e, "status"), 0);
	put_policy(e, "salford.lua", good355); /* the old name, left after a rename */
	assert_int_equal(e2e_rollcall(e, "status"), 1);
	must_say(out_of(e), "attention: policies/salford.lua is not loaded: only la-NNN.lua and "
			    "trust-ID.lua are policies");
}

/* A file put in the database's place under the running service (a backup
 * restored by rename): status, reading the new file, says it is not the
 * one rollcall run opened; once the service has opened it, no more. */
static void status_says_when_the_database_file_was_replaced(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 1, 1);
	put_policy(e, "la-355.lua", good355);
	e2e_daemon_start(e, "--no-deliver");
	assert_int_equal(e2e_rollcall(e, "status"), 0);
	char from[PATH_MAX + 32], to[PATH_MAX + 32], sql[PATH_MAX + 64];
	snprintf(from, sizeof from, "%s/backup.db", e->dir);
	snprintf(sql, sizeof sql, "VACUUM INTO '%s'", from);
	e2e_exec(e, sql);
	snprintf(to, sizeof to, "%s/rollcall.db", e->dir);
	assert_int_equal(rename(from, to), 0);
	/* as a restore does (docs/OPERATIONS.md): the old file's log is not
	 * the new file's */
	snprintf(from, sizeof from, "%s/rollcall.db-wal", e->dir);
	assert_int_equal(unlink(from), 0);
	snprintf(from, sizeof from, "%s/rollcall.db-shm", e->dir);
	assert_int_equal(unlink(from), 0);
	assert_int_equal(e2e_rollcall(e, "status"), 1);
	char *out = out_of(e);
	must_say(out, "attention: rollcall.db is not the file rollcall run last opened");
	assert_int_equal(e2e_daemon_wait(e, 10000), 1); /* it stopped by itself */
	e2e_daemon_start(e, "--no-deliver");
	assert_int_equal(e2e_rollcall(e, "status"), 0);
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 10000), 0);
}

/* ---- schema and version ---- */

static void a_version_5_database_migrates(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 1, 1);
	put_policy(e, "la-355.lua", good355);
	assert_int_equal(e2e_rollcall(e, "import data/marks.csv"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	long long actions = e2e_query(e, "SELECT count(*) FROM actions");
	assert_true(actions > 0);
	assert_int_equal(e2e_query(e, "PRAGMA user_version"), 7);
	/* as version 5 left it: no policy_health, nor 7's sign-off columns and
	 * audit table */
	e2e_exec(e,
		 "DROP TABLE audit; DROP INDEX actions_proposed;"
		 "ALTER TABLE deliveries DROP COLUMN event;"
		 "ALTER TABLE actions DROP COLUMN state; ALTER TABLE actions DROP COLUMN signoff;"
		 "ALTER TABLE actions DROP COLUMN decide_by;"
		 "ALTER TABLE actions DROP COLUMN decided_by;"
		 "ALTER TABLE actions DROP COLUMN decided_at;"
		 "ALTER TABLE actions DROP COLUMN decision;"
		 "ALTER TABLE actions DROP COLUMN support_inappropriate;"
		 "ALTER TABLE actions DROP COLUMN endpoint;"
		 "DROP TABLE policy_health; PRAGMA user_version = 5;");
	assert_int_equal(e2e_rollcall(e, "status"), 1);
	char err[4096];
	e2e_slurp(e, "err", err, sizeof err);
	must_say(err, "schema version 5 is older than 7 (run: rollcall init to migrate)");
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	assert_int_equal(e2e_query(e, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM policy_health"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions"), actions);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM policy_health WHERE org = 'la:355' "
				      "AND loaded = 1 AND load_error IS NULL"),
			 1);
}

static void version_is_printed(void **state)
{
	struct e2e *e = *state;
	assert_int_equal(e2e_rollcall(e, "--version"), 0);
	char *out = out_of(e);
	char want[64];
	snprintf(want, sizeof want, " (database schema %d; SQLite ", DB_SCHEMA_VERSION);
	assert_int_equal(strncmp(out, "rollcall ", 9), 0);
	assert_true(out[9] >= '0' && out[9] <= '9');
	must_say(out, want);
	must_say(out, "Lua 5.4");
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_policy_that_does_not_load_keeps_its_pupils, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_reload_evaluates_the_waiting_pupils_at_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(reevaluate_queues_an_organisation_s_pupils, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			status_names_failed_calls_rejects_and_endpointless_actions, setup,
			teardown),
		cmocka_unit_test_setup_teardown(status_names_a_file_that_is_not_a_policy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(status_says_when_the_database_file_was_replaced,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_version_5_database_migrates, setup, teardown),
		cmocka_unit_test_setup_teardown(version_is_printed, setup, teardown),
	};
	return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
