/*
 * test_api.c — `rollcall serve`, the tenant API, end to end: the real
 * rollcall binary serving a real SQLite file on 127.0.0.1, real tokens
 * made with `rollcall token add`, requests made with libcurl.
 *
 * The organisations are tests/data's: la:355 (Salford: schools 135001 and
 * 105210, pupils J, Y and H), trust:TR00092 (schools 135001 and 146410,
 * pupils J, Y and V) and la:846 (146410: V). J and Y are seen by both
 * la:355 and the trust, each of which sees only its own actions of them.
 *
 * - tokens: shown once (rc_ and 43 base64url characters), only the SHA-256
 *   stored, never the token; list shows no token; add and revoke audited;
 * - authentication: no token, a wrong, a revoked and an expired one are 401
 *   and change nothing;
 * - roles: too low is 403 for what is the organisation's, 404 for what is
 *   not;
 * - a trust's thresholds token sets its threshold (ETag and If-Match: a
 *   stale one is 409 and changes nothing) and the next `run --once` batch
 *   uses it; the change is in `rollcall audit` under the token's person;
 * - a cross-organisation battery over every path and every kind of id
 *   (pupil, action, case, delivery, proposal): another organisation's is
 *   404, and every list holds only the token's organisation's records, of
 *   its own pupils;
 * - an officer approves and declines through the API (audited with the
 *   token's person, via api:token N), and redelivers a dead delivery;
 * - paging by cursor gives every item once;
 * - bad input, each leaving the database as it was: a body over the
 *   limit (413), malformed JSON, a wrong content type, '..' and
 *   percent-encoding in the path, unknown or bad query arguments (400), a
 *   param out of bounds or of the wrong type (422 naming the field); a
 *   slow client is timed out;
 * - a council's author checks a draft (a draft that does not load is 422
 *   with its FILE:LINE errors; a trust's author cannot write the
 *   council's file), publishes it with If-Match (a stale one is 409), sees
 *   it live, rolls back; both audited under the person; a params preview
 *   replays beside the values in force, refusing values out of bounds;
 * - the server's route table and docs/api.yaml agree, and every status
 *   code a test here saw is documented for its route.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"

#include "apitest.h"

#include <errno.h>
#include <strings.h>

#define J "J355400120001"
#define Y "Y355400120002"
#define H "H355210120003"
#define V "V846410120004"

static const char trust_policy[] =
	"policy { org = \"trust:TR00092\", name = \"Harbour Learning Trust\",\n"
	"  endpoints = { alert = \"trust-team\" },\n"
	"  params = { low_rate = { default = 0.1, min = 0.05, max = 1.0,\n"
	"             doc = \"alert below this attendance over the last 20 sessions\" } } }\n"
	"function on_pupil(p)\n"
	"  local w = p:window{ sessions = 20 }\n"
	"  if w.possible > 0 and w.rate < param \"low_rate\" then\n"
	"    alert(p, \"low_attendance\", { severity = \"medium\" })\n"
	"  end\n"
	"end\n";

static struct fixture {
	struct e2e *e;
	struct e2e_hook hook;
	struct api_server s;
	/* la:355 */
	char la_viewer[TOKEN_LEN + 1], la_thresholds[TOKEN_LEN + 1], la_officer[TOKEN_LEN + 1];
	/* trust:TR00092 */
	char tr_viewer[TOKEN_LEN + 1], tr_thresholds[TOKEN_LEN + 1], tr_officer[TOKEN_LEN + 1];
	char la_author[TOKEN_LEN + 1], tr_author[TOKEN_LEN + 1];
	/* la:846 */
	char far_officer[TOKEN_LEN + 1];
} fx;

static int group_setup(void **state)
{
	char path[PATH_MAX + 64], conf[PATH_MAX * 3], args[PATH_MAX * 4];
	(void)state;
	if (e2e_init() < 0)
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fx.e = e2e_new();
	e2e_hook_start(fx.e, &fx.hook);
	snprintf(path, sizeof path, "%s/rollcall.conf", fx.e->dir);
	snprintf(conf, sizeof conf,
		 "policies = \"policies\"\nscripts = \"%s/scripts\"\n"
		 "serve = { listen = \"127.0.0.1:0\", timeout_s = 2, request_s = 3, "
		 "json_max_kb = 4, threads = 2 }\n"
		 "endpoints = {\n"
		 "  [\"ewo-team\"] = { url = \"http://127.0.0.1:%d/ewo\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"mentors\"] = { url = \"http://127.0.0.1:%d/mentors\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"legal-team\"] = { url = \"http://127.0.0.1:%d/legal\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"trust-team\"] = { url = \"http://127.0.0.1:%d/trust\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "}\n",
		 e2e_root, fx.hook.port, fx.hook.port, fx.hook.port, fx.hook.port);
	write_file(path, conf);
	snprintf(path, sizeof path, "%s/policies", fx.e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(args, sizeof args, "cp '%s/policies/la-355.lua' '%s/policies/'", e2e_root,
		 fx.e->dir);
	assert_int_equal(system(args), 0);
	snprintf(path, sizeof path, "%s/policies/trust-TR00092.lua", fx.e->dir);
	write_file(path, trust_policy);
	assert_int_equal(e2e_rollcall(fx.e, "init"), 0);
	snprintf(args, sizeof args,
		 "import %s/tests/data/schools.csv %s/tests/data/pupils.csv "
		 "%s/tests/data/marks.csv",
		 e2e_root, e2e_root, e2e_root);
	assert_int_equal(e2e_rollcall(fx.e, args), 0);
	assert_int_equal(e2e_rollcall(fx.e, "run --once"), 0);

	api_token(fx.e, "la:355", "viewer", "Val Viewer", NULL, fx.la_viewer);
	api_token(fx.e, "la:355", "thresholds", "Tom Thresholds", NULL, fx.la_thresholds);
	api_token(fx.e, "la:355", "officer", "Olive Officer", NULL, fx.la_officer);
	api_token(fx.e, "trust:TR00092", "viewer", "Vera Trust", NULL, fx.tr_viewer);
	api_token(fx.e, "trust:TR00092", "thresholds", "Tess Trust", NULL, fx.tr_thresholds);
	api_token(fx.e, "trust:TR00092", "officer", "Otto Trust", NULL, fx.tr_officer);
	api_token(fx.e, "la:846", "officer", "Fay Faraway", NULL, fx.far_officer);
	api_token(fx.e, "la:355", "author", "Ada Author", NULL, fx.la_author);
	api_token(fx.e, "trust:TR00092", "author", "Tia Trust", NULL, fx.tr_author);
	api_start(fx.e, &fx.s);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	assert_int_equal(api_stop(&fx.s, 10000), 0);
	e2e_hook_stop(&fx.hook);
	e2e_free(fx.e);
	curl_global_cleanup();
	return 0;
}

/* The token's id, by its person. */
static long long token_id(const char *name)
{
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT id FROM tokens WHERE name = '%s'", name);
	return e2e_query(fx.e, sql);
}

static void tokens_are_shown_once_and_stored_hashed(void **state)
{
	(void)state;
	char token[TOKEN_LEN + 1], sql[512], hash[65];
	api_token(fx.e, "la:355", "viewer", "Sam Once", "--expires 2099-01-01", token);
	assert_int_equal(strncmp(token, "rc_", 3), 0);
	assert_int_equal(strlen(token), 46);
	/* base64url, no padding (RFC 4648 §5) */
	assert_int_equal(strspn(token + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					   "0123456789-_"),
			 43);
	token_hash(token, strlen(token), hash);
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM tokens WHERE name = 'Sam Once' AND sha256 = '%s' AND "
		 "expires_at = '2099-01-01T00:00:00Z' AND role = 'viewer' AND org = 'la:355'",
		 hash);
	assert_int_equal(e2e_query(fx.e, sql), 1);
	/* the token itself is nowhere in the database's file, nor in list */
	char cmd[PATH_MAX * 2];
	snprintf(cmd, sizeof cmd,
		 "cat '%s/rollcall.db' '%s/rollcall.db-wal' 2>/dev/null | grep -c -a -F -e '%s' "
		 ">/dev/null",
		 fx.e->dir, fx.e->dir, token + 3);
	assert_int_equal(WEXITSTATUS(system(cmd)), 1); /* grep: no line selected */
	assert_int_equal(e2e_rollcall(fx.e, "token list --json"), 0);
	char out[1 << 16];
	e2e_slurp(fx.e, "out", out, sizeof out);
	assert_null(strstr(out, token + 3));
	assert_null(strstr(out, hash));
	assert_non_null(strstr(out, "\"name\":\"Sam Once\""));
	json_t *me = api_expect(api_get(&fx.s, "/api/v1/me", token), 200, "me");
	assert_string_equal(json_string_value(json_object_get(me, "name")), "Sam Once");
	assert_string_equal(json_string_value(json_object_get(me, "org")), "la:355");
	assert_string_equal(json_string_value(json_object_get(me, "role")), "viewer");
	json_decref(me);
	/* audited, as the other changes, with the local user */
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM audit WHERE what = 'token.add' AND "
					 "detail = 'Sam Once' AND via LIKE 'cli:%'"),
			 1);
	/* a bad role, org or name is refused and stores nothing */
	long long before = e2e_query(fx.e, "SELECT count(*) FROM tokens");
	assert_int_equal(e2e_rollcall(fx.e, "token add --org la:355 --role admin --name X"), 2);
	assert_int_equal(e2e_rollcall(fx.e, "token add --org la:35 --role viewer --name X"), 2);
	assert_int_equal(e2e_rollcall(fx.e, "token add --org la:355 --role viewer --name ''"), 2);
	assert_int_equal(
		e2e_rollcall(fx.e, "token add --org la:355 --role viewer --name X --expires 2099"),
		2);
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM tokens"), before);
}

static void authentication_is_refused_and_changes_nothing(void **state)
{
	(void)state;
	char revoked[TOKEN_LEN + 1], expired[TOKEN_LEN + 1], args[64];
	api_token(fx.e, "la:355", "author", "Rita Revoked", NULL, revoked);
	api_token(fx.e, "la:355", "author", "Ed Expired", "--expires 2020-01-01", expired);
	json_decref(api_expect(api_get(&fx.s, "/api/v1/me", revoked), 200, "before revoking"));
	snprintf(args, sizeof args, "token revoke %lld", token_id("Rita Revoked"));
	assert_int_equal(e2e_rollcall(fx.e, args), 0);
	assert_int_equal(e2e_rollcall(fx.e, args), 2); /* revoked already */
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM audit WHERE what = 'token.revoke' "
					 "AND detail = 'Rita Revoked'"),
			 1);
	char wrong[TOKEN_LEN + 1];
	memcpy(wrong, fx.la_officer, sizeof wrong);
	wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
	char *before = api_dump(fx.e);
	const char *tokens[] = { NULL, wrong, revoked, expired, "rc_", "" };
	const char *what[] = { "no token",	   "a wrong token", "a revoked token",
			       "an expired token", "a short token", "an empty token" };
	for (int i = 0; i < 6; i++) {
		json_t *o = api_expect(api_json(&fx.s, "PUT", "/api/v1/params/alert_rate",
						tokens[i], "{\"value\": 0.8}"),
				       401, what[i]);
		assert_string_equal(json_string_value(json_object_get(o, "field")),
				    "Authorization");
		json_decref(o);
	}
	/* not Bearer */
	char basic[128];
	snprintf(basic, sizeof basic, "Authorization: Basic %s", fx.la_officer);
	json_decref(api_expect(api_call(&fx.s, "GET", "/api/v1/me", NULL, NULL, NULL, 0, basic),
			       401, "Basic"));
	char *after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* The first id of sql's result, which must be there. */
static long long first_id(const char *sql)
{
	long long id = e2e_query(fx.e, sql);
	assert_true(id > 0);
	return id;
}

static void a_role_too_low_is_403_in_the_organisation_and_404_outside(void **state)
{
	(void)state;
	char path[128];
	long long proposal = first_id("SELECT id FROM actions WHERE org = 'la:355' AND state = "
				      "'proposed' ORDER BY id LIMIT 1");
	char *before = api_dump(fx.e);
	json_decref(api_expect(api_json(&fx.s, "PUT", "/api/v1/params/alert_rate", fx.la_viewer,
					"{\"value\": 0.8}"),
			       403, "viewer sets a param"));
	json_decref(api_expect(api_call(&fx.s, "DELETE", "/api/v1/params/alert_rate", fx.la_viewer,
					NULL, NULL, 0, NULL),
			       403, "viewer resets a param"));
	json_decref(api_expect(api_get(&fx.s, "/api/v1/deliveries", fx.la_thresholds), 403,
			       "thresholds lists deliveries"));
	snprintf(path, sizeof path, "/api/v1/signoff/%lld/approve", proposal);
	json_decref(api_expect(api_json(&fx.s, "POST", path, fx.la_thresholds, "{}"), 403,
			       "thresholds approves its own organisation's proposal"));
	/* the same proposal, from another organisation, at any role: not there */
	json_decref(api_expect(api_json(&fx.s, "POST", path, fx.tr_viewer, "{}"), 404,
			       "another organisation's viewer approves"));
	json_decref(api_expect(api_json(&fx.s, "POST", path, fx.tr_officer, "{}"), 404,
			       "another organisation's officer approves"));
	long long delivery = first_id("SELECT d.id FROM deliveries d JOIN actions a ON a.id = "
				      "d.action_id WHERE a.org = 'la:355' LIMIT 1");
	snprintf(path, sizeof path, "/api/v1/deliveries/%lld/redeliver", delivery);
	json_decref(api_expect(api_call(&fx.s, "POST", path, fx.la_viewer, NULL, NULL, 0, NULL),
			       403, "viewer redelivers"));
	json_decref(api_expect(api_call(&fx.s, "POST", path, fx.tr_viewer, NULL, NULL, 0, NULL),
			       404, "another organisation's viewer redelivers"));
	char *after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* The value of low_rate in the params of the trust's latest action. */
static double params_of_latest_trust_action(void)
{
	char *text = e2e_text(fx.e, "SELECT params FROM actions WHERE org = 'trust:TR00092' "
				    "ORDER BY id DESC LIMIT 1");
	json_t *o = json_loads(text, 0, NULL);
	assert_non_null(o);
	double v = json_number_value(json_object_get(o, "low_rate"));
	json_decref(o);
	free(text);
	return v;
}

static void a_trust_sets_its_threshold_and_the_next_batch_uses_it(void **state)
{
	(void)state;
	/* at the default (0.1) no pupil of the trust was below it */
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM actions WHERE org = "
					 "'trust:TR00092'"),
			 0);
	struct api_reply r = api_get(&fx.s, "/api/v1/params", fx.tr_thresholds);
	char etag[80];
	snprintf(etag, sizeof etag, "%s", r.etag);
	json_t *params = api_expect(r, 200, "params");
	assert_true(etag[0] == '"');
	json_t *item = json_array_get(json_object_get(params, "items"), 0);
	assert_string_equal(json_string_value(json_object_get(item, "name")), "low_rate");
	assert_true(json_number_value(json_object_get(item, "value")) == 0.1);
	assert_true(json_number_value(json_object_get(item, "min")) == 0.05);
	json_decref(params);

	/* out of bounds, of the wrong type: 422 naming the field, nothing stored */
	char *before = api_dump(fx.e);
	const char *bad[] = { "{\"value\": 1.5}",  "{\"value\": 0.01}", "{\"value\": \"0.9\"}",
			      "{\"value\": null}", "{\"value\": true}", "{}" };
	for (int i = 0; i < 6; i++) {
		json_t *o = api_expect(
			api_json(&fx.s, "PUT", "/api/v1/params/low_rate", fx.tr_thresholds, bad[i]),
			422, bad[i]);
		assert_string_equal(json_string_value(json_object_get(o, "field")), "value");
		assert_non_null(strstr(json_string_value(json_object_get(o, "error")), "low_rate"));
		json_decref(o);
	}
	/* a param the policy does not declare; another organisation's param */
	json_decref(api_expect(api_json(&fx.s, "PUT", "/api/v1/params/no_such", fx.tr_thresholds,
					"{\"value\": 0.5}"),
			       404, "an undeclared param"));
	json_decref(api_expect(api_json(&fx.s, "PUT", "/api/v1/params/alert_rate", fx.tr_thresholds,
					"{\"value\": 0.8}"),
			       404, "the council's param"));
	char *after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(after);

	/* set, with the ETag read; then one with the stale ETag: 409 */
	char if_match[128];
	snprintf(if_match, sizeof if_match, "If-Match: %s", etag);
	r = api_call(&fx.s, "PUT", "/api/v1/params/low_rate", fx.tr_thresholds, "application/json",
		     "{\"value\": 0.99}", 15, if_match);
	char next_etag[80];
	snprintf(next_etag, sizeof next_etag, "%s", r.etag);
	json_t *set = api_expect(r, 200, "set low_rate");
	item = json_array_get(json_object_get(set, "items"), 0);
	assert_true(json_number_value(json_object_get(item, "value")) == 0.99);
	assert_true(json_is_true(json_object_get(item, "set")));
	assert_string_not_equal(next_etag, etag);
	json_decref(set);
	free(before);
	before = api_dump(fx.e);
	json_decref(api_expect(api_call(&fx.s, "PUT", "/api/v1/params/low_rate", fx.tr_thresholds,
					"application/json", "{\"value\": 0.5}", 14, if_match),
			       409, "a stale If-Match"));
	after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_int_equal(e2e_query(fx.e, "SELECT value * 100 FROM params WHERE org = "
					 "'trust:TR00092' AND name = 'low_rate'"),
			 99);

	/* the next batch: a day more for two of the trust's pupils */
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/day.csv", fx.e->dir);
	write_file(path, "upn,urn,date,session,code\n" J ",135001,2025-09-15,AM,O\n" J
			 ",135001,2025-09-15,PM,O\n" V ",146410,2025-09-15,AM,O\n" V
			 ",146410,2025-09-15,PM,O\n");
	assert_int_equal(e2e_rollcall(fx.e, "import day.csv"), 0);
	assert_int_equal(e2e_rollcall(fx.e, "run --once"), 0);
	assert_true(e2e_query(fx.e, "SELECT count(*) FROM actions WHERE org = 'trust:TR00092'") >=
		    1);
	assert_true(params_of_latest_trust_action() == 0.99);
	/* which the trust's token reads back, with the params in force */
	json_t *list =
		api_expect(api_get(&fx.s, "/api/v1/actions?kind=low_attendance", fx.tr_viewer), 200,
			   "the trust's actions");
	assert_true(json_array_size(json_object_get(list, "items")) >= 1);
	json_t *a = json_array_get(json_object_get(list, "items"), 0);
	assert_true(json_number_value(json_object_get(json_object_get(a, "params"), "low_rate")) ==
		    0.99);
	json_decref(list);

	/* in `rollcall audit`, under the token's person, with before and after */
	assert_int_equal(e2e_rollcall(fx.e, "audit --org trust:TR00092 --json"), 0);
	char out[1 << 16], want[128];
	e2e_slurp(fx.e, "out", out, sizeof out);
	assert_non_null(strstr(out, "\"who\":\"Tess Trust\""));
	snprintf(want, sizeof want, "\"via\":\"api:token %lld\"", token_id("Tess Trust"));
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "\"before\":\"low_rate=default\",\"after\":\"low_rate=0.99\""));
	/* and the CLI's own change is audited too, who the local user */
	assert_int_equal(e2e_rollcall(fx.e, "params trust:TR00092 --reset low_rate"), 0);
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM audit WHERE what = 'params.reset' "
					 "AND org = 'trust:TR00092' AND via LIKE 'cli:%' AND "
					 "before = 'low_rate=0.99' AND after = 'low_rate=default'"),
			 1);
}

/* Does every item of the list at path, for token, belong to org, and
 * (where it names one) to one of the UPNs in upns? */
/* Steps listed in the cases seen by list_is_own, over the battery. */
static int steps_seen;

static void list_is_own(const char *path, const char *token, const char *org, const char *upns)
{
	json_t *o = api_expect(api_get(&fx.s, path, token), 200, path);
	size_t i;
	json_t *item;
	json_array_foreach(json_object_get(o, "items"), i, item)
	{
		const char *item_org = json_string_value(json_object_get(item, "org"));
		if (item_org && strcmp(item_org, org) != 0)
			fail_msg("%s for %s: an item of %s", path, org, item_org);
		json_t *pupil = json_object_get(item, "pupil");
		const char *upn = json_string_value(
			json_object_get(json_is_object(pupil) ? pupil : item, "upn"));
		if (upn && !strstr(upns, upn))
			fail_msg("%s for %s: pupil %s is not its own", path, org, upn);
		/* a case's steps are the organisation's own actions, of that case */
		size_t k;
		json_t *step;
		json_array_foreach(json_object_get(item, "steps"), k, step)
		{
			char one[64];
			snprintf(one, sizeof one, "/api/v1/actions/%lld",
				 (long long)json_integer_value(json_object_get(step, "action_id")));
			json_t *a = api_expect(api_get(&fx.s, one, token), 200, one);
			assert_int_equal(json_integer_value(json_object_get(a, "case_id")),
					 json_integer_value(json_object_get(item, "id")));
			json_decref(a);
			steps_seen++;
		}
	}
	json_decref(o);
}

static void another_organisations_ids_are_404_on_every_path(void **state)
{
	(void)state;
	/* an id of every kind, of each organisation, made to exist */
	e2e_exec(fx.e, "UPDATE deliveries SET state = 'dead' WHERE id IN (SELECT d.id FROM "
		       "deliveries d JOIN actions a ON a.id = d.action_id WHERE a.org = "
		       "'trust:TR00092' LIMIT 1)");
	struct {
		const char *org, *token, *viewer, *upns;
	} orgs[] = {
		{ "la:355", fx.la_officer, fx.la_viewer, J Y H },
		{ "trust:TR00092", fx.tr_officer, fx.tr_viewer, J Y V },
		{ "la:846", fx.far_officer, fx.far_officer, V },
	};
	char *before = api_dump(fx.e);
	for (int o = 0; o < 3; o++) {
		char sql[512], path[160];
		/* every list holds only the organisation's own */
		const char *lists[] = { "/api/v1/actions?limit=1000", "/api/v1/cases?limit=1000",
					"/api/v1/signoff", "/api/v1/deliveries?limit=1000",
					"/api/v1/audit?limit=1000" };
		for (int l = 0; l < 5; l++)
			list_is_own(lists[l], orgs[o].token, orgs[o].org, orgs[o].upns);
		/* pupils of no school of the organisation */
		const char *all[] = { J, Y, H, V };
		for (int p = 0; p < 4; p++) {
			snprintf(path, sizeof path, "/api/v1/pupils/%s", all[p]);
			json_t *r = api_expect(api_get(&fx.s, path, orgs[o].viewer),
					       strstr(orgs[o].upns, all[p]) ? 200 : 404, path);
			if (strstr(orgs[o].upns, all[p])) { /* its own view of the pupil */
				size_t i;
				json_t *a;
				json_array_foreach(json_object_get(r, "recent_actions"), i, a)
				{
					assert_string_equal(
						json_string_value(json_object_get(a, "org")),
						orgs[o].org);
				}
				json_array_foreach(json_object_get(r, "open_cases"), i, a)
				{
					assert_string_equal(
						json_string_value(json_object_get(a, "org")),
						orgs[o].org);
				}
			}
			json_decref(r);
		}
		/* every action, case, proposal and delivery of the others */
		struct {
			const char *sql, *paths[2];
		} kinds[] = {
			{ "SELECT id FROM actions WHERE org <> '%s'",
			  { "/api/v1/actions/%lld", NULL } },
			{ "SELECT id FROM cases WHERE org <> '%s'",
			  { "/api/v1/cases/%lld", NULL } },
			{ "SELECT id FROM actions WHERE org <> '%s' AND action = 'legal_step'",
			  { "/api/v1/signoff/%lld/approve", "/api/v1/signoff/%lld/decline" } },
			{ "SELECT d.id FROM deliveries d JOIN actions a ON a.id = d.action_id "
			  "WHERE "
			  "a.org <> '%s'",
			  { "/api/v1/deliveries/%lld/redeliver", NULL } },
		};
		int tried[4] = { 0 };
		for (int k = 0; k < 4; k++) {
			snprintf(sql, sizeof sql, kinds[k].sql, orgs[o].org);
			sqlite3 *db = e2e_db(fx.e);
			sqlite3_stmt *st;
			assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
			while (sqlite3_step(st) == SQLITE_ROW) {
				long long id = sqlite3_column_int64(st, 0);
				for (int p = 0; p < 2 && kinds[k].paths[p]; p++) {
					snprintf(path, sizeof path, kinds[k].paths[p], id);
					int post = strstr(path, "signoff") ||
						   strstr(path, "redeliver");
					const char *body = strstr(path, "decline")
								   ? "{\"reason\": \"not ours\"}"
								   : "{}";
					json_decref(api_expect(
						post && strstr(path, "signoff")
							? api_json(&fx.s, "POST", path,
								   orgs[o].token, body)
						: post ? api_call(&fx.s, "POST", path,
								  orgs[o].token, NULL, NULL, 0,
								  NULL)
						       : api_get(&fx.s, path, orgs[o].token),
						404, path));
					tried[k]++;
				}
			}
			sqlite3_finalize(st);
			sqlite3_close(db);
		}
		/* each kind was there to try, for the organisations with records */
		if (o < 2)
			for (int k = 0; k < 4; k++)
				if (!tried[k] && !(k == 1 || k == 2))
					fail_msg("%s: no id of kind %d of another organisation",
						 orgs[o].org, k);
		/* ids that are no one's at all, and ids that are not ids */
		const char *nobody[] = { "/api/v1/actions/999999", "/api/v1/cases/999999",
					 "/api/v1/actions/abc", "/api/v1/pupils/J355400120009",
					 "/api/v1/actions/0" };
		for (int n = 0; n < 5; n++)
			json_decref(api_expect(api_get(&fx.s, nobody[n], orgs[o].token), 404,
					       nobody[n]));
	}
	/* both councils had a case and a proposal for the trust's token to try */
	assert_true(e2e_query(fx.e, "SELECT count(*) FROM actions WHERE org = 'la:355' AND action "
				    "= 'legal_step'") >= 1);
	/* the trust's report never names a pupil of the council's alone */
	struct api_reply page = api_get(&fx.s, "/api/v1/report", fx.tr_viewer);
	assert_int_equal(page.status, 200);
	assert_non_null(strstr(page.content_type, "text/html"));
	assert_null(strstr(page.body, H));
	assert_non_null(strstr(page.body, "trust:TR00092"));
	free(page.body);
	assert_true(steps_seen > 0); /* cases with steps were among those listed */
	char *after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void an_officer_decides_and_redelivers_through_the_api(void **state)
{
	(void)state;
	char path[128], via[64], sql[512];
	long long id = first_id("SELECT id FROM actions WHERE org = 'la:355' AND state = "
				"'proposed' ORDER BY id LIMIT 1");
	snprintf(path, sizeof path, "/api/v1/signoff/%lld/decline", id);
	char *before = api_dump(fx.e);
	json_t *o = api_expect(api_json(&fx.s, "POST", path, fx.la_officer, "{}"), 422,
			       "a decline with no reason");
	assert_string_equal(json_string_value(json_object_get(o, "field")), "reason");
	json_decref(o);
	snprintf(path, sizeof path, "/api/v1/signoff/%lld/approve", id);
	o = api_expect(api_json(&fx.s, "POST", path, fx.la_officer, "{\"note\": 5}"), 422,
		       "a note that is not text");
	assert_string_equal(json_string_value(json_object_get(o, "field")), "note");
	json_decref(o);
	o = api_expect(api_json(&fx.s, "POST", path, fx.la_officer, "{\"note\": \"a\\u0007b\"}"),
		       422, "a note with a control character");
	json_decref(o);
	char *after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(before);
	free(after);

	o = api_expect(
		api_json(&fx.s, "POST", path, fx.la_officer, "{\"note\": \"spoke to the family\"}"),
		200, "approve");
	json_t *action = json_object_get(o, "action");
	assert_string_equal(json_string_value(json_object_get(action, "state")), "approved");
	assert_string_equal(json_string_value(json_object_get(action, "approved_by")),
			    "Olive Officer");
	json_decref(o);
	json_decref(api_expect(api_json(&fx.s, "POST", path, fx.la_officer, "{}"), 409,
			       "approving again"));
	snprintf(via, sizeof via, "api:token %lld", token_id("Olive Officer"));
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM audit WHERE what = 'signoff.approve' AND who = 'Olive "
		 "Officer' AND via = '%s' AND action_id = %lld AND detail = 'spoke to the family'",
		 via, id);
	assert_int_equal(e2e_query(fx.e, sql), 1);
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM actions WHERE id = %lld AND decided_by = "
		 "'Olive Officer'",
		 id);
	assert_int_equal(e2e_query(fx.e, sql), 1);

	/* redeliver: a dead delivery of the council's, pending again */
	long long d = first_id("SELECT d.id FROM deliveries d JOIN actions a ON a.id = "
			       "d.action_id WHERE a.org = 'la:355' AND d.endpoint IS NOT NULL "
			       "ORDER BY d.id LIMIT 1");
	snprintf(sql, sizeof sql, "UPDATE deliveries SET state = 'dead' WHERE id = %lld", d);
	e2e_exec(fx.e, sql);
	json_t *dead = api_expect(api_get(&fx.s, "/api/v1/deliveries?state=dead", fx.la_officer),
				  200, "dead deliveries");
	assert_true(json_array_size(json_object_get(dead, "items")) >= 1);
	json_decref(dead);
	snprintf(path, sizeof path, "/api/v1/deliveries/%lld/redeliver", d);
	o = api_expect(api_call(&fx.s, "POST", path, fx.la_officer, NULL, NULL, 0, NULL), 200,
		       "redeliver");
	json_decref(o);
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM deliveries WHERE id = %lld AND state = "
		 "'pending'",
		 d);
	assert_int_equal(e2e_query(fx.e, sql), 1);
	json_decref(api_expect(api_call(&fx.s, "POST", path, fx.la_officer, NULL, NULL, 0, NULL),
			       409, "redeliver what is pending"));
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM audit WHERE what = 'delivery.redeliver' AND who = 'Olive "
		 "Officer' AND via = '%s'",
		 via);
	assert_int_equal(e2e_query(fx.e, sql), 1);
	/* and every change is in `rollcall audit` under its person */
	assert_int_equal(e2e_rollcall(fx.e, "audit --org la:355"), 0);
	char out[1 << 16];
	e2e_slurp(fx.e, "out", out, sizeof out);
	assert_non_null(strstr(out, "signoff.approve"));
	assert_non_null(strstr(out, "delivery.redeliver"));
	assert_non_null(strstr(out, "by Olive Officer (api:token"));
}

/* Subject access through the API: an officer of the pupil's organisation
 * gets the export (audited under their name), a viewer is refused, and
 * another organisation's pupil is not found; the marks alike. */
static void an_officer_exports_a_pupil_and_it_is_audited(void **state)
{
	(void)state;
	char path[160];
	snprintf(path, sizeof path, "/api/v1/pupils/%s/export", J);
	json_t *doc = api_expect(api_get(&fx.s, path, fx.la_officer), 200, path);
	char *text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(strstr(text, J));
	assert_null(strstr(text, Y)); /* nothing about another pupil */
	assert_null(strstr(text, H));
	free(text);
	json_decref(doc);
	char sql[256];
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM audit WHERE what = 'pupil.export' AND who = 'Olive Officer' "
		 "AND via = 'api:token %lld' AND org = 'la:355'",
		 token_id("Olive Officer"));
	assert_int_equal(e2e_query(fx.e, sql), 1);
	json_decref(api_expect(api_get(&fx.s, path, fx.la_viewer), 403, path));
	snprintf(path, sizeof path, "/api/v1/pupils/%s/export", V);
	json_decref(api_expect(api_get(&fx.s, path, fx.la_officer), 404, path));
	snprintf(path, sizeof path, "/api/v1/pupils/%s/marks", V);
	json_decref(api_expect(api_get(&fx.s, path, fx.la_viewer), 404, path));
	snprintf(path, sizeof path, "/api/v1/pupils/%s/marks", J);
	json_t *marks = api_expect(api_get(&fx.s, path, fx.la_viewer), 200, path);
	assert_true(json_array_size(json_object_get(marks, "items")) > 0);
	json_decref(marks);
	assert_int_equal(e2e_query(fx.e, sql), 1);
}

static void paging_by_cursor_gives_every_item_once(void **state)
{
	(void)state;
	json_t *all = api_expect(api_get(&fx.s, "/api/v1/audit?limit=1000", fx.la_viewer), 200,
				 "the whole trail");
	size_t total = json_array_size(json_object_get(all, "items"));
	assert_true(total >= 3);
	assert_true(json_is_null(json_object_get(all, "next")));
	char path[128] = "/api/v1/audit?limit=2";
	size_t seen = 0;
	for (int pages = 0;; pages++) {
		assert_true(pages < 1000);
		json_t *page = api_expect(api_get(&fx.s, path, fx.la_viewer), 200, path);
		size_t i;
		json_t *item;
		json_array_foreach(json_object_get(page, "items"), i, item)
		{
			json_t *want = json_array_get(json_object_get(all, "items"), seen++);
			assert_true(json_equal(item, want));
		}
		json_t *next = json_object_get(page, "next");
		if (json_is_null(next)) {
			json_decref(page);
			break;
		}
		assert_int_equal(json_array_size(json_object_get(page, "items")), 2);
		snprintf(path, sizeof path, "/api/v1/audit?limit=2&after=%s",
			 json_string_value(next));
		json_decref(page);
	}
	assert_int_equal(seen, total);
	json_decref(all);
}

static void bad_input_is_refused_and_changes_nothing(void **state)
{
	(void)state;
	char *before = api_dump(fx.e);
	const char *t = fx.la_thresholds;
	/* bodies over the limit: one read and dropped, one refused from its length */
	size_t big = 5000, huge = 3 << 20;
	char *body = malloc(huge + 1);
	memset(body, ' ', huge);
	memcpy(body, "{\"value\": 0.8", 13);
	body[big - 1] = '}';
	json_decref(api_expect(api_call(&fx.s, "PUT", "/api/v1/params/alert_rate", t,
					"application/json", body, big, NULL),
			       413, "a body over json_max_kb"));
	free(body);
	/* refused from its Content-Length before a byte of it is read: only
	 * the headers are sent (the server closes with the body unread, so a
	 * client still sending it may see its connection reset, not the 413) */
	char head[512];
	int hlen = snprintf(head, sizeof head,
			    "PUT /api/v1/params/alert_rate HTTP/1.1\r\nHost: x\r\nAuthorization: "
			    "Bearer %s\r\nContent-Type: application/json\r\nContent-Length: "
			    "%zu\r\n\r\n",
			    t, huge);
	assert_int_equal(api_raw_status(&fx.s, head, (size_t)hlen), 413);
	api_note("PUT", "/api/v1/params/alert_rate", 413);
	struct {
		const char *method, *path, *type, *body;
		long status;
		const char *field;
	} cases[] = {
		{ "PUT", "/api/v1/params/alert_rate", "application/json", "{\"value\": 0.8", 400,
		  NULL },
		{ "PUT", "/api/v1/params/alert_rate", "application/json", "[0.8]", 400, NULL },
		{ "PUT", "/api/v1/params/alert_rate", "application/json",
		  "{\"value\": 0.8, \"value\": 0.9}", 400, NULL },
		{ "PUT", "/api/v1/params/alert_rate", "application/json",
		  "{\"value\": 0.8, \"org\": \"trust:TR00092\"}", 400, "org" },
		{ "PUT", "/api/v1/params/alert_rate", "text/plain", "{\"value\": 0.8}", 400,
		  "Content-Type" },
		{ "PUT", "/api/v1/params/alert_rate", NULL, "{\"value\": 0.8}", 400,
		  "Content-Type" },
		{ "PUT", "/api/v1/params/alert_rate", "application/json", "{\"value\": 2}", 422,
		  "value" },
		{ "PUT", "/api/v1/params/step_gap_days", "application/json", "{\"value\": 10.5}",
		  422, "value" },
		{ "GET", "/api/v1/params", "application/json", "{}", 400, NULL },
		{ "GET", "/api/v1/../v1/me", NULL, NULL, 400, NULL },
		{ "GET", "/api/v1/./me", NULL, NULL, 400, NULL },
		{ "GET", "/api/v1/%2e%2e/me", NULL, NULL, 400, NULL },
		{ "GET", "/api/v1/pupils/%4A355400120001", NULL, NULL, 400, NULL },
		{ "GET", "/api/v1/pupils/..%2f..%2fme", NULL, NULL, 400, NULL },
		{ "GET", "/api/v1//me", NULL, NULL, 400, NULL },
		{ "GET", "/api/v1/me/", NULL, NULL, 400, NULL },
		{ "GET", "/api/v1/me%00", NULL, NULL, 400, NULL },
		{ "GET", "/api/v2/me", NULL, NULL, 400, NULL },
		{ "GET", "/api/v1/nothing", NULL, NULL, 404, NULL },
		{ "PATCH", "/api/v1/params", NULL, NULL, 404, NULL },
		{ "GET", "/api/v1/actions?org=trust:TR00092", NULL, NULL, 400, "org" },
		{ "GET", "/api/v1/actions?since=yesterday", NULL, NULL, 400, "since" },
		{ "GET", "/api/v1/actions?since=2025-09-01&since=2025-09-02", NULL, NULL, 400,
		  "since" },
		{ "GET", "/api/v1/actions?kind=%27%20OR%201=1", NULL, NULL, 400, "kind" },
		{ "GET", "/api/v1/actions?limit=0", NULL, NULL, 400, "limit" },
		{ "GET", "/api/v1/actions?limit=100000", NULL, NULL, 400, "limit" },
		{ "GET", "/api/v1/actions?after=-1", NULL, NULL, 400, "after" },
		{ "GET", "/api/v1/cases?open=yes", NULL, NULL, 400, "open" },
		{ "GET", "/api/v1/audit?since=2025-13-01", NULL, NULL, 400, "since" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char what[256];
		snprintf(what, sizeof what, "%s %s %s", cases[i].method, cases[i].path,
			 cases[i].body ? cases[i].body : "");
		json_t *o = api_expect(api_call(&fx.s, cases[i].method, cases[i].path, t,
						cases[i].type, cases[i].body,
						cases[i].body ? strlen(cases[i].body) : 0, NULL),
				       cases[i].status, what);
		json_t *field = json_object_get(o, "field");
		if (cases[i].field)
			assert_string_equal(json_string_value(field), cases[i].field);
		json_decref(o);
	}
	char *after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* Bytes sent over a fresh connection and nothing more: how long until the
 * server closes it (ms), or -1 if it is open after ms_max. */
static long long closed_after(const char *bytes, int ms_max)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)fx.s.port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
	long long start = e2e_now_ms();
	struct timeval tv = { 0, 100 * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char buf[4096];
	while (e2e_now_ms() - start < ms_max) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			close(fd);
			return e2e_now_ms() - start;
		}
	}
	close(fd);
	return -1;
}

static void a_slow_client_is_timed_out(void **state)
{
	(void)state;
	char *before = api_dump(fx.e);
	/* headers that never end: closed after timeout_s (2 s) of silence */
	long long ms = closed_after("GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n", 12000);
	assert_true(ms >= 1500 && ms < 10000); /* timeout_s, and a loaded machine's delay */
	/* a body that never comes, from a client that sent its headers */
	char req[512];
	snprintf(req, sizeof req,
		 "PUT /api/v1/params/alert_rate HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
		 "Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"va",
		 fx.la_thresholds);
	ms = closed_after(req, 12000);
	assert_true(ms >= 1500 && ms < 10000);
	/* the server still answers */
	json_decref(api_expect(api_get(&fx.s, "/api/v1/me", fx.la_viewer), 200, "after"));
	char *after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* The text of a file in e->dir, malloc'd. */
static char *file_text(const char *name)
{
	char *text = malloc(1 << 20);
	e2e_slurp(fx.e, name, text, 1 << 20);
	return text;
}

static struct api_reply put_lua(const char *method, const char *path, const char *token,
				const char *text, const char *if_match)
{
	char header[128];
	if (if_match)
		snprintf(header, sizeof header, "If-Match: %s", if_match);
	return api_call(&fx.s, method, path, token, "text/x-lua", text, strlen(text),
			if_match ? header : NULL);
}

static void a_council_author_publishes_sees_it_live_and_rolls_back(void **state)
{
	(void)state;
	char *live = file_text("policies/la-355.lua");
	struct api_reply r = api_get(&fx.s, "/api/v1/policy", fx.la_viewer);
	char etag[80];
	snprintf(etag, sizeof etag, "%s", r.etag);
	json_t *shown = api_expect(r, 200, "the live policy");
	assert_string_equal(json_string_value(json_object_get(shown, "text")), live);
	const char *sha = json_string_value(json_object_get(shown, "sha256"));
	char first[65];
	snprintf(first, sizeof first, "%s", sha);
	char quoted[80];
	snprintf(quoted, sizeof quoted, "\"%s\"", first);
	assert_string_equal(etag, quoted);
	json_decref(shown);

	/* a draft, one line changed */
	char *draft = malloc(strlen(live) + 64);
	const char *at = strstr(live, "Salford City Council");
	assert_non_null(at);
	snprintf(draft, strlen(live) + 64, "%.*sSalford City Council (v2)%s", (int)(at - live),
		 live, at + strlen("Salford City Council"));

	/* refused, each leaving everything as it was: a role too low, a draft that
	 * does not load, a text for another organisation, a stale If-Match */
	char *before = api_dump(fx.e);
	json_decref(api_expect(put_lua("POST", "/api/v1/policy/check", fx.la_officer, draft, NULL),
			       403, "an officer checks"));
	json_decref(api_expect(put_lua("PUT", "/api/v1/policy", fx.la_officer, draft, NULL), 403,
			       "an officer publishes"));
	json_t *o = api_expect(
		put_lua("POST", "/api/v1/policy/check", fx.la_author,
			"policy { org = \"la:355\", name = \"x\" }\nfunction on_pupil(p)\n"
			"  alert(p, \"a\", { severity = \"low\" }\nend\n",
			NULL),
		422, "a draft that does not load");
	json_t *err = json_array_get(json_object_get(o, "errors"), 0);
	assert_non_null(err);
	assert_true(json_is_integer(json_object_get(err, "line")));
	json_decref(o);
	json_decref(api_expect(put_lua("PUT", "/api/v1/policy", fx.tr_author, draft, NULL), 422,
			       "a trust's author writes the council's text"));
	json_decref(api_expect(
		put_lua("PUT", "/api/v1/policy", fx.la_author, draft,
			"\"0000000000000000000000000000000000000000000000000000000000000000\""),
		409, "a stale If-Match"));
	json_decref(api_expect(api_call(&fx.s, "PUT", "/api/v1/policy", fx.la_author,
					"application/json", "{}", 2, NULL),
			       400, "a policy sent as JSON"));
	char *after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(before);
	free(after);
	char *unchanged = file_text("policies/la-355.lua");
	assert_string_equal(unchanged, live);
	free(unchanged);

	/* checked and replayed beside the live version: nothing written */
	o = api_expect(put_lua("POST", "/api/v1/policy/check?days=10", fx.la_author, draft, NULL),
		       200, "check a draft");
	assert_non_null(json_object_get(json_object_get(o, "replay"), "live"));
	json_decref(o);

	/* published with the ETag read: live, kept, audited under the person */
	r = put_lua("PUT", "/api/v1/policy", fx.la_author, draft, etag);
	char published_etag[80];
	snprintf(published_etag, sizeof published_etag, "%s", r.etag);
	o = api_expect(r, 200, "publish");
	assert_string_equal(json_string_value(json_object_get(o, "previous")), first);
	assert_string_equal(json_string_value(json_object_get(o, "published_by")), "Ada Author");
	char second[65];
	snprintf(second, sizeof second, "%s", json_string_value(json_object_get(o, "sha256")));
	json_decref(o);
	assert_string_not_equal(published_etag, etag);
	char *now = file_text("policies/la-355.lua");
	assert_string_equal(now, draft);
	free(now);
	shown = api_expect(api_get(&fx.s, "/api/v1/policy", fx.la_viewer), 200, "after publish");
	assert_string_equal(json_string_value(json_object_get(shown, "sha256")), second);
	json_decref(shown);
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM audit WHERE what = 'policy.publish' "
					 "AND who = 'Ada Author' AND via LIKE 'api:token %'"),
			 1);

	/* rolled back to the first: the file as it was */
	char body[128];
	json_decref(api_expect(api_json(&fx.s, "POST", "/api/v1/policy/rollback", fx.la_author,
					"{\"sha256\": \"abc\"}"),
			       422, "not a sha256"));
	json_decref(api_expect(api_json(&fx.s, "POST", "/api/v1/policy/rollback", fx.la_author,
					"{\"sha256\": \"00000000000000000000000000000000000000000"
					"00000000000000000000000\"}"),
			       404, "a version never kept"));
	snprintf(body, sizeof body, "{\"sha256\": \"%s\"}", first);
	json_decref(
		api_expect(api_json(&fx.s, "POST", "/api/v1/policy/rollback", fx.tr_author, body),
			   404, "the council's version, for the trust"));
	o = api_expect(api_json(&fx.s, "POST", "/api/v1/policy/rollback", fx.la_author, body), 200,
		       "rollback");
	assert_string_equal(json_string_value(json_object_get(o, "sha256")), first);
	json_decref(o);
	now = file_text("policies/la-355.lua");
	assert_string_equal(now, live);
	free(now);
	assert_int_equal(e2e_query(fx.e, "SELECT count(*) FROM audit WHERE what = "
					 "'policy.rollback' AND who = 'Ada Author'"),
			 1);
	free(draft);
	free(live);
}

static void params_preview_replays_beside_the_values_in_force(void **state)
{
	(void)state;
	char *before = api_dump(fx.e);
	json_t *o = api_expect(api_json(&fx.s, "POST", "/api/v1/params/preview", fx.la_viewer,
					"{\"params\": {\"alert_rate\": 1.0}, \"days\": 28}"),
			       200, "preview");
	assert_non_null(json_object_get(o, "proposed"));
	assert_non_null(json_object_get(o, "in_force"));
	assert_non_null(json_object_get(o, "difference"));
	json_decref(o);
	o = api_expect(api_json(&fx.s, "POST", "/api/v1/params/preview", fx.la_viewer,
				"{\"params\": {\"alert_rate\": 7}}"),
		       422, "a proposed value out of bounds");
	assert_string_equal(json_string_value(json_object_get(o, "field")), "params.alert_rate");
	json_decref(o);
	o = api_expect(
		api_json(&fx.s, "POST", "/api/v1/params/preview", fx.la_viewer, "{\"days\": 0}"),
		422, "days out of bounds");
	assert_string_equal(json_string_value(json_object_get(o, "field")), "days");
	json_decref(o);
	char *after = api_dump(fx.e);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void the_route_table_and_docs_api_yaml_agree(void **state)
{
	(void)state;
	api_check_documented();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tokens_are_shown_once_and_stored_hashed),
		cmocka_unit_test(authentication_is_refused_and_changes_nothing),
		cmocka_unit_test(a_role_too_low_is_403_in_the_organisation_and_404_outside),
		cmocka_unit_test(a_trust_sets_its_threshold_and_the_next_batch_uses_it),
		cmocka_unit_test(another_organisations_ids_are_404_on_every_path),
		cmocka_unit_test(an_officer_decides_and_redelivers_through_the_api),
		cmocka_unit_test(an_officer_exports_a_pupil_and_it_is_audited),
		cmocka_unit_test(paging_by_cursor_gives_every_item_once),
		cmocka_unit_test(bad_input_is_refused_and_changes_nothing),
		cmocka_unit_test(a_slow_client_is_timed_out),
		cmocka_unit_test(a_council_author_publishes_sees_it_live_and_rolls_back),
		cmocka_unit_test(params_preview_replays_beside_the_values_in_force),
		cmocka_unit_test(the_route_table_and_docs_api_yaml_agree),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
