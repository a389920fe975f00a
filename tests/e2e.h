/*
 * e2e.h — helpers for end-to-end tests: the real build/rollcall binary on a
 * real SQLite file in a fresh directory, build/receiver (libmicrohttpd on
 * 127.0.0.1, checking signatures with its own code), and `rollcall run` as
 * a daemon that can be signalled and killed. Include after testutil.h, in a
 * file that defines _DEFAULT_SOURCE and _XOPEN_SOURCE 700.
 */
#ifndef ROLLCALL_E2E_H
#define ROLLCALL_E2E_H

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define E2E_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

/* Absolute paths, set by e2e_init from the repository's top directory and
 * test_build_dir() ($ROLLCALL_BUILD, default build/). e2e_wrap
 * is $ROLLCALL_WRAP, put before every rollcall command (`make memcheck`:
 * valgrind). */
static char e2e_build[PATH_MAX], e2e_bin[PATH_MAX + 16], e2e_receiver[PATH_MAX + 16],
	e2e_root[PATH_MAX];
static const char *e2e_wrap = "";

struct e2e {
	char *dir;
	pid_t receiver, daemon;
	int port;
	char log[PATH_MAX + 32];	/* the receiver's */
	char daemon_log[PATH_MAX + 32]; /* every daemon start appends here */
	long max_rss_kb;		/* of the last e2e_rollcall */
};

static inline int e2e_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	setenv("HOOK_SECRET", E2E_SECRET, 1);
	if (getenv("ROLLCALL_WRAP"))
		e2e_wrap = getenv("ROLLCALL_WRAP");
	if (!realpath(test_build_dir(), e2e_build) || !realpath(".", e2e_root)) {
		fprintf(stderr, "%s: no such build directory (make)\n", test_build_dir());
		return -1;
	}
	snprintf(e2e_bin, sizeof e2e_bin, "%s/rollcall", e2e_build);
	snprintf(e2e_receiver, sizeof e2e_receiver, "%s/receiver", e2e_build);
	if (access(e2e_bin, X_OK) == 0 && access(e2e_receiver, X_OK) == 0)
		return 0;
	fprintf(stderr, "%s/rollcall and %s/receiver are needed (make)\n", test_build_dir(),
		test_build_dir());
	return -1;
}

/* `make sanitize` builds the tests as it builds rollcall, with
 * AddressSanitizer. */
#if defined(__SANITIZE_ADDRESS__)
#define E2E_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define E2E_ASAN 1
#endif
#endif
#ifndef E2E_ASAN
#define E2E_ASAN 0
#endif

/* Whether a peak RSS measured is rollcall's own, for the tests that bound
 * it: not under a wrapper (valgrind, or env under `make tsan`), nor built
 * with AddressSanitizer, whose shadow memory, redzones and quarantine
 * would be counted (test_run's 3,000 policies: 620 MB, against 140 MB). */
static inline int e2e_rss_is_rollcalls(void)
{
	return !*e2e_wrap && !E2E_ASAN;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static inline long long e2e_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The wall clock, as rollcall's times are (Unix milliseconds). */
static inline long long e2e_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline struct e2e *e2e_new(void)
{
	struct e2e *e = calloc(1, sizeof *e);
	e->dir = temp_dir();
	snprintf(e->daemon_log, sizeof e->daemon_log, "%s/daemon.log", e->dir);
	return e;
}

/* Lines of a file containing a (and b, if not NULL). */
static inline int lines_with(const char *path, const char *a, const char *b)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, a) && (!b || strstr(line, b));
	if (f)
		fclose(f);
	return n;
}

/* Poll until at least want lines of path contain a (and b), at most ms;
 * returns 1 if they did. */
static inline int e2e_wait_lines(const char *path, const char *a, const char *b, int want, int ms)
{
	long long end = e2e_now_ms() + ms;
	do {
		if (lines_with(path, a, b) >= want)
			return 1;
		sleep_ms(20);
	} while (e2e_now_ms() < end);
	return 0;
}

/* Start build/receiver with args on port (0: any) and wait for its port. */
static inline void e2e_receiver_start(struct e2e *e, int port, const char *args)
{
	static int started;
	char cmd[PATH_MAX * 3];
	snprintf(e->log, sizeof e->log, "%s/receiver-%d.log", e->dir, ++started);
	snprintf(cmd, sizeof cmd, "exec '%s' --port %d --secret %s %s >'%s' 2>&1", e2e_receiver,
		 port, E2E_SECRET, args, e->log);
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

static inline void e2e_receiver_stop(struct e2e *e)
{
	if (e->receiver > 0) {
		kill(e->receiver, SIGTERM);
		waitpid(e->receiver, NULL, 0);
		e->receiver = 0;
	}
}

/* Run rollcall in e->dir with rollcall.conf; returns its exit status,
 * notes its peak RSS; stdout and stderr go to the files out and err. */
static inline int e2e_rollcall(struct e2e *e, const char *args)
{
	size_t size = strlen(args) + strlen(e2e_wrap) + 2 * PATH_MAX + 64;
	char *cmd = malloc(size);
	snprintf(cmd, size, "cd '%s' && exec %s '%s' -q --config rollcall.conf %s >out 2>err",
		 e->dir, e2e_wrap, e2e_bin, args);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	int status;
	struct rusage ru;
	wait4(pid, &status, 0, &ru);
	e->max_rss_kb = ru.ru_maxrss;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Read the file name in e->dir (out and err are the last run's). */
static inline void e2e_slurp(struct e2e *e, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", e->dir, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	buf[fread(buf, 1, size - 1, f)] = '\0';
	fclose(f);
}

/* Start `rollcall run ARGS` in the background and wait until it says it is
 * running (at most 10 s). */
static inline void e2e_daemon_start(struct e2e *e, const char *args)
{
	int before = lines_with(e->daemon_log, "msg=running", NULL);
	char cmd[PATH_MAX * 4];
	snprintf(cmd, sizeof cmd, "cd '%s' && exec %s '%s' --config rollcall.conf run %s 2>>'%s'",
		 e->dir, e2e_wrap, e2e_bin, args, e->daemon_log);
	e->daemon = fork();
	if (e->daemon == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		if (lines_with(e->daemon_log, "msg=running", NULL) > before)
			return;
		if (waitpid(e->daemon, NULL, WNOHANG) == e->daemon)
			break;
		sleep_ms(10);
	}
	fail_msg("rollcall run did not start; see %s", e->daemon_log);
}

/* Wait at most ms for the daemon to exit; returns its exit status, 128 +
 * signal if killed, or -1 if it is still running (then it is killed). */
static inline int e2e_daemon_wait(struct e2e *e, int ms)
{
	int status;
	for (int waited = 0; waited <= ms; waited += 10) {
		if (waitpid(e->daemon, &status, WNOHANG) == e->daemon) {
			e->daemon = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		sleep_ms(10);
	}
	kill(e->daemon, SIGKILL);
	waitpid(e->daemon, NULL, 0);
	e->daemon = 0;
	return -1;
}

static inline void e2e_free(struct e2e *e)
{
	if (e->daemon > 0) {
		kill(e->daemon, SIGKILL);
		waitpid(e->daemon, NULL, 0);
	}
	e2e_receiver_stop(e);
	remove_tree(e->dir);
	free(e->dir);
	free(e);
}

static inline sqlite3 *e2e_db(struct e2e *e)
{
	char path[PATH_MAX + 32];
	sqlite3 *db;
	snprintf(path, sizeof path, "%s/rollcall.db", e->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	return db;
}

/* The first column of the first row of sql, as an integer. */
static inline long long e2e_query(struct e2e *e, const char *sql)
{
	sqlite3 *db = e2e_db(e);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The first column of the first row of sql, as text (the caller frees). */
static inline char *e2e_text(struct e2e *e, const char *sql)
{
	sqlite3 *db = e2e_db(e);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *t = (const char *)sqlite3_column_text(st, 0);
	char *copy = strdup(t ? t : "");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return copy;
}

static inline void e2e_exec(struct e2e *e, const char *sql)
{
	sqlite3 *db = e2e_db(e);
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

/* Poll sql until it gives want, at most ms; returns 1 if it did. */
static inline int e2e_wait_for(struct e2e *e, const char *sql, long long want, int ms)
{
	long long end = e2e_now_ms() + ms;
	do {
		if (e2e_query(e, sql) == want)
			return 1;
		sleep_ms(20);
	} while (e2e_now_ms() < end);
	return 0;
}

/* A listener on 127.0.0.1 standing in for a case-management system: it
 * answers every request 200 and appends "PATH BODY" to its log, one line
 * a request (rollcall's bodies are one line of JSON). It exits by itself
 * after ten minutes; e2e_hook_stop ends it sooner. */
struct e2e_hook {
	pid_t pid;
	int port;
	char log[PATH_MAX + 32];
};

static inline void e2e_hook_answer(int fd, const char *log)
{
	char req[1 << 17];
	size_t got = 0;
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	const char *end = NULL;
	while (got < sizeof req - 1) {
		ssize_t n = read(fd, req + got, sizeof req - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		const char *cl = strstr(req, "Content-Length:");
		end = strstr(req, "\r\n\r\n");
		if (end && got >= (size_t)(end + 4 - req) + (cl ? strtoul(cl + 15, NULL, 10) : 0))
			break;
	}
	req[got] = '\0';
	char path[256] = "-";
	sscanf(req, "%*s %255s", path);
	FILE *f = fopen(log, "a");
	if (f) {
		fprintf(f, "%s %s\n", path, end ? end + 4 : "");
		fclose(f);
	}
	static const char ok[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	if (write(fd, ok, sizeof ok - 1) < 0)
		return;
}

static inline void e2e_hook_start(struct e2e *e, struct e2e_hook *h)
{
	snprintf(h->log, sizeof h->log, "%s/hooks.log", e->dir);
	write_file(h->log, "");
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s, 64), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	h->port = ntohs(a.sin_port);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		alarm(600);
		for (;;) {
			int fd = accept(s, NULL, NULL);
			if (fd >= 0) {
				e2e_hook_answer(fd, h->log);
				close(fd);
			}
		}
	}
	close(s);
}

static inline void e2e_hook_stop(struct e2e_hook *h)
{
	if (h->pid > 0) {
		kill(h->pid, SIGTERM);
		waitpid(h->pid, NULL, 0);
		h->pid = 0;
	}
}

#endif
