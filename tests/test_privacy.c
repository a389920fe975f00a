/*
 * test_privacy.c — personal data, end to end: the real rollcall binary on a
 * real SQLite file.
 *
 * - a decision is explainable after its policy file changed twice:
 *   `explain` shows the original text around the line that recorded it,
 *   the params in force then (not now), and re-decides the same; `export`
 *   holds that text and those params, is mode 0600, is audited, and is
 *   valid against docs/schemas/export.json (a JSON Schema validator:
 *   python3-jsonschema, Draft 2020-12; a document missing a part is
 *   refused by it, so the check can fail);
 * - retention over eight years of generated history removes exactly what
 *   is past its time — marks over 6 years old and their amendments,
 *   registers of years wholly past, old actions with their deliveries,
 *   attempts and audit rows, closed cases, old payloads, old rejected
 *   rows — never an open case's action nor a proposal waiting, leaves
 *   every mark under 6 years, and leaves `status` and the figures of
 *   every pupil as they were; --dry-run counts what goes; the audit row
 *   counts it; a second run removes nothing; the service does it too;
 *   marks_years under 6 is a config error naming the regulation;
 * - the export of each pupil of the demo data (examples/data, evaluated by
 *   the bundled policies) names no other pupil's UPN, also when a person's
 *   note does (it is removed and counted), and an organisation's export
 *   holds only its own pupils;
 * - `erase` is refused while a legal step is open, and otherwise removes
 *   the pupil and everything about them, audited without their UPN.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"
#include "db.h"
#include "export.h"
#include "upn.h"

#include <jansson.h>

#define OUT_MAX (1 << 22)

static void make_upn(char out[14], const char *digits12)
{
	out[0] = upn_check_letter(digits12);
	memcpy(out + 1, digits12, 12);
	out[13] = '\0';
	assert_true(upn_valid(out, 13));
}

static void configure(struct e2e *e, const char *policies, const char *extra)
{
	char path[PATH_MAX + 32], conf[PATH_MAX * 3];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(conf, sizeof conf, "policies = \"%s\"\nscripts = \"%s/scripts\"\n%s\n", policies,
		 e2e_root, extra);
	write_file(path, conf);
}

static void put(struct e2e *e, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", e->dir, name);
	write_file(path, text);
}

static json_t *load_out(struct e2e *e, const char *name)
{
	char *out = malloc(OUT_MAX);
	e2e_slurp(e, name, out, OUT_MAX);
	json_error_t err;
	json_t *o = json_loads(out, 0, &err);
	if (!o)
		fail_msg("%s: not JSON: %s", name, err.text);
	free(out);
	return o;
}

/* Validate e->dir/name against docs/schemas/export.json with a real JSON
 * Schema validator; returns its exit status (0: valid). */
static int validate(struct e2e *e, const char *name)
{
	char cmd[PATH_MAX * 3];
	snprintf(cmd, sizeof cmd,
		 "python3 -c 'import json, sys, jsonschema; "
		 "s = json.load(open(sys.argv[1])); "
		 "jsonschema.Draft202012Validator.check_schema(s); "
		 "jsonschema.Draft202012Validator(s).validate(json.load(open(sys.argv[2])))' "
		 "'%s/docs/schemas/export.json' '%s/%s' 2>'%s/validate.err'",
		 e2e_root, e->dir, name, e->dir);
	int status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* ---- a decision explained after its policy changed twice ---- */

static const char policy_v1[] =
	"-- la-355.lua, version one\n"
	"policy { org = \"la:355\", name = \"Test council\",\n"
	"  params = { alert_rate = { default = 0.90, min = 0.10, max = 1.00,\n"
	"                            doc = \"alert below this\" } } }\n"
	"function on_pupil(p)\n"
	"  local w = p:window{ sessions = 20 }\n"
	"  -- version one's test: half the sessions missed is below the line\n"
	"  if w.possible >= 10 and w.rate < param \"alert_rate\" then\n"
	"    alert(p, \"low_attendance\", { severity = \"high\", message = \"version one\" })\n"
	"  end\n"
	"end\n";
#define V1_LINE 9 /* of the alert call */

static const char policy_v2[] =
	"-- la-355.lua, version two\n"
	"policy { org = \"la:355\", name = \"Test council\",\n"
	"  params = { alert_rate = { default = 0.90, min = 0.10, max = 1.00,\n"
	"                            doc = \"alert below this\" } } }\n"
	"function on_pupil(p)\n"
	"  local w = p:window{ school_weeks = 2 }\n"
	"  if w.rate < param \"alert_rate\" - 0.1 then\n"
	"    alert(p, \"attendance_two\", { message = \"version two\" })\n"
	"  end\n"
	"end\n";

static const char policy_v3[] =
	"-- la-355.lua, version three\n"
	"policy { org = \"la:355\", name = \"Test council\",\n"
	"  params = { alert_rate = { default = 0.90, min = 0.10, max = 1.00,\n"
	"                            doc = \"alert below this\" } } }\n"
	"function on_pupil(p)\n"
	"  if p:window{ days = 7 }.unauthorised > 100 then\n"
	"    alert(p, \"attendance_three\")\n"
	"  end\n"
	"end\n";

/* One primary school of la:355 with pupils a and b, and later more pupils
 * after them, ten weekdays of marks from Monday 8 September 2025: a misses
 * every afternoon, b and the later ones are present at every session. */
static void small_school(struct e2e *e, char a[14], char b[14], int later)
{
	char path[PATH_MAX + 32], pupils[4096], marks[1 << 16];
	make_upn(a, "355400120011");
	make_upn(b, "355400120012");
	snprintf(path, sizeof path, "%s/policies", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	configure(e, "policies", "");
	put(e, "schools.csv", "urn,name,la_code,trust_id,phase\n135001,Test School,355,,primary\n");
	size_t np = (size_t)snprintf(pupils, sizeof pupils,
				     "upn,urn,year_group,social_worker,sen,fsm\n");
	size_t nm = (size_t)snprintf(marks, sizeof marks, "upn,urn,date,session,code\n");
	for (int i = -2; i < later; i++) {
		char digits[13], upn[14];
		if (i < 0)
			snprintf(upn, sizeof upn, "%s", i == -2 ? a : b);
		else {
			snprintf(digits, sizeof digits, "3554001202%02d", i);
			make_upn(upn, digits);
		}
		np += (size_t)snprintf(pupils + np, sizeof pupils - np, "%s,135001,5,0,N,0\n", upn);
		for (int day = day_of("2025-09-08"), k = 0; k < 10; day++) {
			char date[11];
			if (date_weekday(day) >= 5)
				continue;
			date_format(day, date);
			nm += (size_t)snprintf(marks + nm, sizeof marks - nm,
					       "%s,135001,%s,AM,/\n%s,135001,%s,PM,%s\n", upn, date,
					       upn, date, i == -2 ? "O" : "\\");
			k++;
		}
	}
	put(e, "pupils.csv", pupils);
	put(e, "marks.csv", marks);
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	assert_int_equal(e2e_rollcall(e, "import schools.csv pupils.csv marks.csv"), 0);
}

static void a_decision_is_explained_after_its_policy_changed_twice(void **state)
{
	(void)state;
	struct e2e *e = e2e_new();
	char a[14], b[14], sql[512], args[256];
	small_school(e, a, b, 0);
	put(e, "policies/la-355.lua", policy_v1);
	/* in force when decided: 0.6 (a's rate is 0.5) */
	assert_int_equal(e2e_rollcall(e, "params la:355 alert_rate=0.6"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions"), 1);
	long long id = e2e_query(e, "SELECT id FROM actions WHERE kind = 'low_attendance'");
	assert_int_equal(e2e_query(e, "SELECT line FROM actions"), V1_LINE);

	/* then the threshold (at 0.3, a's 0.5 would not be below it) and the
	 * file change, twice, each version loaded by the service */
	assert_int_equal(e2e_rollcall(e, "params la:355 alert_rate=0.3"), 0);
	put(e, "policies/la-355.lua", policy_v2);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	put(e, "policies/la-355.lua", policy_v3);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM policy_versions"), 3);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions"), 1);

	snprintf(args, sizeof args, "explain %lld --json", id);
	assert_int_equal(e2e_rollcall(e, args), 0);
	json_t *x = load_out(e, "out");
	json_t *policy = json_object_get(x, "policy"), *line;
	assert_true(json_is_true(json_object_get(policy, "kept")));
	int called = 0, comment = 0;
	size_t i;
	json_array_foreach(json_object_get(policy, "lines"), i, line)
	{
		const char *text = json_string_value(json_object_get(line, "text"));
		if (json_is_true(json_object_get(line, "called"))) {
			called++;
			assert_int_equal(json_integer_value(json_object_get(line, "line")),
					 V1_LINE);
			assert_non_null(strstr(text, "alert(p, \"low_attendance\""));
		}
		comment += strstr(text, "version one's test") != NULL;
	}
	assert_int_equal(called, 1);
	assert_int_equal(comment, 1);
	assert_true(json_real_value(json_object_get(json_object_get(x, "params"), "alert_rate")) ==
		    0.6);
	json_t *rerun = json_object_get(x, "rerun");
	assert_true(json_is_true(json_object_get(rerun, "ran")));
	assert_true(json_is_true(json_object_get(rerun, "same")));
	assert_int_equal(json_array_size(json_object_get(rerun, "differences")), 0);
	json_decref(x);
	snprintf(args, sizeof args, "explain %lld", id);
	assert_int_equal(e2e_rollcall(e, args), 0);
	char out[1 << 16];
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "decides the same"));
	assert_non_null(strstr(out, "version one's test"));
	assert_int_equal(e2e_rollcall(e, "explain 999"), 2);

	/* a version tampered with after it was kept is said to be, not re-run */
	snprintf(sql, sizeof sql,
		 "UPDATE policy_versions SET text = replace(text, '0.90', '0.95') WHERE sha256 = "
		 "(SELECT policy_sha256 FROM actions WHERE id = %lld)",
		 id);
	e2e_exec(e, "BEGIN");
	/* (kept aside and put back: the export below reads the real one) */
	e2e_exec(e, "CREATE TABLE kept AS SELECT * FROM policy_versions");
	e2e_exec(e, sql);
	snprintf(args, sizeof args, "explain %lld", id);
	assert_int_equal(e2e_rollcall(e, args), 1);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "does not hash to the recorded sha256"));
	e2e_exec(e, "DELETE FROM policy_versions; INSERT INTO policy_versions SELECT * FROM kept; "
		    "DROP TABLE kept");

	/* the export: that text, those params */
	snprintf(args, sizeof args, "export %s -o a.json", a);
	assert_int_equal(e2e_rollcall(e, args), 0);
	char path[PATH_MAX + 32];
	struct stat st;
	snprintf(path, sizeof path, "%s/a.json", e->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	json_t *doc = load_out(e, "a.json");
	assert_string_equal(json_string_value(json_object_get(doc, "format")), "rollcall.export/1");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(doc, "pupil"), "upn")), a);
	assert_int_equal(json_array_size(json_object_get(doc, "marks")), 20);
	json_t *versions = json_object_get(doc, "policy_versions");
	assert_int_equal(json_array_size(versions), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(versions, 0), "text")),
			    policy_v1);
	json_t *act = json_array_get(json_object_get(doc, "actions"), 0);
	assert_true(json_real_value(
			    json_object_get(json_object_get(act, "params"), "alert_rate")) == 0.6);
	assert_int_equal(json_integer_value(json_object_get(act, "line")), V1_LINE);
	assert_int_equal(json_array_size(json_object_get(act, "deliveries")), 1);
	json_decref(doc);
	assert_int_equal(validate(e, "a.json"), 0);
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM audit WHERE what = 'pupil.export' AND detail = '%s'", a);
	assert_int_equal(e2e_query(e, sql), 1);

	/* the validator does refuse what is not an export */
	doc = load_out(e, "a.json");
	json_object_del(doc, "marks");
	snprintf(path, sizeof path, "%s/bad.json", e->dir);
	assert_int_equal(json_dump_file(doc, path, 0), 0);
	json_decref(doc);
	assert_int_not_equal(validate(e, "bad.json"), 0);

	/* b has no action: an export with none, still valid */
	snprintf(args, sizeof args, "export %s -o b.json", b);
	assert_int_equal(e2e_rollcall(e, args), 0);
	assert_int_equal(validate(e, "b.json"), 0);
	assert_int_equal(e2e_rollcall(e, "export B000000000000"), 2);
	e2e_free(e);
}

/* ---- retention over eight years ---- */

/* A proposal approved after an action: the action is explained with the
 * record as it stood, which had no case (the approval opened it later). */
static const char policy_case[] =
	"policy { org = \"la:355\", name = \"Test council\" }\n"
	"function on_pupil(p)\n"
	"  if p:window{ sessions = 20 }.unauthorised >= 5 then\n"
	"    legal_step(p, \"letter\", { reason = \"unauthorised absence\" })\n"
	"  end\n"
	"  alert(p, p.case and \"with_case\" or \"no_case\", { cooldown_days = 0 })\n"
	"end\n";

static void an_action_before_an_approval_is_explained_without_its_case(void **state)
{
	(void)state;
	struct e2e *e = e2e_new();
	char a[14], b[14], args[256];
	small_school(e, a, b, 0);
	put(e, "policies/la-355.lua", policy_case);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	/* the next school day, evaluated while the letter waits for a decision */
	snprintf(args, sizeof args, "upn,urn,date,session,code\n%s,135001,2025-09-22,AM,O\n", a);
	put(e, "day.csv", args);
	assert_int_equal(e2e_rollcall(e, "import day.csv"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	long long proposal = e2e_query(e, "SELECT id FROM actions WHERE state = 'proposed'");
	long long alert = e2e_query(e, "SELECT max(id) FROM actions WHERE kind = 'no_case'");
	assert_true(proposal > 0 && alert > proposal);
	/* times are kept to the second: the decision comes in a later one */
	sleep_ms(1100);
	snprintf(args, sizeof args, "signoff approve %lld --by 'A. Officer'", proposal);
	assert_int_equal(e2e_rollcall(e, args), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases WHERE closed IS NULL"), 1);
	snprintf(args, sizeof args, "explain %lld --json", alert);
	int status = e2e_rollcall(e, args);
	json_t *x = load_out(e, "out");
	json_t *rerun = json_object_get(x, "rerun");
	if (status != 0) {
		char *text = json_dumps(rerun, JSON_COMPACT);
		fail_msg("explain exits %d: %s", status, text);
	}
	assert_true(json_is_true(json_object_get(rerun, "ran")));
	if (!json_is_true(json_object_get(rerun, "same"))) {
		char *text = json_dumps(rerun, JSON_COMPACT);
		fail_msg("re-run differs: %s", text);
	}
	json_decref(x);
	e2e_free(e);
}

/* What a run cut short (or running beside this one) removed is counted by
 * the next audit row, once: the tally is added to, never overwritten. */
static void a_tally_left_is_counted_once(void **state)
{
	(void)state;
	struct e2e *e = e2e_new();
	char a[14], b[14];
	small_school(e, a, b, 0);
	e2e_exec(e, "INSERT INTO meta(key, value) VALUES ('retention_tally', '{\"rejected\":7}')");
	assert_int_equal(e2e_rollcall(e, "retention"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit WHERE what = 'retention' AND "
				      "json_extract(detail, '$.rejected') = 7"),
			 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM meta WHERE key = 'retention_tally'"),
			 0);
	assert_int_equal(e2e_rollcall(e, "retention"), 0); /* nothing more to count */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit WHERE what = 'retention'"), 1);

	/* the console's sign-ins that ended and its links past their day go
	 * after payloads_days; a session in use stays */
	e2e_exec(e, "INSERT INTO console_sessions VALUES ('a', 1, '2020-01-01T00:00:00Z', "
		    "1577836800, '2020-01-01T01:00:00Z'), ('b', 1, '2020-01-01T00:00:00Z', "
		    "1577836800, NULL), ('c', 1, '2026-01-01T00:00:00Z', strftime('%s', 'now'), "
		    "NULL); INSERT INTO console_links VALUES ('d', 1, '2020-01-01T00:00:00Z', "
		    "1577923200, NULL), ('e', 1, '2026-01-01T00:00:00Z', strftime('%s', 'now') + "
		    "86400, NULL)");
	assert_int_equal(e2e_rollcall(e, "retention"), 0);
	char *left = e2e_text(e, "SELECT group_concat(sha256) FROM (SELECT sha256 FROM "
				 "console_sessions UNION ALL SELECT sha256 FROM console_links)");
	assert_string_equal(left, "c,e");
	free(left);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit WHERE what = 'retention' AND "
				      "json_extract(detail, '$.sessions') = 2 AND "
				      "json_extract(detail, '$.links') = 1"),
			 1);
	e2e_free(e);
}

static void counts_of(const char *out, char *lines, size_t size)
{
	/* the count lines ("  what   N"), without the header or the summary */
	size_t n = 0;
	lines[0] = '\0';
	for (const char *s = out; *s;) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		if (len > 2 && s[0] == ' ' && s[1] == ' ' && n + len + 2 < size) {
			memcpy(lines + n, s, len);
			n += len;
			lines[n++] = '\n';
			lines[n] = '\0';
		}
		s += len + (nl != NULL);
	}
}

static json_t *figures(struct e2e *e, const char *upn)
{
	char args[64];
	snprintf(args, sizeof args, "pupil %s --json", upn);
	assert_int_equal(e2e_rollcall(e, args), 0);
	json_t *p = load_out(e, "out");
	json_t *f = json_pack("{s:O, s:O, s:O, s:O}", "last", json_object_get(p, "last"), "windows",
			      json_object_get(p, "windows"), "consecutive_absent_days",
			      json_object_get(p, "consecutive_absent_days"),
			      "consecutive_unauthorised_days",
			      json_object_get(p, "consecutive_unauthorised_days"));
	json_decref(p);
	return f;
}

static json_t *status(struct e2e *e, int *rc)
{
	*rc = e2e_rollcall(e, "status --json");
	json_t *s = load_out(e, "out");
	json_t *o = json_pack("{s:O, s:O}", "status", json_object_get(s, "status"), "attention",
			      json_object_get(s, "attention"));
	json_decref(s);
	return o;
}

static long long detail_count(json_t *detail, const char *key)
{
	json_t *v = json_object_get(detail, key);
	if (!json_is_integer(v))
		fail_msg("retention detail: %s missing", key);
	return (long long)json_integer_value(v);
}

static void retention_removes_exactly_what_is_past_its_time(void **state)
{
	(void)state;
	struct e2e *e = e2e_new();
	char upn[3][14], path[PATH_MAX + 32], sql[4096], cut[11];
	const char *digits[3] = { "355400120021", "355400120022", "355400120023" };
	snprintf(path, sizeof path, "%s/policies", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	configure(e, "policies", "");
	put(e, "schools.csv", "urn,name,la_code,trust_id,phase\n135001,Test School,355,,primary\n");
	FILE *f;
	snprintf(path, sizeof path, "%s/pupils.csv", e->dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("upn,urn,year_group,social_worker,sen,fsm\n", f);
	for (int i = 0; i < 3; i++) {
		make_upn(upn[i], digits[i]);
		fprintf(f, "%s,135001,%d,0,N,0\n", upn[i], 4 + i);
	}
	fclose(f);
	/* every weekday from 3 September 2018 to yesterday: eight years and
	 * more, with an unauthorised afternoon every seventh day */
	int today = date_today(), rows = 0;
	snprintf(path, sizeof path, "%s/marks.csv", e->dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("upn,urn,date,session,code\n", f);
	for (int day = day_of("2018-09-03"); day < today; day++) {
		char date[11];
		if (date_weekday(day) >= 5)
			continue;
		date_format(day, date);
		for (int i = 0; i < 3; i++) {
			fprintf(f, "%s,135001,%s,AM,/\n%s,135001,%s,PM,%s\n", upn[i], date, upn[i],
				date, (day + i) % 7 ? "\\" : "N");
			rows += 2;
		}
	}
	fclose(f);
	char amend[512], recent[11];
	date_format(today - 30 - (date_weekday(today - 30) >= 5 ? 2 : 0), recent);
	snprintf(amend, sizeof amend,
		 "upn,urn,date,session,code\n%s,135001,2019-01-07,AM,I\n%s,135001,%s,AM,I\n",
		 upn[0], upn[0], recent);
	put(e, "amend.csv", amend);
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	assert_int_equal(e2e_rollcall(e, "import schools.csv pupils.csv marks.csv"), 0);
	assert_int_equal(e2e_rollcall(e, "import amend.csv"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks"), rows);

	/* what the actions side holds: see each row's comment */
	snprintf(
		sql, sizeof sql,
		"INSERT INTO cases(id, org, pupil, stage, opened, closed, close_reason, "
		"referral_open) VALUES (1, 'la:355', 1, 'referral', '2019-05-01', '2019-06-01', "
		"'recovered', 0), (2, 'la:355', 1, 'referral', '2019-05-01', NULL, NULL, 1);"
		"INSERT INTO actions(id, org, pupil, action, kind, severity, date, day, policy, "
		"policy_sha256, case_id, upn, urn, year_group, created_at, state) VALUES "
		/* old, no case: goes */
		"(1, 'la:355', 1, 'alert', 'low', 'high', '2019-05-01', 0, 'la-355.lua', 'ab', "
		"NULL, '%s', 135001, '4', '2019-05-01T10:00:00Z', NULL),"
		/* old, its case closed long ago: goes, and the case */
		"(2, 'la:355', 1, 'referral', 'mentor', 'medium', '2019-05-01', 0, 'la-355.lua', "
		"'ab', 1, '%s', 135001, '4', '2019-05-01T10:00:00Z', NULL),"
		/* old, its case still open: stays */
		"(3, 'la:355', 1, 'referral', 'mentor', 'medium', '2019-05-01', 0, 'la-355.lua', "
		"'ab', 2, '%s', 135001, '4', '2019-05-01T10:00:00Z', NULL),"
		/* old, a proposal waiting: stays */
		"(4, 'la:355', 1, 'legal_step', 'letter', 'medium', '2019-05-02', 0, "
		"'la-355.lua', 'ab', NULL, '%s', 135001, '4', '2019-05-02T10:00:00Z', "
		"'proposed'),"
		"(6, 'la:355', 1, 'alert', 'low', 'high', date('now', '-200 days'), 0, "
		"'la-355.lua', 'ab', NULL, '%s', 135001, '4', strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', "
		"'now', '-200 days'), NULL),"
		"(7, 'la:355', 1, 'alert', 'low', 'high', date('now', '-10 days'), 0, "
		"'la-355.lua', 'ab', NULL, '%s', 135001, '4', strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', "
		"'now', '-10 days'), NULL),"
		/* old, with a delivery still to send: stays until it is sent */
		"(8, 'la:355', 1, 'alert', 'low', 'high', '2019-05-03', 0, 'la-355.lua', 'ab', "
		"NULL, '%s', 135001, '4', '2019-05-03T10:00:00Z', NULL);"
		"INSERT INTO deliveries(id, action_id, endpoint, webhook_id, state, attempts, "
		"last_error, body, created_at) VALUES "
		"(1, 1, 'x', 'w1', 'delivered', 1, NULL, '{\"old\":1}', '2019-05-01T10:00:00Z'),"
		/* 200 days old, dead: its body and error go, the row stays */
		"(2, 6, 'x', 'w2', 'dead', 3, 'HTTP 500', '{\"b\":2}', "
		"strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now', '-200 days')),"
		"(3, 7, 'x', 'w3', 'delivered', 1, NULL, '{\"c\":3}', "
		"strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now', '-10 days')),"
		/* 200 days old but still pending: it will send that body */
		"(4, 6, 'x', 'w4', 'pending', 1, 'timeout', '{\"d\":4}', "
		"strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now', '-200 days')),"
		"(5, 8, 'x', 'w5', 'pending', 0, NULL, NULL, '2019-05-03T10:00:00Z');"
		/* (due tomorrow: `status` has nothing to say of it that changes by the second) */
		"UPDATE deliveries SET next_attempt_at = (strftime('%%s', 'now') + 86400) * 1000 "
		"WHERE id IN (4, 5);"
		"INSERT INTO delivery_attempts(delivery, at, status, duration_ms, response) VALUES "
		"(1, '2019-05-01T10:00:01Z', 200, 5, 'ok'),"
		"(2, strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now', '-200 days'), 500, 5, 'boom'),"
		"(3, strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now', '-10 days'), 200, 5, 'fine');"
		"INSERT INTO audit(at, who, via, org, what, action_id, detail) VALUES "
		"('2019-05-02T00:00:00Z', 'o', 'cli:o', 'la:355', 'signoff.approve', 2, 'note'),"
		"('2019-05-02T00:00:00Z', 'o', 'cli:o', 'la:355', 'pupil.export', NULL, '%s'),"
		"(strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now'), 'o', 'cli:o', 'la:355', "
		"'pupil.export', NULL, '%s');"
		"INSERT INTO rejected(source, line, row, reason, rejected_at) VALUES "
		"('old.csv', 2, 'x', 'bad', strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now', '-100 "
		"days')), ('new.csv', 2, 'y', 'bad', strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now'));",
		upn[0], upn[0], upn[0], upn[0], upn[0], upn[0], upn[0], upn[0], upn[0]);
	e2e_exec(e, sql);

	/* six years before today: what is dated before it goes */
	int y, m, d;
	date_to_ymd(today, &y, &m, &d);
	date_format(date_from_ymd(y - 6, m, d == 29 && m == 2 ? 28 : d), cut);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM marks WHERE date < '%s'", cut);
	long long old_marks = e2e_query(e, sql);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM marks WHERE date >= '%s'", cut);
	long long young_marks = e2e_query(e, sql);
	assert_true(old_marks > 2000 && young_marks > 8000);
	/* the registers of the years that ended before the cut */
	int first_kept = m >= 9 ? y - 6 : y - 7;
	snprintf(sql, sizeof sql, "SELECT count(*) FROM registers WHERE id < (%d << 32)",
		 first_kept);
	long long old_registers = e2e_query(e, sql);
	assert_int_equal(old_registers, 3 * (first_kept - 2018));

	json_t *before[3];
	for (int i = 0; i < 3; i++)
		before[i] = figures(e, upn[i]);
	int status_before, status_after;
	json_t *st_before = status(e, &status_before);

	char out[1 << 16], dry[4096], done[4096];
	assert_int_equal(e2e_rollcall(e, "retention --dry-run"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	counts_of(out, dry, sizeof dry);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks"), rows); /* dry: nothing */

	assert_int_equal(e2e_rollcall(e, "retention"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	counts_of(out, done, sizeof done);
	if (strcmp(dry, done))
		fail_msg("dry run:\n%s\nrun:\n%s", dry, done);
	/* the measurement, for the report: the longest a transaction held the lock */
	const char *held = strstr(out, " transactions; ");
	while (held && held > out && held[-1] != '\n')
		held--;
	print_message("retention: %s", held ? held : out);

	/* exactly what was past its time */
	snprintf(sql, sizeof sql, "SELECT count(*) FROM marks WHERE date < '%s'", cut);
	assert_int_equal(e2e_query(e, sql), 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM marks WHERE date >= '%s'", cut);
	assert_int_equal(e2e_query(e, sql), young_marks);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM mark_history"), 1);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM registers WHERE id < (%d << 32)",
		 first_kept);
	assert_int_equal(e2e_query(e, sql), 0);
	char *ids =
		e2e_text(e, "SELECT group_concat(id) FROM (SELECT id FROM actions ORDER BY id)");
	assert_string_equal(ids, "3,4,6,7,8");
	free(ids);
	ids = e2e_text(e, "SELECT group_concat(id) FROM (SELECT id FROM cases ORDER BY id)");
	assert_string_equal(ids, "2");
	free(ids);
	ids = e2e_text(e, "SELECT group_concat(id || ':' || coalesce(body, '-') || ':' || "
			  "coalesce(last_error, '-')) FROM (SELECT * FROM deliveries ORDER BY id)");
	assert_string_equal(ids, "2:-:-,3:{\"c\":3}:-,4:{\"d\":4}:timeout,5:-:-");
	free(ids);
	ids = e2e_text(e, "SELECT group_concat(delivery || ':' || coalesce(response, '-')) FROM "
			  "(SELECT * FROM delivery_attempts ORDER BY id)");
	assert_string_equal(ids, "2:-,3:fine");
	free(ids);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit WHERE what <> 'retention'"), 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM rejected"), 1);

	/* counted in the audit trail */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit WHERE what = 'retention'"), 1);
	char *detail = e2e_text(e, "SELECT detail FROM audit WHERE what = 'retention'");
	json_t *counts = json_loads(detail, 0, NULL);
	assert_non_null(counts);
	free(detail);
	assert_int_equal(detail_count(counts, "marks"), old_marks);
	assert_int_equal(detail_count(counts, "amendments"), 1);
	assert_int_equal(detail_count(counts, "registers"), old_registers);
	assert_int_equal(detail_count(counts, "actions"), 2);
	assert_int_equal(detail_count(counts, "deliveries"), 1);
	assert_int_equal(detail_count(counts, "attempts"), 1);
	assert_int_equal(detail_count(counts, "audit"), 1);
	assert_int_equal(detail_count(counts, "cases"), 1);
	assert_int_equal(detail_count(counts, "export_audit"), 1);
	assert_int_equal(detail_count(counts, "bodies"), 1);
	assert_int_equal(detail_count(counts, "responses"), 1);
	assert_int_equal(detail_count(counts, "rejected"), 1);
	json_decref(counts);

	/* figures and status as they were */
	for (int i = 0; i < 3; i++) {
		json_t *after = figures(e, upn[i]);
		if (!json_equal(before[i], after)) {
			char *x = json_dumps(before[i], JSON_COMPACT),
			     *z = json_dumps(after, JSON_COMPACT);
			fail_msg("%s's figures changed:\n%s\n%s", upn[i], x, z);
		}
		json_decref(after);
		json_decref(before[i]);
	}
	json_t *st_after = status(e, &status_after);
	assert_int_equal(status_before, status_after);
	if (!json_equal(st_before, st_after)) {
		char *x = json_dumps(st_before, JSON_COMPACT),
		     *z = json_dumps(st_after, JSON_COMPACT);
		fail_msg("status changed:\n%s\n%s", x, z);
	}
	json_decref(st_before);
	json_decref(st_after);

	/* again: nothing more to remove, no audit row for nothing */
	assert_int_equal(e2e_rollcall(e, "retention"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit WHERE what = 'retention'"), 1);

	/* fewer than six years is refused, naming the law */
	configure(e, "policies", "retention = { marks_years = 5 }");
	assert_int_equal(e2e_rollcall(e, "retention --dry-run"), 2);
	e2e_slurp(e, "err", out, sizeof out);
	assert_non_null(strstr(out, "rollcall.conf:"));
	assert_non_null(strstr(out, "School Attendance (Pupil Registration) (England) Regulations "
				    "2024, reg 7"));
	configure(e, "policies", "retention = { actions_years = 2 }");
	assert_int_equal(e2e_rollcall(e, "status"), 2);

	/* the service does it: a row past its time goes at start */
	configure(e, "policies", "retention = { marks_years = 6, payloads_days = 30 }");
	e2e_exec(e, "INSERT INTO rejected(source, line, row, reason, rejected_at) VALUES "
		    "('late.csv', 2, 'z', 'bad', '2020-01-01T00:00:00Z')");
	e2e_daemon_start(e, "--no-deliver");
	assert_true(
		e2e_wait_for(e, "SELECT count(*) FROM audit WHERE what = 'retention'", 2, 10000));
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 10000), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM rejected"), 1);
	e2e_free(e);
}

/* ---- the demo's pupils: no export names another ---- */

static struct e2e *demo(void)
{
	struct e2e *e = e2e_new();
	char policies[PATH_MAX + 16], args[PATH_MAX * 5];
	snprintf(policies, sizeof policies, "%s/policies", e2e_root);
	configure(e, policies, "");
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	snprintf(args, sizeof args,
		 "import %s/examples/data/marks.csv %s/examples/data/pupils.csv "
		 "%s/examples/data/schools.csv",
		 e2e_root, e2e_root, e2e_root);
	assert_int_equal(e2e_rollcall(e, args), 0);
	snprintf(args, sizeof args, "import %s/examples/data/amendments.csv", e2e_root);
	assert_int_equal(e2e_rollcall(e, args), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	return e;
}

/* The first valid UPN in s other than own, into other; 0 if none. */
static int other_upn(const char *s, const char *own, char other[14])
{
	for (size_t i = 0; s[i] && s[i + 1]; i++)
		if (strlen(s + i) >= 13 && upn_valid(s + i, 13) && strncmp(s + i, own, 13)) {
			memcpy(other, s + i, 13);
			other[13] = '\0';
			return 1;
		}
	return 0;
}

static void no_export_names_another_pupil(void **state)
{
	(void)state;
	struct e2e *e = demo();
	char args[512], path[PATH_MAX + 32], other[14];
	assert_true(e2e_query(e, "SELECT count(*) FROM actions") > 100);
	/* a person's note naming another pupil */
	long long id = e2e_query(e, "SELECT min(id) FROM actions WHERE state = 'proposed'");
	char *noted = e2e_text(e, "SELECT upn FROM actions WHERE id = (SELECT min(id) FROM actions "
				  "WHERE state = 'proposed')");
	char *sibling = e2e_text(e, "SELECT max(upn) FROM pupils");
	snprintf(args, sizeof args,
		 "signoff approve %lld --by \"A. Officer\" --note \"sibling of %s, see there\"", id,
		 sibling);
	assert_int_equal(e2e_rollcall(e, args), 0);

	struct db db;
	snprintf(path, sizeof path, "%s/rollcall.db", e->dir);
	assert_int_equal(db_open(&db, path, DB_READONLY), 0);
	sqlite3_stmt *st;
	assert_int_equal(
		sqlite3_prepare_v2(db.h, "SELECT upn FROM pupils ORDER BY id", -1, &st, NULL),
		SQLITE_OK);
	int pupils = 0, with_actions = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *upn = (const char *)sqlite3_column_text(st, 0);
		json_t *doc;
		assert_int_equal(export_pupil(&db, upn, NULL, &doc), 0);
		char *text = json_dumps(doc, JSON_COMPACT);
		if (other_upn(text, upn, other))
			fail_msg("the export of %s names %s", upn, other);
		with_actions += json_array_size(json_object_get(doc, "actions")) > 0;
		long long redacted = json_integer_value(json_object_get(doc, "redacted"));
		if (!strcmp(upn, noted)) { /* the note: in the action, and in the audit row */
			assert_int_equal(redacted, 2);
			assert_non_null(strstr(text, EXPORT_REDACTED));
		} else {
			assert_int_equal(redacted, 0);
		}
		free(text);
		json_decref(doc);
		pupils++;
	}
	sqlite3_finalize(st);
	assert_int_equal(pupils, 480);
	assert_true(with_actions > 50);

	/* an organisation's export: its own pupils only, and only its rows */
	json_t *doc;
	assert_int_equal(export_pupil(&db, noted, "la:846", &doc), EXPORT_NOT_FOUND);
	assert_int_equal(export_pupil(&db, noted, "la:355", &doc), 0);
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(doc, "actions"), i, a)
	{
		assert_string_equal(json_string_value(json_object_get(a, "org")), "la:355");
	}
	json_decref(doc);
	db_close(&db);

	/* the CLI's, with the legal step and its sign-off: valid, audited */
	snprintf(args, sizeof args, "export %s -o noted.json", noted);
	assert_int_equal(e2e_rollcall(e, args), 0);
	assert_int_equal(validate(e, "noted.json"), 0);
	doc = load_out(e, "noted.json");
	assert_true(json_array_size(json_object_get(doc, "audit")) >= 1);
	json_decref(doc);
	snprintf(args, sizeof args, "export %s --org trust:TR00001", noted);
	assert_int_equal(e2e_rollcall(e, args), 2);
	free(noted);
	free(sibling);
	e2e_free(e);
}

/* ---- erase ---- */

/* A pupil erased while a batch decides for them: nothing is recorded for
 * them after they are gone (the batch is decided again without them). The
 * policy says in the log which pupil it is deciding, and takes a tenth of
 * a second or so a call (well inside the sandbox's second a call: a call
 * stopped would record nothing either, and prove nothing); the erased
 * pupil is decided first, and LATER pupils after them (one organisation's
 * pupils are decided in order, on one thread), so the erase, started once
 * the log names the pupil, lands after the batch's snapshot and seconds
 * before its recording. */
#define LATER 20
static const char policy_slow[] = "policy { org = \"la:355\", name = \"Test council\" }\n"
				  "function on_pupil(p)\n"
				  "  log(\"deciding\", p.upn)\n"
				  "  if p.upn ~= \"%s\" then\n"
				  "    local x = 0\n"
				  "    for i = 1, 20000000 do x = x + i end\n"
				  "  end\n"
				  "  alert(p, \"seen\", { cooldown_days = 0 })\n"
				  "end\n";

static void a_pupil_erased_during_a_batch_gets_nothing(void **state)
{
	(void)state;
	struct e2e *e = e2e_new();
	char a[14], b[14], args[256], sql[256], policy[512];
	small_school(e, a, b, LATER);
	configure(e, "policies", "limits = { policy_instructions = 1000000000 }");
	/* b is not slow: the later pupils make the window */
	snprintf(policy, sizeof policy, policy_slow, b);
	put(e, "policies/la-355.lua", policy);
	e2e_daemon_start(e, "--no-deliver");
	assert_true(e2e_wait_lines(e->daemon_log, "deciding", a, 1, 30000));
	snprintf(args, sizeof args, "erase %s --reason 'wrong school'", a);
	assert_int_equal(e2e_rollcall(e, args), 0);
	/* the window was not missed: the batch has recorded nothing yet */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions"), 0);
	assert_true(e2e_wait_for(e, "SELECT count(*) FROM actions", 1 + LATER, 120000));
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 30000), 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM actions WHERE upn = '%s'", a);
	assert_int_equal(e2e_query(e, sql), 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM actions WHERE upn = '%s'", b);
	assert_int_equal(e2e_query(e, sql), 1);
	assert_int_equal(
		lines_with(e->daemon_log, "pupils changed while the batch was decided", NULL), 1);
	/* no call was stopped: each decided, a's for nothing */
	assert_int_equal(lines_with(e->daemon_log, "wall-clock", NULL), 0);
	assert_int_equal(lines_with(e->daemon_log, "level=error", NULL), 0);
	e2e_free(e);
}

static void erase_removes_a_pupil_unless_a_legal_step_is_open(void **state)
{
	(void)state;
	struct e2e *e = demo();
	char args[512], sql[1024], out[4096];
	/* a pupil with a proposal waiting: refused, nothing changed */
	char *upn = e2e_text(e, "SELECT upn FROM actions WHERE state = 'proposed' ORDER BY id "
				"LIMIT 1");
	long long id = e2e_query(e, "SELECT id FROM actions WHERE state = 'proposed' ORDER BY id "
				    "LIMIT 1");
	long long pupil = e2e_query(e, "SELECT pupil FROM actions WHERE state = 'proposed' ORDER "
				       "BY id LIMIT 1");
	long long marks = e2e_query(e, "SELECT count(*) FROM marks");
	snprintf(args, sizeof args, "erase %s --reason \"wrong school's file\"", upn);
	assert_int_equal(e2e_rollcall(e, args), 2);
	e2e_slurp(e, "err", out, sizeof out);
	assert_non_null(strstr(out, "waits for a decision"));
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks"), marks);

	/* approved, the case is at a legal stage: still refused */
	snprintf(args, sizeof args, "signoff approve %lld --by \"A. Officer\"", id);
	assert_int_equal(e2e_rollcall(e, args), 0);
	/* decided since, it is still re-decided as it was proposed: the record
	 * as it stood then had no approval in it */
	snprintf(args, sizeof args, "explain %lld", id);
	assert_int_equal(e2e_rollcall(e, args), 0);
	snprintf(args, sizeof args, "erase %s --reason \"wrong school's file\"", upn);
	assert_int_equal(e2e_rollcall(e, args), 2);
	e2e_slurp(e, "err", out, sizeof out);
	if (!strstr(out, "a case open at a legal stage (letter)"))
		fail_msg("%s", out);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM pupils WHERE id = %lld", pupil);
	assert_int_equal(e2e_query(e, sql), 1);

	/* a pupil with actions but no legal step open: erased, all of it */
	char *gone = e2e_text(e, "SELECT upn FROM pupils p WHERE EXISTS (SELECT 1 FROM actions a "
				 "WHERE a.pupil = p.id) AND NOT EXISTS (SELECT 1 FROM actions a "
				 "WHERE a.pupil = p.id AND a.action = 'legal_step') ORDER BY id "
				 "LIMIT 1");
	snprintf(sql, sizeof sql, "SELECT id FROM pupils WHERE upn = '%s'", gone);
	pupil = e2e_query(e, sql);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM marks WHERE (id & 4294967295) = %lld",
		 pupil);
	long long own = e2e_query(e, sql);
	assert_true(own > 0);
	snprintf(args, sizeof args, "erase %s --reason \"imported from %s's school by mistake\"",
		 gone, gone);
	assert_int_equal(e2e_rollcall(e, args), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks"), marks - own);
	const char *tables[] = {
		"SELECT count(*) FROM marks WHERE (id & 4294967295) = %lld",
		"SELECT count(*) FROM registers WHERE (id & 4294967295) = %lld",
		"SELECT count(*) FROM mark_history WHERE (mark & 4294967295) = %lld",
		"SELECT count(*) FROM actions WHERE pupil = %lld",
		"SELECT count(*) FROM cases WHERE pupil = %lld",
		"SELECT count(*) FROM changes WHERE pupil = %lld",
		"SELECT count(*) FROM deferred WHERE pupil = %lld",
		"SELECT count(*) FROM pupils WHERE id = %lld",
		"SELECT count(*) FROM deliveries WHERE action_id NOT IN (SELECT id FROM actions) "
		"AND %lld > 0",
	};
	for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
		snprintf(sql, sizeof sql, tables[i], pupil);
		if (e2e_query(e, sql))
			fail_msg("after erase: %s", sql);
	}
	/* audited, with the reason but never the UPN */
	char *detail = e2e_text(e, "SELECT detail FROM audit WHERE what = 'pupil.erase'");
	assert_null(strstr(detail, gone));
	assert_non_null(strstr(detail, "imported from [UPN]'s school by mistake"));
	assert_non_null(strstr(detail, "\"marks\":"));
	free(detail);
	snprintf(args, sizeof args, "export %s", gone);
	assert_int_equal(e2e_rollcall(e, args), 2);
	snprintf(args, sizeof args, "pupil %s", gone);
	assert_int_not_equal(e2e_rollcall(e, args), 0);
	/* the others' figures and actions are untouched: the run sees nothing new */
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_rollcall(e, "erase B000000000000 --reason x"), 2);
	snprintf(args, sizeof args, "erase %s", upn);
	assert_int_equal(e2e_rollcall(e, args), 2); /* no reason */
	free(upn);
	free(gone);
	e2e_free(e);
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_decision_is_explained_after_its_policy_changed_twice),
		cmocka_unit_test(an_action_before_an_approval_is_explained_without_its_case),
		cmocka_unit_test(retention_removes_exactly_what_is_past_its_time),
		cmocka_unit_test(a_tally_left_is_counted_once),
		cmocka_unit_test(no_export_names_another_pupil),
		cmocka_unit_test(erase_removes_a_pupil_unless_a_legal_step_is_open),
		cmocka_unit_test(a_pupil_erased_during_a_batch_gets_nothing),
	};
	return cmocka_run_group_tests_name("privacy", tests, NULL, NULL);
}
