/*
 * test_webhooks.c — webhook operations end to end (docs/WEBHOOKS.md,
 * "Operating endpoints"): the real rollcall binary, a real SQLite file,
 * build/receiver on 127.0.0.1 saving every request it gets (--save), and
 * the official npm `standardwebhooks` library as the verifier of those
 * requests, with Ajv checking every body against its JSON Schema in
 * docs/schemas/ (tests/node/verify.js; `make test` installs both with npm ci).
 *
 *  - a secret rotated without a gap: before it, one signature (the old
 *    secret's); from the reload on, two, each verifying alone; once the
 *    overlap has passed, without a reload, the new one's alone; nothing
 *    lost or refused across the SIGHUP;
 *  - rate_per_second counted from the attempts' own start times
 *    (delivery_attempts.at), beside an endpoint that is not slowed;
 *  - an outage (503 until max_attempts) and redeliver --endpoint --since:
 *    every dead delivery sent once more, same webhook-id, same body bytes;
 *  - an endpoint failing for disable_after_hours disabled: its deliveries
 *    wait, status exits 1, endpoint enable resumes them. The hours may be
 *    fractional (at least 0.001, 3.6 s), which is how this test waits for
 *    it without a test-only clock;
 *  - every event type (alert, referral, legal step decided, proposed and
 *    expired, case closed) valid against its schema;
 *  - bad endpoint settings refused with file and line; endpoint rotate
 *    refusing what is no rotation and writing nothing, endpoint list never
 *    showing a secret.
 *
 * The actions are alerts from a probe policy that alerts every pupil on
 * each new school day (cooldown 0): build/gen's pupils, one alert each per
 * day of marks inserted.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"

#include <dirent.h>
#include <jansson.h>

#define NEW_SECRET "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

static char node_dir[PATH_MAX + 64];

/* The test's receiver, daemon and directory, for teardown to end if an
 * assertion stopped the test before it did. */
static struct e2e *live;

static int teardown(void **state)
{
	(void)state;
	if (live)
		e2e_free(live);
	live = NULL;
	return 0;
}

/* Pupils from build/gen for the LAs given, imported; a probe policy per LA
 * alerting each pupil on every new day, to the endpoint named for it. */
static void setup_data(struct e2e *e, int pupils, const char *las, const char *const endpoint[],
		       int nlas)
{
	char cmd[PATH_MAX * 3], path[PATH_MAX + 64];
	snprintf(cmd, sizeof cmd,
		 "'%s/gen' --pupils %d --days 1 --las %s --start 2026-01-05 --out '%s/data' "
		 ">/dev/null && mkdir -p '%s/policies'",
		 e2e_build, pupils, las, e->dir, e->dir);
	assert_int_equal(system(cmd), 0);
	const char *la = las;
	for (int i = 0; i < nlas; i++, la += 4) {
		char text[512];
		snprintf(path, sizeof path, "%s/policies/la-%.3s.lua", e->dir, la);
		snprintf(
			text, sizeof text,
			"policy { org = \"la:%.3s\", name = \"Webhook probe\", endpoints = { alert "
			"= \"%s\" } }\n"
			"function on_pupil(p)\n"
			"  alert(p, \"mark\", { severity = \"low\", cooldown_days = 0 })\n"
			"end\n",
			la, endpoint[i]);
		write_file(path, text);
	}
}

static void configure(struct e2e *e, const char *endpoints, const char *delivery)
{
	char path[PATH_MAX + 32], conf[8192];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(conf, sizeof conf,
		 "policies = \"policies\"\nscripts = \"%s/scripts\"\n"
		 "endpoints = {\n%s}\ndelivery = { %s }\n",
		 e2e_root, endpoints, delivery);
	write_file(path, conf);
}

static void import_data(struct e2e *e)
{
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	assert_int_equal(e2e_rollcall(e, "import data/schools.csv data/pupils.csv data/marks.csv"),
			 0);
}

static void secret_file(struct e2e *e, const char *name, const char *secret)
{
	char path[PATH_MAX + 64], text[128];
	snprintf(path, sizeof path, "%s/%s", e->dir, name);
	snprintf(text, sizeof text, "%s\n", secret);
	write_file(path, text);
	assert_int_equal(chmod(path, 0600), 0);
}

/* A new school day for every pupil: one alert each, through incoming as
 * another writer would. */
static void new_day(struct e2e *e, const char *date)
{
	char sql[512];
	snprintf(sql, sizeof sql,
		 "INSERT INTO incoming(upn, urn, date, session, code) SELECT upn, urn, '%s', "
		 "'AM', '/' FROM pupils",
		 date);
	e2e_exec(e, sql);
}

/* Move what the receiver saved so far into e->dir/NAME, for one verdict. */
static int take_saved(struct e2e *e, const char *name)
{
	char from[PATH_MAX + 32], to[PATH_MAX + 64], a[PATH_MAX * 2], b[PATH_MAX * 2];
	snprintf(from, sizeof from, "%s/saved", e->dir);
	snprintf(to, sizeof to, "%s/%s", e->dir, name);
	mkdir(to, 0700);
	DIR *d = opendir(from);
	assert_non_null(d);
	static int takes;
	struct dirent *ent;
	int n = 0;
	takes++;
	while ((ent = readdir(d)))
		if (ent->d_name[0] != '.') {
			snprintf(a, sizeof a, "%s/%s", from, ent->d_name);
			/* each take's files apart: a receiver started again
			 * numbers its requests from 1 again */
			snprintf(b, sizeof b, "%s/%d-%s", to, takes, ent->d_name);
			assert_int_equal(rename(a, b), 0);
			n++;
		}
	closedir(d);
	return n;
}

/* tests/node/verify.js on the requests saved in e->dir/NAME with ARGS:
 * its exit status; its output goes to e->dir/verify-NAME.out. */
static int verify(struct e2e *e, const char *name, const char *args)
{
	char cmd[PATH_MAX * 4];
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && node tests/node/verify.js --schemas docs/schemas %s '%s/%s' "
		 ">'%s/verify-%s.out' 2>&1",
		 e2e_root, args, e->dir, name, e->dir, name);
	int status = system(cmd);
	char out[4096], file[64];
	snprintf(file, sizeof file, "verify-%s.out", name);
	e2e_slurp(e, file, out, sizeof out);
	print_message("%s: %s", name, out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void start_receiver(struct e2e *e, int port, const char *args)
{
	char all[1024];
	snprintf(all, sizeof all, "--save '%s/saved' %s", e->dir, args);
	char saved[PATH_MAX + 32];
	snprintf(saved, sizeof saved, "%s/saved", e->dir);
	mkdir(saved, 0700);
	e2e_receiver_start(e, port, all);
}

static void rotation_without_a_gap(void **state)
{
	(void)state;
	struct e2e *e = live = e2e_new();
	const char *endpoint[] = { "hook" };
	char endpoints[8192], out[4096], sql[256];
	int n = 30;
	setup_data(e, n, "355", endpoint, 1);
	secret_file(e, "old.key", E2E_SECRET);
	secret_file(e, "new.key", NEW_SECRET);
	/* the receiver knows both: what it accepts is the verifier's to say */
	start_receiver(e, 0, "--secret " NEW_SECRET);
	snprintf(endpoints, sizeof endpoints,
		 "  hook = { url = \"http://127.0.0.1:%d/\", secret_file = \"old.key\" },\n",
		 e->port);
	configure(e, endpoints, "timeout_ms = 5000");
	import_data(e);
	e2e_daemon_start(e, "");

	/* 1. before: the old secret alone */
	assert_true(e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", n,
				 20000));
	assert_int_equal(take_saved(e, "before"), n);
	assert_int_equal(verify(e, "before",
				"--accept " E2E_SECRET " --refuse " NEW_SECRET " --signatures 1"),
			 0);

	/* 2. the rotation, as the officer does it: rotate prints the secrets
	 * line, which goes into rollcall.conf, then SIGHUP while deliveries are
	 * under way */
	assert_int_equal(e2e_rollcall(e, "endpoint rotate hook --new-secret-file new.key "
					 "--overlap 0.006"),
			 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "secrets = { { file = "));
	const char *until = strstr(out, "{ file = \"old.key\", expires = \"");
	assert_non_null(until);
	/* the overlap ends when the line says (to the second): 21.6 s on */
	struct tm tm = { 0 };
	assert_non_null(strptime(until + strlen("{ file = \"old.key\", expires = \""),
				 "%Y-%m-%dT%H:%M:%SZ", &tm));
	long long expires = (long long)timegm(&tm) * 1000;
	assert_true(expires - e2e_wall_ms() > 10000 && expires - e2e_wall_ms() <= 21600);
	out[strcspn(out, "\n")] = '\0';
	/* first a reload whose new secret file is readable by others: refused,
	 * the old secret goes on signing alone */
	char bad[PATH_MAX + 64];
	snprintf(bad, sizeof bad, "%s/new.key", e->dir);
	assert_int_equal(chmod(bad, 0644), 0);
	snprintf(endpoints, sizeof endpoints, "  hook = { url = \"http://127.0.0.1:%d/\", %s },\n",
		 e->port, out);
	configure(e, endpoints, "timeout_ms = 5000");
	kill(e->daemon, SIGHUP);
	assert_true(e2e_wait_lines(e->daemon_log, "rollcall.conf not reloaded", NULL, 1, 30000));
	assert_int_equal(lines_with(e->daemon_log, "rollcall.conf not reloaded", NULL), 1);
	assert_int_equal(chmod(bad, 0600), 0);
	snprintf(endpoints, sizeof endpoints, "  hook = { url = \"http://127.0.0.1:%d/\", %s },\n",
		 e->port, out);
	configure(e, endpoints, "timeout_ms = 5000");
	int reloaded = lines_with(e->daemon_log, "endpoints reloaded", NULL);
	new_day(e, "2026-01-06");
	kill(e->daemon, SIGHUP);
	assert_true(e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'",
				 2 * n, 20000));
	assert_true(e2e_wait_lines(e->daemon_log, "endpoints reloaded", NULL, reloaded + 1, 30000));
	assert_int_equal(lines_with(e->daemon_log, "endpoints reloaded", NULL), reloaded + 1);
	/* sent before the reload or after it: each verifies with the old */
	assert_int_equal(take_saved(e, "across"), n);
	assert_int_equal(verify(e, "across", "--accept " E2E_SECRET), 0);

	/* 3. during the overlap: with the old alone, and with the new alone */
	new_day(e, "2026-01-07");
	assert_true(e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'",
				 3 * n, 20000));
	assert_true(e2e_wall_ms() < expires); /* still within the overlap */
	assert_int_equal(take_saved(e, "during"), n);
	assert_int_equal(verify(e, "during",
				"--accept " E2E_SECRET " --accept " NEW_SECRET " --signatures 2"),
			 0);

	/* 4. after the overlap, with no reload: the new secret alone */
	while (e2e_wall_ms() < expires + 1500)
		sleep_ms(100);
	new_day(e, "2026-01-08");
	assert_true(e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'",
				 4 * n, 20000));
	assert_int_equal(take_saved(e, "after"), n);
	assert_int_equal(verify(e, "after",
				"--accept " NEW_SECRET " --refuse " E2E_SECRET " --signatures 1"),
			 0);

	/* nothing lost, nothing refused, each once */
	snprintf(sql, sizeof sql, "SELECT count(*) FROM deliveries WHERE state != 'delivered'");
	assert_int_equal(e2e_query(e, sql), 0);
	assert_int_equal(e2e_query(e, "SELECT count(DISTINCT webhook_id) FROM deliveries"), 4 * n);
	assert_int_equal(lines_with(e->log, "sig=valid status=200", NULL), 4 * n);
	assert_int_equal(lines_with(e->log, " n=1 sig=valid", NULL), 4 * n);
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 20000), 0);
	e2e_free(e);
	live = NULL;
}

/* "2026-12-01T13:45:12.345Z" as Unix milliseconds. */
static long long at_ms(const char *at)
{
	struct tm tm = { 0 };
	int ms;
	const char *rest = strptime(at, "%Y-%m-%dT%H:%M:%S", &tm);
	assert_non_null(rest);
	assert_int_equal(sscanf(rest, ".%dZ", &ms), 1);
	return (long long)timegm(&tm) * 1000 + ms;
}

/* The attempts' start times of an endpoint's deliveries, sorted: how many
 * in *n, the largest count within any 1000 ms in *most, the span in *span. */
static void attempt_times(struct e2e *e, const char *endpoint, int *n, int *most, long long *span)
{
	static long long t[4096];
	sqlite3 *db = e2e_db(e);
	sqlite3_stmt *st;
	assert_int_equal(
		sqlite3_prepare_v2(db,
				   "SELECT a.at FROM delivery_attempts a JOIN deliveries d "
				   "ON d.id = a.delivery WHERE d.endpoint = ? ORDER BY a.at",
				   -1, &st, NULL),
		SQLITE_OK);
	sqlite3_bind_text(st, 1, endpoint, -1, SQLITE_STATIC);
	*n = 0;
	while (sqlite3_step(st) == SQLITE_ROW && *n < 4096)
		t[(*n)++] = at_ms((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	*most = 0;
	for (int i = 0, j = 0; i < *n; i++) {
		while (t[i] - t[j] >= 1000)
			j++;
		if (i - j + 1 > *most)
			*most = i - j + 1;
	}
	*span = *n ? t[*n - 1] - t[0] : 0;
}

static void rate_per_second_slows_only_its_endpoint(void **state)
{
	(void)state;
	struct e2e *e = live = e2e_new();
	const char *endpoint[] = { "slow", "fast" };
	char endpoints[1024];
	setup_data(e, 300, "355,846", endpoint, 2);
	start_receiver(e, 0, "");
	snprintf(endpoints, sizeof endpoints,
		 "  slow = { url = \"http://127.0.0.1:%d/slow\", secret_env = \"HOOK_SECRET\", "
		 "rate_per_second = 50 },\n"
		 "  fast = { url = \"http://127.0.0.1:%d/fast\", secret_env = \"HOOK_SECRET\" },\n",
		 e->port, e->port);
	configure(e, endpoints, "timeout_ms = 5000");
	import_data(e);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	long long slow = e2e_query(e, "SELECT count(*) FROM deliveries WHERE endpoint = 'slow' "
				      "AND state = 'delivered'");
	long long fast = e2e_query(e, "SELECT count(*) FROM deliveries WHERE endpoint = 'fast' "
				      "AND state = 'delivered'");
	assert_true(slow >= 100 && fast >= 100);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state != "
				      "'delivered'"),
			 0);
	int n, most;
	long long span;
	long long slow_span;
	attempt_times(e, "slow", &n, &most, &span);
	slow_span = span;
	print_message("slow: %d attempts over %lld ms, at most %d in a second\n", n, span, most);
	assert_int_equal(n, slow);
	/* 50 a second, and the bucket's tenth of a second (5) at most ahead */
	assert_true(most <= 55);
	assert_true(span >= (n - 6) * 20LL);
	attempt_times(e, "fast", &n, &most, &span);
	print_message("fast: %d attempts over %lld ms, at most %d in a second\n", n, span, most);
	assert_int_equal(n, fast);
	/* not held to the other's rate: at 50 a second its hundred or more
	 * would take over half the slow one's time; unheld, they take a few
	 * hundredths of a second */
	assert_true(span < slow_span / 4);
	assert_int_equal(take_saved(e, "all"), slow + fast);
	assert_int_equal(verify(e, "all", "--accept " E2E_SECRET " --signatures 1"), 0);
	e2e_free(e);
	live = NULL;
}

/* Send what is due until nothing is pending (--once leaves retries due
 * later), at most tries times. */
static void run_until_settled(struct e2e *e, int tries)
{
	for (int i = 0; i < tries; i++) {
		assert_int_equal(e2e_rollcall(e, "run --once"), 0);
		if (!e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending'"))
			return;
		sleep_ms(20);
	}
	fail_msg("deliveries still pending after %d runs", tries);
}

static void bulk_recovery_after_an_outage(void **state)
{
	(void)state;
	struct e2e *e = live = e2e_new();
	const char *endpoint[] = { "hook" };
	char endpoints[1024], sql[512];
	int n = 25;
	setup_data(e, n, "355", endpoint, 1);
	start_receiver(e, 0, "--status 503");
	int port = e->port;
	snprintf(endpoints, sizeof endpoints,
		 "  hook = { url = \"http://127.0.0.1:%d/\", secret_env = \"HOOK_SECRET\" },\n",
		 port);
	configure(e, endpoints, "max_attempts = 3, backoff_ms = 1, backoff_max_ms = 2");
	import_data(e);
	run_until_settled(e, 100);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'dead'"), n);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM delivery_attempts WHERE status = 503"),
			 3 * n);
	char outage_log[PATH_MAX + 32];
	snprintf(outage_log, sizeof outage_log, "%s", e->log);
	e2e_receiver_stop(e);
	/* the outage's requests go with the recovery's into one verdict */
	assert_int_equal(take_saved(e, "all"), 3 * n);

	/* refused: an endpoint not configured, a time that is not one */
	assert_int_equal(e2e_rollcall(e, "redeliver --endpoint nowhere --since 2026-01-01"), 2);
	assert_int_equal(e2e_rollcall(e, "redeliver --endpoint hook --since yesterday"), 2);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'dead'"), n);

	/* the receiver is back: every dead delivery since the outage began */
	start_receiver(e, port, "");
	char *since = e2e_text(e, "SELECT min(created_at) FROM deliveries");
	snprintf(sql, sizeof sql, "redeliver --endpoint hook --since %s", since);
	free(since);
	assert_int_equal(e2e_rollcall(e, sql), 0);
	run_until_settled(e, 20);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
			 n);
	/* once each, by the ids the outage saw */
	assert_int_equal(lines_with(e->log, " n=1 sig=valid status=200", NULL), n);
	assert_int_equal(lines_with(e->log, "sig=valid", NULL), n);
	sqlite3 *db = e2e_db(e);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT webhook_id FROM deliveries", -1, &st, NULL),
			 SQLITE_OK);
	int ids = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		char id[64];
		snprintf(id, sizeof id, "id=%s ", sqlite3_column_text(st, 0));
		assert_int_equal(lines_with(e->log, id, "status=200"), 1);
		assert_int_equal(lines_with(outage_log, id, "status=503"), 3);
		ids++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(ids, n);
	/* every attempt sent the bytes first sent, which deliveries.body keeps */
	assert_int_equal(take_saved(e, "all"), n);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE body IS NULL"), 0);
	char args[64];
	snprintf(args, sizeof args, "--accept %s --ids %d", E2E_SECRET, n);
	assert_int_equal(verify(e, "all", args), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM delivery_attempts"), 4 * n);
	/* bounded: more than 10,000 at once is refused, and nothing queued */
	e2e_exec(e, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < "
		    "10001) INSERT INTO deliveries(action_id, endpoint, webhook_id, state, "
		    "created_at) SELECT (SELECT min(id) FROM actions), 'hook', 'msg_bulk' || i, "
		    "'dead', '2026-12-31T00:00:00Z' FROM k");
	assert_int_equal(e2e_rollcall(e, "redeliver --endpoint hook --since 2026-12-31"), 2);
	char err[1024];
	e2e_slurp(e, "err", err, sizeof err);
	assert_non_null(strstr(err, "10001 dead deliveries to hook since 2026-12-31: more than "
				    "10000 at once; nothing queued"));
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'dead'"),
			 10001);
	/* audited once, with the count */
	assert_int_equal(e2e_query(e,
				   "SELECT count(*) FROM audit WHERE what = "
				   "'delivery.redeliver_bulk' AND org = 'la:355' AND detail LIKE "
				   "'25 deliveries to hook %'"),
			 1);
	e2e_free(e);
	live = NULL;
}

static void an_endpoint_failing_for_disable_after_hours_is_disabled(void **state)
{
	(void)state;
	struct e2e *e = live = e2e_new();
	const char *endpoint[] = { "hook" };
	char endpoints[1024], out[8192];
	int n = 5;
	setup_data(e, n, "355", endpoint, 1);
	start_receiver(e, 0, "--status 503");
	int port = e->port;
	/* 0.001 hours: 3.6 s */
	snprintf(endpoints, sizeof endpoints,
		 "  hook = { url = \"http://127.0.0.1:%d/\", secret_env = \"HOOK_SECRET\", "
		 "disable_after_hours = 0.001 },\n",
		 port);
	configure(e, endpoints, "max_attempts = 100, backoff_ms = 100, backoff_max_ms = 300");
	import_data(e);
	/* it failed last before a holiday of ten days: that run is over, and
	 * the next failure starts a new one (it is not disabled at once) */
	e2e_exec(e, "INSERT INTO endpoint_state(name, failing_since, last_failure) VALUES "
		    "('hook', (strftime('%s', 'now') - 864000) * 1000, (strftime('%s', 'now') - "
		    "864000) * 1000)");
	e2e_daemon_start(e, "");
	assert_true(e2e_wait_for(e,
				 "SELECT count(*) FROM endpoint_state WHERE name = 'hook' AND "
				 "disabled_at IS NOT NULL",
				 1, 20000));
	/* disabled after 3.6 s of failing, not before (disabled_at is to the
	 * second: up to 1 s of it lost) */
	assert_int_equal(e2e_query(e, "SELECT failing_since > (strftime('%s', 'now') - 120) * 1000 "
				      "AND strftime('%s', disabled_at) * 1000 - failing_since >= "
				      "2600 FROM endpoint_state WHERE name = 'hook'"),
			 1);
	/* what was in flight has ended: the count holds for half a second */
	long long attempts = -1;
	for (long long end = e2e_now_ms() + 20000; e2e_now_ms() < end;) {
		long long now = e2e_query(e, "SELECT count(*) FROM delivery_attempts");
		if (now == attempts)
			break;
		attempts = now;
		sleep_ms(500);
	}
	sleep_ms(1500);
	/* it waits: no more attempts, nothing dead */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM delivery_attempts"), attempts);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending'"),
			 n);
	assert_true(e2e_query(e, "SELECT min(attempts) FROM deliveries") < 100);
	assert_int_equal(lines_with(e->daemon_log, "endpoint disabled", "endpoint=hook"), 1);
	assert_int_equal(e2e_rollcall(e, "status"), 1);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "1 endpoints disabled, their deliveries waiting: hook since"));
	assert_int_equal(e2e_rollcall(e, "status --json"), 1);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "\"endpoints_disabled\":1"));
	assert_int_equal(e2e_rollcall(e, "endpoint list"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "DISABLED since"));
	assert_non_null(strstr(out, "every attempt failed for 0.001 hours (disable_after_hours)"));

	/* the receiver is back; the officer enables it */
	e2e_receiver_stop(e);
	start_receiver(e, port, "");
	assert_int_equal(e2e_rollcall(e, "endpoint enable hook"), 0);
	assert_true(e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", n,
				 15000));
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM endpoint_state WHERE disabled_at IS "
				      "NOT NULL OR failing_since IS NOT NULL"),
			 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit WHERE what = 'endpoint.enable' "
				      "AND before = 'disabled' AND after = 'enabled'"),
			 1);
	assert_int_equal(e2e_rollcall(e, "endpoint enable hook"), 2); /* not disabled now */
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 20000), 0);
	e2e_rollcall(e, "status");
	e2e_slurp(e, "out", out, sizeof out);
	assert_null(strstr(out, "disabled"));
	e2e_free(e);
	live = NULL;
}

/* Every event type a receiver can get, each checked against its schema:
 * from tests/data's pupil at the national penalty threshold, an alert, a
 * referral, a letter (decided at once: attendance.legal_step) and a
 * penalty notice proposed; the proposal past its day, expired; then the
 * policy closing the case. */
static void every_event_type_matches_its_schema(void **state)
{
	(void)state;
	struct e2e *e = live = e2e_new();
	char endpoints[1024], path[PATH_MAX + 64], cmd[PATH_MAX * 3];
	start_receiver(e, 0, "");
	snprintf(endpoints, sizeof endpoints,
		 "  hook = { url = \"http://127.0.0.1:%d/\", secret_env = \"HOOK_SECRET\" },\n",
		 e->port);
	configure(e, endpoints, "timeout_ms = 5000");
	snprintf(cmd, sizeof cmd, "mkdir -p '%s/policies' && cp %s/tests/data/*.csv '%s/'", e->dir,
		 e2e_root, e->dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof path, "%s/policies/la-355.lua", e->dir);
	write_file(path, "policy { org = 'la:355', name = 'Every event', endpoints = {\n"
			 "  alert = 'hook', referral = 'hook', legal = 'hook', case = 'hook' },\n"
			 "  signoff = { letter = false } }\n"
			 "local national = require 'national'\n"
			 "function on_pupil(p)\n"
			 "  if national.penalty_threshold_met(p) then\n"
			 "    alert(p, 'severe_absence', { severity = 'high' })\n"
			 "    refer_mentor(p, { message = 'persistent absence' })\n"
			 "    legal_step(p, 'letter', { reason = 'threshold' })\n"
			 "    legal_step(p, 'penalty_notice', { reason = 'threshold', "
			 "support_inappropriate = true })\n"
			 "  end\n"
			 "end\n");
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	assert_int_equal(e2e_rollcall(e, "import schools.csv pupils.csv marks.csv"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE state = 'proposed'"), 1);
	/* the proposal's last day has passed */
	e2e_exec(e, "UPDATE actions SET decide_by = '2026-01-02' WHERE state = 'proposed'");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE state = 'expired'"), 1);
	/* the policy now closes the case */
	write_file(path, "policy { org = 'la:355', name = 'Every event', endpoints = {\n"
			 "  alert = 'hook', legal = 'hook', case = 'hook' } }\n"
			 "function on_pupil(p)\n"
			 "  close_case(p, 'attendance recovered')\n"
			 "end\n");
	assert_int_equal(e2e_rollcall(e, "reevaluate la:355"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state != "
				      "'delivered'"),
			 0);
	long long sent = e2e_query(e, "SELECT count(*) FROM deliveries");
	assert_int_equal(take_saved(e, "all"), sent);
	assert_int_equal(verify(e, "all", "--accept " E2E_SECRET), 0);
	char out[4096];
	e2e_slurp(e, "verify-all.out", out, sizeof out);
	const char *types[] = { "attendance.alert=",
				"attendance.case_closed=",
				"attendance.legal_step=",
				"attendance.legal_step.expired=",
				"attendance.legal_step.proposed=",
				"attendance.referral=" };
	for (size_t i = 0; i < sizeof types / sizeof *types; i++)
		if (!strstr(out, types[i]))
			fail_msg("no %s event was received: %s", types[i], out);
	e2e_free(e);
	live = NULL;
}

/* Bad endpoint settings stop rollcall with the file, the line and the key. */
static void bad_endpoint_settings_are_refused(void **state)
{
	(void)state;
	struct e2e *e = live = e2e_new();
	static const struct {
		const char *endpoint, *error;
	} cases[] = {
		{ "secrets = { { file = 'a.key', expires = 'soon' } }",
		  "rollcall.conf:5: endpoints[\"hook\"].secrets: expires \"soon\" is not "
		  "YYYY-MM-DDTHH:MM:SSZ (UTC) or YYYY-MM-DD" },
		{ "secrets = { { file = 'a.key', env = 'X' } }", "each needs one of file or env" },
		{ "secrets = { }", "endpoints[\"hook\"].secrets is empty" },
		{ "secrets = { { file = 'a.key', colour = 'red' } }",
		  "secrets: unknown key 'colour' (keys: file, env, expires)" },
		{ "secret_env = 'X', secrets = { { env = 'X' } }",
		  "needs one of secret_env or secret_file, or secrets = { ... }" },
		{ "secret_env = 'X', rate_per_second = 0",
		  "rollcall.conf:5: endpoints[\"hook\"].rate_per_second must be a whole number "
		  "from 1 to 100000" },
		{ "secret_env = 'X', disable_after_hours = 0",
		  "disable_after_hours must be a number of hours from 0.001 to 8760" },
		{ "secrets = { { file = 'gone.key', expires = '2026-01-01' }, { file = 'a.key', "
		  "expires = '2026-02-01T00:00:00Z' } }",
		  "rollcall.conf:4: endpoints[\\\"hook\\\"]: every one of its secrets has "
		  "expired" },
	};
	secret_file(e, "a.key", E2E_SECRET);
	configure(e, "", "timeout_ms = 5000");
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char endpoints[1024], err[2048];
		snprintf(endpoints, sizeof endpoints,
			 "  hook = { url = 'http://127.0.0.1:9/',\n    %s },\n", cases[i].endpoint);
		configure(e, endpoints, "timeout_ms = 5000");
		int status = e2e_rollcall(e, "run --once");
		e2e_slurp(e, "err", err, sizeof err);
		if (status != 2 || !strstr(err, cases[i].error))
			fail_msg("case %zu: exit %d, stderr lacks \"%s\": %s", i, status,
				 cases[i].error, err);
	}
	e2e_free(e);
	live = NULL;
}

/* rotate checks the new secret and writes nothing; list never shows one. */
static void rotate_refuses_what_is_no_rotation(void **state)
{
	(void)state;
	struct e2e *e = live = e2e_new();
	char out[4096], before[4096];
	secret_file(e, "old.key", E2E_SECRET);
	secret_file(e, "new.key", NEW_SECRET);
	secret_file(e, "same.key", E2E_SECRET);
	secret_file(e, "open.key", NEW_SECRET);
	assert_int_equal(chmod(strcat(strcpy(out, e->dir), "/open.key"), 0644), 0);
	configure(e,
		  "  hook = { url = 'http://127.0.0.1:9/', secrets = { { file = 'old.key' }, { env "
		  "= 'HOOK_SECRET', expires = '2026-01-01T00:00:00Z' } } },\n",
		  "timeout_ms = 5000");
	e2e_slurp(e, "rollcall.conf", before, sizeof before);
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	assert_int_equal(e2e_rollcall(e, "endpoint rotate hook --new-secret-file same.key"), 2);
	e2e_slurp(e, "err", out, sizeof out);
	assert_non_null(strstr(out, "holds a secret endpoint hook already has (file old.key)"));
	assert_int_equal(e2e_rollcall(e, "endpoint rotate hook --new-secret-file open.key"), 2);
	e2e_slurp(e, "err", out, sizeof out);
	assert_non_null(strstr(out, "is readable by group or others"));
	assert_int_equal(e2e_rollcall(e, "endpoint rotate hook --new-secret-file gone.key"), 2);
	assert_int_equal(e2e_rollcall(e, "endpoint rotate hook --new-secret-file new.key "
					 "--overlap 200"),
			 2);
	assert_int_equal(e2e_rollcall(e, "endpoint rotate nowhere --new-secret-file new.key"), 2);
	/* overlap 0: the new secret alone; the expired one is never listed */
	assert_int_equal(e2e_rollcall(e, "endpoint rotate hook --new-secret-file new.key --overlap "
					 "0"),
			 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "/new.key\" } },\n"));
	assert_null(strstr(out, "old.key"));
	assert_null(strstr(out, "HOOK_SECRET"));
	/* the default overlap: the old one for 24 hours more */
	assert_int_equal(e2e_rollcall(e, "endpoint rotate hook --new-secret-file new.key"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "{ file = \"old.key\", expires = \""));
	/* nothing was written */
	e2e_slurp(e, "rollcall.conf", out, sizeof out);
	assert_string_equal(out, before);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit"), 0);
	assert_int_equal(e2e_rollcall(e, "endpoint list --json"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "\"valid_until\":\"2026-01-01T00:00:00Z\",\"expired\":true"));
	assert_null(strstr(out, "whsec_"));
	assert_null(strstr(out, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
	e2e_free(e);
	live = NULL;
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	snprintf(node_dir, sizeof node_dir, "%s/tests/node/node_modules/standardwebhooks",
		 e2e_root);
	if (access(node_dir, R_OK) != 0) {
		fprintf(stderr, "%s is missing: make test installs it (npm ci in tests/node)\n",
			node_dir);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(rate_per_second_slows_only_its_endpoint, teardown),
		cmocka_unit_test_teardown(bulk_recovery_after_an_outage, teardown),
		cmocka_unit_test_teardown(an_endpoint_failing_for_disable_after_hours_is_disabled,
					  teardown),
		cmocka_unit_test_teardown(rotation_without_a_gap, teardown),
		cmocka_unit_test_teardown(every_event_type_matches_its_schema, teardown),
		cmocka_unit_test_teardown(bad_endpoint_settings_are_refused, teardown),
		cmocka_unit_test_teardown(rotate_refuses_what_is_no_rotation, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
