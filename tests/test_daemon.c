/*
 * test_daemon.c — `rollcall run` as a service, end to end: the real binary
 * watching a real SQLite file that this test process writes to as another
 * program would (INSERT INTO incoming), and build/receiver on 127.0.0.1.
 *
 * The data are the generator's (build/gen, deterministic) for councils 355 and 846, whose
 * trusts include TR00001, so the example policies in policies/ all act.
 * Marks are written a school day at a time, each day one transaction.
 */
#define _DEFAULT_SOURCE
#define _GNU_SOURCE   /* prlimit */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"

#include <fcntl.h>

#define DRAINED                                                                                    \
	"SELECT (SELECT count(*) FROM incoming) = 0 AND coalesce((SELECT max(seq) FROM "           \
	"changes), 0) <= coalesce((SELECT value FROM meta WHERE key = 'evaluated_seq'), 0)"

/* What one run recorded, in an order and form that do not depend on when it
 * ran: every column but the id and the wall-clock time. */
#define ACTIONS_RECORDED                                                                           \
	"SELECT count(*) || ':' || group_concat(row, '|') FROM (SELECT org || ',' || upn || ',' "  \
	"|| action || ',' || kind || ',' || coalesce(severity, '') || ',' || coalesce(message, "   \
	"'') || ',' || coalesce(evidence, '') || ',' || coalesce(data, '') || ',' || date || "     \
	"',' || policy || ',' || policy_sha256 AS row FROM actions ORDER BY row)"

/* A day of marks from marks.csv: the INSERT statements of one transaction. */
struct day {
	char date[11];
	char *sql;
	size_t len, cap;
	int rows;
};

struct stream {
	struct day days[64];
	int ndays;
	long rows;
};

static void append(struct day *d, const char *text)
{
	size_t n = strlen(text);
	if (d->len + n + 1 > d->cap) {
		d->cap = (d->len + n + 1) * 2;
		d->sql = realloc(d->sql, d->cap);
	}
	memcpy(d->sql + d->len, text, n + 1);
	d->len += n;
}

/* Generate pupils for councils 355 and 846 and read their marks by day. */
static void generate(struct e2e *e, int pupils, int days, struct stream *s)
{
	char cmd[PATH_MAX * 3], path[PATH_MAX + 32], line[256];
	snprintf(cmd, sizeof cmd, "'%s/gen' --pupils %d --days %d --las 355,846 --out '%s/data'",
		 e2e_build, pupils, days, e->dir);
	assert_int_equal(system(cmd), 0);
	memset(s, 0, sizeof *s);
	snprintf(path, sizeof path, "%s/data/marks.csv", e->dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f)); /* the header */
	while (fgets(line, sizeof line, f)) {
		char upn[16], urn[8], date[11], session[3], code[3], sql[256];
		/* gen writes plain fields: upn,urn,date,session,code,minutes_late */
		assert_int_equal(sscanf(line, "%13[^,],%6[^,],%10[^,],%2[^,],%2[^,\r\n]", upn, urn,
					date, session, code),
				 5);
		if (!s->ndays || strcmp(s->days[s->ndays - 1].date, date)) {
			assert_true(s->ndays < 64);
			struct day *d = &s->days[s->ndays++];
			snprintf(d->date, sizeof d->date, "%s", date);
			append(d, "BEGIN;");
		}
		struct day *d = &s->days[s->ndays - 1];
		snprintf(sql, sizeof sql,
			 "INSERT INTO incoming(upn, urn, date, session, code) VALUES ('%s', %s, "
			 "'%s', '%s', '%s');",
			 upn, urn, date, session, code);
		append(d, sql);
		d->rows++;
		s->rows++;
	}
	fclose(f);
	for (int i = 0; i < s->ndays; i++)
		append(&s->days[i], "COMMIT;");
}

static void stream_free(struct stream *s)
{
	for (int i = 0; i < s->ndays; i++)
		free(s->days[i].sql);
}

/* A fresh database with the generated schools and pupils, and a config
 * whose endpoints all point at port with the given delivery and limits. */
static void prepare(struct e2e *e, int port, const char *policies, const char *extra)
{
	char path[PATH_MAX + 32], conf[PATH_MAX * 4], args[PATH_MAX * 3];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(conf, sizeof conf,
		 "policies = '%s'\nscripts = '%s/scripts'\n"
		 "endpoints = {\n"
		 "  ['ewo-team'] = { url = 'http://127.0.0.1:%d/ewo', secret_env = 'HOOK_SECRET' "
		 "},\n"
		 "  ['mentors'] = { url = 'http://127.0.0.1:%d/mentors', secret_env = "
		 "'HOOK_SECRET' },\n"
		 "  ['legal-team'] = { url = 'http://127.0.0.1:%d/legal', secret_env = "
		 "'HOOK_SECRET' },\n"
		 "  ['trust-attendance'] = { url = 'http://127.0.0.1:%d/trust', secret_env = "
		 "'HOOK_SECRET' },\n"
		 "}\n%s\n",
		 policies, e2e_root, port, port, port, port, extra);
	write_file(path, conf);
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	snprintf(args, sizeof args, "import '%s/data/schools.csv' '%s/data/pupils.csv'", e->dir,
		 e->dir);
	assert_int_equal(e2e_rollcall(e, args), 0);
}

static void policies_dir(char out[PATH_MAX + 32])
{
	snprintf(out, PATH_MAX + 32, "%s/policies", e2e_root);
}

/* Every delivery delivered, and every webhook-id the database holds seen by
 * the receiver with a valid signature and a 200; no id it does not hold. */
static void every_delivery_arrived(struct e2e *e)
{
	long long n = e2e_query(e, "SELECT count(*) FROM deliveries");
	assert_true(n > 0);
	if (!e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", n, 30000))
		fail_msg("not every delivery was delivered");
	sqlite3 *db = e2e_db(e);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT webhook_id FROM deliveries", -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char want[128];
		snprintf(want, sizeof want, "id=%s ", sqlite3_column_text(st, 0));
		if (lines_with(e->log, want, "sig=valid status=200") < 1)
			fail_msg("webhook %s never reached the receiver", want);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* every request the receiver saw carried an id the database knows */
	char line[4096], path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s", e->log);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	db = e2e_db(e);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM deliveries WHERE webhook_id = ?", -1,
					    &st, NULL),
			 SQLITE_OK);
	while (fgets(line, sizeof line, f)) {
		char id[128];
		if (sscanf(line, "id=%127s ", id) != 1)
			continue;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_ROW)
			fail_msg("the receiver saw an unknown webhook-id %s", id);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	fclose(f);
}

/* Each test's directories and processes, freed (and killed) by teardown
 * even when an assertion fails part-way. */
struct fixture {
	struct e2e *e, *ref;
	struct stream s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->e = e2e_new();
	f->ref = e2e_new();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	stream_free(&f->s);
	e2e_free(f->e);
	e2e_free(f->ref);
	free(f);
	return 0;
}

/* ---- watching ---- */

static long cpu_ticks(pid_t pid)
{
	char path[64], text[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	long utime, stime;
	char *p = strrchr(text, ')'); /* fields after the command name */
	assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
				&utime, &stime),
			 2);
	return utime + stime;
}

static void rows_from_another_process_are_taken_and_delivered(void **state)
{
	struct fixture *f = *state;
	struct e2e *e = f->e;
	char policies[PATH_MAX + 32];
	policies_dir(policies);
	generate(e, 300, 12, &f->s);
	struct stream *s = &f->s;
	e2e_receiver_start(e, 0, "");
	prepare(e, e->port, policies, "");
	e2e_daemon_start(e, "");

	/* idle: no busy loop (a loose bound, for ThreadSanitizer's build too:
	 * a spinning loop uses ~100%) */
	sleep_ms(1000);
	long before = cpu_ticks(e->daemon);
	sleep_ms(2000);
	long idle = cpu_ticks(e->daemon) - before;
	if (idle > 50) /* clock ticks, 1/100 s: 25% of the 2 s */
		fail_msg("an idle rollcall run used %ld ticks in 2 s", idle);

	for (int i = 0; i < s->ndays; i++) {
		e2e_exec(e, s->days[i].sql);
		if (!e2e_wait_for(e, DRAINED, 1, 10000))
			fail_msg("day %s was not taken", s->days[i].date);
	}
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks"), s->rows);
	assert_true(e2e_query(e, "SELECT count(*) FROM actions") > 0);
	every_delivery_arrived(e);

	/* a summary line per batch, in logfmt */
	assert_true(lines_with(e->daemon_log, "level=info msg=batch marks=", "seconds=") > 0);
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 15000), 0);
	assert_int_equal(lines_with(e->daemon_log, "msg=stopped", NULL), 1);
}

/* ---- reloading ---- */

static void write_policy(struct e2e *e, const char *kind, int broken)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 32], text[1024];
	snprintf(path, sizeof path, "%s/pol/la-355.lua", e->dir);
	snprintf(tmp, sizeof tmp, "%s/pol/.council.tmp", e->dir);
	snprintf(text, sizeof text,
		 "policy { org = 'la:355', name = 'Test', endpoints = {} }\n"
		 "function on_pupil(p)\n"
		 "  alert(p, '%s', { severity = 'low', cooldown_days = 0 })\n"
		 "end\n%s",
		 kind, broken ? "if then\n" : "");
	write_file(tmp, text); /* as deployment tools do: write, then rename */
	assert_int_equal(rename(tmp, path), 0);
}

/* Insert day i, wait for it, and return the actions of that kind so far. */
static long long day_of_alerts(struct e2e *e, struct stream *s, int i, const char *kind)
{
	char sql[256];
	e2e_exec(e, s->days[i].sql);
	if (!e2e_wait_for(e, DRAINED, 1, 10000))
		fail_msg("day %s was not taken", s->days[i].date);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM actions WHERE kind = '%s'", kind);
	return e2e_query(e, sql);
}

static void a_broken_edit_keeps_the_old_policy_and_a_fix_is_picked_up(void **state)
{
	struct fixture *f = *state;
	struct e2e *e = f->e;
	struct stream *s = &f->s;
	char pol[PATH_MAX + 32];
	generate(e, 40, 4, s);
	snprintf(pol, sizeof pol, "%s/pol", e->dir);
	assert_int_equal(mkdir(pol, 0700), 0);
	write_policy(e, "v1", 0);
	prepare(e, 1, pol, "");
	e2e_daemon_start(e, "--no-deliver");
	long long salford = e2e_query(e, "SELECT count(*) FROM pupils p JOIN schools s ON "
					 "s.urn = p.urn WHERE s.la_code = '355'");
	assert_true(salford > 0);
	assert_int_equal(day_of_alerts(e, s, 0, "v1"), salford);

	/* a syntax error: logged, and the previous version goes on acting */
	write_policy(e, "v2", 1);
	(void)e2e_wait_lines(e->daemon_log, "policy not reloaded", "la-355.lua", 1, 10000);
	assert_true(lines_with(e->daemon_log, "previous version keeps running", "la-355.lua:5:") >=
		    1);
	assert_int_equal(day_of_alerts(e, s, 1, "v1"), 2 * salford);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE kind = 'v2'"), 0);

	/* the fix is picked up without a restart */
	write_policy(e, "v2", 0);
	(void)e2e_wait_lines(e->daemon_log, "policies reloaded", "failed=0", 1, 10000);
	assert_int_equal(day_of_alerts(e, s, 2, "v2"), salford);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE kind = 'v1'"),
			 2 * salford);

	/* SIGHUP reloads too */
	int reloads = lines_with(e->daemon_log, "policies reloaded", NULL);
	kill(e->daemon, SIGHUP);
	(void)e2e_wait_lines(e->daemon_log, "policies reloaded", NULL, reloads + 1, 10000);
	assert_int_equal(lines_with(e->daemon_log, "policies reloaded", NULL), reloads + 1);
	assert_int_equal(day_of_alerts(e, s, 3, "v2"), 2 * salford);

	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 15000), 0);
}

/* ---- pupils moving school ---- */

/* The service holds every pupil in memory (directory.c): a pupil moved by a
 * `rollcall import` in another process while it runs must be seen at the
 * new school at once, its marks there accepted and its policies told. */
static void a_pupil_moved_by_an_import_is_seen_at_the_new_school(void **state)
{
	struct fixture *f = *state;
	struct e2e *e = f->e;
	struct stream *s = &f->s;
	char pol[PATH_MAX + 32], path[PATH_MAX * 2], sql[512], args[PATH_MAX * 3];
	generate(e, 600, 2, s); /* enough for a second school in council 355 */
	snprintf(pol, sizeof pol, "%s/pol", e->dir);
	assert_int_equal(mkdir(pol, 0700), 0);
	snprintf(path, sizeof path, "%s/la-355.lua", pol);
	write_file(path, "policy { org = 'la:355', name = 'Where', endpoints = {} }\n"
			 "function on_pupil(p)\n"
			 "  alert(p, 'at_' .. p.urn, { cooldown_days = 0 })\n"
			 "end\n");
	prepare(e, 1, pol, "");
	e2e_daemon_start(e, "--no-deliver");
	e2e_exec(e, s->days[0].sql);
	if (!e2e_wait_for(e, DRAINED, 1, 10000))
		fail_msg("day %s was not taken", s->days[0].date);

	/* a pupil of council 355, and another school of the council */
	char *upn = e2e_text(e, "SELECT p.upn FROM pupils p JOIN schools s ON s.urn = p.urn "
				"WHERE s.la_code = '355' ORDER BY p.id LIMIT 1");
	char *from = e2e_text(e, "SELECT printf('%06d', p.urn) FROM pupils p JOIN schools s ON "
				 "s.urn = p.urn WHERE s.la_code = '355' ORDER BY p.id LIMIT 1");
	snprintf(sql, sizeof sql,
		 "SELECT printf('%%06d', urn) FROM schools WHERE la_code = '355' AND urn != %s "
		 "ORDER BY urn LIMIT 1",
		 from);
	char *to = e2e_text(e, sql);
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM actions WHERE upn = '%s' AND kind = 'at_%s'", upn, from);
	assert_int_equal(e2e_query(e, sql), 1);

	snprintf(path, sizeof path, "%s/moved.csv", e->dir);
	snprintf(sql, sizeof sql, "upn,urn,year_group,social_worker,sen,fsm\n%s,%s,5,0,N,0\n", upn,
		 to);
	write_file(path, sql);
	snprintf(args, sizeof args, "import '%s'", path);
	assert_int_equal(e2e_rollcall(e, args), 0);
	snprintf(sql, sizeof sql,
		 "INSERT INTO incoming(upn, urn, date, session, code) VALUES ('%s', %s, '%s', "
		 "'AM', '/')",
		 upn, to, s->days[1].date);
	e2e_exec(e, sql);
	if (!e2e_wait_for(e, DRAINED, 1, 10000))
		fail_msg("the moved pupil's mark was not taken");
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM rejected"), 0);
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM actions WHERE upn = '%s' AND kind = 'at_%s'", upn, to);
	assert_int_equal(e2e_query(e, sql), 1);
	assert_int_equal(lines_with(e->daemon_log, "pupils directory loaded", NULL), 2);

	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 15000), 0);
	free(upn);
	free(from);
	free(to);
}

/* ---- policies on several threads ---- */

/* Every pupil's windows, which reach back into the previous year; an
 * alert with them for one pupil in ten (a UPN ending in 1). Recording an
 * alert takes the connection's lock, which orders what the two threads
 * did before it: with an alert for every pupil, ThreadSanitizer saw the
 * race only when the threads were at the same pupil (4 runs in 6). */
static void write_window_policy(const char *dir, const char *file, const char *org)
{
	char path[PATH_MAX + 64], text[1024];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	snprintf(text, sizeof text,
		 "policy { org = '%s', name = 'Windows', endpoints = {} }\n"
		 "function on_pupil(p)\n"
		 "  local a, b = p:window{ days = 90 }, p:window{ sessions = 60 }\n"
		 "  local absent = p.consecutive_absent_days\n"
		 "  if p.upn:sub(-1) ~= '1' then return end\n"
		 "  alert(p, 'seen', { cooldown_days = 0, evidence = { possible = a.possible,\n"
		 "    unauthorised = a.unauthorised, from = a.from, late = b.late,\n"
		 "    sessions_from = b.from, absent = absent } })\n"
		 "end\n",
		 org);
	write_file(path, text);
}

/* An academy pupil's two policies (its council's and its trust's) run at
 * once on two threads, and a window reaching back before 1 September
 * extends the history it reads: each must see the whole history, whatever
 * the other does, so the trust's policy gets a copy of its own. Without
 * the copy the figures still come out the same here (a history extended
 * by the other thread is a whole one), so what proves the copy is
 * ThreadSanitizer: `make tsan` runs this test with rollcall built for it,
 * and a report fails the run (halt_on_error: the run below exits 66).
 * With one CPU the two policies share one thread and there is no race to
 * find. The two policies compute the same figures, so their evidence
 * must be equal, pupil by pupil. */
static void two_policies_of_a_pupil_on_two_threads_see_the_same_history(void **state)
{
	struct fixture *f = *state;
	struct e2e *e = f->e;
	char cmd[PATH_MAX * 3], pol[PATH_MAX + 32];
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "skipped: one CPU, so rollcall evaluates on one thread and the "
				"history is never shared between two\n");
		skip();
	}
	snprintf(cmd, sizeof cmd,
		 "'%s/gen' --pupils 600 --days 40 --start 2025-06-16 --las 355 --out '%s/data' "
		 ">/dev/null",
		 e2e_build, e->dir);
	assert_int_equal(system(cmd), 0);
	snprintf(pol, sizeof pol, "%s/pol", e->dir);
	assert_int_equal(mkdir(pol, 0700), 0);
	write_window_policy(pol, "la-355.lua", "la:355");
	write_window_policy(pol, "trust-TR00001.lua", "trust:TR00001");
	prepare(e, 1, pol, "");
	snprintf(cmd, sizeof cmd, "import '%s/data/marks.csv'", e->dir);
	assert_int_equal(e2e_rollcall(e, cmd), 0);
	int rc = e2e_rollcall(e, "run --once --no-deliver");
	if (rc == 66) /* `make tsan`'s exitcode */
		fail_msg("ThreadSanitizer reported a race in run --once (see its log_path)");
	assert_int_equal(rc, 0);

	long long academy =
		e2e_query(e, "SELECT count(*) FROM actions WHERE org = 'trust:TR00001'");
	assert_true(academy > 10);
	assert_int_equal(academy, e2e_query(e, "SELECT count(*) FROM pupils p JOIN schools s ON "
					       "s.urn = p.urn WHERE s.trust_id = 'TR00001' AND "
					       "p.upn LIKE '%1'"));
	/* the windows did reach into the previous academic year */
	assert_true(e2e_query(e, "SELECT count(*) FROM actions WHERE org = 'trust:TR00001' AND "
				 "json_extract(evidence, '$.from') < '2025-09-01'") == academy);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions t JOIN actions c ON c.upn = "
				      "t.upn AND c.org = 'la:355' AND c.evidence = t.evidence "
				      "WHERE t.org = 'trust:TR00001'"),
			 academy);
}

/* ---- stopping and crashing ---- */

#define SMALL_BATCHES "limits = { batch_rows = 600, batch_pupils = 150 }"

static void sigterm_during_a_burst_exits_0_and_loses_nothing(void **state)
{
	struct fixture *f = *state;
	struct e2e *ref = f->ref, *e = f->e;
	struct stream *s = &f->s;
	char policies[PATH_MAX + 32];
	policies_dir(policies);
	generate(ref, 400, 15, s);
	char cmd[PATH_MAX * 3];
	snprintf(cmd, sizeof cmd, "cp -r '%s/data' '%s/data'", ref->dir, e->dir);
	assert_int_equal(system(cmd), 0);

	/* the reference: the whole burst in one uninterrupted run */
	prepare(ref, 1, policies, SMALL_BATCHES);
	for (int i = 0; i < s->ndays; i++)
		e2e_exec(ref, s->days[i].sql);
	assert_int_equal(e2e_rollcall(ref, "run --once --no-deliver"), 0);
	char *want = e2e_text(ref, ACTIONS_RECORDED);

	/* the burst, and SIGTERM once the first batches are in */
	e2e_receiver_start(e, 0, "--hang-first 1 --hang-ms 100");
	prepare(e, e->port, policies, SMALL_BATCHES "\ndelivery = { timeout_ms = 2000 }");
	for (int i = 0; i < s->ndays; i++)
		e2e_exec(e, s->days[i].sql);
	e2e_daemon_start(e, "");
	long long end = e2e_now_ms() + 10000;
	while (lines_with(e->daemon_log, "msg=batch", NULL) < 3 && e2e_now_ms() < end)
		sleep_ms(5);
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 15000), 0);
	/* stopped part-way, and every row is either waiting or stored */
	long long waiting = e2e_query(e, "SELECT count(*) FROM incoming");
	assert_true(waiting > 0);
	assert_int_equal(waiting + e2e_query(e, "SELECT count(*) FROM marks"), s->rows);

	/* started again, it finishes the burst as if never stopped */
	e2e_daemon_start(e, "");
	if (!e2e_wait_for(e, DRAINED, 1, 30000))
		fail_msg("the burst was not finished after a restart");
	char *got = e2e_text(e, ACTIONS_RECORDED);
	assert_string_equal(got, want);
	every_delivery_arrived(e);
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 15000), 0);
	free(got);
	free(want);
}

/* A writer streams school days into incoming, one transaction a day,
 * waiting for each to be evaluated (as registers close); meanwhile rollcall
 * run is killed with SIGKILL at random moments and started again. */
static int stream_with_kills(struct e2e *e, struct stream *s, int max_kills, unsigned seed)
{
	int kills = 0;
	for (int i = 0; i < s->ndays; i++) {
		e2e_exec(e, s->days[i].sql);
		long long end = e2e_now_ms() + 30000;
		while (!e2e_query(e, DRAINED) && e2e_now_ms() < end) {
			sleep_ms((int)(rand_r(&seed) % 60));
			if (max_kills && kills < max_kills && rand_r(&seed) % 2) {
				kill(e->daemon, SIGKILL);
				assert_int_equal(e2e_daemon_wait(e, 5000), 128 + SIGKILL);
				kills++;
				e2e_daemon_start(e, "");
			}
		}
		if (!e2e_query(e, DRAINED))
			fail_msg("day %s was not taken", s->days[i].date);
	}
	/* and a few more while the deliveries go out */
	for (int k = 0; max_kills && k < 3; k++) {
		sleep_ms((int)(rand_r(&seed) % 100));
		kill(e->daemon, SIGKILL);
		assert_int_equal(e2e_daemon_wait(e, 5000), 128 + SIGKILL);
		kills++;
		e2e_daemon_start(e, "");
	}
	return kills;
}

static void killed_at_random_it_records_what_an_uninterrupted_run_does(void **state)
{
	struct fixture *f = *state;
	struct e2e *ref = f->ref, *e = f->e;
	struct stream *s = &f->s;
	char policies[PATH_MAX + 32], cmd[PATH_MAX * 3];
	if (*e2e_wrap) /* dozens of restarts under valgrind take too long to be useful */
		skip();
	policies_dir(policies);
	generate(ref, 1000, 20, s);
	snprintf(cmd, sizeof cmd, "cp -r '%s/data' '%s/data'", ref->dir, e->dir);
	assert_int_equal(system(cmd), 0);
	/* deliveries linger 40 ms at the receiver, so that kills land mid-flight */
	const char *delivery = "delivery = { timeout_ms = 1000, backoff_ms = 50, "
			       "backoff_max_ms = 500 }";

	e2e_receiver_start(ref, 0, "--hang-first 1 --hang-ms 40");
	prepare(ref, ref->port, policies, delivery);
	e2e_daemon_start(ref, "");
	assert_int_equal(stream_with_kills(ref, s, 0, 0), 0);
	every_delivery_arrived(ref);
	kill(ref->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(ref, 15000), 0);
	char *want = e2e_text(ref, ACTIONS_RECORDED);
	assert_true(e2e_query(ref, "SELECT count(*) FROM actions") > 50);

	e2e_receiver_start(e, 0, "--hang-first 1 --hang-ms 40");
	prepare(e, e->port, policies, delivery);
	e2e_daemon_start(e, "");
	int kills = stream_with_kills(e, s, 40, 20251125);
	assert_true(kills >= 10);
	every_delivery_arrived(e);
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 15000), 0);
	char *got = e2e_text(e, ACTIONS_RECORDED);
	assert_string_equal(got, want);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks"), s->rows);
	print_message("%d kills; %lld actions, %lld requests for %lld deliveries\n", kills,
		      e2e_query(e, "SELECT count(*) FROM actions"),
		      (long long)lines_with(e->log, "id=", NULL),
		      e2e_query(e, "SELECT count(*) FROM deliveries"));
	free(got);
	free(want);
}

/* ---- failures: busy is waited out, anything else stops the service ---- */

/* The test data in a fresh database, evaluated, with endpoints at port
 * (none if 0) for tests/policies/roles: three deliveries pending. extra:
 * more of the config. */
static void roles_data(struct e2e *e, int port, const char *extra)
{
	char path[PATH_MAX + 32], text[PATH_MAX * 4];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(text, sizeof text,
		 "policies = '%s/tests/policies/roles'\nscripts = '%s/scripts'\n", e2e_root,
		 e2e_root);
	if (port)
		snprintf(text + strlen(text), sizeof text - strlen(text),
			 "endpoints = {\n"
			 "  ['ewo-team'] = { url = 'http://127.0.0.1:%d/ewo', secret_env = "
			 "'HOOK_SECRET' },\n"
			 "  ['mentors'] = { url = 'http://127.0.0.1:%d/mentors', secret_env = "
			 "'HOOK_SECRET' },\n"
			 "  ['legal-team'] = { url = 'http://127.0.0.1:%d/legal', secret_env = "
			 "'HOOK_SECRET' },\n"
			 "}\n",
			 port, port, port);
	snprintf(text + strlen(text), sizeof text - strlen(text), "%s\n", extra);
	write_file(path, text);
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	snprintf(text, sizeof text,
		 "import '%s/tests/data/schools.csv' '%s/tests/data/pupils.csv' "
		 "'%s/tests/data/marks.csv'",
		 e2e_root, e2e_root, e2e_root);
	assert_int_equal(e2e_rollcall(e, text), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
}

/* A row for J355400120001 in incoming: the batch that stores it reads
 * that pupil's register of 2025/26. */
static void a_row_for_j(struct e2e *e, const char *date)
{
	char sql[256];
	snprintf(sql, sizeof sql,
		 "INSERT INTO incoming(upn, urn, date, session, code) VALUES "
		 "('J355400120001', 135001, '%s', 'AM', 'O')",
		 date);
	e2e_exec(e, sql);
}

/* A byte that is no attendance code in the first slot of that register. */
#define DAMAGE_REGISTER                                                                            \
	"UPDATE registers SET slots = x'ff' || substr(slots, 2) WHERE id = (SELECT (2025 << 32) "  \
	"| id FROM pupils WHERE upn = 'J355400120001')"

static int daemon_running(struct e2e *e)
{
	return waitpid(e->daemon, NULL, WNOHANG) == 0;
}

static void a_damaged_register_stops_the_service(void **state)
{
	struct fixture *f = *state;
	struct e2e *e = f->e;
	roles_data(e, 0, "");
	a_row_for_j(e, "2025-09-15");
	e2e_exec(e, DAMAGE_REGISTER);
	e2e_daemon_start(e, "--no-deliver");
	assert_int_equal(e2e_daemon_wait(e, 15000), 1);
	assert_int_equal(lines_with(e->daemon_log, "level=error", "the database is damaged"), 1);
	assert_int_equal(lines_with(e->daemon_log, "stopped after an error", "in=evaluation"), 1);
}

/* Another connection holds the write lock past the busy timeout (DB_BUSY_MS,
 * 5 s): the batch is tried again a second later, for as long as it takes,
 * and the service never stops for it. A damaged register after that is a
 * failure like any other: the service stops (exit 1, logged once), rather
 * than taking it for the busy lock it met before and trying every second. */
static void a_busy_spell_is_waited_out_and_a_damaged_register_then_stops_it(void **state)
{
	struct fixture *f = *state;
	struct e2e *e = f->e;
	roles_data(e, 0, "");
	long long marks = e2e_query(e, "SELECT count(*) FROM marks");
	a_row_for_j(e, "2025-09-15");
	sqlite3 *db = e2e_db(e);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	e2e_daemon_start(e, "--no-deliver");
	/* the busy timeout runs out, is logged, and the service goes on */
	assert_true(e2e_wait_lines(e->daemon_log, "level=error", "database is locked", 1, 60000));
	sleep_ms(1500); /* a retry or more */
	assert_true(daemon_running(e));
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	if (!e2e_wait_for(e, "SELECT count(*) FROM incoming", 0, 10000))
		fail_msg("the row was not taken after the lock was let go");
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks"), marks + 1);
	assert_true(daemon_running(e));

	e2e_exec(e, "BEGIN; " DAMAGE_REGISTER "; INSERT INTO incoming(upn, urn, date, session, "
		    "code) VALUES ('J355400120001', 135001, '2025-09-15', 'PM', 'O'); COMMIT");
	assert_int_equal(e2e_daemon_wait(e, 15000), 1);
	assert_int_equal(lines_with(e->daemon_log, "level=error", "the database is damaged"), 1);
	assert_int_equal(lines_with(e->daemon_log, "stopped after an error", "in=evaluation"), 1);
}

/* The sender likewise: the write lock taken by another connection only
 * delays its writes; a failure of another kind (here a table it needs,
 * dropped by another program) stops the service. */
static void the_sender_waits_for_the_lock_and_stops_on_any_other_failure(void **state)
{
	struct fixture *f = *state;
	struct e2e *e = f->e;
	e2e_receiver_start(e, 0, "");
	roles_data(e, e->port, "");
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending'"),
			 3);
	sqlite3 *db = e2e_db(e);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	e2e_daemon_start(e, "");
	sleep_ms(1500);
	assert_true(daemon_running(e));
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	if (!e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", 3, 10000))
		fail_msg("the deliveries were not sent once the lock was let go");
	assert_int_equal(lines_with(e->log, "sig=valid", "status=200"), 3);
	assert_true(daemon_running(e));

	e2e_exec(e, "DROP TABLE deliveries");
	assert_int_equal(e2e_daemon_wait(e, 15000), 1);
	assert_int_equal(lines_with(e->daemon_log, "level=error", "no such table: deliveries"), 1);
	assert_int_equal(lines_with(e->daemon_log, "stopped after an error", "in=delivery"), 1);
}

/* A disk that will not take the sender's writes (here the file size limit,
 * as in test_hostile.c) is waited out, as evaluation waits it out: an exit
 * would only bring systemd's restart back to the same writes. */
static void a_full_disk_holds_up_the_sender_without_stopping_it(void **state)
{
	struct fixture *f = *state;
	struct e2e *e = f->e;
	/* every attempt fails and is retried at once: each round of leases and
	 * results grows the write-ahead log, soon past the limit */
	e2e_receiver_start(e, 0, "--status 500");
	roles_data(e, e->port,
		   "delivery = { backoff_ms = 1, backoff_max_ms = 10, max_attempts = 100 }");
	e->daemon = fork();
	if (e->daemon == 0) {
		struct rlimit lim = { 65536, RLIM_INFINITY }; /* soft: raised again later */
		signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails instead */
		int fd = open(e->daemon_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0 || dup2(fd, 2) < 0 || chdir(e->dir) < 0 ||
		    setrlimit(RLIMIT_FSIZE, &lim) < 0)
			_exit(127);
		execl(e2e_bin, e2e_bin, "--config", "rollcall.conf", "run", (char *)NULL);
		_exit(127);
	}
	(void)e2e_wait_lines(e->daemon_log, "level=error", "disk I/O error", 1, 20000);
	assert_true(lines_with(e->daemon_log, "level=error", "disk I/O error") >= 1);
	sleep_ms(2500); /* tried again, and again */
	assert_true(daemon_running(e));
	assert_true(lines_with(e->daemon_log, "level=error", "disk I/O error") >= 2);

	/* room again: the attempts go on */
	long long attempts = e2e_query(e, "SELECT sum(attempts) FROM deliveries");
	struct rlimit none = { RLIM_INFINITY, RLIM_INFINITY }; /* needs no privilege */
	assert_int_equal(prlimit(e->daemon, RLIMIT_FSIZE, &none, NULL), 0);
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT sum(attempts) > %lld + 30 FROM deliveries", attempts);
	assert_true(e2e_wait_for(e, sql, 1, 15000));
	assert_true(daemon_running(e));
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 15000), 0);
}

/* ---- health ---- */

static void status_says_what_needs_attention(void **state)
{
	struct fixture *f = *state;
	struct e2e *e = f->e;
	struct stream *s = &f->s;
	char policies[PATH_MAX + 32], text[8192];
	policies_dir(policies);
	generate(e, 200, 15, s);
	prepare(e, 1, policies, "delivery = { max_attempts = 1 }"); /* nothing listens on 1 */
	assert_int_equal(e2e_rollcall(e, "status"), 0);

	/* rows waiting too long for a daemon that is not running */
	e2e_exec(e, s->days[0].sql);
	assert_int_equal(e2e_rollcall(e, "status"), 0);
	e2e_exec(e, "UPDATE incoming SET received_at = '2020-01-01T00:00:00Z'");
	assert_int_equal(e2e_rollcall(e, "status --max-age 60"), 1);
	e2e_slurp(e, "out", text, sizeof text);
	assert_non_null(strstr(text, "incoming row has waited"));

	/* taken; then every delivery dies against a closed port */
	for (int i = 1; i < s->ndays; i++)
		e2e_exec(e, s->days[i].sql);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	long long dead = e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'dead'");
	assert_true(dead > 0);
	assert_int_equal(e2e_rollcall(e, "status --json"), 1);
	e2e_slurp(e, "out", text, sizeof text);
	char want[64];
	snprintf(want, sizeof want, "\"dead\":%lld", dead);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "\"status\":\"attention\""));
	assert_non_null(strstr(text, "\"incoming\":{\"rows\":0,"));
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(rows_from_another_process_are_taken_and_delivered,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_broken_edit_keeps_the_old_policy_and_a_fix_is_picked_up, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_pupil_moved_by_an_import_is_seen_at_the_new_school, setup, teardown),
		cmocka_unit_test_setup_teardown(
			two_policies_of_a_pupil_on_two_threads_see_the_same_history, setup,
			teardown),
		cmocka_unit_test_setup_teardown(sigterm_during_a_burst_exits_0_and_loses_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			killed_at_random_it_records_what_an_uninterrupted_run_does, setup,
			teardown),
		cmocka_unit_test_setup_teardown(status_says_what_needs_attention, setup, teardown),
		cmocka_unit_test_setup_teardown(a_damaged_register_stops_the_service, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_busy_spell_is_waited_out_and_a_damaged_register_then_stops_it, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			the_sender_waits_for_the_lock_and_stops_on_any_other_failure, setup,
			teardown),
		cmocka_unit_test_setup_teardown(a_full_disk_holds_up_the_sender_without_stopping_it,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
}
