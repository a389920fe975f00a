/*
 * test_console.c — the web console, end to end: a real `rollcall serve`
 * over a real database (the example data and the bundled policies, run
 * once), real tokens and links made with `rollcall token add`, and headless
 * Chromium (Debian's) driven by puppeteer-core through the scenarios of
 * tests/console/browser.mjs, one test each:
 *
 * - a trust lead signs in by a one-time link, previews a threshold, saves
 *   it and finds the change, with their name, in the audit page; the link
 *   does not sign in twice;
 * - an officer approves one proposal and declines another (told by the
 *   field that a reason is needed first);
 * - an author checks a draft with an error and sees its line, fixes it,
 *   publishes, and rolls back;
 * - a viewer sees no control it may not use, and the request sent anyway
 *   is refused;
 * - signed in for one organisation, no page shows another's pupils;
 * - every page passes axe-core at WCAG 2.2 AA with no console error (a
 *   refused Content-Security-Policy is one); a screenshot of each is
 *   written under build/console/.
 *
 * And, over HTTP with libcurl: the session cookie is HttpOnly and
 * SameSite=Strict; every console response carries the Content-Security-
 * Policy; a change sent with the cookie from another origin, or with none,
 * is refused and changes nothing; a session idle for 8 hours, or whose
 * token was revoked, signs no one in; signing out ends the session.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"

#include "api.h"
#include "apitest.h"
#include "console.h"

#include <jansson.h>
#include <sys/stat.h>

#define NODE "node"

static struct fixture {
	struct e2e *e;
	struct api_server s;
	char la_viewer[TOKEN_LEN + 1], la_officer[TOKEN_LEN + 1], la_author[TOKEN_LEN + 1];
	char tr_thresholds[TOKEN_LEN + 1];
	char link[CONSOLE_SECRET_CHARS + 1];
	char shots[PATH_MAX + 16];
} fx;

/* `rollcall token add ... --link`: the link printed, its code (after
 * "#/link/") into code. */
static void make_link(const char *org, const char *role, const char *name, char *code)
{
	char args[512], out[1024];
	snprintf(args, sizeof args, "token add --org %s --role %s --name '%s' --link", org, role,
		 name);
	assert_int_equal(e2e_rollcall(fx.e, args), 0);
	e2e_slurp(fx.e, "out", out, sizeof out);
	const char *at = strstr(out, "/#/link/");
	if (!at)
		fail_msg("no link in: %s", out);
	at += strlen("/#/link/");
	assert_true(
		strspn(at, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
		CONSOLE_SECRET_CHARS);
	memcpy(code, at, CONSOLE_SECRET_CHARS);
	code[CONSOLE_SECRET_CHARS] = '\0';
}

static int group_setup(void **state)
{
	char path[PATH_MAX + 64], conf[PATH_MAX * 3], args[PATH_MAX * 12];
	(void)state;
	if (e2e_init() < 0)
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fx.e = e2e_new();
	snprintf(path, sizeof path, "%s/rollcall.conf", fx.e->dir);
	snprintf(conf, sizeof conf,
		 "policies = \"policies\"\nscripts = \"%s/scripts\"\n"
		 /* failed sign-ins are many here, and not what is tested */
		 "serve = { listen = \"127.0.0.1:0\", threads = 4, auth_failures = 100000 }\n"
		 /* the bundled policies' endpoints: nothing listens there (the
		  * service is not run; deliveries wait, one made dead below) */
		 "endpoints = {\n"
		 "  [\"ewo-team\"] = { url = \"http://127.0.0.1:9/ewo\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"mentors\"] = { url = \"http://127.0.0.1:9/mentors\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"legal-team\"] = { url = \"http://127.0.0.1:9/legal\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"trust-attendance\"] = { url = \"http://127.0.0.1:9/trust\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "}\n",
		 e2e_root);
	write_file(path, conf);
	snprintf(args, sizeof args,
		 "mkdir '%s/policies' && cp '%s'/policies/*.lua '%s/policies/' && cd '%s' && "
		 "%s --config rollcall.conf -q init && %s --config rollcall.conf -q import "
		 "'%s/examples/data/schools.csv' '%s/examples/data/pupils.csv' "
		 "'%s/examples/data/marks.csv' && %s --config rollcall.conf -q run --once "
		 "--no-deliver",
		 fx.e->dir, e2e_root, fx.e->dir, fx.e->dir, e2e_bin, e2e_bin, e2e_root, e2e_root,
		 e2e_root, e2e_bin);
	assert_int_equal(system(args), 0);
	/* a delivery that died, for the deliveries page */
	e2e_exec(fx.e, "UPDATE deliveries SET state = 'dead', attempts = 10, last_status = 503, "
		       "last_error = 'Service Unavailable' WHERE id = (SELECT min(d.id) FROM "
		       "deliveries d JOIN actions a ON a.id = d.action_id WHERE a.org = 'la:355')");
	api_token(fx.e, "la:355", "viewer", "Val Viewer", NULL, fx.la_viewer);
	api_token(fx.e, "la:355", "officer", "Olive Officer", NULL, fx.la_officer);
	api_token(fx.e, "la:355", "author", "Ada Author", NULL, fx.la_author);
	make_link("trust:TR00001", "thresholds", "Tess Trustlead", fx.link);
	snprintf(fx.shots, sizeof fx.shots, "%s/console", e2e_build);
	mkdir(fx.shots, 0755);
	api_start(fx.e, &fx.s);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	assert_int_equal(api_stop(&fx.s, 10000), 0);
	e2e_free(fx.e);
	curl_global_cleanup();
	return 0;
}

/* The UPNs of pupils at schools outside org, as a JSON array. */
static char *foreign_upns(const char *org)
{
	char sql[512];
	const char *trust = strncmp(org, "trust:", 6) ? NULL : org + 6;
	if (trust)
		snprintf(sql, sizeof sql,
			 "SELECT json_group_array(p.upn) FROM pupils p JOIN schools s ON s.urn = "
			 "p.urn WHERE s.trust_id IS NOT '%s'",
			 trust);
	else
		snprintf(sql, sizeof sql,
			 "SELECT json_group_array(p.upn) FROM pupils p JOIN schools s ON s.urn = "
			 "p.urn WHERE s.la_code <> '%s'",
			 org + 3);
	return e2e_text(fx.e, sql);
}

/* Run one scenario of browser.mjs; its output into the test's own. */
static void scenario(const char *name, const char *org)
{
	char cmd[PATH_MAX * 4], tokens[512], out[PATH_MAX + 64];
	snprintf(tokens, sizeof tokens, "{\"viewer\":\"%s\",\"officer\":\"%s\",\"author\":\"%s\"}",
		 fx.la_viewer, fx.la_officer, fx.la_author);
	char *foreign = foreign_upns(org);
	char *upn = e2e_text(fx.e, "SELECT p.upn FROM actions a JOIN pupils p ON p.id = a.pupil "
				   "WHERE a.org = 'la:355' ORDER BY a.id LIMIT 1");
	long long proposal = e2e_query(fx.e, "SELECT coalesce(min(id), 0) FROM actions WHERE "
					     "state = 'proposed' AND org = 'la:355'");
	snprintf(out, sizeof out, "%s/%s.txt", fx.shots, name); /* kept beside the screenshots */
	snprintf(cmd, sizeof cmd,
		 "CONSOLE_URL='http://127.0.0.1:%d' CONSOLE_TOKENS='%s' CONSOLE_LINK='%s' "
		 "CONSOLE_PERSON='Tess Trustlead' CONSOLE_UPN='%s' CONSOLE_PROPOSAL=%lld "
		 "CONSOLE_SHOTS='%s' "
		 "CONSOLE_FOREIGN=\"$(cat '%s/foreign.json')\" "
		 "timeout 120 " NODE " '%s/tests/console/browser.mjs' %s >'%s' 2>&1",
		 fx.s.port, tokens, fx.link, upn, proposal, fx.shots, fx.e->dir, e2e_root, name,
		 out);
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/foreign.json", fx.e->dir);
	write_file(path, foreign);
	int status = system(cmd);
	char text[1 << 16];
	FILE *f = fopen(out, "r");
	size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
	text[n] = '\0';
	if (f)
		fclose(f);
	print_message("%s", text);
	free(foreign);
	free(upn);
	if (status != 0) {
		snprintf(cmd, sizeof cmd, "tail -20 '%s' >&2", fx.s.log);
		(void)!system(cmd);
		fail_msg("scenario %s failed (status %d)", name, status);
	}
	assert_null(strstr(text, "FAIL:"));
}

static void a_trust_lead_signs_in_by_link_and_sets_a_threshold(void **state)
{
	(void)state;
	scenario("trust-lead", "trust:TR00001");
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM audit WHERE what = 'params.set' AND "
					 "who = 'Tess Trustlead' AND org = 'trust:TR00001'"),
			 1);
	assert_int_equal(e2e_query(fx.e,
				   "SELECT count(*) FROM console_links WHERE used_at IS NOT "
				   "NULL AND token = (SELECT id FROM tokens WHERE name = 'Tess "
				   "Trustlead')"),
			 1);
}

static void an_officer_approves_one_and_declines_another(void **state)
{
	(void)state;
	scenario("officer", "la:355");
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM audit WHERE who = 'Olive Officer' "
					 "AND what IN ('signoff.approve', 'signoff.decline')"),
			 2);
}

static void an_author_publishes_and_rolls_back(void **state)
{
	(void)state;
	scenario("author", "la:355");
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM audit WHERE who = 'Ada Author' AND "
					 "what IN ('policy.publish', 'policy.rollback')"),
			 2);
}

static void a_viewer_sees_no_control_it_may_not_use(void **state)
{
	(void)state;
	long long before = e2e_query(fx.e, "SELECT count(*) FROM audit");
	scenario("viewer", "la:355");
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM audit"), before);
}

static void no_page_shows_another_organisations_pupils(void **state)
{
	(void)state;
	scenario("cross-org", "la:355");
}

static void every_page_is_accessible(void **state)
{
	(void)state;
	scenario("axe", "la:355");
	const char *pages[] = { "signin", "overview", "thresholds", "decisions",  "decision",
				"pupils", "pupil",    "policy",	    "deliveries", "audit" };
	for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
		char path[PATH_MAX + 64];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s.png", fx.shots, pages[i]);
		if (stat(path, &st) != 0 || st.st_size < 1000)
			fail_msg("%s: no screenshot", path);
	}
}

/* ---- over HTTP ---- */

struct reply {
	long status;
	char *headers, *body; /* whole, NUL-terminated */
};

struct buf {
	char *text;
	size_t len;
};

static size_t keep(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	b->text = realloc(b->text, b->len + size * n + 1);
	memcpy(b->text + b->len, data, size * n);
	b->len += size * n;
	b->text[b->len] = '\0';
	return size * n;
}

/* One request: method, path, body (NULL: none, else JSON), and header
 * lines (NULL-terminated). */
static struct reply http(const char *method, const char *path, const char *body,
			 const char *const headers[])
{
	struct reply r = { 0 };
	struct buf h = { 0 }, b = { 0 };
	char url[512];
	CURL *c = curl_easy_init();
	struct curl_slist *list = NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", fx.s.port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	for (int i = 0; headers && headers[i]; i++)
		list = curl_slist_append(list, headers[i]);
	if (body) {
		list = curl_slist_append(list, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, keep);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(list);
	curl_easy_cleanup(c);
	r.headers = h.text ? h.text : calloc(1, 1);
	r.body = b.text ? b.text : calloc(1, 1);
	return r;
}

static void reply_free(struct reply *r)
{
	free(r->headers);
	free(r->body);
}

static const char *self_origin(void)
{
	static char origin[64];
	snprintf(origin, sizeof origin, "Origin: http://127.0.0.1:%d", fx.s.port);
	return origin;
}

/* POST /console/session with body; its status, the cookie it set into
 * cookie and the Set-Cookie line into line (both "" if none). */
static long open_session(const char *body, const char *origin,
			 char cookie[CONSOLE_SECRET_CHARS + 1], char *line, size_t size)
{
	struct reply r = http("POST", "/console/session", body, (const char *[]){ origin, NULL });
	const char *set = strstr(r.headers, "Set-Cookie: " CONSOLE_COOKIE "=");
	snprintf(line, size, "%.*s", set ? (int)strcspn(set, "\r\n") : 0, set ? set : "");
	snprintf(cookie, CONSOLE_SECRET_CHARS + 1, "%s",
		 set ? set + strlen("Set-Cookie: " CONSOLE_COOKIE "=") : "");
	long status = r.status;
	reply_free(&r);
	return status;
}

static void sign_in(const char *token, char cookie[CONSOLE_SECRET_CHARS + 1], char *line,
		    size_t size)
{
	char body[256];
	snprintf(body, sizeof body, "{\"token\":\"%s\"}", token);
	assert_int_equal(open_session(body, self_origin(), cookie, line, size), 200);
	assert_int_equal(strlen(cookie), CONSOLE_SECRET_CHARS);
}

/* A request with the session cookie (and an Origin line, if not NULL). */
static long with_cookie(const char *method, const char *path, const char *cookie,
			const char *origin, const char *body)
{
	char line[128];
	snprintf(line, sizeof line, "Cookie: " CONSOLE_COOKIE "=%s", cookie);
	struct reply r = http(method, path, body, (const char *[]){ line, origin, NULL });
	long status = r.status;
	reply_free(&r);
	return status;
}

static void the_cookie_and_the_page_are_locked_down(void **state)
{
	(void)state;
	char cookie[CONSOLE_SECRET_CHARS + 1], line[512], self[96];
	sign_in(fx.la_officer, cookie, line, sizeof line);
	assert_non_null(strstr(line, "HttpOnly"));
	assert_non_null(strstr(line, "SameSite=Strict"));
	assert_non_null(strstr(line, "Path=/"));
	assert_null(strstr(line, "Secure")); /* no TLS here */
	char hash[65];
	console_secret_hash(cookie, hash);
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM console_sessions WHERE sha256 = '%s'",
		 hash);
	assert_int_equal(e2e_query(fx.e, sql), 1); /* its hash, never the cookie */

	struct reply r = http("GET", "/", NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Security-Policy: " CONSOLE_CSP));
	assert_non_null(strstr(r.body, "<script type=\"module\" src=\"/console/console.js\">"));
	assert_null(strstr(r.body, "<script>")); /* nothing inline */
	reply_free(&r);
	r = http("GET", "/console/console.css", NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_null(strstr(r.body, "GDS Transport")); /* GOV.UK's typeface is GOV.UK's */
	reply_free(&r);

	/* a change with the cookie: only from the server's own origin */
	snprintf(self, sizeof self, "%s", self_origin());
	long long audit = e2e_query(fx.e, "SELECT count(*) FROM audit");
	char *proposal = e2e_text(fx.e, "SELECT min(id) FROM actions WHERE state = 'proposed' AND "
					"org = 'la:355'");
	char path[128];
	snprintf(path, sizeof path, "/api/v1/signoff/%s/approve", proposal);
	assert_int_equal(with_cookie("POST", path, cookie, "Origin: https://evil.example", "{}"),
			 403);
	assert_int_equal(with_cookie("POST", path, cookie, NULL, "{}"), 403);
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM audit"), audit);
	assert_int_equal(with_cookie("GET", "/api/v1/me", cookie, NULL, NULL), 200);

	/* the report's page is one file with its script inline: its own policy */
	char line_[128];
	snprintf(line_, sizeof line_, "Cookie: " CONSOLE_COOKIE "=%s", cookie);
	r = http("GET", "/api/v1/report", NULL, (const char *[]){ line_, NULL });
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Security-Policy: " REPORT_CSP));
	reply_free(&r);

	/* idle for 8 hours: no longer signed in */
	snprintf(sql, sizeof sql,
		 "UPDATE console_sessions SET seen_at = seen_at - %d WHERE sha256 = '%s'",
		 CONSOLE_IDLE_SECONDS + 1, hash);
	e2e_exec(fx.e, sql);
	assert_int_equal(with_cookie("GET", "/api/v1/me", cookie, NULL, NULL), 401);

	/* a token revoked ends its sessions */
	sign_in(fx.la_viewer, cookie, line, sizeof line);
	assert_int_equal(with_cookie("GET", "/api/v1/me", cookie, NULL, NULL), 200);
	char args[64];
	snprintf(args, sizeof args, "token revoke %lld",
		 e2e_query(fx.e, "SELECT id FROM tokens WHERE name = 'Val Viewer'"));
	char viewer[TOKEN_LEN + 1];
	memcpy(viewer, fx.la_viewer, sizeof viewer);
	assert_int_equal(e2e_rollcall(fx.e, args), 0);
	assert_int_equal(with_cookie("GET", "/api/v1/me", cookie, NULL, NULL), 401);
	api_token(fx.e, "la:355", "viewer", "Val Viewer", NULL, fx.la_viewer);

	/* signing out ends it */
	sign_in(fx.la_officer, cookie, line, sizeof line);
	assert_int_equal(with_cookie("DELETE", "/console/session", cookie, self, NULL), 200);
	assert_int_equal(with_cookie("GET", "/api/v1/me", cookie, NULL, NULL), 401);
	free(proposal);
	(void)viewer;
}

static void a_wrong_token_or_used_link_signs_no_one_in(void **state)
{
	(void)state;
	char code[CONSOLE_SECRET_CHARS + 1], body[128], cookie[CONSOLE_SECRET_CHARS + 1], line[512];
	assert_int_equal(
		open_session("{\"token\":\"rc_wrong\"}", self_origin(), cookie, line, sizeof line),
		401);
	assert_string_equal(line, "");
	make_link("la:355", "viewer", "Lee Link", code);
	snprintf(body, sizeof body, "{\"link\":\"%s\"}", code);
	assert_int_equal(open_session(body, self_origin(), cookie, line, sizeof line), 200);
	assert_int_equal(with_cookie("GET", "/api/v1/me", cookie, NULL, NULL), 200);
	assert_int_equal(open_session(body, self_origin(), cookie, line, sizeof line), 401);
	assert_string_equal(line, "");
	/* a sign-in from another origin is refused (login CSRF), the link kept */
	make_link("la:355", "viewer", "Lou Link", code);
	snprintf(body, sizeof body, "{\"link\":\"%s\"}", code);
	assert_int_equal(
		open_session(body, "Origin: https://evil.example", cookie, line, sizeof line), 403);
	assert_int_equal(open_session(body, self_origin(), cookie, line, sizeof line), 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_cookie_and_the_page_are_locked_down),
		cmocka_unit_test(a_wrong_token_or_used_link_signs_no_one_in),
		cmocka_unit_test(a_trust_lead_signs_in_by_link_and_sets_a_threshold),
		cmocka_unit_test(an_officer_approves_one_and_declines_another),
		cmocka_unit_test(an_author_publishes_and_rolls_back),
		cmocka_unit_test(a_viewer_sees_no_control_it_may_not_use),
		cmocka_unit_test(no_page_shows_another_organisations_pupils),
		cmocka_unit_test(every_page_is_accessible),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
