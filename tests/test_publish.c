/*
 * test_publish.c — publishing an organisation's policy (`rollcall policy`,
 * publish.c), end to end with the real binary on a real SQLite file:
 *
 * - a draft that fails check is refused with every FILE:LINE error (those
 *   found in the text, one met running on_pupil over a stored pupil, one
 *   that stops the load), and nothing is written: no file, no version, no
 *   audit row, no temporary file left;
 * - a publish writes the organisation's own file (la-355.lua) by a rename
 *   (a new inode, nothing left beside it), keeps the version with who
 *   published it and the one it replaced, audits policy.publish with the
 *   sha256 before and after; `run --once` then decides with it, and a
 *   running service reloads it;
 * - a rollback to a kept version rewrites the file and is audited; a
 *   version that is not the organisation's is refused;
 * - a text whose policy{ org } is another organisation's is refused, and
 *   so is an organisation that is not one (no path is made from it);
 * - --if-sha256 that is not the live version is refused (the API's 409);
 * - a params preview gives the figures `rollcall replay --param
 *   --compare` gives over the same days, and refuses a value the
 *   declaration does not allow, naming the param; a draft's check replays
 *   it beside the live version with the figures replay gives for each.
 *
 * The marks: tests/data's pupils over the autumn term of 2025, J absent
 * (unauthorised) every Wednesday and Y every Monday morning.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"
#include "util.h"

#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sys/stat.h>

static const struct {
	const char *upn, *urn;
} pupils[] = {
	{ "J355400120001", "135001" },
	{ "Y355400120002", "135001" },
	{ "H355210120003", "105210" },
	{ "V846410120004", "146410" },
};
enum { J, Y, H, V, PUPILS };

/* The live policy: alerts below a rate of attendance this year. */
static const char live_policy[] =
	"policy { org = 'la:355', name = 'Thresholds', endpoints = {},\n"
	"  params = {\n"
	"    alert_rate = { default = 0.90, min = 0.50, max = 1.00,\n"
	"                   doc = 'alert below this attendance this year' },\n"
	"    min_sessions = { default = 4, min = 1, max = 100, integer = true,\n"
	"                     doc = 'sessions before any alert' } } }\n"
	"function on_pupil(p)\n"
	"  local y = p:window{ academic_year = true }\n"
	"  if y.possible >= param 'min_sessions' and y.rate < param 'alert_rate' then\n"
	"    alert(p, 'low_rate', { severity = 'medium', cooldown_days = 7 })\n"
	"  end\n"
	"end\n";

/* The next version: a higher bar, and another kind, so that what decided
 * an action can be told from what it is. */
static const char next_policy[] =
	"policy { org = 'la:355', name = 'Thresholds', endpoints = {},\n"
	"  params = {\n"
	"    alert_rate = { default = 0.95, min = 0.50, max = 1.00,\n"
	"                   doc = 'alert below this attendance this year' } } }\n"
	"function on_pupil(p)\n"
	"  local y = p:window{ academic_year = true }\n"
	"  if y.possible >= 4 and y.rate < param 'alert_rate' then\n"
	"    alert(p, 'below_rate', { severity = 'medium', cooldown_days = 7 })\n"
	"  end\n"
	"end\n";

/* Two errors check finds in the text (lines 6 and 7), and one on_pupil
 * meets for the stored pupil J alone (line 5: no synthetic pupil has J's
 * UPN). */
static const char broken_policy[] =
	"local national = require 'national'\n"
	"policy { org = 'la:355', name = 'Broken', endpoints = {} }\n"
	"function on_pupil(p)\n"
	"  local t = nil\n"
	"  if p.upn == 'J355400120001' then return t.x end\n"
	"  if national.persistant(p) then alert(p, 'x', { severity = 'low' }) end\n"
	"  if p.year_group == 9 then alert(p, 'y', { severity = 'low' }) end\n"
	"end\n";

/* Does not load: the function is never closed (line 4). */
static const char unloadable_policy[] =
	"policy { org = 'la:355', name = 'Unclosed', endpoints = {} }\n"
	"function on_pupil(p)\n"
	"  if p.year == 9 then\n"
	"    alert(p, 'y', { severity = 'low' })\n";

static const char council_846_policy[] =
	"policy { org = 'la:846', name = 'Brighton', endpoints = {} }\n"
	"function on_pupil(p)\n"
	"end\n";

static const char trust_policy[] =
	"policy { org = 'trust:TR00092', name = 'Harbour', endpoints = {} }\n"
	"function on_pupil(p)\n"
	"  if p:window{ days = 1 }.unauthorised >= 1 then\n"
	"    alert(p, 'absent', { severity = 'low' })\n"
	"  end\n"
	"end\n";

struct env {
	struct e2e *e;
	char out[1 << 20], err[1 << 16];
	char live_sha[65], next_sha[65];
};

static int rc(struct env *v, const char *fmt, ...) PRINTF_LIKE(2, 3);
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

static void sha256_of(const char *text, char out[65])
{
	unsigned char md[32];
	unsigned n;
	assert_int_equal(EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void put(struct env *v, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", v->e->dir, name);
	write_file(path, text);
}

/* The file name in the test's directory, whole (the caller frees), or
 * NULL if there is none. */
static char *slurp(struct env *v, const char *name, struct stat *st)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", v->e->dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (st)
		assert_int_equal(fstat(fileno(f), st), 0);
	char *text = calloc(1, 1 << 20);
	text[fread(text, 1, (1 << 20) - 1, f)] = '\0';
	fclose(f);
	return text;
}

/* The entries of the policies directory but . and .. */
static int policies_entries(struct env *v)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/policies", v->e->dir);
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	for (struct dirent *de; (de = readdir(d));)
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static void write_marks(struct env *v)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/data/marks.csv", v->e->dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("upn,urn,date,session,code,minutes_late\n", f);
	for (int day = day_of("2025-09-01"); day <= day_of("2025-11-28"); day++) {
		char date[11];
		int wd = date_weekday(day);
		if (wd >= 5)
			continue;
		date_format(day, date);
		for (int s = 0; s < 2; s++)
			for (int k = 0; k < PUPILS; k++) {
				const char *code = s ? "\\" : "/";
				if ((k == J && wd == 2) || (k == Y && wd == 0 && s == 0))
					code = k == J ? "O" : "N";
				fprintf(f, "%s,%s,%s,%s,%s,\n", pupils[k].upn, pupils[k].urn, date,
					s ? "PM" : "AM", code);
			}
	}
	assert_int_equal(fclose(f), 0);
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
	write_marks(v);
	assert_int_equal(rc(v, "import data/marks.csv"), 0);
	put(v, "policies/la-355.lua", live_policy);
	sha256_of(live_policy, v->live_sha);
	sha256_of(next_policy, v->next_sha);
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

static long long count(struct env *v, const char *fmt, ...) PRINTF_LIKE(2, 3);
static long long count(struct env *v, const char *fmt, ...)
{
	char sql[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	return e2e_query(v->e, sql);
}

/* Nothing was written: la-355.lua is the live policy still, alone in the
 * directory with no temporary file beside it, and no version or audit row
 * was kept. */
static void nothing_written(struct env *v)
{
	char *text = slurp(v, "policies/la-355.lua", NULL);
	assert_non_null(text);
	assert_string_equal(text, live_policy);
	free(text);
	assert_int_equal(policies_entries(v), 1);
	assert_int_equal(count(v, "SELECT count(*) FROM policy_versions"), 0);
	assert_int_equal(count(v, "SELECT count(*) FROM audit"), 0);
}

static json_t *out_json(struct env *v)
{
	json_error_t e;
	json_t *o = json_loads(v->out, 0, &e);
	if (!o)
		fail_msg("not JSON (%s): %s", e.text, v->out);
	return o;
}

static long long get_int(json_t *o, const char *path)
{
	char key[256];
	snprintf(key, sizeof key, "%s", path);
	json_t *at = o;
	for (char *k = strtok(key, "."); k; k = strtok(NULL, "."))
		at = json_object_get(at, k);
	if (!json_is_integer(at))
		fail_msg("%s: not an integer", path);
	return json_integer_value(at);
}

/* ---- the tests ---- */

static void a_draft_that_fails_check_is_refused_with_every_error(void **state)
{
	struct env *v = *state;
	put(v, "broken.lua", broken_policy);
	assert_int_equal(rc(v, "policy publish la:355 broken.lua --by 'Ann Author'"), 2);
	assert_non_null(strstr(v->err, "broken.lua:6: national.persistant is not defined"));
	assert_non_null(strstr(v->err, "broken.lua:7: p.year_group is a string"));
	assert_non_null(strstr(v->err, "broken.lua:5: attempt to index a nil value"));
	assert_non_null(strstr(v->err, "pupil J355400120001"));
	assert_non_null(strstr(v->err, "nothing was written"));
	/* the temporary file it was checked from is never named */
	assert_null(strstr(v->err, ".la-355.lua."));
	nothing_written(v);

	/* as JSON (the API's 422): each error with its file and line */
	assert_int_equal(rc(v, "policy check la:355 broken.lua --json"), 2);
	json_t *o = out_json(v), *errors = json_object_get(o, "errors");
	assert_string_equal(json_string_value(json_object_get(o, "field")), "text");
	assert_int_equal(json_array_size(errors), 3);
	int lines[3];
	for (int i = 0; i < 3; i++) {
		json_t *e = json_array_get(errors, (size_t)i);
		assert_string_equal(json_string_value(json_object_get(e, "file")), "broken.lua");
		lines[i] = (int)json_integer_value(json_object_get(e, "line"));
	}
	assert_int_equal(lines[0], 6);
	assert_int_equal(lines[1], 7);
	assert_int_equal(lines[2], 5);
	json_t *stored = json_array_get(errors, 2);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(stored, "pupil"), "upn")),
		pupils[J].upn);
	assert_int_equal(json_integer_value(json_object_get(stored, "stored_pupils")), 1);
	json_decref(o);
	nothing_written(v);

	/* a text that does not load: its one error, with its line */
	put(v, "unclosed.lua", unloadable_policy);
	assert_int_equal(rc(v, "policy publish la:355 unclosed.lua --json"), 2);
	o = out_json(v);
	json_t *e = json_array_get(json_object_get(o, "errors"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "file")), "unclosed.lua");
	assert_true(json_integer_value(json_object_get(e, "line")) >= 4);
	assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "'end' expected"));
	json_decref(o);
	nothing_written(v);
}

static void a_publish_writes_the_orgs_file_keeps_the_version_and_audits(void **state)
{
	struct env *v = *state;
	struct stat before, after;
	free(slurp(v, "policies/la-355.lua", &before));
	put(v, "next.lua", next_policy);
	assert_int_equal(rc(v, "policy publish la:355 next.lua --by 'Ann Author' --json"), 0);
	json_t *o = out_json(v);
	assert_string_equal(json_string_value(json_object_get(o, "file")), "la-355.lua");
	assert_string_equal(json_string_value(json_object_get(o, "sha256")), v->next_sha);
	assert_string_equal(json_string_value(json_object_get(o, "previous")), v->live_sha);
	json_decref(o);

	/* the org's own file, replaced whole by a rename: a new inode, and no
	 * temporary file left beside it */
	char *text = slurp(v, "policies/la-355.lua", &after);
	assert_non_null(text);
	assert_string_equal(text, next_policy);
	free(text);
	assert_true(before.st_ino != after.st_ino);
	assert_int_equal(policies_entries(v), 1);

	/* both versions kept, the new one with who published it */
	assert_int_equal(count(v,
			       "SELECT count(*) FROM policy_versions WHERE org = 'la:355' AND "
			       "sha256 = '%s' AND published_by = 'Ann Author' AND text = "
			       "(SELECT text FROM policy_versions WHERE sha256 = '%s')",
			       v->next_sha, v->next_sha),
			 1);
	assert_int_equal(count(v,
			       "SELECT count(*) FROM policy_versions WHERE sha256 = '%s' AND "
			       "published_by IS NULL",
			       v->live_sha),
			 1);
	/* and the audit row, with the sha256 before and after */
	assert_int_equal(count(v,
			       "SELECT count(*) FROM audit WHERE what = 'policy.publish' AND "
			       "org = 'la:355' AND who = 'Ann Author' AND via LIKE 'cli:%%' AND "
			       "before = '%s' AND after = '%s'",
			       v->live_sha, v->next_sha),
			 1);

	/* run --once decides with the published version */
	assert_int_equal(rc(v, "run --once --no-deliver"), 0);
	assert_true(count(v,
			  "SELECT count(*) FROM actions WHERE policy_sha256 = '%s' AND kind = "
			  "'below_rate'",
			  v->next_sha) > 0);
	assert_int_equal(
		count(v, "SELECT count(*) FROM actions WHERE policy_sha256 <> '%s'", v->next_sha),
		0);

	/* show gives the live text and every version */
	assert_int_equal(rc(v, "policy show la:355"), 0);
	assert_string_equal(v->out, next_policy);
	assert_int_equal(rc(v, "policy versions la:355 --json"), 0);
	o = out_json(v);
	assert_int_equal(json_array_size(json_object_get(o, "items")), 2);
	json_decref(o);
}

static void a_running_service_reloads_a_published_policy(void **state)
{
	struct env *v = *state;
	e2e_daemon_start(v->e, "--no-deliver");
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM policy_health WHERE sha256 = '%s'",
		 v->live_sha);
	assert_true(e2e_wait_for(v->e, sql, 1, 10000));
	put(v, "next.lua", next_policy);
	assert_int_equal(rc(v, "policy publish la:355 next.lua"), 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM policy_health WHERE sha256 = '%s'",
		 v->next_sha);
	assert_true(e2e_wait_for(v->e, sql, 1, 10000));
	kill(v->e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(v->e, 10000), 0);
}

static void a_rollback_rewrites_the_file_and_is_audited(void **state)
{
	struct env *v = *state;
	put(v, "next.lua", next_policy);
	assert_int_equal(rc(v, "policy publish la:355 next.lua"), 0);
	/* not a version of la:355's, or of any */
	assert_int_equal(rc(v, "policy rollback la:846 %s", v->live_sha), 2);
	assert_non_null(strstr(v->err, "no kept version of la:846's policy"));
	assert_int_equal(rc(v, "policy rollback la:355 %064d", 0), 2);
	assert_int_equal(count(v, "SELECT count(*) FROM audit"), 1);

	assert_int_equal(rc(v, "policy rollback la:355 %s --by 'Ann Author'", v->live_sha), 0);
	char *text = slurp(v, "policies/la-355.lua", NULL);
	assert_string_equal(text, live_policy);
	free(text);
	assert_int_equal(policies_entries(v), 1);
	assert_int_equal(count(v,
			       "SELECT count(*) FROM audit WHERE what = 'policy.rollback' AND "
			       "who = 'Ann Author' AND before = '%s' AND after = '%s'",
			       v->next_sha, v->live_sha),
			 1);
	assert_int_equal(rc(v, "run --once --no-deliver"), 0);
	assert_true(count(v, "SELECT count(*) FROM actions WHERE policy_sha256 = '%s'",
			  v->live_sha) > 0);
	assert_int_equal(count(v, "SELECT count(*) FROM actions WHERE kind = 'below_rate'"), 0);
}

static void another_organisations_policy_is_refused(void **state)
{
	struct env *v = *state;
	/* la:355's text, published as la:846's: refused, no la-846.lua */
	put(v, "next.lua", next_policy);
	assert_int_equal(rc(v, "policy publish la:846 next.lua --json"), 2);
	json_t *o = out_json(v);
	json_t *e = json_array_get(json_object_get(o, "errors"), 0);
	assert_int_equal(json_integer_value(json_object_get(e, "line")), 1);
	assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "la:355"));
	json_decref(o);
	/* la:846's text as la:355's: refused, la-355.lua unchanged */
	put(v, "brighton.lua", council_846_policy);
	assert_int_equal(rc(v, "policy publish la:355 brighton.lua"), 2);
	assert_non_null(strstr(v->err, "policy{} says org \"la:846\""));
	/* no path is made from what is not an organisation */
	assert_int_equal(rc(v, "policy publish 'la:355/../x' next.lua"), 2);
	assert_int_equal(rc(v, "policy publish trust:../../etc next.lua"), 2);
	nothing_written(v);
	/* a trust publishes its own first file */
	put(v, "harbour.lua", trust_policy);
	assert_int_equal(rc(v, "policy publish trust:TR00092 harbour.lua --if-sha256 none"), 0);
	char *text = slurp(v, "policies/trust-TR00092.lua", NULL);
	assert_non_null(text);
	assert_string_equal(text, trust_policy);
	free(text);
}

static void if_sha256_not_live_is_refused(void **state)
{
	struct env *v = *state;
	put(v, "next.lua", next_policy);
	/* someone published in between: the version read is not live */
	assert_int_equal(rc(v, "policy publish la:355 next.lua --if-sha256 %s --json", v->next_sha),
			 2);
	json_t *o = out_json(v);
	assert_string_equal(json_string_value(json_object_get(o, "sha256")), v->live_sha);
	json_decref(o);
	assert_int_equal(rc(v, "policy publish la:355 next.lua --if-sha256 none"), 2);
	nothing_written(v);
	assert_int_equal(rc(v, "policy publish la:355 next.lua --if-sha256 %s", v->live_sha), 0);
	/* and the same again is now stale */
	assert_int_equal(
		rc(v, "policy rollback la:355 %s --if-sha256 %s", v->live_sha, v->live_sha), 2);
	assert_int_equal(count(v, "SELECT count(*) FROM audit"), 1);
}

/* The summary of `rollcall replay ... --json` (the last line). */
static json_t *replay_summary(struct env *v)
{
	const char *at = strstr(v->out, "{\"summary\"");
	assert_non_null(at);
	json_t *o = json_loads(at, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(o);
	return o;
}

static void a_preview_agrees_with_replay_compare(void **state)
{
	struct env *v = *state;
	assert_int_equal(rc(v, "policy preview la:355 alert_rate=0.85 min_sessions=10 --days 40 "
			       "--json"),
			 0);
	json_t *p = out_json(v);
	char from[11], to[11];
	snprintf(from, sizeof from, "%s", json_string_value(json_object_get(p, "from")));
	snprintf(to, sizeof to, "%s", json_string_value(json_object_get(p, "to")));
	/* the last 40 days up to the latest stored, 28 November */
	assert_string_equal(to, "2025-11-28");
	assert_string_equal(from, "2025-10-20");
	json_t *given = json_object_get(json_object_get(p, "params"), "alert_rate");
	assert_true(json_real_value(json_object_get(given, "value")) == 0.85);
	assert_true(json_real_value(json_object_get(given, "in_force")) == 0.90);
	long long only_proposed = get_int(p, "difference.only_proposed");
	long long only_in_force = get_int(p, "difference.only_in_force");
	assert_true(only_proposed > 0 && only_in_force > 0); /* the values matter */

	/* the same replays, by rollcall replay */
	assert_int_equal(rc(v,
			    "replay --policy policies/la-355.lua --param alert_rate=0.85 "
			    "--param min_sessions=10 --compare policies/la-355.lua --from %s "
			    "--to %s --json",
			    from, to),
			 0);
	const char *at = strstr(v->out, "{\"compare\"");
	assert_non_null(at);
	json_t *c = json_loads(at, JSON_DISABLE_EOF_CHECK, NULL);
	json_t *sides = json_object_get(c, "compare");
	assert_int_equal(get_int(json_array_get(sides, 0), "only"), only_proposed);
	assert_int_equal(get_int(json_array_get(sides, 1), "only"), only_in_force);
	json_decref(c);
	assert_int_equal(rc(v,
			    "replay --policy policies/la-355.lua --param alert_rate=0.85 "
			    "--param min_sessions=10 --from %s --to %s --json",
			    from, to),
			 0);
	json_t *s = replay_summary(v);
	assert_int_equal(get_int(s, "summary.actions.all"), get_int(p, "proposed.actions"));
	assert_int_equal(get_int(s, "summary.pupils.affected"), get_int(p, "proposed.pupils"));
	assert_true(json_equal(json_object_get(json_object_get(s, "summary"), "by_kind"),
			       json_object_get(json_object_get(p, "proposed"), "by_kind")));
	json_decref(s);
	assert_int_equal(
		rc(v, "replay --policy policies/la-355.lua --from %s --to %s --json", from, to), 0);
	s = replay_summary(v);
	assert_int_equal(get_int(s, "summary.actions.all"), get_int(p, "in_force.actions"));
	assert_int_equal(get_int(s, "summary.pupils.affected"), get_int(p, "in_force.pupils"));
	json_decref(s);
	json_decref(p);

	/* values the declaration does not allow: refused, naming the param */
	static const struct {
		const char *arg, *field, *says;
	} bad[] = {
		{ "alert_rate=1.5", "params.alert_rate", "outside the bounds 0.5..1" },
		{ "min_sessions=2.5", "params.min_sessions", "not a whole number" },
		{ "no_such=1", "params.no_such", "declares no param \"no_such\"" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(rc(v, "policy preview la:355 %s --json", bad[i].arg), 2);
		json_t *o = out_json(v);
		assert_string_equal(json_string_value(json_object_get(o, "field")), bad[i].field);
		assert_non_null(
			strstr(json_string_value(json_object_get(o, "error")), bad[i].says));
		json_decref(o);
	}
	assert_int_equal(rc(v, "policy preview la:846 alert_rate=0.9"), 2); /* it has none */
	nothing_written(v);
}

static void a_check_replays_the_draft_beside_the_live_version(void **state)
{
	struct env *v = *state;
	put(v, "next.lua", next_policy);
	assert_int_equal(rc(v, "policy check la:355 next.lua --json"), 0);
	json_t *o = out_json(v), *r = json_object_get(o, "replay");
	assert_int_equal(get_int(r, "days"), 28);
	assert_string_equal(json_string_value(json_object_get(r, "from")), "2025-11-01");
	/* J, Y and H, la:355's pupils with marks, each called once */
	assert_int_equal(get_int(o, "check.stored_calls"), 3);
	assert_int_equal(get_int(r, "difference.only_draft"), get_int(r, "draft.actions"));
	assert_int_equal(get_int(r, "difference.only_live"), get_int(r, "live.actions"));
	assert_true(get_int(r, "draft.actions") > 0);
	assert_int_equal(rc(v, "replay --policy next.lua --from 2025-11-01 --to 2025-11-28 --json"),
			 0);
	json_t *s = replay_summary(v);
	assert_int_equal(get_int(s, "summary.actions.all"), get_int(r, "draft.actions"));
	json_decref(s);
	assert_int_equal(rc(v, "replay --policy policies/la-355.lua --from 2025-11-01 --to "
			       "2025-11-28 --json"),
			 0);
	s = replay_summary(v);
	assert_int_equal(get_int(s, "summary.actions.all"), get_int(r, "live.actions"));
	json_decref(s);
	json_decref(o);
	nothing_written(v);
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			a_draft_that_fails_check_is_refused_with_every_error, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_publish_writes_the_orgs_file_keeps_the_version_and_audits, setup,
			teardown),
		cmocka_unit_test_setup_teardown(a_running_service_reloads_a_published_policy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_rollback_rewrites_the_file_and_is_audited, setup,
						teardown),
		cmocka_unit_test_setup_teardown(another_organisations_policy_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(if_sha256_not_live_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(a_preview_agrees_with_replay_compare, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_check_replays_the_draft_beside_the_live_version,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("publish", tests, NULL, NULL);
}
