/*
 * test_policy.c — the sandbox against hostile policies, and the action rules.
 *
 * Every file in tests/hostile/lua/ runs beside tests/policies/good.lua over
 * the test data. Its first line says what must happen: "-- expect: TEXT"
 * (on_pupil is stopped and the log names TEXT) or "-- expect-load: TEXT"
 * (the file is refused at load with TEXT). Either way the good policy must
 * record exactly its three alerts.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "testutil.h"
#include "actions.h"
#include "engine.h"

#include <dirent.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <lauxlib.h>
#include <time.h>
#include <unistd.h>

static char pristine[PATH_MAX];
static char *dir;

static long long one(struct db *db, const char *sql)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int group_setup(void **state)
{
	(void)state;
	char cmd[PATH_MAX * 3];
	dir = temp_dir();
	snprintf(pristine, sizeof pristine, "%s/pristine.db", dir);
	const char *build = test_build_dir();
	snprintf(cmd, sizeof cmd,
		 "'%s/rollcall' -q --db '%s' init && '%s/rollcall' -q --db '%s' import "
		 "tests/data/schools.csv tests/data/pupils.csv tests/data/marks.csv",
		 build, pristine, build, pristine);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	remove_tree(dir);
	free(dir);
	return 0;
}

static char load_error[4096];

static void on_load_error(const char *path, const char *err, int kept)
{
	(void)path;
	(void)kept;
	snprintf(load_error, sizeof load_error, "%s", err);
}

/* Run good.lua and the hostile file over a fresh copy of the test data;
 * returns what was logged. */
static char *run_beside_good(const char *hostile, struct db *db, struct batch_stats *st)
{
	static char log[1 << 16];
	char path[PATH_MAX], cmd[PATH_MAX * 4];
	snprintf(path, sizeof path, "%s/case.db", dir);
	snprintf(cmd, sizeof cmd, "rm -f '%s'*; cp '%s' '%s'", path, pristine, path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(db_open(db, path, 0), 0);

	struct config cfg;
	assert_int_equal(config_load(&cfg, NULL, 1), 0);
	char *files[] = { "tests/policies/good.lua", (char *)hostile };
	struct engine e;
	assert_int_equal(engine_open(&e, db, &cfg), 0);

	char logpath[PATH_MAX];
	snprintf(logpath, sizeof logpath, "%s/log", dir);
	fflush(stderr);
	int saved = dup(2), fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	load_error[0] = '\0';
	engine_load_policies(&e, files, 2, on_load_error);
	int rc = engine_batch(&e, st);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(rc, 1);
	engine_close(&e);
	config_free(&cfg);

	FILE *f = fopen(logpath, "r");
	size_t n = fread(log, 1, sizeof log - 1, f);
	log[n] = '\0';
	fclose(f);
	strncat(log, load_error, sizeof log - n - 1);
	return log;
}

/* Run one file of tests/hostile/lua beside good.lua. Its first line says
 * what must happen: "-- expect: TEXT" (on_pupil is stopped and the log
 * names TEXT) or "-- expect-load: TEXT" (refused at load with TEXT). Either
 * way good.lua must record exactly its three alerts, and the hostile one
 * nothing. Returns the log. */
static char *check_hostile(const char *path)
{
	char first[512], want[512];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(first, sizeof first, f));
	fclose(f);
	first[strcspn(first, "\n")] = '\0';
	int at_load = strncmp(first, "-- expect-load: ", 16) == 0;
	if (!at_load && strncmp(first, "-- expect: ", 11) != 0)
		fail_msg("%s: first line must be -- expect: or -- expect-load:", path);
	snprintf(want, sizeof want, "%s", first + (at_load ? 16 : 11));

	struct db db;
	struct batch_stats st;
	char *log = run_beside_good(path, &db, &st);
	if (!strstr(log, want))
		fail_msg("%s: the log does not say \"%s\":\n%s", path, want, log);
	if (at_load)
		assert_non_null(strstr(load_error, want));
	else if (st.errors < 1)
		fail_msg("%s: no policy error counted", path);
	else if (!strstr(log, "msg=\"policy error\" org=trust:TR00092"))
		fail_msg("%s: the error is not logged with its org:\n%s", path, log);
	/* the good policy: one alert for each Salford pupil with marks */
	long long seen = one(&db, "SELECT count(DISTINCT pupil) FROM actions WHERE org = "
				  "'la:355' AND kind = 'seen'");
	long long all = one(&db, "SELECT count(*) FROM actions WHERE org = 'la:355'");
	if (seen != 3 || all != 3)
		fail_msg("%s: the good policy recorded %lld actions for %lld pupils", path, all,
			 seen);
	/* the hostile one recorded nothing, except the pupil it is fine on */
	long long theirs = one(&db, "SELECT count(*) FROM actions WHERE org = "
				    "'trust:TR00092' AND kind != 'seen_by_trust'");
	if (theirs != 0)
		fail_msg("%s: the hostile policy recorded %lld actions", path, theirs);
	db_close(&db);
	return log;
}

static void hostile_policies_are_stopped_and_good_ones_carry_on(void **state)
{
	(void)state;
	DIR *d = opendir("tests/hostile/lua");
	assert_non_null(d);
	struct dirent *de;
	int cases = 0;
	unlink("/tmp/rollcall-pwned");
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".lua") != 0)
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof path, "tests/hostile/lua/%s", de->d_name);
		check_hostile(path);
		cases++;
	}
	closedir(d);
	assert_true(cases >= 20);
	assert_int_equal(access("/tmp/rollcall-pwned", F_OK), -1);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The count hook never fires inside a C function: each of these looped in C
 * for ever, or did milliseconds of C per instruction in a loop, before
 * library calls were charged for their work. Each is now stopped within the
 * budget, naming the function and the limit. */
static void c_library_loops_are_stopped(void **state)
{
	(void)state;
	static const char *const files[] = {
		"string-find-backtracking",
		"string-match-backtracking",
		"string-gmatch-backtracking",
		"string-gsub-backtracking",
		"string-gmatch-after-the-end",
		"string-gmatch-error-retried",
		"string-rep-empty",
		"string-rep-empty-separator",
		"string-byte-range",
		"string-format-long",
		"concat-in-a-loop",
		"table-move-huge",
		"table-concat-huge",
		"table-unpack-huge",
		"table-remove-len",
		"table-insert-len",
		"table-sort-repeated",
		"utf8-codes-continuation",
	};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "tests/hostile/lua/%s.lua", files[i]);
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		char *log = check_hostile(path);
		/* three calls of at most about 10 million instructions each */
		double took = seconds_since(&t0);
		if (took > 5)
			fail_msg("%s: took %.1f s to stop", path, took);
		if (!strstr(log, "10000000 instructions") && !strstr(log, "__len metamethod"))
			fail_msg("%s: the stop does not name the limit:\n%s", path, log);
	}
}

static void data_of(struct db *db, const char *kind, char *out, size_t size)
{
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT data FROM actions WHERE kind = '%s' ORDER BY pupil",
		 kind);
	sqlite3_stmt *st = db_prepare(db, sql);
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/* ...while what a policy ordinarily does with strings and tables (a 2600-byte
 * message trimmed, squeezed and split, 1000 numbers and strings sorted, a
 * 200-value unpack) is not refused, and gives the figures Lua gives. */
static void ordinary_library_use_is_not_refused(void **state)
{
	(void)state;
	struct db db;
	struct batch_stats st;
	char data[4096];
	char *log = run_beside_good("tests/policies/library-use.lua", &db, &st);
	if (st.errors != 0)
		fail_msg("ordinary library use was refused:\n%s", log);
	assert_int_equal(one(&db, "SELECT count(*) FROM actions WHERE kind = 'library_use'"), 3);
	data_of(&db, "library_use", data, sizeof data);
	static const char *const figures[] = {
		"\"trimmed\":2590", "\"squeezed\":2293", "\"words\":300",   "\"found\":1236",
		"\"pattern\":786",  "\"upper\":2594",	 "\"sorted\":true", "\"first\":\"0000\"",
		"\"most\":199",	    "\"moved\":1000",	 "\"bytes\":10",    "\"wide\":3",
		"\"code\":true",
	};
	for (size_t i = 0; i < sizeof figures / sizeof *figures; i++)
		if (!strstr(data, figures[i]))
			fail_msg("library use: %s not in %s", figures[i], data);
	db_close(&db);
}

/* A runtime error on some pupils is logged once per batch, with a count of
 * the rest, and the pupils it does not fail on are still evaluated. */
/* Each failing pupil is named (up to ENGINE_ERRORS_LOGGED a batch), so an
 * author can reproduce every one with rollcall pupil. */
static void errors_on_some_pupils_are_logged_each_with_its_pupil(void **state)
{
	(void)state;
	struct db db;
	struct batch_stats st;
	char *log = run_beside_good("tests/hostile/lua/error-on-some-pupils.lua", &db, &st);
	assert_int_equal(st.errors, 2);
	assert_non_null(strstr(log, "msg=\"policy error\" org=trust:TR00092 "
				    "file=tests/hostile/lua/error-on-some-pupils.lua "
				    "pupil=J355400120001"));
	assert_non_null(strstr(log, "msg=\"policy error\" org=trust:TR00092 "
				    "file=tests/hostile/lua/error-on-some-pupils.lua "
				    "pupil=V846410120004"));
	assert_null(strstr(log, "more policy errors"));
	assert_non_null(strstr(log, "stack traceback:"));
	assert_int_equal(one(&db, "SELECT count(*) FROM actions WHERE kind = 'seen_by_trust'"), 1);
	db_close(&db);
}

static void collect_draws(struct db *db, char *out, size_t size)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT group_concat(data, ';') FROM (SELECT data FROM "
					  "actions WHERE kind = 'dice' ORDER BY pupil)");
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/* math.random is seeded per (policy, pupil, date): reproducible, and not
 * the same for every pupil. */
static void random_draws_are_reproducible(void **state)
{
	(void)state;
	struct db db;
	struct batch_stats st;
	char first[2048], second[2048];
	run_beside_good("tests/policies/random.lua", &db, &st);
	collect_draws(&db, first, sizeof first);
	db_close(&db);
	run_beside_good("tests/policies/random.lua", &db, &st);
	collect_draws(&db, second, sizeof second);
	db_close(&db);
	assert_string_equal(first, second);
	char *a = strtok(first, ";"), *b = strtok(NULL, ";");
	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b);
}

/* The value of global `name` in a loaded policy's state. */
static lua_Integer global_integer(struct policy *p, const char *name)
{
	lua_State *L = p->sb.L;
	lua_pushglobaltable(L);
	lua_pushstring(L, name);
	lua_gettable(L, -2); /* through the read-only globals' __index */
	assert_true(lua_isinteger(L, -1));
	lua_Integer v = lua_tointeger(L, -1);
	lua_pop(L, 2);
	return v;
}

/* luaopen_math seeds from the clock and the state's address: a draw at the
 * top level of a policy differed from one run to the next. Two states of the
 * same file, alive at once (so at different addresses), must draw the same
 * number at load, from the file's SHA-256; another file draws another. */
static void random_at_load_is_reproducible(void **state)
{
	(void)state;
	struct policy a, b, c;
	char err[1024], path[PATH_MAX];
	const char *file = "tests/policies/random-at-load.lua";
	assert_int_equal(policy_load(&a, file, "scripts", 0, 0, err, sizeof err), 0);
	assert_int_equal(policy_load(&b, file, "scripts", 0, 0, err, sizeof err), 0);
	lua_Integer drawn = global_integer(&a, "drawn");
	assert_true(drawn >= 1 && drawn <= 1000000);
	assert_int_equal(global_integer(&b, "drawn"), drawn);

	/* the same code with one more comment line: another SHA-256 */
	char *text = sandbox_read_file(file, 1 << 20, &(size_t){ 0 }, err, sizeof err);
	assert_non_null(text);
	char *other = malloc(strlen(text) + 16);
	sprintf(other, "-- other\n%s", text);
	snprintf(path, sizeof path, "%s/random-other.lua", dir);
	write_file(path, other);
	assert_int_equal(policy_load(&c, path, "scripts", 0, 0, err, sizeof err), 0);
	assert_int_not_equal(global_integer(&c, "drawn"), drawn);
	free(text);
	free(other);
	policy_free(&a);
	policy_free(&b);
	policy_free(&c);
}

/* support_inappropriate lets a penalty notice skip the Notice to Improve.
 * lua_toboolean took 0 and "no" for true; only true or false will do, and
 * true still does what it says. */
static void support_inappropriate_must_be_a_boolean(void **state)
{
	(void)state;
	check_hostile("tests/hostile/lua/support-inappropriate-zero.lua");
	check_hostile("tests/hostile/lua/support-inappropriate-no.lua");

	struct db db;
	struct batch_stats st;
	char *log = run_beside_good("tests/policies/holiday-penalty.lua", &db, &st);
	if (st.errors != 0)
		fail_msg("holiday penalty: %s", log);
	/* of the trust's 3 pupils, only J355400120001 has the 10 unauthorised
	 * sessions in 10 school weeks a penalty notice needs */
	assert_int_equal(one(&db, "SELECT count(*) FROM actions WHERE org = 'trust:TR00092' AND "
				  "kind = 'penalty_notice' AND upn = 'J355400120001'"),
			 1);
	assert_int_equal(one(&db, "SELECT count(*) FROM actions WHERE org = 'trust:TR00092' AND "
				  "kind = 'penalty_notice'"),
			 1);
	assert_int_equal(one(&db, "SELECT count(*) FROM actions WHERE org = 'trust:TR00092' AND "
				  "kind = 'letter'"),
			 3);
	db_close(&db);
}

/* Lua runs no message handler for a memory error: the log said only
 * "stopped: over the memory budget of 67108864 bytes". It must say where:
 * the file and line that was running, and on_pupil's line below it. */
static void memory_stop_says_where(void **state)
{
	(void)state;
	char *log = check_hostile("tests/hostile/lua/out-of-memory-where.lua");
	assert_non_null(strstr(log,
			       "stopped: over the memory budget of 67108864 bytes\\nstack "
			       "traceback:\\n\\ttests/hostile/lua/out-of-memory-where.lua:8: "));
	assert_null(strstr(log, "not enough memory"));

	/* caught by the policy's own pcall: still a stop, still with its place */
	log = check_hostile("tests/hostile/lua/out-of-memory-in-pcall.lua");
	assert_non_null(strstr(log, "out-of-memory-in-pcall.lua:8: in function "));
	assert_non_null(strstr(log, "out-of-memory-in-pcall.lua:12: in function "));
	assert_null(strstr(log, "not enough memory"));
}

static int write_chunk(lua_State *L, const void *p, size_t sz, void *ud)
{
	(void)L;
	return fwrite(p, 1, sz, ud) == sz ? 0 : 1;
}

/* Lua bytecode is not verified and can corrupt memory: text only. */
static void binary_chunks_are_refused(void **state)
{
	(void)state;
	lua_State *L = luaL_newstate();
	assert_int_equal(luaL_loadstring(L, "policy{org='la:355', name='x'} "
					    "function on_pupil(p) end"),
			 LUA_OK);
	char path[PATH_MAX], err[1024];
	snprintf(path, sizeof path, "%s/binary.lua", dir);
	FILE *f = fopen(path, "wb");
	assert_int_equal(lua_dump(L, write_chunk, f, 0), 0);
	fclose(f);
	lua_close(L);
	struct policy p;
	assert_int_equal(policy_load(&p, path, "scripts", 0, 0, err, sizeof err), -1);
	if (!strstr(err, "attempt to load a binary chunk"))
		fail_msg("binary chunk: %s", err);

	/* and a module a policy requires is held to the same rule */
	snprintf(path, sizeof path, "%s/req.lua", dir);
	write_file(path, "policy{org='la:355', name='x'} local m = require 'binary' "
			 "function on_pupil(p) end");
	assert_int_equal(policy_load(&p, path, dir, 0, 0, err, sizeof err), -1);
	if (!strstr(err, "attempt to load a binary chunk"))
		fail_msg("binary module: %s", err);
}

/* The deadline holds on every thread, however many have come and gone:
 * a batch runs its policies on new threads each time, and each takes a
 * watchdog slot for as long as it lives. */
struct deadline_run {
	const char *chunk;
	long limit;
	char err[512];
	int rc;
};

static void *run_chunk(void *arg)
{
	struct deadline_run *r = arg;
	struct sandbox sb;
	if (sandbox_open(&sb, "scripts", 0, r->limit, r->err, sizeof r->err) < 0) {
		r->rc = -2;
		return NULL;
	}
	r->rc = sandbox_run(&sb, "=deadline", r->chunk, strlen(r->chunk), r->err, sizeof r->err);
	sandbox_close(&sb);
	return NULL;
}

static void the_deadline_holds_on_the_hundredth_thread(void **state)
{
	(void)state;
	for (int i = 0; i < 100; i++) {
		struct deadline_run quick = { .chunk = "local x = 1" };
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, run_chunk, &quick), 0);
		pthread_join(t, NULL);
		assert_int_equal(quick.rc, 0);
	}
	/* a budget far above what 1 s can use: only the deadline stops it */
	struct deadline_run loop = { .chunk = "while true do end", .limit = 2000000000L };
	pthread_t t;
	time_t t0 = time(NULL);
	assert_int_equal(pthread_create(&t, NULL, run_chunk, &loop), 0);
	pthread_join(t, NULL);
	assert_int_equal(loop.rc, -1);
	if (!strstr(loop.err, "over 1 s of wall-clock time"))
		fail_msg("stopped by something else: %s", loop.err);
	assert_true(time(NULL) - t0 <= 5); /* a budget of 2e9 takes 10 s or more */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hostile_policies_are_stopped_and_good_ones_carry_on),
		cmocka_unit_test(errors_on_some_pupils_are_logged_each_with_its_pupil),
		cmocka_unit_test(binary_chunks_are_refused),
		cmocka_unit_test(random_draws_are_reproducible),
		cmocka_unit_test(c_library_loops_are_stopped),
		cmocka_unit_test(the_deadline_holds_on_the_hundredth_thread),
		cmocka_unit_test(ordinary_library_use_is_not_refused),
		cmocka_unit_test(random_at_load_is_reproducible),
		cmocka_unit_test(support_inappropriate_must_be_a_boolean),
		cmocka_unit_test(memory_stop_says_where),
	};
	alarm(600); /* a sandbox that hangs must fail this test, not hang it */
	return cmocka_run_group_tests_name("policy", tests, group_setup, group_teardown);
}
