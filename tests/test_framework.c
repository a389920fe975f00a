/*
 * test_framework.c — the national framework end to end: the same absence is
 * never fined twice. Brighton and Hove's bundled policy (policies/la-846.lua)
 * fines 10 sessions of term-time holiday in 10 school weeks, with a 70-day
 * cooldown; a holiday in September is still inside the 10-school-week window
 * 77 days later when the window spans the October half term, so the cooldown
 * alone fined one holiday twice. Generated data from September to December,
 * fed day by day into the real binary as the live service receives it,
 * `run --once` after each day, and every legal step proposed that day
 * approved by an officer (`signoff approve`, where the framework is checked
 * again); then, read independently from the CSV: every later approved
 * penalty notice of a pupil has 10 unauthorised sessions in its 10 school
 * weeks on days after the earlier one, and the data did hold pupils whose
 * holiday was still in the window after the cooldown.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"

#define PUPILS 1500
#define DAYS   70 /* school days from 3 September 2024: into December */

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

/* A pupil's marks as the CSV gives them: code text per (day, session). */
struct pupil {
	char upn[14];
	int first, n; /* day of mark[0][*]; days held */
	char mark[200][2][3];
	int notice[8], nnotices; /* penalty notice days */
};

static struct pupil *pupils;
static int npupils;

static struct pupil *find(const char *upn)
{
	for (int i = 0; i < npupils; i++)
		if (!strcmp(pupils[i].upn, upn))
			return &pupils[i];
	return NULL;
}

static void read_marks(const char *path, int first)
{
	FILE *f = fopen(path, "r");
	char line[256], upn[14], date[11], session[3], code[3];
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f)); /* header */
	while (fgets(line, sizeof line, f)) {
		assert_int_equal(sscanf(line, "%13[^,],%*[^,],%10[^,],%2[^,],%2[^,\n]", upn, date,
					session, code),
				 4);
		struct pupil *p = find(upn);
		if (!p) {
			p = &pupils[npupils++];
			snprintf(p->upn, sizeof p->upn, "%s", upn);
			p->first = first;
		}
		int d = day_of(date) - first;
		assert_true(d >= 0 && d < 200);
		snprintf(p->mark[d][strcmp(session, "PM") == 0], 3, "%s", code);
		if (d + 1 > p->n)
			p->n = d + 1;
	}
	fclose(f);
}

/* Independent of rollcall's code table: the unauthorised codes of
 * docs/DATA.md "Attendance codes" (DfE, 2024), and the codes that are no
 * possible session. */
static int unauthorised(const char *c)
{
	return !strcmp(c, "G") || !strcmp(c, "N") || !strcmp(c, "O") || !strcmp(c, "U");
}

static int possible(const char *c)
{
	return c[0] && !strchr("#QXZD", c[0]) && c[0] != 'Y';
}

/* The first day of the last 10 Monday-Sunday weeks up to day `to` that
 * hold a possible session of p (p->first if fewer). */
static int window_from(const struct pupil *p, int to)
{
	int weeks = 0, last_monday = -1;
	for (int d = to - p->first; d >= 0; d--) {
		int day = p->first + d;
		if (!possible(p->mark[d][0]) && !possible(p->mark[d][1]))
			continue;
		if (date_monday(day) != last_monday) {
			last_monday = date_monday(day);
			if (++weeks == 10)
				return last_monday;
		}
	}
	return p->first;
}

/* Sessions in the 10-school-week window ending on day `to`, on days after
 * `after`, that are unauthorised (code NULL) or are code. */
static int count(const struct pupil *p, int to, int after, const char *code)
{
	int n = 0, from = window_from(p, to);
	for (int day = from > after + 1 ? from : after + 1; day <= to; day++)
		for (int s = 0; s < 2; s++) {
			const char *c = p->mark[day - p->first][s];
			n += code ? !strcmp(c, code) : unauthorised(c);
		}
	return n;
}

/* Approve every proposal waiting, as an officer working the queue each
 * day would; returns how many. */
static int approve_all(struct e2e *e)
{
	char path[PATH_MAX + 16], line[1 << 15], args[128];
	long long ids[4096];
	int n = 0;
	assert_int_equal(e2e_rollcall(e, "signoff list --json"), 0);
	snprintf(path, sizeof path, "%s/out", e->dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (n < 4096 && fgets(line, sizeof line, f))
		assert_int_equal(sscanf(line, "{\"action_id\":%lld,", &ids[n++]), 1);
	fclose(f);
	for (int i = 0; i < n; i++) {
		snprintf(args, sizeof args, "signoff approve %lld --by 'A. Officer'", ids[i]);
		assert_int_equal(e2e_rollcall(e, args), 0);
	}
	return n;
}

static void the_same_absence_is_never_fined_twice(void **state)
{
	struct e2e *e = *state;
	char cmd[PATH_MAX * 4];
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && '%s/gen' --pupils %d --days %d --las 846 --start 2024-09-02 "
		 "--out data && mkdir policies days && cp '%s/policies/la-846.lua' policies/ && "
		 "printf \"policies = 'policies'\\nscripts = '%s/scripts'\\n\" >rollcall.conf && "
		 "awk -F, 'NR == 1 { h = $0; next } { f = \"days/\" $3 \".csv\"; "
		 "if (!(f in seen)) { print h > f; seen[f] = 1 } print >> f }' data/marks.csv",
		 e->dir, e2e_build, PUPILS, DAYS, e2e_root, e2e_root);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	assert_int_equal(e2e_rollcall(e, "import data/schools.csv data/pupils.csv"), 0);

	/* day by day, as the registers arrive */
	snprintf(cmd, sizeof cmd, "cd '%s' && ls days", e->dir);
	FILE *list = popen(cmd, "r");
	char name[64];
	int days = 0, approved = 0;
	while (list && fgets(name, sizeof name, list)) {
		char args[128];
		name[strcspn(name, "\n")] = 0;
		snprintf(args, sizeof args, "import days/%s", name);
		assert_int_equal(e2e_rollcall(e, args), 0);
		assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
		approved += approve_all(e);
		days++;
	}
	assert_non_null(list);
	pclose(list);
	assert_int_equal(days, DAYS);

	pupils = calloc(PUPILS, sizeof *pupils);
	npupils = 0;
	snprintf(cmd, sizeof cmd, "%s/data/marks.csv", e->dir);
	read_marks(cmd, day_of("2024-09-01"));
	sqlite3 *db = e2e_db(e);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT upn, day FROM actions WHERE kind = "
					    "'penalty_notice' AND state = 'approved' ORDER BY upn, "
					    "day",
					    -1, &st, NULL),
			 SQLITE_OK);
	int notices = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct pupil *p = find((const char *)sqlite3_column_text(st, 0));
		assert_non_null(p);
		assert_true(p->nnotices < 8);
		p->notice[p->nnotices++] = sqlite3_column_int(st, 1);
		notices++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);

	int twice = 0, exposed = 0;
	for (int i = 0; i < npupils; i++) {
		struct pupil *p = &pupils[i];
		for (int k = 1; k < p->nnotices; k++) {
			twice++;
			int fresh = count(p, p->notice[k], p->notice[k - 1], NULL);
			if (fresh < 10) {
				char a[11], b[11];
				fail_msg("%s: penalty notices on %s and %s, the second with %d "
					 "unauthorised sessions the first did not count",
					 p->upn, date_format(p->notice[k - 1], a),
					 date_format(p->notice[k], b), fresh);
			}
		}
		/* the cooldown had run out while the holiday fined was still in
		 * the window: only the engine's rule stood in the way */
		if (p->nnotices > 0) {
			int last = p->first + p->n - 1, first = p->notice[0];
			for (int day = first + 70; day <= last; day++)
				if (date_weekday(day) < 5 && p->mark[day - p->first][0][0] &&
				    (p->nnotices < 2 || day < p->notice[1]) &&
				    count(p, day, -1, "G") >= 10 &&
				    count(p, day, first, "G") < 10) {
					exposed++;
					break;
				}
		}
	}
	free(pupils);
	print_message("%d legal steps approved, %d penalty notices, %d second notices, %d "
		      "pupils whose holiday outlived the cooldown\n",
		      approved, notices, twice, exposed);
	assert_true(notices >= 20);
	assert_true(exposed >= 1);
}

int main(void)
{
	if (e2e_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(the_same_absence_is_never_fined_twice, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
