/*
 * test_api_hostile.c — `rollcall serve` against hostile clients, end to end
 * on 127.0.0.1:
 *
 * - every request in tests/hostile/api/ (raw bytes: header and path
 *   oddities, smuggling, encodings, oversized parts, bodies that are not
 *   JSON, not HTTP at all) gets the status its first line expects, and a
 *   battery of 10,000 of them, round-robin over fresh connections, is
 *   survived: the server still answers, and the database is as it was;
 * - failed authentications from one address past serve.auth_failures a
 *   minute are 429 with Retry-After, even with a good token then;
 * - a listen address that is not loopback is refused without TLS, and so
 *   is a tls_cert without its tls_key;
 * - with TLS (a self-signed certificate made by openssl), requests are
 *   answered over TLS only; SIGHUP with a new certificate serves the new
 *   one, with a broken one keeps the old;
 * - SIGTERM stops accepting, finishes the request in flight (its change
 *   stored, its answer sent), and exits 0.
 *
 * In a request file, the first line is "# expect STATUS" (or "# expect
 * closed": no HTTP answer), the second says what it tries; header lines
 * are sent with CRLF; {TOKEN} is a viewer's token of la:355, {BIG} 70,000
 * bytes, {DEEP} JSON nested 10,000 deep ({DEEP_LEN} its length), and \xHH
 * a byte.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"

#include "apitest.h"

#include <dirent.h>
#include <errno.h>
#include <strings.h>

#define BATTERY 10000

static struct fixture {
	struct e2e *e;
	struct api_server s;
	char viewer[TOKEN_LEN + 1], thresholds[TOKEN_LEN + 1];
} fx;

static void configure(const char *serve)
{
	char path[PATH_MAX + 32], conf[PATH_MAX * 3];
	snprintf(path, sizeof path, "%s/rollcall.conf", fx.e->dir);
	snprintf(conf, sizeof conf, "policies = \"policies\"\nscripts = \"%s/scripts\"\n%s\n",
		 e2e_root, serve);
	write_file(path, conf);
}

static int group_setup(void **state)
{
	char args[PATH_MAX * 4];
	(void)state;
	if (e2e_init() < 0)
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fx.e = e2e_new();
	configure("serve = { listen = \"127.0.0.1:0\", auth_failures = 100000, timeout_s = 5 }");
	snprintf(args, sizeof args,
		 "mkdir '%s/policies' && cp '%s/policies/la-355.lua' '%s/policies/'", fx.e->dir,
		 e2e_root, fx.e->dir);
	assert_int_equal(system(args), 0);
	assert_int_equal(e2e_rollcall(fx.e, "init"), 0);
	snprintf(args, sizeof args,
		 "import %s/tests/data/schools.csv %s/tests/data/pupils.csv "
		 "%s/tests/data/marks.csv",
		 e2e_root, e2e_root, e2e_root);
	assert_int_equal(e2e_rollcall(fx.e, args), 0);
	assert_int_equal(e2e_rollcall(fx.e, "run --once --no-deliver"), 0);
	api_token(fx.e, "la:355", "viewer", "Val Viewer", NULL, fx.viewer);
	api_token(fx.e, "la:355", "thresholds", "Tom Thresholds", NULL, fx.thresholds);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	api_stop(&fx.s, 10000);
	e2e_free(fx.e);
	curl_global_cleanup();
	return 0;
}

/* ---- raw requests ---- */

struct hostile {
	char name[256], what[256];
	int expect; /* a status, or 0: closed with no answer */
	char *bytes;
	size_t len;
	char method[16], path[256]; /* as sent, for api_note */
};

/* Append s[0..n) to the buffer, expanding {TOKEN}, {BIG}, {DEEP}, {DEEP_LEN}
 * and \xHH. */
static void expand(FILE *out, const char *s, size_t n)
{
	enum { DEEP = 10000 };
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(s + i, "{TOKEN}", 7)) {
			fputs(fx.viewer, out);
			i += 6;
		} else if (!strncmp(s + i, "{BIG}", 5)) {
			for (int k = 0; k < 70000; k++)
				putc('a', out);
			i += 4;
		} else if (!strncmp(s + i, "{DEEP_LEN}", 10)) {
			fprintf(out, "%d", DEEP);
			i += 9;
		} else if (!strncmp(s + i, "{DEEP}", 6)) {
			for (int k = 0; k < DEEP; k++)
				putc('[', out);
			i += 5;
		} else if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x') {
			char hex[3] = { s[i + 2], s[i + 3], 0 };
			putc((int)strtol(hex, NULL, 16), out);
			i += 3;
		} else
			putc(s[i], out);
	}
}

static struct hostile *load_hostile(int *count)
{
	char dir[PATH_MAX + 32];
	snprintf(dir, sizeof dir, "%s/tests/hostile/api", e2e_root);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	assert_true(n > 0);
	struct hostile *list = calloc((size_t)n, sizeof *list);
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (!strstr(names[i]->d_name, ".http")) {
			free(names[i]);
			continue;
		}
		char path[PATH_MAX + 300], text[1 << 16];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		size_t len = fread(text, 1, sizeof text - 1, f);
		fclose(f);
		text[len] = '\0';
		struct hostile *h = &list[k++];
		snprintf(h->name, sizeof h->name, "%s", names[i]->d_name);
		free(names[i]);
		char expect[32];
		if (sscanf(text, "# expect %31s", expect) != 1)
			fail_msg("%s: the first line must be # expect STATUS", h->name);
		h->expect = strcmp(expect, "closed") ? atoi(expect) : 0;
		char *line2 = strchr(text, '\n') + 1, *start = strchr(line2, '\n') + 1;
		snprintf(h->what, sizeof h->what, "%.*s", (int)(start - line2 - 3), line2 + 2);
		sscanf(start, "%15s %255s", h->method, h->path);
		/* the header lines with CRLF; the body (after the empty line) as it is */
		FILE *out = open_memstream(&h->bytes, &h->len);
		char *end = strstr(start, "\n\n");
		const char *p = start;
		while (p < (end ? end + 1 : start + strlen(start))) {
			const char *nl = strchr(p, '\n');
			if (!nl)
				nl = p + strlen(p);
			expand(out, p, (size_t)(nl - p));
			if (*nl)
				fputs("\r\n", out);
			p = *nl ? nl + 1 : nl;
		}
		if (end) {
			fputs("\r\n", out);
			expand(out, end + 2, strlen(end + 2));
		}
		fclose(out);
	}
	free(names);
	*count = k;
	return list;
}

static void each_hostile_request_gets_its_status(void **state)
{
	(void)state;
	int n;
	api_start(fx.e, &fx.s);
	struct hostile *list = load_hostile(&n);
	char *before = api_dump(fx.e);
	int wrong = 0;
	for (int i = 0; i < n; i++) {
		int got = api_raw_status(&fx.s, list[i].bytes, list[i].len);
		if (got != list[i].expect) {
			fprintf(stderr, "%s (%s): status %d, expected %d\n", list[i].name,
				list[i].what, got, list[i].expect);
			wrong++;
		}
		if (got)
			api_note(list[i].method, list[i].path, got);
	}
	assert_int_equal(wrong, 0);
	char *after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(before);
	free(after);
	for (int i = 0; i < n; i++)
		free(list[i].bytes);
	free(list);
}

static void the_server_survives_10000_hostile_requests(void **state)
{
	(void)state;
	int n;
	struct hostile *list = load_hostile(&n);
	char *before = api_dump(fx.e);
	long long start = e2e_now_ms();
	for (int i = 0; i < BATTERY; i++) {
		struct hostile *h = &list[i % n];
		int got = api_raw_status(&fx.s, h->bytes, h->len);
		if (got != h->expect)
			fail_msg("request %d, %s: status %d, expected %d", i, h->name, got,
				 h->expect);
		assert_true(e2e_now_ms() - start < 300 * 1000); /* bounded, whatever happens */
	}
	fprintf(stderr, "    %d hostile requests in %.1f s\n", BATTERY,
		(e2e_now_ms() - start) / 1000.0);
	assert_int_equal(waitpid(fx.s.pid, NULL, WNOHANG), 0); /* still running */
	json_t *me = api_expect(api_get(&fx.s, "/api/v1/me", fx.viewer), 200, "after");
	json_decref(me);
	char *after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(before);
	free(after);
	for (int i = 0; i < n; i++)
		free(list[i].bytes);
	free(list);
	assert_int_equal(api_stop(&fx.s, 10000), 0);
}

static void failed_authentications_are_rate_limited(void **state)
{
	(void)state;
	configure("serve = { listen = \"127.0.0.1:0\", auth_failures = 5 }");
	api_start(fx.e, &fx.s);
	for (int i = 0; i < 5; i++)
		json_decref(api_expect(api_get(&fx.s, "/api/v1/me", "rc_wrong"), 401, "a guess"));
	struct api_reply r = api_get(&fx.s, "/api/v1/me", "rc_wrong");
	int wait = atoi(r.retry_after);
	json_decref(api_expect(r, 429, "a guess past the limit"));
	assert_true(wait >= 1 && wait <= 61);
	/* the address is refused before its token is looked at */
	json_decref(api_expect(api_get(&fx.s, "/api/v1/me", fx.viewer), 429, "then a good token"));
	assert_int_equal(api_stop(&fx.s, 10000), 0);
}

/* `rollcall serve` with this serve = {...}: its exit status (it must not
 * start), its standard error in err. */
static int serve_refused(const char *serve, char *err, size_t size)
{
	configure(serve);
	char cmd[PATH_MAX * 3];
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && timeout 10 '%s' --config rollcall.conf serve 2>err >/dev/null",
		 fx.e->dir, e2e_bin);
	int status = system(cmd);
	e2e_slurp(fx.e, "err", err, size);
	return WEXITSTATUS(status);
}

static void a_network_listen_needs_tls(void **state)
{
	(void)state;
	char err[4096];
	assert_int_equal(serve_refused("serve = { listen = \"0.0.0.0:0\" }", err, sizeof err), 1);
	assert_non_null(strstr(err, "not a loopback address"));
	assert_int_equal(serve_refused("serve = { listen = \"[::]:0\" }", err, sizeof err), 1);
	assert_non_null(strstr(err, "tls_cert"));
	assert_int_equal(serve_refused("serve = { listen = \"localhost:0\" }", err, sizeof err), 1);
	assert_non_null(strstr(err, "not an IPv4 address"));
	assert_int_equal(serve_refused("serve = { listen = \"127.0.0.1:0\", tls_cert = \"c.pem\" }",
				       err, sizeof err),
			 2);
	assert_non_null(strstr(err, "tls_key"));
	assert_int_equal(serve_refused("serve = { listen = \"127.0.0.1:99999\" }", err, sizeof err),
			 1);
	assert_non_null(strstr(err, "port"));
}

/* A self-signed certificate for 127.0.0.1 as NAME.pem and NAME.key. */
static void make_cert(const char *name)
{
	char cmd[PATH_MAX * 3];
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
		 "'/CN=127.0.0.1' -addext 'subjectAltName=IP:127.0.0.1' -keyout %s.key -out "
		 "%s.pem 2>/dev/null && chmod 600 %s.key",
		 fx.e->dir, name, name, name);
	assert_int_equal(system(cmd), 0);
}

/* GET /api/v1/me over TLS, trusting ca: the status, 0 if TLS failed. */
static long tls_me(const char *ca)
{
	char url[128], auth[128], path[PATH_MAX + 32];
	snprintf(url, sizeof url, "https://127.0.0.1:%d/api/v1/me", fx.s.port);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", fx.viewer);
	snprintf(path, sizeof path, "%s/%s", fx.e->dir, ca);
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, auth);
	struct api_reply r = { 0 };
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CAINFO, path);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, api_body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(r.body);
	return status;
}

static void tls_is_served_and_sighup_reloads_it(void **state)
{
	(void)state;
	char err[4096];
	make_cert("one");
	make_cert("two");
	/* a key others may read is refused */
	char cmd[PATH_MAX * 2];
	snprintf(cmd, sizeof cmd, "cd '%s' && cp one.key open.key && chmod 644 open.key",
		 fx.e->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(serve_refused("serve = { listen = \"127.0.0.1:0\", tls_cert = "
				       "\"one.pem\", tls_key = \"open.key\" }",
				       err, sizeof err),
			 1);
	assert_non_null(strstr(err, "readable by others"));

	snprintf(cmd, sizeof cmd, "cd '%s' && cp one.pem live.pem && cp one.key live.key",
		 fx.e->dir);
	assert_int_equal(system(cmd), 0);
	configure("serve = { listen = \"127.0.0.1:0\", tls_cert = \"live.pem\", tls_key = "
		  "\"live.key\" }");
	api_start(fx.e, &fx.s);
	assert_int_equal(tls_me("one.pem"), 200);
	assert_int_equal(tls_me("two.pem"), 0); /* not the certificate served */
	/* in clear, to a TLS port: no answer */
	assert_int_equal(api_raw_status(&fx.s, "GET /api/v1/me HTTP/1.1\r\nHost: x\r\n\r\n", 36),
			 0);

	/* a new certificate: served after SIGHUP */
	snprintf(cmd, sizeof cmd, "cd '%s' && cp two.pem live.pem && cp two.key live.key",
		 fx.e->dir);
	assert_int_equal(system(cmd), 0);
	int reloads = lines_with(fx.s.log, "msg=reloaded", NULL);
	kill(fx.s.pid, SIGHUP);
	assert_true(e2e_wait_lines(fx.s.log, "msg=reloaded", NULL, reloads + 1, 30000));
	assert_int_equal(lines_with(fx.s.log, "msg=reloaded", NULL), reloads + 1);
	assert_int_equal(tls_me("two.pem"), 200);
	assert_int_equal(tls_me("one.pem"), 0);

	/* a broken one: the one running stays */
	snprintf(cmd, sizeof cmd, "cd '%s' && echo broken > live.pem", fx.e->dir);
	assert_int_equal(system(cmd), 0);
	kill(fx.s.pid, SIGHUP);
	assert_true(e2e_wait_lines(fx.s.log, "msg=\"reload failed", NULL, 1, 30000));
	assert_int_equal(lines_with(fx.s.log, "msg=\"reload failed", NULL), 1);
	assert_int_equal(tls_me("two.pem"), 200);
	assert_int_equal(api_stop(&fx.s, 10000), 0);
}

static void sigterm_finishes_the_request_in_flight(void **state)
{
	(void)state;
	configure("serve = { listen = \"127.0.0.1:0\", timeout_s = 10 }");
	api_start(fx.e, &fx.s);
	/* a request whose body is on its way when SIGTERM comes */
	const char body[] = "{\"value\": 0.85}";
	char head[512];
	snprintf(head, sizeof head,
		 "PUT /api/v1/params/alert_rate HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
		 "Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		 fx.thresholds, strlen(body));
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)fx.s.port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(write(fd, head, strlen(head)), (ssize_t)strlen(head));
	assert_int_equal(write(fd, body, 5), 5);
	/* the server has the headers: a request in flight (it reads them in
	 * microseconds; a second is for a sanitizer's build on a busy machine) */
	sleep_ms(1000);
	kill(fx.s.pid, SIGTERM);
	assert_true(e2e_wait_lines(fx.s.log, "msg=\"stopping", NULL, 1, 30000));
	/* no new connection is taken, once the listening socket is closed
	 * (just after that line) */
	int refused = 0;
	for (long long end = e2e_now_ms() + 10000; !refused && e2e_now_ms() < end;) {
		int other = socket(AF_INET, SOCK_STREAM, 0);
		refused = connect(other, (struct sockaddr *)&a, sizeof a) != 0;
		close(other);
		if (!refused)
			sleep_ms(20);
	}
	assert_true(refused);
	assert_int_equal(write(fd, body + 5, strlen(body) - 5), (ssize_t)(strlen(body) - 5));
	char buf[4096];
	size_t got = 0;
	struct timeval tv = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	for (ssize_t n;
	     got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0;)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
	/* its change stored, and the server gone, cleanly */
	int status = -1;
	for (int i = 0; i < 1000; i++) {
		int st;
		if (waitpid(fx.s.pid, &st, WNOHANG) == fx.s.pid) {
			status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
			fx.s.pid = 0;
			break;
		}
		sleep_ms(10);
	}
	assert_int_equal(status, 0);
	assert_int_equal(e2e_query(fx.e, "SELECT value * 100 FROM params WHERE org = 'la:355' AND "
					 "name = 'alert_rate'"),
			 85);
	assert_int_equal(lines_with(fx.s.log, "msg=stopped", NULL), 1);
}

static void every_status_seen_is_documented(void **state)
{
	(void)state;
	api_check_documented();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_hostile_request_gets_its_status),
		cmocka_unit_test(the_server_survives_10000_hostile_requests),
		cmocka_unit_test(failed_authentications_are_rate_limited),
		cmocka_unit_test(a_network_listen_needs_tls),
		cmocka_unit_test(tls_is_served_and_sighup_reloads_it),
		cmocka_unit_test(sigterm_finishes_the_request_in_flight),
		cmocka_unit_test(every_status_seen_is_documented),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
