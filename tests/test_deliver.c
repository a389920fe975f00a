/*
 * test_deliver.c — webhook delivery end to end: the real rollcall binary,
 * a real SQLite file, and build/receiver (libmicrohttpd on 127.0.0.1, which
 * checks every signature with its own code) in each failure mode: answering
 * at once, 500 twice then 200, hanging past the timeout, always failing
 * (dead, then redelivered), refusing connections, a 10 MB response, 429 with
 * Retry-After, and a hanging endpoint beside a healthy one; and, from a
 * canned responder, a Retry-After past any wait and an error body that is
 * not text, a proxy in the environment, due times a clock step back left;
 * and SIGHUP taking a new endpoint, a changed URL and a rotated secret
 * into the running service, or keeping those in use when the new are not
 * valid. In this process: the sender driven a turn at a time (a lease run
 * out while its result waits for the lock), and the retry backoff's draws.
 *
 * The actions are three for J355400120001 from tests/policies/roles/la-355.lua
 * (an alert, a referral and a letter), one per endpoint role.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "config.h"
#include "db.h"
#include "deliver.h"
#include "e2e.h"
#include "util.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

static void configure(struct e2e *e, int port, const char *delivery)
{
	char path[PATH_MAX + 32], conf[PATH_MAX * 3];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(conf, sizeof conf,
		 "policies = \"%s/tests/policies/roles\"\nscripts = \"%s/scripts\"\n"
		 "endpoints = {\n"
		 "  [\"ewo-team\"] = { url = \"http://127.0.0.1:%d/ewo\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"mentors\"] = { url = \"http://127.0.0.1:%d/mentors\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"legal-team\"] = { url = \"http://127.0.0.1:%d/legal\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "}\n"
		 "delivery = { %s }\n",
		 e2e_root, e2e_root, port, port, port, delivery);
	write_file(path, conf);
}

/* What build/receiver cannot be made to say (a Retry-After past any wait, a
 * body cut mid-character), and a listener that must never be reached (a
 * proxy): a child on 127.0.0.1 that answers every request with one canned
 * response, after noting its request line in its log, so a request that
 * rollcall saw answered is always in the log. teardown stops them; each
 * also exits by itself after a minute. */
struct canned {
	pid_t pid;
	int port;
	char log[PATH_MAX + 32];
};
static struct canned canned[4];
static int ncanned;

static void canned_answer(int fd, const char *log, const char *response, size_t len)
{
	char req[65536];
	size_t got = 0;
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	/* the head, then as much body as it announces */
	while (got < sizeof req - 1) {
		ssize_t n = read(fd, req + got, sizeof req - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		const char *end = strstr(req, "\r\n\r\n"), *cl = strstr(req, "Content-Length:");
		if (end && got >= (size_t)(end + 4 - req) + (cl ? strtoul(cl + 15, NULL, 10) : 0))
			break;
	}
	req[got] = '\0';
	FILE *f = fopen(log, "a");
	if (f) {
		fprintf(f, "%.*s\n", (int)strcspn(req, "\r\n"), req);
		fclose(f);
	}
	for (size_t sent = 0; sent < len;) {
		ssize_t n = write(fd, response + sent, len - sent);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
}

static struct canned *canned_start(struct e2e *e, const char *response, size_t len)
{
	assert_true(ncanned < (int)(sizeof canned / sizeof *canned));
	struct canned *c = &canned[ncanned++];
	snprintf(c->log, sizeof c->log, "%s/canned-%d.log", e->dir, ncanned);
	write_file(c->log, "");
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s, 64), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	c->port = ntohs(a.sin_port);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		alarm(300);
		for (;;) {
			int fd = accept(s, NULL, NULL);
			if (fd >= 0) {
				canned_answer(fd, c->log, response, len);
				close(fd);
			}
		}
	}
	close(s);
	return c;
}

static void canned_stop_all(void)
{
	for (int i = 0; i < ncanned; i++) {
		kill(canned[i].pid, SIGTERM);
		waitpid(canned[i].pid, NULL, 0);
	}
	ncanned = 0;
}

static int setup(void **state)
{
	struct e2e *e = e2e_new();
	configure(e, 1, "");
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	char args[PATH_MAX * 4];
	snprintf(args, sizeof args,
		 "import %s/tests/data/schools.csv %s/tests/data/pupils.csv "
		 "%s/tests/data/marks.csv",
		 e2e_root, e2e_root, e2e_root);
	assert_int_equal(e2e_rollcall(e, args), 0);
	*state = e;
	return 0;
}

/* A second receiver's directory and process, when a test needs one. */
static struct e2e *second;

static int teardown(void **state)
{
	canned_stop_all();
	if (second)
		e2e_free(second);
	second = NULL;
	e2e_free(*state);
	return 0;
}

/* The sum of the numbers after key in the lines of a log with what: the
 * service's counts, e.g. of webhooks sent, over its summary lines. */
static long logged_sum(const char *path, const char *what, const char *key)
{
	char line[4096];
	long sum = 0;
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f)) {
		const char *v = strstr(line, what) ? strstr(line, key) : NULL;
		if (v)
			sum += strtol(v + strlen(key), NULL, 10);
	}
	fclose(f);
	return sum;
}

/* run --once until every delivery has settled (or n tries), pausing between
 * runs so that short backoffs come due. */
static void run_until_settled(struct e2e *e, int tries)
{
	for (int i = 0; i < tries; i++) {
		assert_int_equal(e2e_rollcall(e, "run --once"), 0);
		if (e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending'") == 0)
			return;
		sleep_ms(30);
	}
}

static void every_action_is_delivered_once_and_signed(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "");
	configure(e, e->port, "");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e,
				   "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND "
				   "attempts = 1 AND last_status = 200"),
			 3);
	assert_int_equal(lines_with(e->log, "sig=valid", "n=1 "), 3);
	assert_int_equal(lines_with(e->log, "id=", NULL), 3);
	assert_int_equal(lines_with(e->log, "type=attendance.alert", "kind=severe_absence"), 1);
	assert_int_equal(lines_with(e->log, "type=attendance.referral", NULL), 1);
	assert_int_equal(lines_with(e->log, "type=attendance.legal_step", "kind=letter"), 1);
	/* nothing is sent twice */
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(lines_with(e->log, "id=", NULL), 3);
}

static void five_hundred_twice_then_ok_is_three_attempts_one_id(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "--fail-first 2");
	configure(e, e->port, "backoff_ms = 1, backoff_max_ms = 5");
	run_until_settled(e, 50);
	assert_int_equal(e2e_query(e,
				   "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND "
				   "attempts = 3"),
			 3);
	assert_int_equal(lines_with(e->log, "id=", NULL), 9);
	assert_int_equal(lines_with(e->log, "n=3 ", "status=200"), 3); /* same id, third time */
	assert_int_equal(lines_with(e->log, "status=500", NULL), 6);
	assert_int_equal(lines_with(e->log, "sig=INVALID", NULL), 0);
}

static void a_hanging_receiver_times_out_and_is_retried(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "--hang-first 1 --hang-ms 3000");
	configure(e, e->port, "timeout_ms = 300, backoff_ms = 1, backoff_max_ms = 5");
	run_until_settled(e, 50);
	assert_int_equal(e2e_query(e,
				   "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND "
				   "attempts = 2"),
			 3);
	/* the first attempt's error was kept until the retry succeeded */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE last_error IS NULL"),
			 3);
}

static void always_failing_goes_dead_then_redeliver_delivers(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "--status 500");
	configure(e, e->port, "max_attempts = 3, backoff_ms = 1, backoff_max_ms = 5");
	run_until_settled(e, 50);
	assert_int_equal(
		e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'dead' AND "
			     "attempts = 3 AND last_status = 500 AND last_error LIKE 'HTTP 500%'"),
		3);
	assert_int_equal(e2e_rollcall(e, "deliveries --failed --json"), 0);
	char out[PATH_MAX + 16], text[8192];
	snprintf(out, sizeof out, "%s/out", e->dir);
	FILE *f = fopen(out, "r");
	text[fread(text, 1, sizeof text - 1, f)] = '\0';
	fclose(f);
	assert_non_null(strstr(text, "\"state\":\"dead\""));
	assert_non_null(strstr(text, "\"last_status\":500"));

	/* the receiver recovers; redeliver sends the same webhook-ids again */
	int port = e->port;
	e2e_receiver_stop(e);
	e2e_receiver_start(e, port, "");
	assert_int_equal(e2e_rollcall(e, "redeliver 1 2 3"), 0);
	assert_int_equal(e2e_rollcall(e, "redeliver 1"), 2); /* now pending, not dead */
	assert_int_equal(e2e_rollcall(e, "redeliver 99"), 2);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
			 3);
	assert_int_equal(lines_with(e->log, "status=200", "sig=valid"), 3);
	assert_int_equal(lines_with(e->log, "n=1 ", NULL), 3); /* a fresh receiver: first sight */
}

static int unused_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

static void a_refused_connection_is_retried(void **state)
{
	struct e2e *e = *state;
	int port = unused_port();
	configure(e, port, "backoff_ms = 1, backoff_max_ms = 5");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(
		e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending' AND "
			     "attempts >= 1 AND last_status IS NULL AND last_error IS NOT NULL"),
		3);
	e2e_receiver_start(e, port, "");
	run_until_settled(e, 50);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
			 3);
}

static void a_ten_megabyte_response_is_not_read_into_memory(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "--big-body 10");
	configure(e, e->port, "");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
			 3);
	/* three 10 MB answers would be 30 MB held: rollcall stops at 1 MB each
	 * (under valgrind, the RSS is valgrind's) */
	if (e2e_rss_is_rollcalls() && e->max_rss_kb > 28 * 1024)
		fail_msg("peak RSS %ld KiB: a response was held in memory", e->max_rss_kb);
}

static void an_endless_response_is_cut_off(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "--big-body -1");
	configure(e, e->port, "timeout_ms = 20000");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	/* the 200 came first; rollcall hung up after 1 MB of each body */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
			 3);
	if (e2e_rss_is_rollcalls() && e->max_rss_kb > 28 * 1024)
		fail_msg("peak RSS %ld KiB: an endless response was held in memory", e->max_rss_kb);
}

static void retry_after_is_honoured(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "--fail-first 1 --status 429 --retry-after 30");
	configure(e, e->port, "backoff_ms = 1, backoff_max_ms = 60000");
	/* each attempt is due its wait after the moment it ended, which lies
	 * between before and after (however slowly rollcall runs) */
	long long before = wall_ms();
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	long long after = wall_ms();
	/* pending for 30 s, not the 1 ms backoff */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending' AND "
				      "last_status = 429"),
			 3);
	long long next = e2e_query(e, "SELECT min(next_attempt_at) FROM deliveries");
	assert_true(next >= before + 30000 && next <= after + 30000);

	/* within backoff_max_ms: a cap of 2 s wins over 30 s */
	configure(e, e->port, "backoff_ms = 1, backoff_max_ms = 2000");
	e2e_receiver_stop(e);
	e2e_receiver_start(e, e->port, "--status 503 --retry-after 30");
	char sql[128];
	snprintf(sql, sizeof sql, "%s", "UPDATE deliveries SET next_attempt_at = 0");
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/rollcall.db", e->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	before = wall_ms();
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	after = wall_ms();
	next = e2e_query(e, "SELECT max(next_attempt_at) FROM deliveries");
	assert_true(next >= before + 2000 && next <= after + 2000);
}

/* An endpoint that hangs holds only its own slots: the healthy endpoint's
 * deliveries all go through in the same run. */
static void a_hanging_endpoint_does_not_hold_up_a_healthy_one(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "");
	int healthy = e->port;
	pid_t first = e->receiver;
	e->receiver = 0;
	e2e_receiver_start(e, 0, "--hang-ms 5000");
	char path[PATH_MAX + 32], conf[PATH_MAX * 3];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(conf, sizeof conf,
		 "policies = \"%s/tests/policies/roles\"\nscripts = \"%s/scripts\"\n"
		 "endpoints = {\n"
		 "  [\"ewo-team\"] = { url = \"http://127.0.0.1:%d/\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"mentors\"] = { url = \"http://127.0.0.1:%d/\", secret_env = "
		 "\"HOOK_SECRET\" "
		 "},\n"
		 "  [\"legal-team\"] = { url = \"http://127.0.0.1:%d/\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "}\n"
		 "delivery = { timeout_ms = 2000, concurrency = 2, per_endpoint = 1, backoff_ms = "
		 "60000 }\n",
		 e2e_root, e2e_root, e->port, healthy, healthy);
	write_file(path, conf);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e,
				   "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND "
				   "endpoint IN ('mentors', 'legal-team')"),
			 2);
	if (e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending' AND endpoint = "
			 "'ewo-team' AND last_error LIKE '%timed out%'") != 1) {
		e2e_rollcall(e, "deliveries");
		char cmd[PATH_MAX + 32];
		snprintf(cmd, sizeof cmd, "cat '%s/out' '%s/err' >&2", e->dir, e->dir);
		assert_int_equal(system(cmd), 0);
		fail_msg("the hanging endpoint's delivery is not pending after a timeout");
	}
	kill(first, SIGTERM);
	waitpid(first, NULL, 0);
}

/* A webhook answered while evaluation (here, this test) holds the write
 * lock past the busy timeout and past the delivery's lease: its result waits
 * in its slot until it can be recorded, and it is not sent a second time. */
static void a_result_that_must_wait_for_the_lock_is_not_sent_again(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "--hang-ms 500");
	configure(e, e->port, "timeout_ms = 2000, backoff_ms = 60000");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	e2e_daemon_start(e, "");
	if (!e2e_wait_for(e,
			  "SELECT count(*) FROM deliveries WHERE state = 'pending' AND "
			  "next_attempt_at > 0",
			  3, 10000))
		fail_msg("the deliveries were not leased");
	/* answered after 500 ms; the lease runs out 2,000 + 5,000 ms after it
	 * was taken; the sender tries for the lock every turn, 50 ms at a
	 * time. Which of its two writes gets the lock once it is let go (fill,
	 * leasing, or collect, recording) depends on the moment: the test
	 * below takes the sender turn by turn. */
	sqlite3 *db = e2e_db(e);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	sleep_ms(8000);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	if (!e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", 3,
			  15000)) {
		char cmd[PATH_MAX * 3];
		snprintf(cmd, sizeof cmd, "cat '%s' '%s' >&2", e->daemon_log, e->log);
		if (system(cmd) != 0)
			fail_msg("cannot show the logs");
		fail_msg("the deliveries were not recorded after the lock was let go");
	}
	/* A second send could only have been started before the results were
	 * recorded (a delivered row is never due): stopping lets every
	 * transfer in flight end within the grace period (timeout_ms), and the
	 * receiver logs each request before it answers. So once the service
	 * has exited, what it sent and what the receiver saw are all counted. */
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 15000), 0);
	assert_int_equal(logged_sum(e->daemon_log, "msg=delivered ", " sent="), 3);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered' "
				      "AND attempts = 1 AND last_error IS NULL"),
			 3);
	assert_int_equal(lines_with(e->log, "id=", NULL), 3);
	assert_int_equal(lines_with(e->log, "n=1 ", "sig=valid"), 3);
}

/* The same, with the sender in this process driven one turn at a time,
 * so that nothing depends on which of its writes gets the lock first: the
 * three webhooks are answered while the lock is held, their leases run out
 * meanwhile (set here to 0), and in the first turn after the lock is let
 * go, fill (leasing what is due) runs before collect (recording what was
 * answered). None is sent again: one request each, and the sender, driven
 * until idle, counts three sent. */
static void a_lease_run_out_while_the_result_waits_is_not_taken_again(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "--hang-ms 300"); /* no answer within the first turn */
	configure(e, e->port, "backoff_ms = 60000");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);

	char path[PATH_MAX + 32];
	struct config cfg;
	struct db db;
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	assert_int_equal(config_load(&cfg, path, 0), 0);
	assert_int_equal(config_load_secrets(&cfg), 0);
	snprintf(path, sizeof path, "%s/rollcall.db", e->dir);
	assert_int_equal(db_open(&db, path, DB_EXISTING), 0);
	struct deliver *d = deliver_new(&db, &cfg);
	assert_non_null(d);
	struct deliver_stats st = { 0 }, idle;

	assert_int_equal(deliver_step(d, 1, 0, &st), 3); /* leased and started */
	sqlite3 *holder = e2e_db(e);
	assert_int_equal(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 200 && lines_with(e->log, "id=", NULL) < 3; i++)
		assert_int_equal(deliver_step(d, 1, 50, &st), 3);
	assert_int_equal(lines_with(e->log, "id=", NULL), 3);
	for (int i = 0; i < 5; i++) /* turns for curl to read the answers */
		assert_int_equal(deliver_step(d, 1, 50, &st), 3);
	assert_int_equal(st.sent, 0); /* nothing could be recorded */
	assert_int_equal(sqlite3_exec(holder, "UPDATE deliveries SET next_attempt_at = 0; COMMIT",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(holder);

	deliver_step(d, 1, 50, &st);
	assert_int_equal(deliver_until_idle(d, &idle), DB_DONE);
	assert_int_equal(deliver_inflight(d), 0);
	assert_int_equal(st.sent + idle.sent, 3);
	assert_int_equal(st.delivered + idle.delivered, 3);
	deliver_free(d);
	db_close(&db);
	config_free(&cfg);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered' "
				      "AND attempts = 1"),
			 3);
	assert_int_equal(lines_with(e->log, "id=", NULL), 3);
	assert_int_equal(lines_with(e->log, "n=1 ", "sig=valid"), 3);
}

/* A backlog for a hanging endpoint, older than everything else in the
 * outbox, holds only that endpoint's slots: the others' deliveries go out
 * at once, not after the backlog. */
static void a_backlog_for_a_hanging_endpoint_does_not_hide_the_others(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "");
	int healthy = e->port;
	pid_t first = e->receiver;
	e2e_receiver_start(e, 0, "--hang-ms 5000");
	char path[PATH_MAX + 32], conf[PATH_MAX * 3];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(
		conf, sizeof conf,
		"policies = '%s/tests/policies/roles'\nscripts = '%s/scripts'\n"
		"endpoints = {\n"
		"  ['ewo-team'] = { url = 'http://127.0.0.1:%d/', secret_env = 'HOOK_SECRET' },\n"
		"  ['mentors'] = { url = 'http://127.0.0.1:%d/', secret_env = 'HOOK_SECRET' },\n"
		"  ['legal-team'] = { url = 'http://127.0.0.1:%d/', secret_env = 'HOOK_SECRET' },\n"
		"}\n"
		"delivery = { timeout_ms = 2000, concurrency = 8, per_endpoint = 2, max_attempts = "
		"1 }\n",
		e2e_root, e2e_root, e->port, healthy, healthy);
	write_file(path, conf);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	/* 300 more for the hanging endpoint, then the healthy ones after them */
	e2e_exec(e,
		 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) "
		 "INSERT INTO deliveries(action_id, endpoint, webhook_id, state) SELECT "
		 "(SELECT action_id FROM deliveries WHERE endpoint = 'ewo-team'), 'ewo-team', "
		 "'msg_backlog_' || i, 'pending' FROM n;"
		 "INSERT INTO deliveries(action_id, endpoint, webhook_id, state) SELECT action_id, "
		 "endpoint, webhook_id || '_late', 'pending' FROM deliveries WHERE endpoint IN "
		 "('mentors', 'legal-team');"
		 "DELETE FROM deliveries WHERE endpoint IN ('mentors', 'legal-team') AND "
		 "webhook_id NOT LIKE '%_late';");
	e2e_daemon_start(e, "");
	if (!e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", 2, 20000))
		fail_msg("the healthy endpoint's deliveries waited behind the backlog");
	assert_true(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending' AND "
				 "endpoint = 'ewo-team'") > 250);
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 10000), 0);
	kill(first, SIGTERM);
	waitpid(first, NULL, 0);
}

/* A Retry-After past any wait (the largest 64-bit number, more digits than
 * any integer holds, a date in the year 9999) waits backoff_max_ms: 2^63 - 1
 * seconds counted in milliseconds overflowed, and every attempt was spent
 * at once. An HTTP-date 30 s ahead waits 30 s. */
static void a_retry_after_past_any_wait_waits_backoff_max_ms(void **state)
{
	struct e2e *e = *state;
	struct {
		const char *status, *value; /* NULL: the HTTP-date 30 s from now */
		long long wait;
	} cases[] = {
		{ "429 Too Many Requests", "9223372036854775807", 60000 },
		{ "503 Service Unavailable", "99999999999999999999999999", 60000 },
		{ "429 Too Many Requests", "Fri, 31 Dec 9999 23:59:59 GMT", 60000 },
		{ "503 Service Unavailable", NULL, 30000 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char response[256], date[64];
		const char *value = cases[i].value;
		time_t soon = time(NULL) + cases[i].wait / 1000;
		if (!value) {
			strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&soon));
			value = date;
		}
		int len = snprintf(response, sizeof response,
				   "HTTP/1.1 %s\r\nRetry-After: %s\r\nContent-Length: 0\r\n"
				   "Connection: close\r\n\r\n",
				   cases[i].status, value);
		struct canned *c = canned_start(e, response, (size_t)len);
		configure(e, c->port, "max_attempts = 5, backoff_ms = 1, backoff_max_ms = 60000");
		e2e_exec(e, "UPDATE deliveries SET attempts = 0, next_attempt_at = 0");
		long long before = wall_ms();
		assert_int_equal(e2e_rollcall(e, "run --once"), 0);
		long long after = wall_ms();
		long long waiting = e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = "
						 "'pending' AND attempts = 1 AND last_status IN "
						 "(429, 503)");
		if (waiting != 3)
			fail_msg("Retry-After: %s: %lld of 3 deliveries wait after one attempt",
				 value, waiting);
		/* a wait counts from the attempt's end, between before and after;
		 * a date is a moment, to the second */
		long long low = before + cases[i].wait, high = after + cases[i].wait;
		if (!cases[i].value)
			low = (long long)soon * 1000 - 1000, high = (long long)soon * 1000 + 1000;
		long long first = e2e_query(e, "SELECT min(next_attempt_at) FROM deliveries");
		long long last = e2e_query(e, "SELECT max(next_attempt_at) FROM deliveries");
		if (first < low || last > high)
			fail_msg("Retry-After: %s: due %lld to %lld ms after the run, not %lld to "
				 "%lld",
				 value, first - before, last - before, low - before, high - before);
	}
}

static void save_env(const char **names, char **saved, int n)
{
	for (int i = 0; i < n; i++)
		saved[i] = getenv(names[i]) ? strdup(getenv(names[i])) : NULL;
}

static void restore_env(const char **names, char **saved, int n)
{
	for (int i = 0; i < n; i++) {
		if (saved[i])
			setenv(names[i], saved[i], 1);
		else
			unsetenv(names[i]);
		free(saved[i]);
	}
}

/* A proxy named in rollcall's environment is never used: deliveries go
 * straight to their endpoint (a loopback-only plain-http one here), and
 * the proxy, which would have answered 200, sees no connection. */
static void a_proxy_in_the_environment_is_not_used(void **state)
{
	struct e2e *e = *state;
	static const char ok[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	struct canned *proxy = canned_start(e, ok, sizeof ok - 1);
	e2e_receiver_start(e, 0, "");
	configure(e, e->port, "");
	const char *names[] = { "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
				"all_proxy",  "no_proxy",    "NO_PROXY" };
	char *saved[7], url[64];
	save_env(names, saved, 7);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", proxy->port);
	for (int i = 0; i < 5; i++)
		setenv(names[i], url, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	int rc = e2e_rollcall(e, "run --once");
	restore_env(names, saved, 7);
	assert_int_equal(rc, 0);
	if (lines_with(proxy->log, "", NULL) != 0)
		fail_msg("%d requests went through the proxy", lines_with(proxy->log, "", NULL));
	assert_int_equal(lines_with(e->log, "sig=valid", "status=200"), 3);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
			 3);
}

/* A wall clock stepped back leaves due times further ahead than any wait
 * rollcall chooses (a lease: timeout_ms + 5 s; a retry: backoff_max_ms):
 * such a delivery is sent now, not an hour or a day late, while one due
 * within those waits still waits. The rows are written as a step back
 * would leave them; the clock is not touched. */
static void a_due_time_a_clock_step_back_left_far_ahead_is_not_waited_for(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "");
	configure(e, e->port, "timeout_ms = 30000, backoff_ms = 1000, backoff_max_ms = 2000");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	char sql[512];
	long long now = wall_ms();
	snprintf(sql, sizeof sql,
		 /* a lease taken an hour before the clock went back */
		 "UPDATE deliveries SET next_attempt_at = %lld WHERE endpoint = 'ewo-team';"
		 /* a retry scheduled a day before */
		 "UPDATE deliveries SET attempts = 2, next_attempt_at = %lld "
		 "WHERE endpoint = 'mentors';"
		 /* within a lease of now: it waits */
		 "UPDATE deliveries SET next_attempt_at = %lld WHERE endpoint = 'legal-team';",
		 now + 3600000 + 35000, now + 86400000, now + 25000);
	e2e_exec(e, sql);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered' "
				      "AND endpoint IN ('ewo-team', 'mentors')"),
			 2);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending' "
				      "AND attempts = 0 AND endpoint = 'legal-team'"),
			 1);

	/* the service too: the one left, moved a day ahead, goes out now */
	e2e_daemon_start(e, "");
	snprintf(sql, sizeof sql,
		 "UPDATE deliveries SET next_attempt_at = %lld WHERE endpoint = 'legal-team'",
		 wall_ms() + 86400000);
	e2e_exec(e, sql);
	if (!e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", 3, 10000))
		fail_msg("a delivery due a day ahead was not sent within 10 s");
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 10000), 0);
	assert_int_equal(lines_with(e->log, "sig=valid", "status=200"), 3);
}

#define FFFD "\xef\xbf\xbd"

/* A receiver's error body is kept as valid text whatever it holds (control
 * characters, bytes that are not UTF-8, a NUL) and wherever the 200 bytes
 * kept cut it (here through "é"), and `deliveries --json` shows it. */
static void an_error_body_is_kept_as_valid_text(void **state)
{
	struct e2e *e = *state;
	static const char start[] = "ctl\x01\x1b[31m bad\xff\xc0\xaf nul\0after ";
	char body[256], response[512];
	size_t n = sizeof start - 1;
	memcpy(body, start, n);
	memset(body + n, 'a', 199 - n);
	memcpy(body + 199, "\xc3\xa9 and more", 11);
	int head = snprintf(response, sizeof response,
			    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
			    "Content-Length: 210\r\nConnection: close\r\n\r\n");
	memcpy(response + head, body, 210);
	struct canned *c = canned_start(e, response, (size_t)head + 210);
	configure(e, c->port, "max_attempts = 1");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'dead'"), 3);

	char want[512];
	snprintf(want, sizeof want,
		 "HTTP 500: ctl" FFFD FFFD "[31m bad" FFFD FFFD FFFD " nul" FFFD "after %.*s",
		 (int)(199 - n), body + n);
	char *kept = e2e_text(e, "SELECT last_error FROM deliveries WHERE id = 1");
	if (strcmp(kept, want) != 0)
		fail_msg("last_error is \"%s\", not \"%s\"", kept, want);
	assert_true(text_clean(kept, (int)strlen(kept)));
	free(kept);

	assert_int_equal(e2e_rollcall(e, "deliveries --json"), 0);
	char out[16384];
	e2e_slurp(e, "out", out, sizeof out);
	int lines = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
		json_t *o = json_loads(line, 0, NULL);
		assert_non_null(o);
		assert_string_equal(json_string_value(json_object_get(o, "last_error")), want);
		json_decref(o);
	}
	assert_int_equal(lines, 3);
}

static void bad_configuration_exits_2(void **state)
{
	struct e2e *e = *state;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	struct {
		const char *conf, *want;
	} cases[] = {
		{ "endpoints = { x = { url = 'https://h.example/', secret_env = 'HOOK_SECRET', "
		  "retries = 3 } }\n",
		  "rollcall.conf:1: endpoints[\"x\"]: unknown key 'retries'" },
		{ "endpoints = { x = { url = 'http://hooks.example.org/', secret_env = "
		  "'HOOK_SECRET' } }\n",
		  "plain http:// is allowed only to loopback" },
		{ "endpoints = { x = { url = 'https://h.example/', secret_env = 'NO_SUCH_VAR' } "
		  "}\n",
		  "the secret variable NO_SUCH_VAR is not set" },
		{ "endpoints = { x = { url = 'https://h.example/', secret_env = 'BAD_SECRET' } "
		  "}\n",
		  "the secret in BAD_SECRET is not valid base64" },
		{ "\n\nendpoints = { x = { url = 'https://h.example/' } }\n",
		  "rollcall.conf:3: endpoints[\"x\"] needs one of secret_env or secret_file" },
		{ "delivery = { concurency = 3 }\n", "delivery: unknown key 'concurency'" },
	};
	setenv("BAD_SECRET", "whsec_not*base64!!", 1);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		write_file(path, cases[i].conf);
		assert_int_equal(e2e_rollcall(e, "run --once"), 2);
		char err[PATH_MAX + 16], text[4096];
		snprintf(err, sizeof err, "%s/err", e->dir);
		FILE *f = fopen(err, "r");
		text[fread(text, 1, sizeof text - 1, f)] = '\0';
		fclose(f);
		if (!strstr(text, cases[i].want))
			fail_msg("case %zu: stderr lacks \"%s\": %s", i, cases[i].want, text);
		if (strstr(text, "not*base64"))
			fail_msg("case %zu: the secret was printed", i);
	}
	/* an insecure endpoint may use plain http if it says so */
	char conf[PATH_MAX * 3];
	snprintf(conf, sizeof conf,
		 "policies = '%s/tests/policies/roles'\nscripts = '%s/scripts'\n"
		 "endpoints = { x = { url = 'http://hooks.example.org/', secret_env = "
		 "'HOOK_SECRET', insecure = true } }\n",
		 e2e_root, e2e_root);
	write_file(path, conf);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	/* a secret file readable by others is refused */
	char secret[PATH_MAX + 32];
	snprintf(secret, sizeof secret, "%s/secret", e->dir);
	write_file(secret, E2E_SECRET "\n");
	chmod(secret, 0644);
	snprintf(conf, sizeof conf,
		 "policies = '%s/tests/policies/roles'\nscripts = '%s/scripts'\n"
		 "endpoints = { x = { url = 'https://h.example/', secret_file = 'secret' } }\n",
		 e2e_root, e2e_root);
	write_file(path, conf);
	assert_int_equal(e2e_rollcall(e, "run --once"), 2);
	chmod(secret, 0600);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
}

/* A created_at that is not UTF-8 (a damaged row) still makes a webhook,
 * its timestamp made text; it once made no body, and the sender crashed on
 * it. */
static void an_action_whose_created_at_is_not_text_is_still_sent(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "");
	configure(e, e->port, "");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	e2e_exec(e, "UPDATE actions SET created_at = CAST(x'ff' || created_at AS TEXT)");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
			 3);
	assert_int_equal(lines_with(e->log, "sig=valid", "status=200"), 3);
}

/* ---- reloading endpoints and secrets ---- */

#define SECOND_SECRET "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

/* rollcall.conf of policies that alert on every evaluation, la:355's to
 * ewo-team and la:846's to new-team, with the endpoints given. */
static void alerting_conf(struct e2e *e, const char *endpoints)
{
	char path[PATH_MAX + 32], text[PATH_MAX * 2];
	snprintf(path, sizeof path, "%s/pol", e->dir);
	mkdir(path, 0700);
	for (int i = 0; i < 2; i++) {
		const char *la = i ? "846" : "355", *to = i ? "new-team" : "ewo-team";
		snprintf(path, sizeof path, "%s/pol/la-%s.lua", e->dir, la);
		snprintf(
			text, sizeof text,
			"policy { org = 'la:%s', name = 'Every time', endpoints = { alert = '%s' } "
			"}\n"
			"function on_pupil(p) alert(p, 'seen', { cooldown_days = 0 }) end\n",
			la, to);
		write_file(path, text);
	}
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(text, sizeof text,
		 "policies = 'pol'\nscripts = '%s/scripts'\nendpoints = {\n%s}\n", e2e_root,
		 endpoints);
	write_file(path, text);
}

static void secret_file(struct e2e *e, const char *name, const char *text)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/%s", e->dir, name);
	write_file(path, text);
	assert_int_equal(chmod(path, 0600), 0);
}

/* Every pupil with marks gets one more, on date: each is evaluated again. */
static void a_day_of_marks(struct e2e *e, const char *date)
{
	char sql[512];
	snprintf(sql, sizeof sql,
		 "INSERT INTO incoming(upn, urn, date, session, code) SELECT DISTINCT p.upn, "
		 "p.urn, '%s', 'AM', '/' FROM pupils p JOIN marks m ON m.pupil = p.id",
		 date);
	e2e_exec(e, sql);
}

/* SIGHUP, and wait (at most 10 s) until the log has one more line with
 * what; the caller checks that it came. */
static void sighup(struct e2e *e, const char *what)
{
	int before = lines_with(e->daemon_log, what, NULL);
	kill(e->daemon, SIGHUP);
	assert_true(e2e_wait_lines(e->daemon_log, what, NULL, before + 1, 60000));
}

#define ACTIONS_OF(org) "SELECT count(*) FROM actions WHERE org = '" org "'"
#define EVALUATED                                                                                  \
	"SELECT (SELECT count(*) FROM incoming) = 0 AND coalesce((SELECT max(seq) FROM changes), " \
	"0) <= coalesce((SELECT value FROM meta WHERE key = 'evaluated_seq'), 0)"
#define DELIVERED_TO(endpoint)                                                                     \
	"SELECT count(*) FROM deliveries WHERE endpoint = '" endpoint "' AND state = 'delivered'"

static void sighup_takes_a_new_endpoint_a_new_url_and_a_rotated_secret(void **state)
{
	struct e2e *e = *state;
	char endpoints[512];
	second = e2e_new(); /* the receiver before the reload, with the first secret */
	e2e_receiver_start(second, 0, "");
	secret_file(e, "ewo.secret", E2E_SECRET "\n");
	snprintf(endpoints, sizeof endpoints,
		 "  ['ewo-team'] = { url = 'http://127.0.0.1:%d/ewo', secret_file = 'ewo.secret' "
		 "},\n",
		 second->port);
	alerting_conf(e, endpoints);
	e2e_daemon_start(e, "");
	assert_true(e2e_wait_for(e, EVALUATED, 1, 10000));
	long long n355 = e2e_query(e, ACTIONS_OF("la:355"));
	long long n846 = e2e_query(e, ACTIONS_OF("la:846"));
	assert_true(n355 > 0 && n846 > 0);
	if (!e2e_wait_for(e, DELIVERED_TO("ewo-team"), n355, 10000))
		fail_msg("la:355's alerts were not delivered before the reload");
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE endpoint = "
				      "'new-team' AND state = 'no_endpoint'"),
			 n846);

	/* another receiver, which knows only the second secret; the secret
	 * file rotated to it, and an endpoint added */
	e2e_receiver_start(e, 0, "--secret " SECOND_SECRET);
	secret_file(e, "ewo.secret", SECOND_SECRET "\n");
	secret_file(e, "new.secret", SECOND_SECRET "\n");
	snprintf(endpoints, sizeof endpoints,
		 "  ['ewo-team'] = { url = 'http://127.0.0.1:%d/ewo', secret_file = 'ewo.secret' "
		 "},\n"
		 "  ['new-team'] = { url = 'http://localhost:%d/new', secret_file = 'new.secret' "
		 "},\n",
		 e->port, e->port);
	alerting_conf(e, endpoints);
	sighup(e, "endpoints reloaded");
	a_day_of_marks(e, "2025-09-15");
	if (!e2e_wait_for(e, DELIVERED_TO("ewo-team"), 2 * n355, 10000) ||
	    !e2e_wait_for(e, DELIVERED_TO("new-team"), n846, 10000))
		fail_msg("the alerts after the reload were not delivered; see %s", e->daemon_log);
	/* each at the new URL, signed with the new secret; none at the old */
	assert_int_equal(lines_with(e->log, "sig=valid", "status=200"), n355 + n846);
	assert_int_equal(lines_with(e->log, "id=", NULL), n355 + n846);
	assert_int_equal(lines_with(second->log, "id=", NULL), n355);
	assert_int_equal(lines_with(second->log, "sig=valid", "status=200"), n355);
	/* what was recorded before the endpoint existed stays visible as such */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE endpoint = "
				      "'new-team' AND state = 'no_endpoint'"),
			 n846);
	assert_int_equal(lines_with(e->daemon_log, "endpoints reloaded", "endpoints=2"), 1);
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 15000), 0);
}

static void a_reload_that_is_not_valid_keeps_the_endpoints_and_secrets_in_use(void **state)
{
	struct e2e *e = *state;
	char endpoints[512];
	e2e_receiver_start(e, 0, "");
	secret_file(e, "ewo.secret", E2E_SECRET "\n");
	snprintf(endpoints, sizeof endpoints,
		 "  ['ewo-team'] = { url = 'http://127.0.0.1:%d/ewo', secret_file = 'ewo.secret' "
		 "},\n",
		 e->port);
	alerting_conf(e, endpoints);
	e2e_daemon_start(e, "");
	assert_true(e2e_wait_for(e, EVALUATED, 1, 10000));
	long long n355 = e2e_query(e, ACTIONS_OF("la:355"));
	assert_true(n355 > 0);
	if (!e2e_wait_for(e, DELIVERED_TO("ewo-team"), n355, 10000))
		fail_msg("la:355's alerts were not delivered before the reload");
	int policies = lines_with(e->daemon_log, "policies reloaded", NULL);

	/* a key that does not exist, on line 5 of the new file */
	alerting_conf(e, "  ['ewo-team'] = { url = 'http://127.0.0.1:1/ewo', secret_file = "
			 "'ewo.secret',\n    retries = 3 },\n");
	sighup(e, "rollcall.conf not reloaded");
	assert_int_equal(lines_with(e->daemon_log,
				    "rollcall.conf:5: endpoints[\\\"ewo-team\\\"]: "
				    "unknown key 'retries'",
				    NULL),
			 1);
	/* a valid file, but a secret file that holds two secrets */
	secret_file(e, "rotated.secret", SECOND_SECRET "\n" E2E_SECRET "\n");
	alerting_conf(e, "  ['ewo-team'] = { url = 'http://127.0.0.1:1/ewo', secret_file = "
			 "'rotated.secret' },\n");
	sighup(e, "rollcall.conf not reloaded");
	assert_int_equal(lines_with(e->daemon_log,
				    "rollcall.conf:4: endpoints[\\\"ewo-team\\\"]: secret file "
				    "rotated.secret holds more than one line",
				    NULL),
			 1);
	/* a secret that is not one */
	secret_file(e, "rotated.secret", "whsec_not*base64!!\n");
	sighup(e, "rollcall.conf not reloaded");
	assert_int_equal(lines_with(e->daemon_log, "rollcall.conf:4:", "not valid base64"), 1);
	assert_int_equal(lines_with(e->daemon_log, "not*base64", NULL), 0);
	assert_int_equal(lines_with(e->daemon_log, "endpoints reloaded", NULL), 0);
	/* the policies were reloaded each time all the same (logged after
	 * the configuration's line) */
	assert_true(e2e_wait_lines(e->daemon_log, "policies reloaded", NULL, policies + 3, 60000));
	assert_int_equal(lines_with(e->daemon_log, "policies reloaded", NULL), policies + 3);

	/* still the first URL and secret */
	a_day_of_marks(e, "2025-09-15");
	if (!e2e_wait_for(e, DELIVERED_TO("ewo-team"), 2 * n355, 10000))
		fail_msg("the alerts after the refused reloads were not delivered");
	assert_int_equal(lines_with(e->log, "sig=valid", "status=200"), 2 * n355);
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 15000), 0);
}

/* At start as at a reload: one secret a file, a final line break allowed. */
static void a_secret_file_holds_exactly_one_secret(void **state)
{
	struct e2e *e = *state;
	char path[PATH_MAX + 32], conf[PATH_MAX * 3], text[4096];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(
		conf, sizeof conf,
		"policies = '%s/tests/policies/roles'\nscripts = '%s/scripts'\n"
		"endpoints = {\n  x = { url = 'https://h.example/', secret_file = 'secret' },\n}\n",
		e2e_root, e2e_root);
	write_file(path, conf);
	static const char *const fine[] = { E2E_SECRET, E2E_SECRET "\n", E2E_SECRET "\r\n",
					    E2E_SECRET "\n\n" };
	for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
		secret_file(e, "secret", fine[i]);
		if (e2e_rollcall(e, "run --once") != 0) {
			e2e_slurp(e, "err", text, sizeof text);
			fail_msg("secret file %zu refused: %s", i, text);
		}
	}
	static const char *const refused[] = { SECOND_SECRET "\n" E2E_SECRET "\n", E2E_SECRET "\nx",
					       "\n" E2E_SECRET "\n" };
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		secret_file(e, "secret", refused[i]);
		assert_int_equal(e2e_rollcall(e, "run --once"), 2);
		e2e_slurp(e, "err", text, sizeof text);
		if (!strstr(text,
			    "rollcall.conf:4: endpoints[\\\"x\\\"]: secret file secret holds more "
			    "than one line: it must hold exactly one secret"))
			fail_msg("secret file %zu: %s", i, text);
		if (strstr(text, "MfKQ9r8G") || strstr(text, "C2FVsBQI"))
			fail_msg("secret file %zu: a secret was printed: %s", i, text);
	}
}

/* Retry backoff (deliver.h): a draw over [0, min(cap, base * 2^(k-1))],
 * the whole of it, evenly. The same seed gives the same draws, so these
 * figures are the same on every run. */
static void backoff_grows_to_its_cap_with_full_jitter(void **state)
{
	(void)state;
	enum { DRAWS = 4000 };
	const long long base = 1000, cap = 50000;
	uint64_t rng = 0x2545f4914f6cdd1du;
	for (int k = 1; k <= 12; k++) {
		long long ceiling = k <= 6 ? base << (k - 1) : cap; /* 1 s, 2 s, ... 32 s, 50 s */
		long long lo = ceiling, hi = 0, sum = 0;
		int tenth[10] = { 0 };
		for (int i = 0; i < DRAWS; i++) {
			long long w = deliver_backoff(base, cap, k, &rng);
			if (w < 0 || w > ceiling)
				fail_msg("retry %d: waited %lld ms, outside [0, %lld]", k, w,
					 ceiling);
			lo = w < lo ? w : lo;
			hi = w > hi ? w : hi;
			sum += w;
			tenth[w * 10 / (ceiling + 1)]++;
		}
		/* from next to nothing up to the ceiling: it doubles each retry
		 * until the cap */
		if (lo > ceiling / 100 || hi < ceiling - ceiling / 100)
			fail_msg("retry %d: waits from %lld to %lld ms, not over [0, %lld]", k, lo,
				 hi, ceiling);
		/* evenly: each tenth of the range has its share, the mean is half */
		for (int t = 0; t < 10; t++)
			if (tenth[t] < DRAWS / 10 * 8 / 10 || tenth[t] > DRAWS / 10 * 12 / 10)
				fail_msg("retry %d: %d of %d waits in tenth %d of the range", k,
					 tenth[t], DRAWS, t + 1);
		long long mean = sum / DRAWS;
		if (mean < ceiling / 2 - ceiling / 20 || mean > ceiling / 2 + ceiling / 20)
			fail_msg("retry %d: mean wait %lld ms of [0, %lld]", k, mean, ceiling);
	}
	/* far past the cap (no doubling overflows), and a base above it */
	static const int far[] = { 40, 64, 100, 1000, INT_MAX };
	for (size_t i = 0; i < sizeof far / sizeof *far; i++)
		for (int j = 0; j < 100; j++) {
			long long w = deliver_backoff(base, cap, far[i], &rng);
			assert_true(w >= 0 && w <= cap);
			w = deliver_backoff(86400000, 604800000, far[i], &rng); /* the largest */
			assert_true(w >= 0 && w <= 604800000);
			w = deliver_backoff(5000, 1000, 1, &rng);
			assert_true(w >= 0 && w <= 1000);
		}
	/* the same seed, the same draws; another seed, other draws */
	uint64_t a = 42, b = 42, c = 43;
	int same = 0;
	for (int i = 0; i < 100; i++) {
		long long x = deliver_backoff(base, cap, 7, &a);
		assert_int_equal(x, deliver_backoff(base, cap, 7, &b));
		same += x == deliver_backoff(base, cap, 7, &c);
	}
	assert_true(same < 5);
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backoff_grows_to_its_cap_with_full_jitter),
		cmocka_unit_test_setup_teardown(every_action_is_delivered_once_and_signed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(five_hundred_twice_then_ok_is_three_attempts_one_id,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_hanging_receiver_times_out_and_is_retried, setup,
						teardown),
		cmocka_unit_test_setup_teardown(always_failing_goes_dead_then_redeliver_delivers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_refused_connection_is_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(a_ten_megabyte_response_is_not_read_into_memory,
						setup, teardown),
		cmocka_unit_test_setup_teardown(an_endless_response_is_cut_off, setup, teardown),
		cmocka_unit_test_setup_teardown(retry_after_is_honoured, setup, teardown),
		cmocka_unit_test_setup_teardown(a_hanging_endpoint_does_not_hold_up_a_healthy_one,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_backlog_for_a_hanging_endpoint_does_not_hide_the_others, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_result_that_must_wait_for_the_lock_is_not_sent_again, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_lease_run_out_while_the_result_waits_is_not_taken_again, setup, teardown),
		cmocka_unit_test_setup_teardown(a_retry_after_past_any_wait_waits_backoff_max_ms,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_proxy_in_the_environment_is_not_used, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_due_time_a_clock_step_back_left_far_ahead_is_not_waited_for, setup,
			teardown),
		cmocka_unit_test_setup_teardown(an_error_body_is_kept_as_valid_text, setup,
						teardown),
		cmocka_unit_test_setup_teardown(bad_configuration_exits_2, setup, teardown),
		cmocka_unit_test_setup_teardown(
			an_action_whose_created_at_is_not_text_is_still_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(
			sighup_takes_a_new_endpoint_a_new_url_and_a_rotated_secret, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_reload_that_is_not_valid_keeps_the_endpoints_and_secrets_in_use, setup,
			teardown),
		cmocka_unit_test_setup_teardown(a_secret_file_holds_exactly_one_secret, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("deliver", tests, NULL, NULL);
}
