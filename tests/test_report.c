/*
 * test_report.c — `rollcall report` end to end: the real binary over the
 * example data (examples/data) after `run --once --no-deliver`, plus a
 * la:355 school whose name tries to end the page's <script>.
 *
 * The figures are checked against an oracle computed here from the marks
 * table (not the registers the report reads) with the code table; the page
 * is checked to carry Chart.js and its licence and nothing from outside,
 * and the UPNs of the organisation's pupils only. Then Debian's headless
 * Chromium opens the file: no console messages, every chart canvas painted
 * in its datasets' colours (page.js counts them into data-ink after drawing;
 * --dump-dom shows the DOM after scripts ran), a screenshot of the page.
 * Chromium runs offline (file://, host resolution off, no background
 * networking) and under `timeout`.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"

#include <jansson.h>
#include <math.h>

#define HOSTILE	 "</script><script>alert(1)</script>"
#define CHROMIUM "/usr/bin/chromium"
#define PAGE_MAX (4 << 20)

static const char *root = e2e_root;

static int setup(void **state)
{
	struct e2e *e = e2e_new();
	char path[PATH_MAX + 32], conf[PATH_MAX * 3], args[PATH_MAX * 6];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(conf, sizeof conf,
		 "database = \"rollcall.db\"\npolicies = \"%s/policies\"\nscripts = "
		 "\"%s/scripts\"\n",
		 root, root);
	write_file(path, conf);
	snprintf(path, sizeof path, "%s/hostile.csv", e->dir);
	write_file(path, "urn,name,la_code\n100099," HOSTILE ",355\n");
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	snprintf(args, sizeof args,
		 "import %s/examples/data/schools.csv hostile.csv %s/examples/data/pupils.csv "
		 "%s/examples/data/marks.csv %s/examples/data/amendments.csv",
		 root, root, root, root);
	assert_int_equal(e2e_rollcall(e, args), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	e2e_free(*state);
	return 0;
}

static char *slurp(struct e2e *e, const char *name)
{
	char *page = malloc(PAGE_MAX);
	e2e_slurp(e, name, page, PAGE_MAX);
	return page;
}

/* The figures page.js draws: the JSON between the data tag and </script>. */
static json_t *page_data(const char *page)
{
	const char *tag = "<script type=\"application/json\" id=\"report-data\">";
	const char *from = strstr(page, tag);
	assert_non_null(from);
	from += strlen(tag);
	const char *to = strstr(from, "</script>");
	assert_non_null(to);
	json_error_t err;
	json_t *data = json_loadb(from, (size_t)(to - from), 0, &err);
	if (!data)
		fail_msg("report data: %s", err.text);
	return data;
}

/* Every pupil's UPN appears on the page if and only if entitled (in the
 * organisation, by the SQL condition mine) and listed; returns how many
 * appear. */
static int upns_shown(struct e2e *e, const char *page, const char *mine)
{
	char sql[512];
	int shown = 0, others = 0;
	sqlite3 *db = e2e_db(e);
	sqlite3_stmt *st;
	snprintf(sql, sizeof sql, "SELECT p.upn, %s FROM pupils p JOIN schools s ON s.urn = p.urn",
		 mine);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *upn = (const char *)sqlite3_column_text(st, 0);
		if (!sqlite3_column_int(st, 1)) {
			others++;
			if (strstr(page, upn))
				fail_msg("%s is not the organisation's pupil but is on the page",
					 upn);
		} else
			shown += strstr(page, upn) != NULL;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_true(others > 0); /* the check checked something */
	return shown;
}

/* The oracle, from marks: per pupil over the academic year, and per week. */
struct oracle {
	int persistent, severe;
	int possible[60], attended[60], absent[60]; /* by week from 2025-09-01 */
	char severe_upns[64][16];
};

static void oracle_for(struct e2e *e, const char *la, struct oracle *o)
{
	enum { MAX_PUPILS = 4096 };
	static int possible[MAX_PUPILS], absent[MAX_PUPILS];
	static char upns[MAX_PUPILS][16];
	memset(o, 0, sizeof *o);
	memset(possible, 0, sizeof possible);
	memset(absent, 0, sizeof absent);
	sqlite3 *db = e2e_db(e);
	sqlite3_stmt *st;
	int monday = date_monday(day_of("2025-09-01"));
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT p.id, p.upn, m.date, m.code FROM marks m JOIN "
					    "pupils p ON p.id = m.pupil JOIN schools s ON s.urn = "
					    "p.urn WHERE s.la_code = ? AND m.date >= '2025-09-01'",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, la, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int id = sqlite3_column_int(st, 0);
		assert_true(id < MAX_PUPILS);
		snprintf(upns[id], sizeof upns[id], "%s", sqlite3_column_text(st, 1));
		int code = code_of((const char *)sqlite3_column_text(st, 3));
		enum category cat = codes_get(code)->category;
		if (cat == CAT_NOT_COUNTED)
			continue;
		int away = cat == CAT_AUTHORISED || cat == CAT_UNAUTHORISED;
		int w = (date_monday(day_of((const char *)sqlite3_column_text(st, 2))) - monday) /
			7;
		possible[id]++;
		absent[id] += away;
		o->possible[w]++;
		o->absent[w] += away;
		o->attended[w] += !away;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	for (int id = 0; id < MAX_PUPILS; id++) {
		if (!possible[id])
			continue;
		o->persistent += absent[id] * 10 >= possible[id]; /* DfE: 10% or more */
		if (absent[id] * 2 >= possible[id]) {		  /* 50% or more */
			assert_true(o->severe < 64);
			memcpy(o->severe_upns[o->severe++], upns[id], 16);
		}
	}
}

static double rate(int part, int whole)
{
	return round(1000.0 * part / whole) / 10.0;
}

static void report_figures_match_the_marks(void **state)
{
	struct e2e *e = *state;
	assert_int_equal(e2e_rollcall(e, "report --org la:355 -o r.html"), 0);
	char *page = slurp(e, "r.html");
	json_t *data = page_data(page);
	struct oracle o;
	oracle_for(e, "355", &o);

	assert_string_equal(json_string_value(json_object_get(data, "org")), "la:355");
	assert_string_equal(json_string_value(json_object_get(data, "academic_year")), "2025/26");
	assert_string_equal(json_string_value(json_object_get(data, "through")), "2025-10-24");
	assert_int_equal(json_integer_value(json_object_get(data, "pupils")), 240);
	json_t *weeks = json_object_get(data, "weeks");
	assert_int_equal(json_array_size(weeks), 8); /* 1 Sep to 24 Oct 2025 */
	assert_string_equal(json_string_value(json_array_get(weeks, 0)), "2025-09-01");
	for (size_t w = 0; w < json_array_size(weeks); w++) {
		assert_true(o.possible[w] > 0);
		double att = json_real_value(
			json_array_get(json_object_get(data, "attendance_rate"), w));
		double abs =
			json_real_value(json_array_get(json_object_get(data, "absence_rate"), w));
		if (fabs(att - rate(o.attended[w], o.possible[w])) > 1e-9 ||
		    fabs(abs - rate(o.absent[w], o.possible[w])) > 1e-9)
			fail_msg("week %zu: %.1f%% / %.1f%%, the marks say %.1f%% / %.1f%%", w, att,
				 abs, rate(o.attended[w], o.possible[w]),
				 rate(o.absent[w], o.possible[w]));
	}
	/* Every pupil has marks in the last week: its counts are the year's. */
	size_t last = json_array_size(weeks) - 1;
	assert_int_equal(
		json_integer_value(json_array_get(json_object_get(data, "persistent"), last)),
		o.persistent);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(data, "severe"), last)),
			 o.severe);
	assert_true(o.persistent > 0 && o.severe > 0);

	/* Schools: the four of la:355 (three and the hostile one), most persistent absence first,
	 * adding up to the pupils in persistent absence. */
	json_t *schools = json_object_get(data, "schools");
	assert_int_equal(json_array_size(schools), 4);
	long long sum = 0, before = 1 << 30;
	for (size_t i = 0; i < json_array_size(schools); i++) {
		long long n = json_integer_value(
			json_object_get(json_array_get(schools, i), "persistent"));
		assert_true(n <= before);
		before = n;
		sum += n;
	}
	assert_int_equal(sum, o.persistent);
	assert_string_equal(json_string_value(json_object_get(json_array_get(schools, 3), "name")),
			    HOSTILE);

	/* Severe absentees: exactly the oracle's. */
	json_t *severe = json_object_get(data, "severe_pupils");
	assert_int_equal(json_array_size(severe), o.severe);
	for (int i = 0; i < o.severe; i++) {
		int found = 0;
		for (size_t k = 0; k < json_array_size(severe); k++)
			found += !strcmp(json_string_value(
						 json_object_get(json_array_get(severe, k), "upn")),
					 o.severe_upns[i]);
		if (found != 1)
			fail_msg("%s is in severe absence but listed %d times", o.severe_upns[i],
				 found);
	}

	/* Actions and open cases add up to the tables'. */
	long long actions = 0, cases = 0;
	json_t *series, *n;
	size_t i, k;
	json_array_foreach(json_object_get(data, "actions"), i, series)
		json_array_foreach(json_object_get(series, "weeks"), k, n) actions +=
		json_integer_value(n);
	json_array_foreach(json_object_get(data, "cases"), i, series) cases +=
		json_integer_value(json_object_get(series, "count"));
	assert_int_equal(actions,
			 e2e_query(e, "SELECT count(*) FROM actions WHERE org = 'la:355'"));
	assert_int_equal(cases, e2e_query(e, "SELECT count(*) FROM cases WHERE org = 'la:355' AND "
					     "closed IS NULL"));
	assert_true(actions > 0 && cases > 0);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(data, "cases"), 0), "stage")),
			    "referral");
	json_decref(data);
	free(page);
}

static void report_is_self_contained_and_private(void **state)
{
	struct e2e *e = *state;
	/* it lists pupils: the owner's alone, also over a file others could read */
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/r.html", e->dir);
	write_file(path, "old");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(e2e_rollcall(e, "report --org la:355 -o r.html"), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char *page = slurp(e, "r.html");

	/* Chart.js inside, with its licence; nothing loaded from elsewhere. */
	assert_non_null(strstr(page, "Chart.js v4.5.1"));
	assert_non_null(strstr(page, "Permission is hereby granted, free of charge"));
	assert_non_null(strstr(page, "Copyright (c) 2014-2024 Chart.js Contributors"));
	assert_null(strstr(page, "<script src"));
	assert_null(strstr(page, "<link"));
	assert_null(strstr(page, "src=\"http"));
	assert_null(strstr(page, "href=\"http"));
	assert_null(strstr(page, "@import"));

	/* The school's name is data, never markup. */
	assert_null(strstr(page, HOSTILE));
	assert_null(strstr(page, "<script>alert(1)"));
	assert_non_null(strstr(page, "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)"));

	/* UPNs: la:355's severe absentees, and no pupil of another council. */
	assert_true(upns_shown(e, page, "s.la_code = '355'") > 0);
	free(page);

	/* A trust sees its schools' pupils only, including one in la:846. */
	assert_int_equal(e2e_rollcall(e, "report --org trust:TR00001"), 0);
	page = slurp(e, "report-trust-TR00001.html");
	assert_true(upns_shown(e, page, "coalesce(s.trust_id = 'TR00001', 0)") > 0);
	free(page);

	/* -o - is standard output; usage errors exit 2. */
	assert_int_equal(e2e_rollcall(e, "report --org la:846 -o -"), 0);
	page = slurp(e, "out");
	assert_non_null(strstr(page, "<title>Attendance report: la:846</title>"));
	assert_true(upns_shown(e, page, "s.la_code = '846'") > 0);
	free(page);
	assert_int_equal(e2e_rollcall(e, "report --org la:999 -o x.html"), 2);
	assert_int_equal(e2e_rollcall(e, "report --org la:35 -o x.html"), 2);
	assert_int_equal(e2e_rollcall(e, "report"), 2);
	assert_int_equal(e2e_rollcall(e, "report --org la:355 --nosuch"), 2);
}

/* Chromium, offline and bounded: args then the page; stdout to out_name,
 * stderr to chromium.err. Returns the exit status. */
static int chromium(struct e2e *e, const char *args, const char *out_name)
{
	char cmd[PATH_MAX * 4];
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && timeout 60 " CHROMIUM
		 " --headless=new --no-sandbox --disable-gpu --no-first-run"
		 " --disable-background-networking --disable-component-update --disable-sync"
		 " --disable-default-apps --host-resolver-rules='MAP * ~NOTFOUND'"
		 " --user-data-dir='%s/chromium' --hide-scrollbars --window-size=1200,2000"
		 " --virtual-time-budget=5000 --enable-logging=stderr --v=0 %s"
		 " 'file://%s/r.html' >%s 2>chromium.err",
		 e->dir, e->dir, args, e->dir, out_name);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void report_renders_in_chromium(void **state)
{
	struct e2e *e = *state;
	if (access(CHROMIUM, X_OK) != 0)
		fail_msg(CHROMIUM " is missing: tools/deps installs Debian's chromium");
	assert_int_equal(e2e_rollcall(e, "report --org la:355 -o r.html"), 0);
	long long started = e2e_now_ms();

	assert_int_equal(chromium(e, "--dump-dom", "dom.html"), 0);
	char *dom = slurp(e, "dom.html");
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/chromium.err", e->dir);
	if (lines_with(path, "CONSOLE", NULL)) {
		char *err = slurp(e, "chromium.err");
		fail_msg("console messages:\n%s", err);
	}
	assert_non_null(strstr(dom, "data-report=\"drawn\""));
	/* Each of the five charts painted in its datasets' colours. */
	int canvases = 0;
	for (const char *p = dom; (p = strstr(p, "data-ink=\"")); canvases++) {
		p += strlen("data-ink=\"");
		long ink = strtol(p, NULL, 10);
		if (ink < 100)
			fail_msg("canvas %d has %ld pixels of its data", canvases + 1, ink);
	}
	assert_int_equal(canvases, 5);
	/* The hostile name is shown as text in the schools table. */
	assert_non_null(
		strstr(dom, "<td>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</td>"));
	free(dom);

	assert_int_equal(chromium(e, "--screenshot=shot.png", "shot.out"), 0);
	snprintf(path, sizeof path, "%s/shot.png", e->dir);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	unsigned char head[24];
	assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fclose(f);
	assert_memory_equal(head, "\x89PNG\r\n\x1a\n", 8);
	/* IHDR: width and height, big-endian */
	assert_int_equal(head[16] << 24 | head[17] << 16 | head[18] << 8 | head[19], 1200);
	assert_int_equal(head[20] << 24 | head[21] << 16 | head[22] << 8 | head[23], 2000);
	assert_true(size > 50000); /* a blank 1200x2000 PNG is a few kB */
	print_message("chromium: %lld ms for both runs\n", e2e_now_ms() - started);
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(report_figures_match_the_marks, setup, teardown),
		cmocka_unit_test_setup_teardown(report_is_self_contained_and_private, setup,
						teardown),
		cmocka_unit_test_setup_teardown(report_renders_in_chromium, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
