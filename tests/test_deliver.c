/*
 * test_deliver.c — webhook delivery end to end: the real rollcall binary,
 * a real SQLite file, and build/receiver (libmicrohttpd on 127.0.0.1, which
 * checks every signature with its own code) in each failure mode: answering
 * at once, 500 twice then 200, hanging past the timeout, always failing
 * (dead, then redelivered), refusing connections, a 10 MB response, 429 with
 * Retry-After, and a hanging endpoint beside a healthy one.
 *
 * The actions are those of tests/test_run.c: three for J355400120001 from
 * policies/salford.lua (an alert, a referral and a letter), one per role.
 */
#define _DEFAULT_SOURCE	    /* wait4 */
#define _XOPEN_SOURCE	700 /* realpath */
#include "testutil.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static char bin[PATH_MAX], receiver[PATH_MAX], root[PATH_MAX];

struct env {
	char *dir;
	pid_t receiver;
	int port;
	char log[PATH_MAX + 32];
	long max_rss_kb; /* of the last rollcall run */
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* Start build/receiver with args, on port (0: any); wait for its port. */
static void start_receiver(struct env *e, int port, const char *args)
{
	static int started;
	char cmd[PATH_MAX * 3];
	snprintf(e->log, sizeof e->log, "%s/receiver-%d.log", e->dir, ++started);
	snprintf(cmd, sizeof cmd, "exec '%s' --port %d --secret %s %s >'%s' 2>&1", receiver, port,
		 SECRET, args, e->log);
	e->receiver = fork();
	if (e->receiver == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) { /* at most 10 s */
		FILE *f = fopen(e->log, "r");
		if (f && fscanf(f, "listening on 127.0.0.1:%d", &e->port) == 1) {
			fclose(f);
			return;
		}
		if (f)
			fclose(f);
		sleep_ms(50);
	}
	fail_msg("the receiver did not start");
}

static void stop_receiver(struct env *e)
{
	if (e->receiver > 0) {
		kill(e->receiver, SIGTERM);
		waitpid(e->receiver, NULL, 0);
		e->receiver = 0;
	}
}

static void configure(struct env *e, int port, const char *delivery)
{
	char path[PATH_MAX + 32], conf[PATH_MAX * 3];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(conf, sizeof conf,
		 "policies = \"%s/policies\"\nscripts = \"%s/scripts\"\n"
		 "endpoints = {\n"
		 "  [\"ewo-team\"] = { url = \"http://127.0.0.1:%d/ewo\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"mentors\"] = { url = \"http://127.0.0.1:%d/mentors\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"legal-team\"] = { url = \"http://127.0.0.1:%d/legal\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "}\n"
		 "delivery = { %s }\n",
		 root, root, port, port, port, delivery);
	write_file(path, conf);
}

/* Run rollcall; returns its exit status and notes its peak RSS. */
static int rollcall(struct env *e, const char *args)
{
	char cmd[PATH_MAX * 2 + 512];
	snprintf(cmd, sizeof cmd, "cd '%s' && exec '%s' -q --config rollcall.conf %s >out 2>err",
		 e->dir, bin, args);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int status;
	struct rusage ru;
	wait4(pid, &status, 0, &ru);
	e->max_rss_kb = ru.ru_maxrss;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static long long query(struct env *e, const char *sql)
{
	char path[PATH_MAX + 32];
	sqlite3 *db;
	sqlite3_stmt *st;
	snprintf(path, sizeof path, "%s/rollcall.db", e->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Lines of the receiver's log containing all of the given words. */
static int log_lines(struct env *e, const char *a, const char *b)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(e->log, "r");
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, a) && (!b || strstr(line, b));
	if (f)
		fclose(f);
	return n;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof *e);
	e->dir = temp_dir();
	setenv("HOOK_SECRET", SECRET, 1);
	configure(e, 1, "");
	assert_int_equal(rollcall(e, "init"), 0);
	char args[PATH_MAX * 4];
	snprintf(args, sizeof args,
		 "import %s/tests/data/schools.csv %s/tests/data/pupils.csv "
		 "%s/tests/data/marks.csv",
		 root, root, root);
	assert_int_equal(rollcall(e, args), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	stop_receiver(e);
	remove_tree(e->dir);
	free(e->dir);
	free(e);
	return 0;
}

/* run --once until every delivery has settled (or n tries), pausing between
 * runs so that short backoffs come due. */
static void run_until_settled(struct env *e, int tries)
{
	for (int i = 0; i < tries; i++) {
		assert_int_equal(rollcall(e, "run --once"), 0);
		if (query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending'") == 0)
			return;
		sleep_ms(30);
	}
}

static void every_action_is_delivered_once_and_signed(void **state)
{
	struct env *e = *state;
	start_receiver(e, 0, "");
	configure(e, e->port, "");
	assert_int_equal(rollcall(e, "run --once"), 0);
	assert_int_equal(query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND "
				  "attempts = 1 AND last_status = 200"),
			 3);
	assert_int_equal(log_lines(e, "sig=valid", "n=1 "), 3);
	assert_int_equal(log_lines(e, "id=", NULL), 3);
	assert_int_equal(log_lines(e, "type=attendance.alert", "kind=severe_absence"), 1);
	assert_int_equal(log_lines(e, "type=attendance.referral", NULL), 1);
	assert_int_equal(log_lines(e, "type=attendance.legal_step", "kind=letter"), 1);
	/* nothing is sent twice */
	assert_int_equal(rollcall(e, "run --once"), 0);
	assert_int_equal(log_lines(e, "id=", NULL), 3);
}

static void five_hundred_twice_then_ok_is_three_attempts_one_id(void **state)
{
	struct env *e = *state;
	start_receiver(e, 0, "--fail-first 2");
	configure(e, e->port, "backoff_ms = 1, backoff_max_ms = 5");
	run_until_settled(e, 50);
	assert_int_equal(query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND "
				  "attempts = 3"),
			 3);
	assert_int_equal(log_lines(e, "id=", NULL), 9);
	assert_int_equal(log_lines(e, "n=3 ", "status=200"), 3); /* same id, third time */
	assert_int_equal(log_lines(e, "status=500", NULL), 6);
	assert_int_equal(log_lines(e, "sig=INVALID", NULL), 0);
}

static void a_hanging_receiver_times_out_and_is_retried(void **state)
{
	struct env *e = *state;
	start_receiver(e, 0, "--hang-first 1 --hang-ms 3000");
	configure(e, e->port, "timeout_ms = 300, backoff_ms = 1, backoff_max_ms = 5");
	run_until_settled(e, 50);
	assert_int_equal(query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND "
				  "attempts = 2"),
			 3);
	/* the first attempt's error was kept until the retry succeeded */
	assert_int_equal(query(e, "SELECT count(*) FROM deliveries WHERE last_error IS NULL"), 3);
}

static void always_failing_goes_dead_then_redeliver_delivers(void **state)
{
	struct env *e = *state;
	start_receiver(e, 0, "--status 500");
	configure(e, e->port, "max_attempts = 3, backoff_ms = 1, backoff_max_ms = 5");
	run_until_settled(e, 50);
	assert_int_equal(
		query(e, "SELECT count(*) FROM deliveries WHERE state = 'dead' AND "
			 "attempts = 3 AND last_status = 500 AND last_error LIKE 'HTTP 500%'"),
		3);
	assert_int_equal(rollcall(e, "deliveries --failed --json"), 0);
	char out[PATH_MAX + 16], text[8192];
	snprintf(out, sizeof out, "%s/out", e->dir);
	FILE *f = fopen(out, "r");
	text[fread(text, 1, sizeof text - 1, f)] = '\0';
	fclose(f);
	assert_non_null(strstr(text, "\"state\":\"dead\""));
	assert_non_null(strstr(text, "\"last_status\":500"));

	/* the receiver recovers; redeliver sends the same webhook-ids again */
	int port = e->port;
	stop_receiver(e);
	start_receiver(e, port, "");
	assert_int_equal(rollcall(e, "redeliver 1 2 3"), 0);
	assert_int_equal(rollcall(e, "redeliver 1"), 2); /* now pending, not dead */
	assert_int_equal(rollcall(e, "redeliver 99"), 2);
	assert_int_equal(rollcall(e, "run --once"), 0);
	assert_int_equal(query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"), 3);
	assert_int_equal(log_lines(e, "status=200", "sig=valid"), 3);
	assert_int_equal(log_lines(e, "n=1 ", NULL), 3); /* a fresh receiver: first sight */
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
	struct env *e = *state;
	int port = unused_port();
	configure(e, port, "backoff_ms = 1, backoff_max_ms = 5");
	assert_int_equal(rollcall(e, "run --once"), 0);
	assert_int_equal(query(e,
			       "SELECT count(*) FROM deliveries WHERE state = 'pending' AND "
			       "attempts >= 1 AND last_status IS NULL AND last_error IS NOT NULL"),
			 3);
	start_receiver(e, port, "");
	run_until_settled(e, 50);
	assert_int_equal(query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"), 3);
}

static void a_ten_megabyte_response_is_not_read_into_memory(void **state)
{
	struct env *e = *state;
	start_receiver(e, 0, "--big-body 10");
	configure(e, e->port, "");
	assert_int_equal(rollcall(e, "run --once"), 0);
	assert_int_equal(query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"), 3);
	/* three 10 MB answers would be 30 MB held: rollcall stops at 1 MB each */
	if (e->max_rss_kb > 28 * 1024)
		fail_msg("peak RSS %ld KiB: a response was held in memory", e->max_rss_kb);
}

static void retry_after_is_honoured(void **state)
{
	struct env *e = *state;
	start_receiver(e, 0, "--fail-first 1 --status 429 --retry-after 30");
	configure(e, e->port, "backoff_ms = 1, backoff_max_ms = 60000");
	long long before = (long long)time(NULL) * 1000;
	assert_int_equal(rollcall(e, "run --once"), 0);
	/* pending for 30 s, not the 1 ms backoff */
	assert_int_equal(query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending' AND "
				  "last_status = 429"),
			 3);
	long long next = query(e, "SELECT min(next_attempt_at) FROM deliveries");
	assert_true(next >= before + 29000 && next <= before + 32000);

	/* within backoff_max_ms: a cap of 2 s wins over 30 s */
	configure(e, e->port, "backoff_ms = 1, backoff_max_ms = 2000");
	stop_receiver(e);
	start_receiver(e, e->port, "--status 503 --retry-after 30");
	char sql[128];
	snprintf(sql, sizeof sql, "%s", "UPDATE deliveries SET next_attempt_at = 0");
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/rollcall.db", e->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	before = (long long)time(NULL) * 1000;
	assert_int_equal(rollcall(e, "run --once"), 0);
	next = query(e, "SELECT max(next_attempt_at) FROM deliveries");
	assert_true(next <= before + 3000);
}

/* An endpoint that hangs holds only its own slots: the healthy endpoint's
 * deliveries all go through in the same run. */
static void a_hanging_endpoint_does_not_hold_up_a_healthy_one(void **state)
{
	struct env *e = *state;
	start_receiver(e, 0, "");
	int healthy = e->port;
	pid_t first = e->receiver;
	e->receiver = 0;
	start_receiver(e, 0, "--hang-ms 5000");
	char path[PATH_MAX + 32], conf[PATH_MAX * 3];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(conf, sizeof conf,
		 "policies = \"%s/policies\"\nscripts = \"%s/scripts\"\n"
		 "endpoints = {\n"
		 "  [\"ewo-team\"] = { url = \"http://127.0.0.1:%d/\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"mentors\"] = { url = \"http://127.0.0.1:%d/\", secret_env = \"HOOK_SECRET\" "
		 "},\n"
		 "  [\"legal-team\"] = { url = \"http://127.0.0.1:%d/\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "}\n"
		 "delivery = { timeout_ms = 500, concurrency = 2, per_endpoint = 1, backoff_ms = "
		 "60000 }\n",
		 root, root, e->port, healthy, healthy);
	write_file(path, conf);
	assert_int_equal(rollcall(e, "run --once"), 0);
	assert_int_equal(query(e, "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND "
				  "endpoint IN ('mentors', 'legal-team')"),
			 2);
	if (query(e, "SELECT count(*) FROM deliveries WHERE state = 'pending' AND endpoint = "
		     "'ewo-team' AND last_error LIKE '%timed out%'") != 1) {
		rollcall(e, "deliveries");
		char cmd[PATH_MAX + 32];
		snprintf(cmd, sizeof cmd, "cat '%s/out' '%s/err' >&2", e->dir, e->dir);
		assert_int_equal(system(cmd), 0);
		fail_msg("the hanging endpoint's delivery is not pending after a timeout");
	}
	kill(first, SIGTERM);
	waitpid(first, NULL, 0);
}

static void bad_configuration_exits_2(void **state)
{
	struct env *e = *state;
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
		{ "endpoints = { x = { url = 'https://h.example/', secret_env = 'BAD_SECRET' } }\n",
		  "the secret in BAD_SECRET is not valid base64" },
		{ "\n\nendpoints = { x = { url = 'https://h.example/' } }\n",
		  "rollcall.conf:3: endpoints[\"x\"] needs one of secret_env or secret_file" },
		{ "delivery = { concurency = 3 }\n", "delivery: unknown key 'concurency'" },
	};
	setenv("BAD_SECRET", "whsec_not*base64!!", 1);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		write_file(path, cases[i].conf);
		assert_int_equal(rollcall(e, "run --once"), 2);
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
		 "policies = '%s/policies'\nscripts = '%s/scripts'\n"
		 "endpoints = { x = { url = 'http://hooks.example.org/', secret_env = "
		 "'HOOK_SECRET', insecure = true } }\n",
		 root, root);
	write_file(path, conf);
	assert_int_equal(rollcall(e, "run --once --no-deliver"), 0);
	/* a secret file readable by others is refused */
	char secret[PATH_MAX + 32];
	snprintf(secret, sizeof secret, "%s/secret", e->dir);
	write_file(secret, SECRET "\n");
	chmod(secret, 0644);
	snprintf(conf, sizeof conf,
		 "policies = '%s/policies'\nscripts = '%s/scripts'\n"
		 "endpoints = { x = { url = 'https://h.example/', secret_file = 'secret' } }\n",
		 root, root);
	write_file(path, conf);
	assert_int_equal(rollcall(e, "run --once"), 2);
	chmod(secret, 0600);
	assert_int_equal(rollcall(e, "run --once"), 0);
}

int main(void)
{
	if (!realpath("build/rollcall", bin) || !realpath("build/receiver", receiver) ||
	    !realpath(".", root))
		return 1;
	signal(SIGPIPE, SIG_IGN);
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
		cmocka_unit_test_setup_teardown(retry_after_is_honoured, setup, teardown),
		cmocka_unit_test_setup_teardown(a_hanging_endpoint_does_not_hold_up_a_healthy_one,
						setup, teardown),
		cmocka_unit_test_setup_teardown(bad_configuration_exits_2, setup, teardown),
	};
	return cmocka_run_group_tests_name("deliver", tests, NULL, NULL);
}
