/*
 * test_hostile.c — one organisation's hostile or careless policy never
 * stops the others, end to end: the real `rollcall run` on generated data
 * for councils 355 (a well-behaved policy) and 846 (the hostile one).
 *
 * - a policy that loops on every pupil is cut off after a few stopped
 *   calls; the other council's actions are exactly as without it, the
 *   pupils it did not see wait in `deferred`, `status` says so, and a fixed
 *   policy picks them up;
 * - while a slow policy's batch runs, other processes insert into incoming
 *   and set params without waiting for it (policies never run under the
 *   write lock);
 * - SIGTERM in the middle of a long batch stops the service within a few
 *   seconds, and the batch is evaluated whole after the restart.
 */
#define _GNU_SOURCE /* prlimit */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "e2e.h"
#include "engine.h"
#include "policy.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define PUPILS 600 /* about half in each council */

static const char good[] = "policy { org = 'la:355', name = 'Good', endpoints = {},\n"
			   "  params = { alert_rate = { default = 0.9, min = 0.5, max = 1,\n"
			   "                            doc = 'a threshold' } } }\n"
			   "function on_pupil(p)\n"
			   "  alert(p, 'seen', { severity = 'low', cooldown_days = 0 })\n"
			   "end\n";

static const char looping[] = "policy { org = 'la:846', name = 'Loops', endpoints = {} }\n"
			      "function on_pupil(p)\n"
			      "  local i = 0\n"
			      "  while true do i = i + 1 end\n"
			      "end\n";

/* Just under the budget: a long batch, every call honest. */
static const char slow[] =
	"policy { org = 'la:846', name = 'Slow', endpoints = {} }\n"
	"function on_pupil(p)\n"
	"  log('deciding')\n"
	"  local n = 0\n"
	"  for i = 1, 2000000 do n = n + i % 7 end\n"
	"  alert(p, 'slow', { severity = 'low', cooldown_days = 0, data = { n = n } })\n"
	"end\n";

static const char fixed[] = "policy { org = 'la:846', name = 'Fixed', endpoints = {} }\n"
			    "function on_pupil(p)\n"
			    "  alert(p, 'fixed', { severity = 'low', cooldown_days = 0 })\n"
			    "end\n";

static void put_policy(struct e2e *e, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/policies/%s", e->dir, name);
	write_file(path, text);
}

/* Generated schools and pupils imported; marks imported when with_marks,
 * else left in data/marks.csv. */
static void setup_data(struct e2e *e, int days, int with_marks)
{
	char cmd[PATH_MAX * 3], path[PATH_MAX + 64];
	snprintf(cmd, sizeof cmd, "'%s/gen' --pupils %d --days %d --las 355,846 --out '%s/data'",
		 e2e_build, PUPILS, days, e->dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof path, "%s/policies", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(cmd, sizeof cmd, "policies = 'policies'\nscripts = '%s/scripts'\n", e2e_root);
	write_file(path, cmd);
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	assert_int_equal(e2e_rollcall(e, with_marks ? "import data/schools.csv data/pupils.csv "
						      "data/marks.csv"
						    : "import data/schools.csv data/pupils.csv"),
			 0);
}

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

static long long pupils_of(struct e2e *e, const char *la)
{
	char sql[256];
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM pupils p JOIN schools s ON s.urn = p.urn WHERE s.la_code "
		 "= '%s'",
		 la);
	return e2e_query(e, sql);
}

static void a_looping_policy_is_cut_off_and_the_others_carry_on(void **state)
{
	struct e2e *e = *state;
	char cmd[PATH_MAX * 3];
	setup_data(e, 5, 1);
	put_policy(e, "la-355.lua", good);
	put_policy(e, "la-846.lua", looping);
	long long n355 = pupils_of(e, "355"), n846 = pupils_of(e, "846");
	assert_true(n355 > 50 && n846 > 50);

	long long t0 = e2e_now_ms();
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	long long took = e2e_now_ms() - t0;
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE org = 'la:355'"), n355);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE org = 'la:846'"), 0);
	/* three calls stopped, then cut off: every one of its pupils waits */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deferred WHERE org = 'la:846'"), n846);
	char err[1 << 16];
	e2e_slurp(e, "err", err, sizeof err);
	assert_non_null(strstr(err, "policy cut off"));
	assert_null(strstr(strstr(err, "policy cut off") + 1, "policy cut off"));
	/* a loop on every pupil would spend n846 budgets; a cut-off spends a
	 * few (counted, not timed: the time is for the reader) */
	int stopped = 0;
	for (const char *p = err; (p = strstr(p, "over the budget of")); p++)
		stopped++;
	print_message("%lld + %lld pupils in %lld ms, %d calls stopped\n", n355, n846, took,
		      stopped);
	assert_true(stopped >= 3 && stopped <= 6);
	assert_null(strstr(err, "more policy errors"));

	assert_int_equal(e2e_rollcall(e, "status"), 1);
	char out[8192];
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "la:846"));
	assert_non_null(strstr(out, "cut off"));

	/* a new day for every pupil while it still loops: its pupils are both
	 * changed and waiting, it is cut off again, and none is lost */
	snprintf(cmd, sizeof cmd,
		 "'%s/gen' --pupils %d --days 1 --skip-days 5 --marks-only --las 355,846 --out "
		 "'%s/day6' >/dev/null",
		 e2e_build, PUPILS, e->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(e2e_rollcall(e, "import day6/marks.csv"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deferred WHERE org = 'la:846'"), n846);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE org = 'la:355'"),
			 2 * n355);

	/* rows left for a council with no policy now never crowd out another's */
	e2e_exec(e, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
		    "200) INSERT INTO deferred(org, pupil) SELECT 'la:111', i FROM n");
	snprintf(cmd, sizeof cmd, "%s/rollcall.conf", e->dir);
	FILE *f = fopen(cmd, "a");
	assert_non_null(f);
	fputs("limits = { batch_pupils = 100 }\n", f);
	fclose(f);

	/* fixed: the pupils that waited are evaluated by la:846 alone */
	put_policy(e, "la-846.lua", fixed);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE org = 'la:846'"), n846);
	assert_int_equal(
		e2e_query(e, "SELECT count(DISTINCT pupil) FROM actions WHERE org = 'la:846'"),
		n846);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE org = 'la:355'"),
			 2 * n355);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deferred WHERE org = 'la:846'"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deferred WHERE org = 'la:111'"), 200);
}

/* How long a command takes, in ms. */
static long long timed(struct e2e *e, const char *args, int want)
{
	long long t0 = e2e_now_ms();
	assert_int_equal(e2e_rollcall(e, args), want);
	return e2e_now_ms() - t0;
}

static void a_slow_policy_holds_no_lock_and_sigterm_stops_it(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 5, 0);
	put_policy(e, "la-355.lua", good);
	put_policy(e, "la-846.lua", slow);
	long long n355 = pupils_of(e, "355"), n846 = pupils_of(e, "846");

	e2e_daemon_start(e, "--no-deliver");
	assert_int_equal(e2e_rollcall(e, "import data/marks.csv"), 0);
	/* into the batch: la:846's calls have begun (each takes tens of ms) */
	(void)e2e_wait_lines(e->daemon_log, "text=deciding", NULL, 1, 10000);
	assert_true(lines_with(e->daemon_log, "text=deciding", NULL) > 0);
	/* the write lock is free: a write that would not wait a moment for it
	 * goes through, and so does a command's */
	sqlite3 *db = e2e_db(e);
	sqlite3_busy_timeout(db, 0);
	long long insert = e2e_now_ms();
	assert_int_equal(sqlite3_exec(db, "INSERT INTO meta(key, value) VALUES ('test', 1)", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	insert = e2e_now_ms() - insert;
	sqlite3_close(db);
	long long params = timed(e, "params la:355 alert_rate=0.8", 0);
	print_message("during the batch: an insert took %lld ms, params %lld ms\n", insert, params);
	/* and the batch was still under way: nothing of it recorded yet */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions"), 0);

	long long t0 = e2e_now_ms();
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 5000), 0);
	print_message("SIGTERM to exit: %lld ms\n", e2e_now_ms() - t0);
	/* given up whole: nothing of the batch was recorded ... */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions"), 0);
	/* ... and all of it is after the restart, once */
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE org = 'la:846'"), n846);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE org = 'la:355'"), n355);
}

/* A file speaks only for the organisation its name gives (docs/POLICIES.md). */
static void a_file_speaks_only_for_its_own_organisation(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 3, 1);
	put_policy(e, "la-355.lua", good);
	put_policy(e, "la-846.lua", /* claims the other council */
		   "policy { org = 'la:355', name = 'Impostor', endpoints = {} }\n"
		   "function on_pupil(p) alert(p, 'stolen', { cooldown_days = 0 }) end\n");
	/* a draft copied in beside the live file, sorting before it */
	put_policy(e, "camden-v2.lua",
		   "policy { org = 'la:355', name = 'Draft', endpoints = {} }\n"
		   "function on_pupil(p) alert(p, 'draft', { cooldown_days = 0 }) end\n");
	long long n355 = pupils_of(e, "355");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE kind = 'seen'"), n355);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE kind != 'seen'"), 0);
	char err[1 << 14];
	e2e_slurp(e, "err", err, sizeof err);
	assert_non_null(strstr(err, "a file named la-846.lua speaks only for la:846"));
	assert_int_equal(e2e_rollcall(e, "check"), 2);
	e2e_slurp(e, "err", err, sizeof err);
	assert_non_null(strstr(err, "camden-v2.lua: not loaded"));
	assert_non_null(strstr(err, "la-846.lua:1: policy{} says org \"la:355\""));
	e2e_rollcall(e, "status --json");
	e2e_slurp(e, "out", err, sizeof err);
	assert_non_null(strstr(err, "\"not_loaded\":[\"policies/camden-v2.lua\"]"));
}

/* Run script in e->dir with $last the latest date of data/marks.csv: to
 * split or cut the generated marks by day. */
static void by_last_day(struct e2e *e, const char *script)
{
	char cmd[PATH_MAX * 3];
	snprintf(
		cmd, sizeof cmd,
		"cd '%s' && last=$(tail -n +2 data/marks.csv | cut -d, -f3 | sort | tail -1) && %s",
		e->dir, script);
	assert_int_equal(system(cmd), 0);
}

/* A policy that makes a new alert kind for every pupil escapes every
 * cooldown: at most POLICY_KINDS_PER_DAY kinds a day are recorded. */
static void made_up_alert_kinds_are_bounded(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 3, 0);
	/* half the pupils have no mark on the last day: two evaluated days */
	by_last_day(e, "awk -F, -v last=$last 'NR == 1 || $3 != last || substr($1, 13, 1) ~ "
		       "/[0-4]/' data/marks.csv >data/cut.csv");
	assert_int_equal(e2e_rollcall(e, "import data/cut.csv"), 0);
	put_policy(e, "la-355.lua",
		   "policy { org = 'la:355', name = 'Kinds', endpoints = {} }\n"
		   "function on_pupil(p)\n"
		   "  alert(p, 'k_' .. p.upn:lower())\n"
		   "end\n");
	assert_true(pupils_of(e, "355") > 4 * POLICY_KINDS_PER_DAY);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(DISTINCT day) FROM actions"), 2);
	assert_int_equal(e2e_query(e, "SELECT max(n) FROM (SELECT count(DISTINCT kind) AS n FROM "
				      "actions GROUP BY day)"),
			 POLICY_KINDS_PER_DAY);
	assert_int_equal(e2e_query(e, "SELECT count(DISTINCT kind) FROM actions"),
			 2 * POLICY_KINDS_PER_DAY);
	char err[1 << 14];
	e2e_slurp(e, "err", err, sizeof err);
	assert_non_null(strstr(err, "more than 32 distinct alert kinds in one day"));
}

/* log() writes what it was given, once a line, and nothing of its own. */
static void log_writes_its_arguments_only(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 1, 1);
	put_policy(e, "la-355.lua",
		   "policy { org = 'la:355', name = 'Logs', endpoints = {} }\n"
		   "function on_pupil(p)\n"
		   "  log('seen', 1, true, '\\27[2J')\n"
		   "end\n");
	assert_int_equal(e2e_rollcall(e, "-v run --once --no-deliver"), 0);
	char err[1 << 16];
	e2e_slurp(e, "err", err, sizeof err);
	if (!strstr(err, "text=\"seen 1 true \\u001b[2J\"\n"))
		fail_msg("not the line wanted:\n%s", err);
	assert_null(strstr(err, "userdata"));
	assert_null(strchr(err, 27));
}

/* p:actions{} (docs/POLICIES.md): the organisation's recorded actions for the
 * pupil, newest first, and those decided earlier in the same call. */
static void a_pupil_s_actions_are_listed(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 3, 0);
	by_last_day(e, "awk -F, -v last=$last 'NR == 1 || $3 != last' data/marks.csv "
		       ">data/early.csv && awk -F, -v last=$last 'NR == 1 || $3 == last' "
		       "data/marks.csv >data/late.csv");
	put_policy(e, "la-355.lua",
		   "policy { org = 'la:355', name = 'Lists', endpoints = {} }\n"
		   "function on_pupil(p)\n"
		   "  local before = p:actions{ kind = 'first', days = 30 }\n"
		   "  if #before == 0 then\n"
		   "    alert(p, 'first', { cooldown_days = 0 })\n"
		   "    local now = p:actions{ action = 'alert' }\n"
		   "    assert(#now == 1 and now[1].state == 'decided' and not now[1].action_id)\n"
		   "  else\n"
		   "    local b = before[1]\n"
		   "    alert(p, 'again', { cooldown_days = 0, data = { n = #before, id = "
		   "b.action_id, state = b.state, kind = b.kind, date = b.date } })\n"
		   "  end\n"
		   "end\n");
	long long n355 = pupils_of(e, "355");
	assert_int_equal(e2e_rollcall(e, "import data/early.csv"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE kind = 'first'"), n355);
	assert_int_equal(e2e_rollcall(e, "import data/late.csv"), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE kind = 'again'"), n355);
	/* each names that pupil's first alert, as recorded */
	assert_int_equal(
		e2e_query(e,
			  "SELECT count(*) FROM actions a JOIN actions f ON f.pupil = a.pupil AND "
			  "f.kind = 'first' WHERE a.kind = 'again' AND json_extract(a.data, "
			  "'$.id') = f.id AND json_extract(a.data, '$.n') = 1 AND "
			  "json_extract(a.data, '$.state') = 'recorded' AND json_extract(a.data, "
			  "'$.kind') = 'first' AND json_extract(a.data, '$.date') = f.date"),
		n355);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE kind NOT IN ('first', "
				      "'again')"),
			 0);
}

/* A policy that fails on every pupil: the first ENGINE_ERRORS_LOGGED
 * failures are logged, each naming its pupil, then the count of the rest. */
static void errors_are_named_up_to_a_bound(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 1, 1);
	put_policy(e, "la-846.lua",
		   "policy { org = 'la:846', name = 'Fails', endpoints = {} }\n"
		   "function on_pupil(p) error('no rule for ' .. p.upn) end\n");
	long long n846 = pupils_of(e, "846");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	char path[PATH_MAX + 32], want[64];
	snprintf(path, sizeof path, "%s/err", e->dir);
	assert_int_equal(lines_with(path, "msg=\"policy error\"", "pupil="), ENGINE_ERRORS_LOGGED);
	assert_int_equal(lines_with(path, "msg=\"policy error\"", "no rule for"),
			 ENGINE_ERRORS_LOGGED);
	snprintf(want, sizeof want, "count=%lld", n846 - ENGINE_ERRORS_LOGGED);
	assert_int_equal(lines_with(path, "more policy errors in this batch", want), 1);
}

/* p.year is the National Curriculum year as a number (docs/POLICIES.md): R is 0,
 * N2 -1, N1 -2, X none; year_group stays the text. */
static void the_year_is_a_number(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 1, 1);
	/* a pupil of each kind the generator does not make */
	e2e_exec(e, "UPDATE pupils SET year_group = CASE id % 4 WHEN 0 THEN 'X' WHEN 1 THEN 'N1' "
		    "WHEN 2 THEN 'N2' ELSE year_group END WHERE id <= 8");
	put_policy(e, "la-355.lua",
		   "policy { org = 'la:355', name = 'Years', endpoints = {} }\n"
		   "function on_pupil(p)\n"
		   "  alert(p, 'year', { data = { year = p.year, type = math.type(p.year) or "
		   "type(p.year), text = p.year_group } })\n"
		   "end\n");
	put_policy(e, "la-846.lua",
		   "policy { org = 'la:846', name = 'Years', endpoints = {} }\n"
		   "function on_pupil(p)\n"
		   "  alert(p, 'year', { data = { year = p.year, type = math.type(p.year) or "
		   "type(p.year), text = p.year_group } })\n"
		   "end\n");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_true(e2e_query(e, "SELECT count(DISTINCT year_group) FROM actions") >= 5);
	assert_true(e2e_query(e, "SELECT count(*) FROM actions WHERE year_group IN ('X', 'N1', "
				 "'N2', 'R')") > 0);
	assert_int_equal(
		e2e_query(e,
			  "SELECT count(*) FROM actions WHERE json_extract(data, '$.year') IS "
			  "NOT (CASE year_group WHEN 'R' THEN 0 WHEN 'N1' THEN -2 WHEN 'N2' THEN "
			  "-1 WHEN 'X' THEN NULL ELSE CAST(year_group AS INTEGER) END) OR "
			  "json_extract(data, '$.type') IS NOT (CASE year_group WHEN 'X' THEN "
			  "'nil' ELSE 'integer' END) OR json_extract(data, '$.text') IS NOT "
			  "year_group"),
		0);
}

/* The marks of data/marks.csv as rows of incoming, as another program
 * would write them. */
static long marks_into_incoming(struct e2e *e)
{
	char path[PATH_MAX + 64], line[256], sql[512];
	snprintf(path, sizeof path, "%s/data/marks.csv", e->dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	sqlite3 *db = e2e_db(e);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	long n = 0;
	assert_non_null(fgets(line, sizeof line, f)); /* the header */
	while (fgets(line, sizeof line, f)) {
		char upn[16], urn[8], date[11], session[3], code[3];
		assert_int_equal(sscanf(line, "%13[^,],%6[^,],%10[^,],%2[^,],%2[^,\r\n]", upn, urn,
					date, session, code),
				 5);
		snprintf(sql, sizeof sql,
			 "INSERT INTO incoming(upn, urn, date, session, code) VALUES ('%s', %s, "
			 "'%s', '%s', '%s')",
			 upn, urn, date, session, code);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		n++;
	}
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	fclose(f);
	return n;
}

/* A disk with no room left for the batch (here: the file size limit, so
 * that the test needs no small file system): the service keeps trying with
 * smaller batches, never exits, and carries on when there is room again. */
static void a_full_disk_is_waited_out_not_a_crash_loop(void **state)
{
	struct e2e *e = *state;
	setup_data(e, 5, 0);
	put_policy(e, "la-355.lua",
		   "policy { org = 'la:355', name = 'Once', endpoints = {} }\n"
		   "function on_pupil(p) alert(p, 'seen') end\n");
	long long n355 = pupils_of(e, "355");
	long rows = marks_into_incoming(e);
	/* no write past 64 KiB into any file: the write-ahead log has room for
	 * a few pages, the database (already larger) for none */
	e->daemon = fork();
	if (e->daemon == 0) {
		struct rlimit lim = { 65536, RLIM_INFINITY }; /* soft: raised again later */
		signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails instead */
		char log[PATH_MAX + 64];
		snprintf(log, sizeof log, "%s/daemon.log", e->dir);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0 || dup2(fd, 2) < 0 || chdir(e->dir) < 0 ||
		    setrlimit(RLIMIT_FSIZE, &lim) < 0)
			_exit(127);
		execl(e2e_bin, e2e_bin, "--config", "rollcall.conf", "run", "--no-deliver",
		      (char *)NULL);
		_exit(127);
	}
	(void)e2e_wait_lines(e->daemon_log, "cannot write the database", NULL, 1, 30000);
	assert_true(lines_with(e->daemon_log, "trying again with smaller batches", NULL) >= 1);
	/* still running while the disk stays full */
	(void)e2e_wait_lines(e->daemon_log, "smaller batches", NULL, 3, 30000);
	assert_int_equal(waitpid(e->daemon, NULL, WNOHANG), 0);

	/* room again: everything is stored and evaluated */
	struct rlimit none = { RLIM_INFINITY, RLIM_INFINITY }; /* needs no privilege */
	assert_int_equal(prlimit(e->daemon, RLIMIT_FSIZE, &none, NULL), 0);
	assert_true(e2e_wait_for(e, "SELECT count(*) FROM incoming", 0, 60000));
	assert_true(e2e_wait_for(e, "SELECT count(*) FROM actions", n355, 60000));
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM marks"), rows);
	assert_int_equal(e2e_query(e, "SELECT count(DISTINCT pupil) FROM actions"), n355);
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 10000), 0);
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_looping_policy_is_cut_off_and_the_others_carry_on,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_slow_policy_holds_no_lock_and_sigterm_stops_it,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_file_speaks_only_for_its_own_organisation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(made_up_alert_kinds_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(log_writes_its_arguments_only, setup, teardown),
		cmocka_unit_test_setup_teardown(the_year_is_a_number, setup, teardown),
		cmocka_unit_test_setup_teardown(errors_are_named_up_to_a_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(a_pupil_s_actions_are_listed, setup, teardown),
		cmocka_unit_test_setup_teardown(a_full_disk_is_waited_out_not_a_crash_loop, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("hostile", tests, NULL, NULL);
}
