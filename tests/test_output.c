/*
 * test_output.c — every byte that leaves rollcall is valid (issue 13): the
 * real build/rollcall on a real SQLite file holding an action whose policy
 * file name is Latin-1, whose kind has a Latin-1 byte, whose message
 * carries ESC, another control character and bytes that are not UTF-8 and
 * whose evidence has control characters escaped in its JSON, and a delivery
 * whose last_error was cut in the middle of a character. JSON
 * output must parse, with U+FFFD where the bad bytes were; plain output must
 * be UTF-8 with no control characters; the webhook for the action must reach
 * build/receiver on 127.0.0.1 as JSON; log and error lines must show control
 * characters escaped, never raw.
 *
 * Validity is judged with jansson (json_stringn refuses text that is not
 * UTF-8) and a byte test for control characters, not with rollcall's own
 * text_clean.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"

#include "log.h"

#include <fcntl.h>
#include <jansson.h>

#define FFFD "\xef\xbf\xbd"

/* The bad rows, as stored: see insert_bad_rows. */
#define BAD_POLICY	"caf\xe9.lua"
#define BAD_KIND	"absence\xe9"
#define BAD_MESSAGE	"late \x1b[2J\x01 twice \xff\xfe end"
#define BAD_EVIDENCE	"{\"rate\":0.8,\"note\":\"a\\u001bb\\u007f\",\"k\\u0007\":[\"\\r\"]}"
#define BAD_LAST_ERROR	"upstream \x1b[31mfailed: caf\xc3" /* é cut after its first byte */
#define SAFE_POLICY	"caf" FFFD ".lua"
#define SAFE_KIND	"absence" FFFD
#define SAFE_MESSAGE	"late " FFFD "[2J" FFFD " twice " FFFD FFFD " end"
#define SAFE_LAST_ERROR "upstream " FFFD "[31mfailed: caf" FFFD

#define OUT_MAX (1 << 16)

static void configure(struct e2e *e, int port)
{
	char path[PATH_MAX + 32], conf[PATH_MAX * 3];
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(conf, sizeof conf,
		 "policies = \"%s/policies\"\nscripts = \"%s/scripts\"\n"
		 "endpoints = {\n"
		 "  [\"ewo-team\"] = { url = \"http://127.0.0.1:%d/ewo\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "}\n",
		 e->dir, e2e_root, port);
	write_file(path, conf);
}

/* s as an SQL blob literal cast to text: the bytes are stored as they are. */
static void sql_bytes(const char *s, char *out, size_t size)
{
	size_t n = (size_t)snprintf(out, size, "CAST(X'");
	for (const unsigned char *p = (const unsigned char *)s; *p && n + 3 < size; p++)
		n += (size_t)snprintf(out + n, size - n, "%02x", *p);
	snprintf(out + n, size - n, "' AS TEXT)");
}

/* Action 1 for J355400120001, its pending delivery 1 to ewo-team, and a dead
 * delivery 2 whose receiver's error body was cut mid-character. */
static void insert_bad_rows(struct e2e *e)
{
	char policy[128], kind[128], message[256], last_error[256], sql[2048];
	sql_bytes(BAD_POLICY, policy, sizeof policy);
	sql_bytes(BAD_KIND, kind, sizeof kind);
	sql_bytes(BAD_MESSAGE, message, sizeof message);
	sql_bytes(BAD_LAST_ERROR, last_error, sizeof last_error);
	snprintf(sql, sizeof sql,
		 "INSERT INTO actions(id, org, pupil, action, kind, severity, message, evidence, "
		 "data, date, day, policy, policy_sha256, upn, urn, year_group, created_at) "
		 "SELECT 1, 'la:355', id, 'alert', %s, 'high', %s, '%s', NULL, "
		 "'2025-09-15', %d, %s, '%064d', upn, urn, year_group, '2025-09-15T09:00:00Z' "
		 "FROM pupils WHERE upn = 'J355400120001';"
		 "INSERT INTO deliveries(id, action_id, endpoint, webhook_id, state, attempts, "
		 "next_attempt_at) VALUES (1, 1, 'ewo-team', 'msg_output_1', 'pending', 0, 0);"
		 "INSERT INTO deliveries(id, action_id, endpoint, webhook_id, state, attempts, "
		 "last_status, last_error) VALUES (2, 1, 'legal-team', 'msg_output_2', 'dead', 5, "
		 "502, %s);",
		 kind, message, BAD_EVIDENCE, day_of("2025-09-15"), policy, 0, last_error);
	e2e_exec(e, sql);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions"), 1);
}

static int setup(void **state)
{
	struct e2e *e = e2e_new();
	char path[PATH_MAX + 32], args[PATH_MAX * 4];
	snprintf(path, sizeof path, "%s/policies", e->dir); /* none: nothing is evaluated */
	assert_int_equal(mkdir(path, 0700), 0);
	configure(e, 1);
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	snprintf(args, sizeof args,
		 "import %s/tests/data/schools.csv %s/tests/data/pupils.csv "
		 "%s/tests/data/marks.csv",
		 e2e_root, e2e_root, e2e_root);
	assert_int_equal(e2e_rollcall(e, args), 0);
	insert_bad_rows(e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	e2e_free(*state);
	return 0;
}

/* Fail unless s[0..len) is UTF-8 (as jansson judges it) with no control
 * characters. */
static void assert_clean(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	if (!j)
		fail_msg("not UTF-8: %.*s", (int)len, s);
	json_decref(j);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			fail_msg("control character 0x%02x at %zu: %.*s", (unsigned char)s[i], i,
				 (int)len, s);
}

/* Each line of text (ended by '\n') is clean; returns how many. */
static int assert_clean_lines(const char *text)
{
	int n = 0;
	for (const char *p = text, *nl; *p; p = nl + 1, n++) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_clean(p, (size_t)(nl - p));
	}
	return n;
}

/* Parse each line of text as JSON; returns the object whose key is id
 * (a new reference), failing if there is none. */
static json_t *json_line_with(const char *text, const char *key, long long id)
{
	json_t *found = NULL;
	for (const char *p = text, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		json_error_t err;
		json_t *o = json_loadb(p, (size_t)(nl - p), 0, &err);
		if (!o)
			fail_msg("not JSON (%s): %.*s", err.text, (int)(nl - p), p);
		if (!found && json_integer_value(json_object_get(o, key)) == id)
			found = json_incref(o);
		json_decref(o);
	}
	if (!found)
		fail_msg("no line with %s %lld in %s", key, id, text);
	return found;
}

static void assert_field(json_t *o, const char *key, const char *want)
{
	const char *got = json_string_value(json_object_get(o, key));
	if (!got || strcmp(got, want))
		fail_msg("%s: got \"%s\", want \"%s\"", key, got ? got : "(none)", want);
}

static void actions_json_is_valid_with_fffd_for_bad_bytes(void **state)
{
	struct e2e *e = *state;
	char *out = malloc(OUT_MAX);
	assert_int_equal(e2e_rollcall(e, "actions --json"), 0);
	e2e_slurp(e, "out", out, OUT_MAX);
	assert_int_equal(assert_clean_lines(out), 1);
	json_t *a = json_line_with(out, "action_id", 1);
	assert_field(a, "policy", SAFE_POLICY);
	assert_field(a, "kind", SAFE_KIND);
	assert_field(a, "message", SAFE_MESSAGE);
	assert_field(a, "org", "la:355");
	/* stored JSON is UTF-8 once parsed, but its escapes are control characters */
	json_t *evidence = json_object_get(a, "evidence");
	assert_field(evidence, "note", "a" FFFD "b" FFFD);
	assert_string_equal(
		json_string_value(json_array_get(json_object_get(evidence, "k" FFFD), 0)), FFFD);
	assert_true(json_real_value(json_object_get(evidence, "rate")) == 0.8);
	assert_int_equal(json_array_size(json_object_get(a, "deliveries")), 2);
	json_decref(a);
	free(out);
}

static void deliveries_json_is_valid_with_a_cut_error_body(void **state)
{
	struct e2e *e = *state;
	char *out = malloc(OUT_MAX);
	assert_int_equal(e2e_rollcall(e, "deliveries --json"), 0);
	e2e_slurp(e, "out", out, OUT_MAX);
	assert_int_equal(assert_clean_lines(out), 2);
	json_t *d = json_line_with(out, "id", 2);
	assert_field(d, "last_error", SAFE_LAST_ERROR);
	assert_field(d, "state", "dead");
	json_decref(d);
	free(out);
}

static void plain_actions_print_no_escape_or_bad_bytes(void **state)
{
	struct e2e *e = *state;
	char *out = malloc(OUT_MAX);
	assert_int_equal(e2e_rollcall(e, "actions"), 0);
	e2e_slurp(e, "out", out, OUT_MAX);
	assert_null(strchr(out, '\x1b'));
	assert_int_equal(assert_clean_lines(out), 1);
	assert_non_null(strstr(out, SAFE_MESSAGE));
	assert_non_null(strstr(out, SAFE_KIND));
	free(out);
}

static void plain_deliveries_print_the_cut_error_as_fffd(void **state)
{
	struct e2e *e = *state;
	char *out = malloc(OUT_MAX);
	assert_int_equal(e2e_rollcall(e, "deliveries --failed"), 0);
	e2e_slurp(e, "out", out, OUT_MAX);
	assert_int_equal(assert_clean_lines(out), 1);
	assert_non_null(strstr(out, SAFE_LAST_ERROR));
	free(out);
}

static void pupil_shows_the_bad_kind_as_fffd(void **state)
{
	struct e2e *e = *state;
	char *out = malloc(OUT_MAX);
	assert_int_equal(e2e_rollcall(e, "pupil J355400120001 --json"), 0);
	e2e_slurp(e, "out", out, OUT_MAX);
	assert_int_equal(assert_clean_lines(out), 1);
	json_t *p = json_loads(out, 0, NULL);
	assert_non_null(p);
	json_t *recent = json_object_get(p, "recent_actions");
	assert_int_equal(json_array_size(recent), 1);
	assert_field(json_array_get(recent, 0), "kind", SAFE_KIND);
	json_decref(p);

	assert_int_equal(e2e_rollcall(e, "pupil J355400120001"), 0);
	e2e_slurp(e, "out", out, OUT_MAX);
	assert_clean_lines(out);
	assert_non_null(strstr(out, SAFE_KIND));
	free(out);
}

/* build/receiver prints what it parsed from the body with jansson, which
 * refuses text that is not UTF-8: type, action_id and kind on its line
 * mean the body was valid JSON, and kind shows what became of the bad byte. */
static void the_webhook_for_the_action_is_valid_json(void **state)
{
	struct e2e *e = *state;
	e2e_receiver_start(e, 0, "");
	configure(e, e->port);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE id = 1 AND state = "
				      "'delivered' AND last_status = 200"),
			 1);
	assert_int_equal(lines_with(e->log, "id=msg_output_1 ", "sig=valid status=200"), 1);
	assert_int_equal(lines_with(e->log,
				    "type=attendance.alert action_id=1 org=la:355 "
				    "kind=" SAFE_KIND " upn=J355400120001",
				    NULL),
			 1);
}

/* log_event in this process, stderr sent to a file: the line comes back. */
static void log_line(const char *path, char *line, size_t size, const char *value)
{
	int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	log_event(LOG_WARN, "odd \x1b]0;title\x07 bytes", "file", value, "n", "3", NULL);
	dup2(saved, 2);
	close(saved);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	line[fread(line, 1, size - 1, f)] = '\0';
	fclose(f);
}

static void log_lines_escape_control_characters(void **state)
{
	struct e2e *e = *state;
	char path[PATH_MAX + 32], line[4096];
	snprintf(path, sizeof path, "%s/log", e->dir);
	log_line(path, line, sizeof line, "a\x1b[2Jb\xe9\tc\"d");
	size_t len = strlen(line);
	assert_true(len > 0 && line[len - 1] == '\n');
	assert_clean(line, len - 1); /* one line: no raw control character in it */
	assert_non_null(strstr(line, "level=warn msg=\"odd \\u001b]0;title\\u0007 bytes\""));
	assert_non_null(strstr(line, " file=\"a\\u001b[2Jb" FFFD "\\tc\\\"d\" n=3\n"));
}

/* error() through the real binary: a bad --since is echoed back. */
static void error_lines_show_no_escape(void **state)
{
	struct e2e *e = *state;
	char err[4096];
	assert_int_equal(e2e_rollcall(e, "actions --since \"$(printf 'x\\033[2J\\351')\""), 2);
	e2e_slurp(e, "err", err, sizeof err);
	assert_int_equal(assert_clean_lines(err), 1);
	assert_non_null(strstr(err, "--since x" FFFD "[2J" FFFD ": expected a date"));
}

/* The service's own log through the real binary: a policy file whose name
 * holds ESC and a Latin-1 byte fails to load, and is named in the log. */
static void run_logs_a_bad_file_name_escaped(void **state)
{
	struct e2e *e = *state;
	char path[PATH_MAX + 64], err[8192];
	snprintf(path, sizeof path, "%s/policies/bad\x1b[2J\xe9.lua", e->dir);
	write_file(path, "this is not lua\n");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	e2e_slurp(e, "err", err, sizeof err);
	assert_true(assert_clean_lines(err) >= 1);
	assert_non_null(strstr(err, "msg=\"policy not loaded\""));
	assert_non_null(strstr(err, "/bad\\u001b[2J" FFFD ".lua: not loaded"));
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(actions_json_is_valid_with_fffd_for_bad_bytes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(deliveries_json_is_valid_with_a_cut_error_body,
						setup, teardown),
		cmocka_unit_test_setup_teardown(plain_actions_print_no_escape_or_bad_bytes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(plain_deliveries_print_the_cut_error_as_fffd, setup,
						teardown),
		cmocka_unit_test_setup_teardown(pupil_shows_the_bad_kind_as_fffd, setup, teardown),
		cmocka_unit_test_setup_teardown(the_webhook_for_the_action_is_valid_json, setup,
						teardown),
		cmocka_unit_test_setup_teardown(log_lines_escape_control_characters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(error_lines_show_no_escape, setup, teardown),
		cmocka_unit_test_setup_teardown(run_logs_a_bad_file_name_escaped, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
