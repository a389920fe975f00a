/*
 * test_stats.c — the figures a policy sees, on hand-built registers: every
 * window kind, weeks of only `#`, half-term gaps, not-counted sessions inside
 * a window, and consecutive-day runs across weekends and closures. Expected
 * numbers are worked out by hand in the comments.
 */
#include "testutil.h"
#include "stats.h"

static struct history h;

static void fresh(const char *first_september)
{
	history_free(&h);
	memset(&h, 0, sizeof h);
	h.first_day = day_of(first_september);
	h.complete = 1;
	assert_int_equal(history_reserve(&h, 2 * 800), 0);
	memset(h.slot, 0, h.cap);
}

static void mark(const char *date, int session, const char *code)
{
	int i = 2 * (day_of(date) - h.first_day) + session;
	assert_true(i >= 0 && (size_t)i < h.cap);
	h.slot[i] = (uint8_t)code_of(code);
	if (i + 1 > h.nslots)
		h.nslots = i + 1;
}

/* Weekdays from..to (inclusive) get am and pm. */
static void weekdays(const char *from, const char *to, const char *am, const char *pm)
{
	char d[11];
	for (int day = day_of(from); day <= day_of(to); day++)
		if (date_weekday(day) < 5) {
			mark(date_format(day, d), 0, am);
			mark(d, 1, pm);
		}
}

static struct figures window(enum window_kind kind, int n)
{
	struct window w = { .kind = kind, .n = n, .since = n };
	struct figures f;
	assert_int_equal(stats_window(&h, &w, &f), 0);
	return f;
}

static void dates(const struct figures *f, const char *from, const char *to)
{
	assert_int_equal(f->from, day_of(from));
	assert_int_equal(f->to, day_of(to));
}

/* Week of 1 Sep 2025: Mon-Tue present, Wed N N, Thu I L, Fri / \. */
static void one_week(void)
{
	fresh("2025-09-01");
	weekdays("2025-09-01", "2025-09-05", "/", "\\");
	mark("2025-09-03", 0, "N");
	mark("2025-09-03", 1, "N");
	mark("2025-09-04", 0, "I");
	mark("2025-09-04", 1, "L");
}

static void sessions_window_counts_the_last_n_possible(void **state)
{
	(void)state;
	one_week();
	/* Fri \ /, Thu L I: present 3 (L is present), authorised 1, late 1 */
	struct figures f = window(WINDOW_SESSIONS, 4);
	assert_int_equal(f.possible, 4);
	assert_int_equal(f.present, 3);
	assert_int_equal(f.authorised, 1);
	assert_int_equal(f.unauthorised, 0);
	assert_int_equal(f.late, 1);
	assert_true(f.rate == 0.75);
	dates(&f, "2025-09-04", "2025-09-05");
	assert_int_equal(f.codes[code_of("L")], 1);
	assert_int_equal(f.codes[code_of("/")], 1);

	/* more sessions than exist: everything there is */
	f = window(WINDOW_SESSIONS, 100);
	assert_int_equal(f.possible, 10);
	dates(&f, "2025-09-01", "2025-09-05");

	/* a not-counted session inside the span is counted as not_counted */
	mark("2025-09-05", 1, "#");
	f = window(WINDOW_SESSIONS, 2); /* Fri AM /, [Fri PM #], Thu PM L */
	assert_int_equal(f.possible, 2);
	assert_int_equal(f.not_counted, 1);
	assert_int_equal(f.present, 2);
}

static void days_window_is_calendar_days(void **state)
{
	(void)state;
	one_week();
	/* Wed-Fri: present / \ L = 3, authorised I = 1, unauthorised N N = 2 */
	struct figures f = window(WINDOW_DAYS, 3);
	assert_int_equal(f.possible, 6);
	assert_int_equal(f.present, 3);
	assert_int_equal(f.authorised, 1);
	assert_int_equal(f.unauthorised, 2);
	assert_true(f.rate == 0.5);
	assert_true(f.absence_rate == 0.5);
	dates(&f, "2025-09-03", "2025-09-05");
}

static void school_weeks_skip_weeks_of_only_closures(void **state)
{
	(void)state;
	fresh("2025-09-01");
	weekdays("2025-09-01", "2025-09-05", "/", "\\");
	weekdays("2025-09-08", "2025-09-12", "#", "#"); /* closed all week */
	weekdays("2025-09-15", "2025-09-19", "/", "N");
	/* the closed week is not a school week: 2 weeks reach back to 1 Sep */
	struct figures f = window(WINDOW_SCHOOL_WEEKS, 2);
	dates(&f, "2025-09-01", "2025-09-19");
	assert_int_equal(f.possible, 20);
	assert_int_equal(f.not_counted, 10);
	assert_int_equal(f.present, 15);
	assert_int_equal(f.unauthorised, 5);
	f = window(WINDOW_SCHOOL_WEEKS, 1);
	dates(&f, "2025-09-15", "2025-09-19");
	assert_int_equal(f.possible, 10);
}

static void school_weeks_and_days_across_a_half_term(void **state)
{
	(void)state;
	fresh("2025-09-01");
	weekdays("2025-10-20", "2025-10-24", "/", "\\");
	/* half-term 27-31 Oct: no marks at all */
	weekdays("2025-11-03", "2025-11-07", "O", "\\");
	struct figures f = window(WINDOW_SCHOOL_WEEKS, 2);
	dates(&f, "2025-10-20", "2025-11-07");
	assert_int_equal(f.possible, 20);
	assert_int_equal(f.unauthorised, 5);
	/* 14 calendar days back from 7 Nov start on 25 Oct: only the last week */
	f = window(WINDOW_DAYS, 14);
	dates(&f, "2025-10-25", "2025-11-07");
	assert_int_equal(f.possible, 10);
	f = window(WINDOW_SINCE, day_of("2025-10-22"));
	assert_int_equal(f.possible, 16); /* Wed-Fri (6) + the week after (10) */
	/* a since after the latest mark is an empty window */
	f = window(WINDOW_SINCE, day_of("2025-12-01"));
	assert_int_equal(f.possible, 0);
	assert_true(f.rate == 0);
}

static void windows_span_two_academic_years(void **state)
{
	(void)state;
	fresh("2024-09-01");
	weekdays("2025-07-14", "2025-07-18", "G", "G"); /* holiday in term time */
	weekdays("2025-09-01", "2025-09-05", "/", "\\");
	struct figures f = window(WINDOW_SCHOOL_WEEKS, 2);
	dates(&f, "2025-07-14", "2025-09-05");
	assert_int_equal(f.possible, 20);
	assert_int_equal(f.unauthorised, 10);
	assert_int_equal(f.codes[code_of("G")], 10);
	/* the academic year starts on 1 September */
	f = window(WINDOW_ACADEMIC_YEAR, 0);
	dates(&f, "2025-09-01", "2025-09-05");
	assert_int_equal(f.possible, 10);
	assert_int_equal(f.unauthorised, 0);
	f = window(WINDOW_SESSIONS, 12);
	dates(&f, "2025-07-18", "2025-09-05");
	assert_int_equal(f.unauthorised, 2);
}

static void no_marks_no_figures(void **state)
{
	(void)state;
	fresh("2025-09-01");
	struct figures f = window(WINDOW_ACADEMIC_YEAR, 0);
	assert_int_equal(f.possible, 0);
	assert_int_equal(f.from, -1);
	int a, u;
	assert_int_equal(stats_consecutive(&h, &a, &u), 0);
	assert_int_equal(a + u, 0);
	struct window bad = { .kind = WINDOW_SESSIONS, .n = 0 };
	assert_int_equal(stats_window(&h, &bad, &f), -1);
}

/* Counting back from Wed 17 Sep: Wed O O, Tue # # (skipped), Mon I I, the
 * weekend (skipped), Mon-Fri N N of the week before, then present. */
static void consecutive_days_across_weekends_and_closures(void **state)
{
	(void)state;
	fresh("2025-09-01");
	weekdays("2025-09-01", "2025-09-05", "/", "\\");
	weekdays("2025-09-08", "2025-09-12", "N", "N");
	mark("2025-09-15", 0, "I");
	mark("2025-09-15", 1, "I");
	mark("2025-09-16", 0, "#");
	mark("2025-09-16", 1, "#");
	mark("2025-09-17", 0, "O");
	mark("2025-09-17", 1, "O");
	int absent, unauthorised;
	assert_int_equal(stats_consecutive(&h, &absent, &unauthorised), 0);
	assert_int_equal(absent, 7);	   /* Wed, Mon, and five days of N */
	assert_int_equal(unauthorised, 1); /* Mon's illness is authorised */

	/* a half-day of presence breaks both runs */
	mark("2025-09-18", 0, "/");
	mark("2025-09-18", 1, "N");
	assert_int_equal(stats_consecutive(&h, &absent, &unauthorised), 0);
	assert_int_equal(absent, 0);
	assert_int_equal(unauthorised, 0);

	/* a latest mark of only the AM counts the day on that session */
	mark("2025-09-19", 0, "G");
	assert_int_equal(stats_consecutive(&h, &absent, &unauthorised), 0);
	assert_int_equal(absent, 1);
	assert_int_equal(unauthorised, 1);
}

static void unauthorised_run_over_a_weekend(void **state)
{
	(void)state;
	fresh("2025-09-01");
	weekdays("2025-09-01", "2025-09-03", "/", "\\");
	weekdays("2025-09-04", "2025-09-09", "N", "O"); /* Thu, Fri, Mon, Tue */
	mark("2025-09-06", 0, "Y4");			/* a Saturday mark that is not possible */
	int absent, unauthorised;
	assert_int_equal(stats_consecutive(&h, &absent, &unauthorised), 0);
	assert_int_equal(absent, 4);
	assert_int_equal(unauthorised, 4);
	struct figures f = window(WINDOW_ACADEMIC_YEAR, 0);
	assert_int_equal(f.not_counted, 1);
	assert_int_equal(f.possible, 14);
}

static int teardown(void **state)
{
	(void)state;
	history_free(&h);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sessions_window_counts_the_last_n_possible),
		cmocka_unit_test(days_window_is_calendar_days),
		cmocka_unit_test(school_weeks_skip_weeks_of_only_closures),
		cmocka_unit_test(school_weeks_and_days_across_a_half_term),
		cmocka_unit_test(windows_span_two_academic_years),
		cmocka_unit_test(no_marks_no_figures),
		cmocka_unit_test(consecutive_days_across_weekends_and_closures),
		cmocka_unit_test(unauthorised_run_over_a_weekend),
	};
	return cmocka_run_group_tests_name("stats", tests, NULL, teardown);
}
