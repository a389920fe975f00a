/*
 * test_deliver.c — webhook delivery end to end: the real rollcall binary,
 * a real SQLite file, and build/receiver (libmicrohttpd on 127.0.0.1, which
 * checks every signature with its own code) in each failure mode: answering
 * at once, 500 twice then 200, hanging past the timeout, always failing
 * (dead, then redelivered), refusing connections, a 10 MB response, 429 with
 * Retry-After, and a hanging endpoint beside a healthy one; and, from a
 * canned responder, a Retry-After past any wait and an error body that is
 * not text, a proxy in the environment, due times a clock step back left.
 *
 * The actions are three for J355400120001 from tests/policies/roles/la-355.lua
 * (an alert, a referral and a letter), one per endpoint role.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

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
		alarm(60);
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

static int teardown(void **state)
{
	canned_stop_all();
	e2e_free(*state);
	return 0;
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
	if (!*e2e_wrap && e->max_rss_kb > 28 * 1024)
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
	if (!*e2e_wrap && e->max_rss_kb > 28 * 1024)
		fail_msg("peak RSS %ld KiB: an endless response was held in memory", e->max_rss_kb);
}

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
		 "delivery = { timeout_ms = 500, concurrency = 2, per_endpoint = 1, backoff_ms = "
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
	configure(e, e->port, "timeout_ms = 1000, backoff_ms = 60000");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	e2e_daemon_start(e, "");
	if (!e2e_wait_for(e,
			  "SELECT count(*) FROM deliveries WHERE state = 'pending' AND "
			  "next_attempt_at > 0",
			  3, 10000))
		fail_msg("the deliveries were not leased");
	/* answered after 500 ms; the lease runs out 1,000 + 5,000 ms after it
	 * was taken; the sender waits 5,000 ms for the lock, then a second */
	sqlite3 *db = e2e_db(e);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	sleep_ms(7000);
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
	sleep_ms(1500); /* time for a second send, if there were to be one */
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 15000), 0);
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
		"delivery = { timeout_ms = 500, concurrency = 8, per_endpoint = 2, max_attempts = "
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
	if (!e2e_wait_for(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", 2, 5000))
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

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
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
	};
	return cmocka_run_group_tests_name("deliver", tests, NULL, NULL);
}
