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

static void make_fifo(struct e2e *e, const char *name)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", e->dir, name);
	assert_int_equal(mkfifo(path, 0600), 0);
}

static void write_in(struct e2e *e, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", e->dir, name);
	write_file(path, text);
}

/* Run rollcall in e->dir with the config conf, as e2e_rollcall does, but
 * killed after PROMPT_S seconds: what this tests used to block for ever.
 * Returns the exit status (124 or 137: it had to be stopped). */
static int prompt_rollcall(struct e2e *e, const char *conf, const char *args)
{
	char cmd[PATH_MAX * 4];
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && exec timeout -k 5 " PROMPT_S
		 " %s '%s' -q --config '%s' %s >out 2>err </dev/null",
		 e->dir, e2e_wrap, e2e_bin, conf, args);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
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

/* ---- FIFOs where a file is expected ---- */

static void a_fifo_policy_or_module_is_refused_at_once(void **state)
{
	struct e2e *e = *state;
	char cmd[PATH_MAX * 3];
	loaded(e, 1);
	snprintf(cmd, sizeof cmd, "cp '%s/tests/policies/good.lua' '%s/policies/la-355.lua'",
		 e2e_root, e->dir);
	assert_int_equal(system(cmd), 0);
	make_fifo(e, "policies/trust-TR00092.lua");
	assert_int_equal(prompt_rollcall(e, "rollcall.conf", "check"), 2);
	err_has(e, "policies/trust-TR00092.lua: not a regular file (a FIFO)");
	/* run carries on without it: the good policy records its alerts */
	assert_int_equal(prompt_rollcall(e, "rollcall.conf", "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE kind = 'seen'"), 3);

	/* a module under scripts/, required when the policy loads */
	assert_int_equal(unlink(strcat(strcpy(cmd, e->dir), "/policies/trust-TR00092.lua")), 0);
	make_fifo(e, "scripts/helpers.lua");
	write_in(e, "policies/trust-TR00092.lua",
		 "local h = require 'helpers'\n"
		 "policy { org = 'trust:TR00092', name = 'needs helpers' }\n"
		 "function on_pupil(p) end\n");
	assert_int_equal(prompt_rollcall(e, "rollcall.conf", "check"), 2);
	err_has(e, "scripts/helpers.lua: not a regular file (a FIFO)");
}

static void a_fifo_secret_file_fails_fast(void **state)
{
	struct e2e *e = *state;
	loaded(e, 1);
	write_in(e, "rollcall.conf",
		 "policies = 'policies'\nscripts = 'scripts'\n"
		 "endpoints = { x = { url = 'http://127.0.0.1:9/', secret_file = 'secret' } }\n");
	make_fifo(e, "secret");
	assert_int_equal(prompt_rollcall(e, "rollcall.conf", "run --once"), 2);
	err_has(e, "rollcall.conf:3: endpoints[\\\"x\\\"]: secret: not a regular file (a FIFO)");
	/* the service too: it reads secrets before it starts */
	assert_int_equal(prompt_rollcall(e, "rollcall.conf", "run"), 2);
	err_has(e, "secret: not a regular file (a FIFO)");
}

static void a_fifo_config_is_refused(void **state)
{
	struct e2e *e = *state;
	make_fifo(e, "fifo.conf");
	assert_int_equal(prompt_rollcall(e, "fifo.conf", "check"), 2);
	err_has(e, "fifo.conf: not a regular file (a FIFO)");
}

/* ---- the configuration's memory ---- */

static void a_config_that_grows_without_a_loop_is_refused_at_its_line(void **state)
{
	struct e2e *e = *state;
	/* each line doubles a string: 16 bytes << 22 is 64 MiB, in 23 lines
	 * of 11 bytes and a million instructions to spare */
	char text[4096] = "local s = '0123456789abcdef'\n";
	for (int i = 0; i < 22; i++)
		strcat(text, "s = s .. s\n");
	strcat(text, "database = s\n");
	write_in(e, "bad.conf", text);
	assert_int_equal(prompt_rollcall(e, "bad.conf", "check"), 2);
	/* line 1 + 20 doublings: the first string past 16 MiB */
	err_has(e, "bad.conf:21: the configuration needs more than 16 MiB of memory");

	/* a table constructor of 300,000 tables, in a file under 1 MiB */
	size_t n = 300000;
	char *big = malloc(3 * n + 16);
	strcpy(big, "x = {");
	for (size_t i = 0; i < n; i++)
		memcpy(big + 5 + 3 * i, "{},", 3);
	strcpy(big + 5 + 3 * n, "}\n");
	write_in(e, "big.conf", big);
	free(big);
	assert_int_equal(prompt_rollcall(e, "big.conf", "check"), 2);
	err_has(e, "big.conf:1: the configuration needs more than 16 MiB of memory");

	/* a big configuration of plain data is not refused: a thousand
	 * endpoints, each checked */
	FILE *f = fopen(strcat(strcpy(text, e->dir), "/many.conf"), "w");
	assert_non_null(f);
	fputs("policies = 'policies'\nscripts = 'scripts'\nendpoints = {\n", f);
	for (int i = 0; i < 1000; i++)
		fprintf(f,
			"  ['endpoint-%d'] = { url = 'https://hooks%d.example.org/attendance', "
			"secret_env = 'HOOK_SECRET' },\n",
			i, i);
	fputs("}\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(prompt_rollcall(e, "many.conf", "check"), 0);
}

/* ---- NaN and infinities in evidence ---- */

/* Encode the value the Lua expression expr gives; returns why it was
 * refused, or NULL if it was encoded (then *json is its text). */
static const char *encode(const char *expr, char **json)
{
	static char why[256];
	char chunk[512];
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	snprintf(chunk, sizeof chunk, "return %s", expr);
	assert_int_equal(luaL_dostring(L, chunk), LUA_OK);
	why[0] = '\0';
	json_t *j = luajson_encode(L, -1, why, sizeof why);
	lua_close(L);
	*json = NULL;
	if (!j) {
		assert_true(why[0] != '\0');
		return why;
	}
	*json = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(j);
	return NULL;
}

static void refused_as(const char *expr, const char *want)
{
	char *json;
	const char *why = encode(expr, &json);
	if (!why)
		fail_msg("%s: encoded as %s, want refused with \"%s\"", expr, json, want);
	if (strcmp(why, want))
		fail_msg("%s: refused with \"%s\", want \"%s\"", expr, why, want);
}

static void non_finite_numbers_are_refused_naming_the_key(void **state)
{
	(void)state;
	refused_as("{ r = 0/0 }", "r: not a finite number (NaN)");
	refused_as("{ rates = { week = { 0.5, 0.25, 1/0 } } }",
		   "rates.week[3]: not a finite number (inf)");
	refused_as("{ ['rate of absence'] = -1/0 }",
		   "[\"rate of absence\"]: not a finite number (-inf)");
	refused_as("0/0", "not a finite number (NaN)");
	refused_as("{ [2.5] = { x = math.huge } }", "[2.5].x: not a finite number (inf)");
	/* other refusals name the key too; those about the whole table after
	 * the reason */
	refused_as("{ f = { print } }", "f[1]: a function value (JSON holds tables, strings, "
					"numbers, booleans)");
	refused_as("{ s = 'caf\\xe9' }", "s: a string that is not UTF-8");
	refused_as("(function() local t = { a = {} }; t.a.up = t; return t end)()",
		   "a table that contains itself (at a.up)");
	/* a path too long to show whole keeps its end */
	char *json;
	const char *why = encode("(function() local t = { x = 0/0 } for i = 1, 30 do t = { "
				 "[string.rep('k', 39) .. i] = t } end return t end)()",
				 &json);
	assert_non_null(why);
	assert_int_equal(strncmp(why, "...", 3), 0);
	assert_non_null(strstr(why, "kkkkkk1.x: not a finite number (NaN)"));
	/* finite numbers, and the integers, are still numbers */
	assert_null(encode("{ r = 0.5, n = 3, big = 1e308, tiny = -0.0 }", &json));
	assert_string_equal(json, "{\"big\":1e308,\"n\":3,\"r\":0.5,\"tiny\":-0.0}");
	free(json);
}

/* ---- the database file replaced under the service ---- */

static void the_database_replaced_under_the_service_stops_it(void **state)
{
	struct e2e *e = *state;
	char db[PATH_MAX + 32], other[PATH_MAX + 32], cmd[PATH_MAX * 4];
	snprintf(db, sizeof db, "%s/rollcall.db", e->dir);
	snprintf(other, sizeof other, "%s/restored.db", e->dir);
	loaded(e, 1);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", db, other);
	assert_int_equal(system(cmd), 0);

	/* another file renamed over the path (a backup restored in place) */
	e2e_daemon_start(e, "--no-deliver");
	assert_int_equal(rename(other, db), 0);
	assert_int_equal(e2e_daemon_wait(e, 15000), 1);
	assert_int_equal(
		lines_with(e->daemon_log, "level=error",
			   "the database file was replaced or deleted since it was opened"),
		1);
	assert_int_equal(lines_with(e->daemon_log, "db=rollcall.db", "replaced or deleted"), 1);

	/* restarted, it runs on the file the path names now; then deleted */
	e2e_daemon_start(e, "--no-deliver");
	snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm'", db, db, db);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(e2e_daemon_wait(e, 15000), 1);
	assert_int_equal(lines_with(e->daemon_log, "level=error", "replaced or deleted"), 2);
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
		cmocka_unit_test_setup_teardown(a_fifo_policy_or_module_is_refused_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_fifo_secret_file_fails_fast, setup, teardown),
		cmocka_unit_test_setup_teardown(a_fifo_config_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_config_that_grows_without_a_loop_is_refused_at_its_line, setup, teardown),
		cmocka_unit_test(non_finite_numbers_are_refused_naming_the_key),
		cmocka_unit_test_setup_teardown(the_database_replaced_under_the_service_stops_it,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("holes", tests, NULL, NULL);
}
