/*
 * test_rules.c — the domain's tables and identifier rules: every code's
 * category and validity period, UPN check letters, URN, LA code, trust id,
 * sessions, year groups and calendar dates.
 */
#include "testutil.h"
#include "upn.h"

#include <unistd.h>

/* docs/DATA.md "Attendance codes" (DfE "Working together to improve school
 * attendance", 2024, and the School Attendance (Pupil Registration)
 * (England) Regulations 2024), written out by hand. */
static const struct {
	const char *code;
	enum category category;
} expected[] = {
	{ "/", CAT_PRESENT },	   { "\\", CAT_PRESENT },     { "L", CAT_PRESENT },
	{ "K", CAT_AEA },	   { "V", CAT_AEA },	      { "P", CAT_AEA },
	{ "W", CAT_AEA },	   { "B", CAT_AEA },	      { "C", CAT_AUTHORISED },
	{ "C1", CAT_AUTHORISED },  { "C2", CAT_AUTHORISED },  { "E", CAT_AUTHORISED },
	{ "I", CAT_AUTHORISED },   { "J1", CAT_AUTHORISED },  { "M", CAT_AUTHORISED },
	{ "R", CAT_AUTHORISED },   { "S", CAT_AUTHORISED },   { "T", CAT_AUTHORISED },
	{ "G", CAT_UNAUTHORISED }, { "N", CAT_UNAUTHORISED }, { "O", CAT_UNAUTHORISED },
	{ "U", CAT_UNAUTHORISED }, { "Q", CAT_NOT_COUNTED },  { "Y1", CAT_NOT_COUNTED },
	{ "Y2", CAT_NOT_COUNTED }, { "Y3", CAT_NOT_COUNTED }, { "Y4", CAT_NOT_COUNTED },
	{ "Y5", CAT_NOT_COUNTED }, { "Y6", CAT_NOT_COUNTED }, { "Y7", CAT_NOT_COUNTED },
	{ "X", CAT_NOT_COUNTED },  { "Z", CAT_NOT_COUNTED },  { "#", CAT_NOT_COUNTED },
	{ "D", CAT_NOT_COUNTED },  { "H", CAT_AUTHORISED },   { "J", CAT_AEA },
	{ "Y", CAT_NOT_COUNTED },  { "F", CAT_AUTHORISED },
};

static void every_code_has_its_category(void **state)
{
	(void)state;
	assert_int_equal(sizeof expected / sizeof expected[0], CODES_COUNT);
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		int c = code_of(expected[i].code);
		assert_int_equal(codes_get(c)->category, expected[i].category);
		assert_int_equal(codes_possible(c), expected[i].category != CAT_NOT_COUNTED);
	}
}

static void late_is_L_and_U_only(void **state)
{
	(void)state;
	for (int c = 1; c <= CODES_COUNT; c++) {
		const char *t = codes_get(c)->text;
		assert_int_equal(codes_late(c), !strcmp(t, "L") || !strcmp(t, "U"));
	}
}

static void not_codes_are_refused(void **state)
{
	(void)state;
	const char *bad[] = { "-", "Q9", "Y8", "C3", "/ ", "", "l", "i", "YY", "AM" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(codes_find(bad[i], (int)strlen(bad[i])), 0);
}

/* Pre-2024 H J Y F only before 2024-08-19; K C1 C2 J1 Q Y1-Y7 only from it. */
static void codes_are_valid_only_in_their_period(void **state)
{
	(void)state;
	int before = day_of("2024-08-18"), from = day_of("2024-08-19");
	const char *old[] = { "H", "J", "Y", "F" };
	const char *new[] = {
		"K", "C1", "C2", "J1", "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7"
	};
	const char *always[] = { "/", "\\", "L", "V", "P", "W", "B", "C", "E", "I", "M",
				 "R", "S",  "T", "G", "N", "O", "U", "X", "Z", "#", "D" };
	for (size_t i = 0; i < 4; i++) {
		assert_true(codes_valid_on(code_of(old[i]), before));
		assert_false(codes_valid_on(code_of(old[i]), from));
	}
	for (size_t i = 0; i < 12; i++) {
		assert_false(codes_valid_on(code_of(new[i]), before));
		assert_true(codes_valid_on(code_of(new[i]), from));
	}
	for (size_t i = 0; i < sizeof always / sizeof *always; i++) {
		assert_true(codes_valid_on(code_of(always[i]), day_of("2019-01-07")));
		assert_true(codes_valid_on(code_of(always[i]), day_of("2026-01-05")));
	}
}

static int upn_ok(const char *s)
{
	return upn_valid(s, (int)strlen(s));
}

/* docs/DATA.md, "UPN check letter" (DfE): B801200005001 -> S = 93 -> B; the
 * published worked example B207000016049 is wrong, the rule gives P. */
static void upn_check_letter_rule(void **state)
{
	(void)state;
	assert_true(upn_ok("B801200005001"));
	assert_false(upn_ok("B207000016049"));
	assert_true(upn_ok("P207000016049"));
	assert_int_equal(upn_check_letter("801200005001"), 'B');
	assert_int_equal(upn_check_letter("207000016049"), 'P');
	/* every other letter in front of a valid body is wrong */
	for (char c = 'A'; c <= 'Z'; c++) {
		char upn[14] = "B801200005001";
		upn[0] = c;
		assert_int_equal(upn_ok(upn), c == 'B');
	}
	assert_false(upn_ok("B80120000500"));	/* 12 characters */
	assert_false(upn_ok("B8012000050011")); /* 14 */
	assert_false(upn_ok("b801200005001"));	/* lower case */
	assert_false(upn_ok("B8012000X5001"));	/* a letter in the middle */
}

/* A temporary UPN ends in a letter, valued by the same table (A=0 ... Z=22). */
static void temporary_upn(void **state)
{
	(void)state;
	/* body 80120000500A: 93 - 13*1 + 13*0 = 80 -> 80 mod 23 = 11 -> M */
	assert_int_equal(upn_check_letter("80120000500A"), 'M');
	assert_true(upn_ok("M80120000500A"));
	/* Z is 22: 80 + 13*22 = 366 -> 366 mod 23 = 21 -> Y */
	assert_true(upn_ok("Y80120000500Z"));
	assert_false(upn_ok("M80120000500I")); /* I, O and S are never used */
	assert_false(upn_ok("M80120000500O"));
	assert_false(upn_ok("M80120000500S"));
}

static void other_identifiers(void **state)
{
	(void)state;
	assert_true(urn_valid("100000", 6));
	assert_false(urn_valid("10000", 5));
	assert_false(urn_valid("10000a", 6));
	assert_true(la_code_valid("355", 3));
	assert_false(la_code_valid("35", 2));
	assert_false(la_code_valid("3555", 4));
	assert_true(trust_id_valid("TR00092", 7));
	assert_true(trust_id_valid("a", 1));
	assert_true(trust_id_valid("ABCDEFGHIJKLMNOP", 16));
	assert_false(trust_id_valid("ABCDEFGHIJKLMNOPQ", 17));
	assert_false(trust_id_valid("", 0));
	assert_false(trust_id_valid("TR-1", 4));
	assert_int_equal(session_parse("AM", 2), 0);
	assert_int_equal(session_parse("PM", 2), 1);
	assert_int_equal(session_parse("XX", 2), -1);
	assert_int_equal(session_parse("am", 2), -1);
	assert_int_equal(session_parse("AMX", 3), -1);
	assert_true(year_group_valid("R", 1));
	assert_true(year_group_valid("14", 2));
	assert_true(year_group_valid("N1", 2));
	assert_false(year_group_valid("15", 2));
	assert_false(year_group_valid("0", 1));
}

static int date_ok(const char *s)
{
	return date_parse(s, (int)strlen(s)) >= 0;
}

static void dates_are_real_calendar_dates(void **state)
{
	(void)state;
	assert_false(date_ok("2025-02-29"));
	assert_true(date_ok("2024-02-29"));
	assert_false(date_ok("2100-02-29"));
	assert_true(date_ok("2000-02-29")); /* divisible by 400 */
	assert_false(date_ok("2025-04-31"));
	assert_false(date_ok("2025-13-01"));
	assert_false(date_ok("2025-00-10"));
	assert_false(date_ok("2025-1-10"));
	assert_false(date_ok("25-01-10"));
	assert_false(date_ok("2025/01/10"));
	assert_false(date_ok("1999-12-31")); /* out of range */
	assert_int_equal(day_of("2024-08-19"), DATE_REGS_2024);
	char buf[11];
	assert_string_equal(date_format(day_of("2031-12-25"), buf), "2031-12-25");
	assert_int_equal(date_weekday(day_of("2025-09-01")), 0); /* a Monday */
	assert_int_equal(date_weekday(day_of("2025-09-07")), 6);
	assert_int_equal(date_monday(day_of("2025-09-07")), day_of("2025-09-01"));
	assert_int_equal(date_academic_start(day_of("2025-08-31")), day_of("2024-09-01"));
	assert_int_equal(date_academic_start(day_of("2025-09-01")), day_of("2025-09-01"));
	assert_int_equal(date_academic_year(day_of("2026-03-01")), 2025);
	/* every day in range round-trips */
	for (int d = DATE_MIN; d <= DATE_MAX; d++) {
		int y, m, dd;
		date_to_ymd(d, &y, &m, &dd);
		assert_int_equal(date_from_ymd(y, m, dd), d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_code_has_its_category),
		cmocka_unit_test(late_is_L_and_U_only),
		cmocka_unit_test(not_codes_are_refused),
		cmocka_unit_test(codes_are_valid_only_in_their_period),
		cmocka_unit_test(upn_check_letter_rule),
		cmocka_unit_test(temporary_upn),
		cmocka_unit_test(other_identifiers),
		cmocka_unit_test(dates_are_real_calendar_dates),
	};
	return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
