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
#include <fcntl.h>
#include <limits.h>
#include <lauxlib.h>
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
	snprintf(cmd, sizeof cmd,
		 "build/rollcall -q --db '%s' init && build/rollcall -q --db '%s' import "
		 "tests/data/schools.csv tests/data/pupils.csv tests/data/marks.csv",
		 pristine, pristine);
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
		char path[PATH_MAX], first[512], want[512];
		snprintf(path, sizeof path, "tests/hostile/lua/%s", de->d_name);
		FILE *f = fopen(path, "r");
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
			fail_msg("%s: the good policy recorded %lld actions for %lld pupils", path,
				 all, seen);
		/* the hostile one recorded nothing, except the pupil it is fine on */
		long long theirs = one(&db, "SELECT count(*) FROM actions WHERE org = "
					    "'trust:TR00092' AND kind != 'seen_by_trust'");
		assert_int_equal(theirs, 0);
		db_close(&db);
		cases++;
	}
	closedir(d);
	assert_true(cases >= 20);
	assert_int_equal(access("/tmp/rollcall-pwned", F_OK), -1);
}

/* A runtime error on some pupils is logged once per batch, with a count of
 * the rest, and the pupils it does not fail on are still evaluated. */
static void errors_on_some_pupils_are_logged_once(void **state)
{
	(void)state;
	struct db db;
	struct batch_stats st;
	char *log = run_beside_good("tests/hostile/lua/error-on-some-pupils.lua", &db, &st);
	assert_int_equal(st.errors, 2);
	const char *first = strstr(log, "msg=\"policy error\"");
	assert_non_null(first);
	assert_null(strstr(first + 1, "msg=\"policy error\""));
	assert_non_null(strstr(log, "msg=\"more policy errors in this batch\" org=trust:TR00092"));
	assert_non_null(strstr(log, "count=1"));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hostile_policies_are_stopped_and_good_ones_carry_on),
		cmocka_unit_test(errors_on_some_pupils_are_logged_once),
		cmocka_unit_test(binary_chunks_are_refused),
		cmocka_unit_test(random_draws_are_reproducible),
	};
	return cmocka_run_group_tests_name("policy", tests, group_setup, group_teardown);
}
