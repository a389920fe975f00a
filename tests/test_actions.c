/*
 * test_actions.c — the rules that hold whatever a policy says: the repeat
 * cooldown, one open referral, case stages, and the national framework's
 * penalty-notice refusals (DfE, from 19 August 2024), the threshold a
 * penalty notice needs among them: 10 unauthorised sessions in 10 school
 * weeks that no earlier notice counted.
 */
#include "testutil.h"
#include "actions.h"

struct fixture {
	char *dir;
	struct db db;
	struct actions a;
	struct history h; /* pupil 7's marks, up to the day acted on */
};

/* Pupil 7's history up to and including day to: every weekday session in
 * the days before it unauthorised (O), back to from, and present (/)
 * before that, from the 1 September before from. */
static void history(struct fixture *fx, int from, int to)
{
	struct history *h = &fx->h;
	h->first_day = date_academic_start(from);
	h->complete = 1;
	h->nslots = 2 * (to - h->first_day + 1);
	assert_int_equal(history_reserve(h, (size_t)h->nslots), 0);
	memset(h->slot, 0, (size_t)h->nslots);
	for (int day = h->first_day; day <= to; day++)
		if (date_weekday(day) < 5)
			h->slot[2 * (day - h->first_day)] = h->slot[2 * (day - h->first_day) + 1] =
				(uint8_t)code_of(day >= from ? "O" : "/");
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	char path[512];
	fx->dir = temp_dir();
	snprintf(path, sizeof path, "%s/t.db", fx->dir);
	assert_int_equal(db_open(&fx->db, path, 1), 0);
	assert_int_equal(db_migrate(&fx->db), 0);
	assert_int_equal(actions_open(&fx->a, &fx->db, NULL), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	actions_close(&fx->a);
	history_free(&fx->h);
	db_close(&fx->db);
	remove_tree(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

static char why[256];

static int act(struct fixture *fx, enum action_type type, const char *kind, const char *date,
	       int cooldown, int support_inappropriate)
{
	struct action_request r = {
		.org = "la:355",
		.policy = "test.lua",
		.policy_sha256 = "0123",
		.pupil = 7,
		.upn = "B801200005001",
		.urn = 100001,
		.year_group = "9",
		.type = type,
		.kind = kind,
		.severity = "medium",
		.cooldown_days = cooldown,
		.support_inappropriate = support_inappropriate,
		.date = day_of(date),
		.history = &fx->h,
	};
	/* two weeks of unauthorised absence up to the day: the threshold met
	 * by sessions no earlier notice here counted */
	history(fx, r.date - 13, r.date);
	return actions_record(&fx->a, &r, why, sizeof why);
}

/* close_case: an action too, with the reason as its message */
static int close_case(struct fixture *fx, const char *date, const char *reason)
{
	struct action_request r = {
		.org = "la:355",
		.policy = "test.lua",
		.policy_sha256 = "0123",
		.pupil = 7,
		.upn = "B801200005001",
		.urn = 100001,
		.year_group = "9",
		.type = ACTION_CASE_CLOSED,
		.message = reason,
		.date = day_of(date),
	};
	return actions_record(&fx->a, &r, why, sizeof why);
}

/* The same absence never grounds two penalty notices: a holiday across
 * half term stays inside a 10-school-week window for 77 days, longer than
 * a policy's cooldown may be. */
static void the_same_absence_is_never_fined_twice(void **state)
{
	struct fixture *fx = *state;
	struct action_request r = {
		.org = "la:846",
		.policy = "test.lua",
		.policy_sha256 = "0123",
		.pupil = 7,
		.upn = "B801200005001",
		.urn = 100001,
		.year_group = "9",
		.type = ACTION_LEGAL_STEP,
		.kind = "penalty_notice",
		.severity = "medium",
		.cooldown_days = 28,
		.support_inappropriate = 1,
		.history = &fx->h,
	};
	/* a holiday 15-26 September 2025: 20 unauthorised sessions */
	history(fx, day_of("2025-09-15"), day_of("2025-09-26"));
	r.date = day_of("2025-09-26");
	assert_int_equal(actions_record(&fx->a, &r, why, sizeof why), 1);
	/* 29 days later, out of the cooldown, the holiday is still in the
	 * window, with two more days of unauthorised absence: refused */
	history(fx, day_of("2025-09-15"), day_of("2025-09-26"));
	r.date = day_of("2025-10-27");
	/* the days between have no mark: history() clears only up to its day,
	 * and what lay in the buffer beyond was whatever the heap held */
	assert_int_equal(history_reserve(&fx->h, (size_t)(2 * (r.date - fx->h.first_day + 1))), 0);
	memset(fx->h.slot + fx->h.nslots, 0,
	       (size_t)(2 * (r.date - fx->h.first_day + 1) - fx->h.nslots));
	for (int day = day_of("2025-10-24"); day <= r.date; day++)
		if (date_weekday(day) < 5)
			fx->h.slot[2 * (day - fx->h.first_day)] =
				fx->h.slot[2 * (day - fx->h.first_day) + 1] = (uint8_t)code_of("O");
	fx->h.nslots = 2 * (r.date - fx->h.first_day + 1);
	assert_int_equal(actions_record(&fx->a, &r, why, sizeof why), 0);
	assert_non_null(strstr(why, "that no earlier notice counted: 4 since the penalty notice "
				    "of 2025-09-26"));
	/* six new days of it: 12 sessions the first notice did not count */
	for (int day = day_of("2025-10-20"); day <= r.date; day++)
		if (date_weekday(day) < 5)
			fx->h.slot[2 * (day - fx->h.first_day)] =
				fx->h.slot[2 * (day - fx->h.first_day) + 1] = (uint8_t)code_of("O");
	assert_int_equal(actions_record(&fx->a, &r, why, sizeof why), 1);
	/* with no unauthorised absence, no penalty notice at all */
	r.org = "la:355";
	history(fx, r.date + 1, r.date);
	assert_int_equal(actions_record(&fx->a, &r, why, sizeof why), 0);
	assert_non_null(strstr(why, "needs 10 unauthorised sessions in 10 school weeks: 0"));
	/* nor with no history to count from */
	r.history = NULL;
	assert_int_equal(actions_record(&fx->a, &r, why, sizeof why), 0);
}

static void repeats_inside_the_cooldown_are_suppressed(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(act(fx, ACTION_ALERT, "low_attendance", "2025-09-01", 28, 0), 1);
	assert_int_equal(act(fx, ACTION_ALERT, "low_attendance", "2025-09-28", 28, 0), 0);
	assert_string_equal(why, ""); /* a repeat is quiet, not a refusal */
	assert_int_equal(act(fx, ACTION_ALERT, "low_attendance", "2025-09-29", 28, 0), 1);
	/* another kind is another action */
	assert_int_equal(act(fx, ACTION_ALERT, "severe_absence", "2025-09-29", 28, 0), 1);
	/* a shorter cooldown of the policy's choosing */
	assert_int_equal(act(fx, ACTION_ALERT, "severe_absence", "2025-10-06", 7, 0), 1);
	/* cooldown 0 never suppresses */
	assert_int_equal(act(fx, ACTION_ALERT, "severe_absence", "2025-10-06", 0, 0), 1);
	assert_int_equal(fx->a.recorded, 5);
	assert_int_equal(fx->a.suppressed, 1);
}

static void a_penalty_notice_needs_a_notice_to_improve(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2025-09-01", 28, 0), 0);
	assert_non_null(strstr(why, "needs an earlier notice_to_improve"));
	/* unless support is inappropriate, as for term-time holiday */
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2025-09-01", 28, 1), 1);

	/* a notice to improve in the case opens the way */
	struct fixture *g = fx;
	assert_int_equal(act(g, ACTION_LEGAL_STEP, "notice_to_improve", "2025-10-01", 28, 0), 1);
	assert_int_equal(act(g, ACTION_LEGAL_STEP, "penalty_notice", "2025-11-03", 28, 0), 1);
}

static void no_third_penalty_notice_within_three_years(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2025-01-06", 28, 1), 1);
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2025-06-02", 28, 1), 1);
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2027-11-01", 28, 1), 0);
	assert_non_null(strstr(why, "2 penalty notices already within 3 years"));
	assert_int_equal(fx->a.refused, 1);
	/* three years after the first, one has aged out */
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2028-01-07", 28, 1), 1);
	/* and then two are inside the window again */
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2028-03-06", 28, 1), 0);
}

/* The limit runs from the framework's start: notices before 19 August 2024
 * (in replayed history) do not count. */
static void notices_before_the_2024_framework_do_not_count(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2024-03-04", 28, 1), 1);
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2024-06-03", 28, 1), 1);
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2024-09-02", 28, 1), 1);
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2024-10-07", 28, 1), 1);
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "penalty_notice", "2024-11-04", 28, 1), 0);
}

static void one_open_referral_per_pupil(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(act(fx, ACTION_REFERRAL, "mentor", "2025-09-01", 28, 0), 1);
	long suppressed = fx->a.suppressed;
	assert_int_equal(act(fx, ACTION_REFERRAL, "mentor", "2025-11-03", 28, 0), 0);
	assert_string_equal(why, ""); /* a repeat while one is open, not a refusal */
	assert_int_equal(fx->a.suppressed, suppressed + 1);
	/* another organisation may refer the same pupil */
	struct action_request r = { .org = "trust:TR00092",
				    .policy = "t.lua",
				    .policy_sha256 = "0",
				    .pupil = 7,
				    .upn = "B801200005001",
				    .urn = 100001,
				    .year_group = "9",
				    .type = ACTION_REFERRAL,
				    .kind = "mentor",
				    .cooldown_days = 28,
				    .date = day_of("2025-11-03") };
	assert_int_equal(actions_record(&fx->a, &r, why, sizeof why), 1);
	/* closing the case closes the referral */
	assert_int_equal(close_case(fx, "2025-12-01", "recovered"), 1);
	assert_int_equal(act(fx, ACTION_REFERRAL, "mentor", "2026-01-05", 28, 0), 1);
}

static void the_case_follows_its_latest_step(void **state)
{
	struct fixture *fx = *state;
	struct pupil_case c;
	assert_int_equal(actions_case(&fx->a, NULL, "la:355", 7, &c), 0);
	/* alerts do not open cases */
	assert_int_equal(act(fx, ACTION_ALERT, "low_attendance", "2025-09-01", 28, 0), 1);
	assert_int_equal(actions_case(&fx->a, NULL, "la:355", 7, &c), 0);

	assert_int_equal(act(fx, ACTION_REFERRAL, "mentor", "2025-09-08", 28, 0), 1);
	assert_int_equal(actions_case(&fx->a, NULL, "la:355", 7, &c), 1);
	assert_string_equal(c.stage, "referral");
	assert_true(c.referral_open);
	assert_int_equal(c.opened, day_of("2025-09-08"));

	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "letter", "2025-09-15", 28, 0), 1);
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "meeting", "2025-10-13", 28, 0), 1);
	assert_int_equal(actions_case(&fx->a, NULL, "la:355", 7, &c), 1);
	assert_string_equal(c.stage, "meeting");
	assert_true(c.referral_open); /* the referral stays open */
	assert_int_equal(c.nsteps, 3);
	assert_string_equal(c.steps[0].step, "referral");
	assert_string_equal(c.steps[1].step, "letter");
	assert_string_equal(c.steps[2].step, "meeting");
	assert_int_equal(c.steps[2].date, day_of("2025-10-13"));

	assert_int_equal(close_case(fx, "2025-12-01", "better"), 1);
	assert_int_equal(actions_case(&fx->a, NULL, "la:355", 7, &c), 0);
	assert_int_equal(close_case(fx, "2025-12-02", "x"), 0);
	/* a new step opens a new case, at that step */
	assert_int_equal(act(fx, ACTION_LEGAL_STEP, "letter", "2026-01-05", 28, 0), 1);
	assert_int_equal(actions_case(&fx->a, NULL, "la:355", 7, &c), 1);
	assert_string_equal(c.stage, "letter");
	assert_int_equal(c.nsteps, 1);
	assert_int_equal(actions_legal_step("prosecution"), LEGAL_STEPS - 1);
	assert_int_equal(actions_legal_step("fine"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(repeats_inside_the_cooldown_are_suppressed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_penalty_notice_needs_a_notice_to_improve, setup,
						teardown),
		cmocka_unit_test_setup_teardown(no_third_penalty_notice_within_three_years, setup,
						teardown),
		cmocka_unit_test_setup_teardown(notices_before_the_2024_framework_do_not_count,
						setup, teardown),
		cmocka_unit_test_setup_teardown(the_same_absence_is_never_fined_twice, setup,
						teardown),
		cmocka_unit_test_setup_teardown(one_open_referral_per_pupil, setup, teardown),
		cmocka_unit_test_setup_teardown(the_case_follows_its_latest_step, setup, teardown),
	};
	return cmocka_run_group_tests_name("actions", tests, NULL, NULL);
}
