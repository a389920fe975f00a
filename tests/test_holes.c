/*
 * test_holes.c — smaller holes of issue 13, each end to end where it can be
 * (the real build/rollcall on a real SQLite file in a fresh directory):
 *
 *  - a row of incoming with a value too long or of the wrong type (a blob)
 *    is rejected with a reason naming the field, never stored, and kept in
 *    rejected only as a bounded prefix;
 *  - a FIFO where rollcall expects a file (a policy, a required module, the
 *    configuration, a secret) is refused at once, by name, instead of
 *    blocking start-up for ever;
 *  - a configuration that builds too much memory without a loop is refused
 *    at its line;
 *  - NaN and infinities in evidence or data are refused, naming the key;
 *  - `rollcall run` stops with exit 1 when its database file is replaced or
 *    deleted under it.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"
#include "luajson.h"

#include <lauxlib.h>
#include <lualib.h>

/* Seconds a command that must not block is given (it takes well under one;
 * under valgrind, a few). */
#define PROMPT_S "20"

static int setup(void **state)
{
	struct e2e *e = e2e_new();
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/policies", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/scripts", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	write_file(path, "policies = 'policies'\nscripts = 'scripts'\n");
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	e2e_free(*state);
	return 0;
}

/* The test data's schools, pupils and (with marks) marks in a new database. */
static void loaded(struct e2e *e, int marks)
{
	char args[PATH_MAX * 4];
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	snprintf(args, sizeof args,
		 "import '%s/tests/data/schools.csv' '%s/tests/data/pupils.csv'%s", e2e_root,
		 e2e_root, marks ? " '" : "");
	if (marks) {
		size_t n = strlen(args);
		snprintf(args + n, sizeof args - n, "%s/tests/data/marks.csv'", e2e_root);
	}
	assert_int_equal(e2e_rollcall(e, args), 0);
}

static void write_in(struct e2e *e, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", e->dir, name);
	write_file(path, text);
}

/* stderr of the last e2e_rollcall contains want. */
static void err_has(struct e2e *e, const char *want)
{
	static char text[1 << 16];
	e2e_slurp(e, "err", text, sizeof text);
	if (!strstr(text, want))
		fail_msg("stderr lacks \"%s\"; it was:\n%s", want, text);
}

/* ---- incoming: too long, wrong type ---- */

static void oversized_and_blob_values_in_incoming_are_rejected_not_stored(void **state)
{
	struct e2e *e = *state;
	loaded(e, 0);
	/* a recorded_at of 4 MiB of fractional digits, a blob upn whose bytes
	 * are a valid UPN, a blob recorded_at, and one good row */
	e2e_exec(e, "INSERT INTO incoming(upn, urn, date, session, code, recorded_at) VALUES "
		    "('J355400120001', 135001, '2025-09-01', 'AM', '/', "
		    " '2025-09-01T08:45:00.' || hex(zeroblob(2097152)) || 'Z'),"
		    "(CAST('Y355400120002' AS BLOB), 135001, '2025-09-01', 'AM', '/', NULL),"
		    "('Y355400120002', '135001', '2025-09-01', 'PM', '/', "
		    " CAST('2025-09-01T13:30:00Z' AS BLOB)),"
		    "('J355400120001', '135001', '2025-09-01', 'PM', 'L', "
		    " '2025-09-01T13:31:07.123456789+01:00')");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);

	assert_int_equal(e2e_query(e, "SELECT count(*) FROM incoming"), 0);
	/* only the good row was stored, with its recorded_at */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks"), 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks WHERE recorded_at = "
				      "'2025-09-01T13:31:07.123456789+01:00'"),
			 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM rejected WHERE source = 'incoming'"),
			 3);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM rejected WHERE line = 1 AND reason "
				      "LIKE 'recorded_at \"2025-09-01T08:45:00.0%' AND reason "
				      "LIKE '%(4194325 bytes): longer than an ISO 8601 date and "
				      "time (at most 35 bytes)'"),
			 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM rejected WHERE line = 2 AND reason = "
				      "'upn: a blob of 13 bytes, not text or a number'"),
			 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM rejected WHERE line = 3 AND reason = "
				      "'recorded_at: a blob of 20 bytes, not text or a number'"),
			 1);
	/* what is kept of a rejected row is bounded: a prefix, not 4 MiB */
	assert_true(e2e_query(e, "SELECT max(length(row) + length(reason)) FROM rejected") < 2048);
}

/* The same rule for a file: a value any length up to the CSV record bound
 * would have passed as a timestamp. */
static void an_oversized_recorded_at_in_a_file_is_refused(void **state)
{
	struct e2e *e = *state;
	loaded(e, 0);
	char *csv = malloc(70000);
	int n = snprintf(csv, 70000,
			 "upn,urn,date,session,code,minutes_late,recorded_at\n"
			 "J355400120001,135001,2025-09-01,AM,/,,2025-09-01T08:45:00.");
	memset(csv + n, '7', 60000);
	strcpy(csv + n + 60000, "Z\n");
	write_in(e, "long.csv", csv);
	free(csv);
	assert_int_equal(e2e_rollcall(e, "import long.csv"), 2);
	err_has(e, "long.csv:2: recorded_at \"2025-09-01T08:45:00.777");
	err_has(e, "(60021 bytes): longer than an ISO 8601 date and time (at most 35 bytes)");
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks"), 0);
	/* ten digits of a second are one too many; nine are fine */
	write_in(e, "ten.csv",
		 "upn,urn,date,session,code,recorded_at\n"
		 "J355400120001,135001,2025-09-01,AM,/,2025-09-01T08:45:00.1234567891\n");
	assert_int_equal(e2e_rollcall(e, "import ten.csv"), 2);
	err_has(e, "ten.csv:2: recorded_at \"2025-09-01T08:45:00.1234567891\": must be an ISO "
		   "8601 date and time");
	write_in(e, "nine.csv",
		 "upn,urn,date,session,code,recorded_at\n"
		 "J355400120001,135001,2025-09-01,AM,/,2025-09-01T08:45:00.123456789Z\n");
	assert_int_equal(e2e_rollcall(e, "import nine.csv"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks"), 1);
}

int main(void)
{
	if (e2e_init() < 0) {
		fprintf(stderr, "run from the top of the repository after make\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			oversized_and_blob_values_in_incoming_are_rejected_not_stored, setup,
			teardown),
		cmocka_unit_test_setup_teardown(an_oversized_recorded_at_in_a_file_is_refused,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("holes", tests, NULL, NULL);
}
