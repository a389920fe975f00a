/*
 * test_cases.c — closing a case is an action, end to end: the real rollcall
 * binary on a real SQLite file, `run --once` delivering to a listener on
 * 127.0.0.1 that keeps every request's path and body.
 *
 * - close_case records a `case_closed` action (action_id, the reason as its
 *   message, the stage the case had reached as its kind, the case's id),
 *   delivered as attendance.case_closed to the policy's legal endpoint, or
 *   to its case endpoint when it names one; p:actions{} lists it;
 * - every action's JSON (actions --json, replay --json, the webhook's data)
 *   carries case_id (null for alerts) and params, the values in force when
 *   it was decided (an integer param as an integer);
 * - closures are never repeats: a case opened and closed twice in one call
 *   gives two closures; with no open case there is nothing to close;
 * - `rollcall cases` lists cases newest first, filtered, bounded by --limit.
 *
 * Migrating a database of version 4 (actions without params, closures
 * without an action row) is tests/test_migrate.c's, with every version's.
 *
 * The pupils are tests/data's: J355400120001 has marks 1-12 Sep 2025, and
 * each later run adds one more day, so that only J is evaluated again.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#define OUT_MAX (1 << 20)
#define J	"J355400120001"

/* One council's policy for J alone: a letter (and an alert) opens the case
 * (a letter the policy declares needs no sign-off);
 * the next evaluation closes it; the one after sees the closure in
 * p:actions{} and says what it saw in an alert's data. */
static const char open_then_close[] =
	"policy { org = 'la:355', name = 'Cases', endpoints = {\n"
	"    alert = 'ewo-team', legal = 'legal-team' %s },\n"
	"  params = {\n"
	"    gap = { default = 28, min = 7, max = 90, integer = true, doc = 'days between steps' "
	"},\n"
	"    rate = { default = 0.9, min = 0.5, max = 1, doc = 'a rate' } },\n"
	"  signoff = { letter = false } }\n"
	"function on_pupil(p)\n"
	"  if p.upn ~= '" J "' then return end\n"
	"  local closed = p:actions{ action = 'case_closed' }\n"
	"  if p.case then\n"
	"    close_case(p, 'attendance recovered')\n"
	"  elseif #closed == 0 then\n"
	"    alert(p, 'seen', { severity = 'low' })\n"
	"    legal_step(p, 'letter', { reason = '10 unauthorised sessions' })\n"
	"  else\n"
	"    local c = closed[1]\n"
	"    alert(p, 'closed_before', { data = { action_id = c.action_id, case_id = c.case_id,\n"
	"      kind = c.kind, state = c.state, n = #closed } })\n"
	"  end\n"
	"end\n";

struct fixture {
	struct e2e *e;
	struct e2e_hook hook;
};

static void configure(struct fixture *fx)
{
	char path[PATH_MAX + 32], conf[PATH_MAX * 3];
	int port = fx->hook.port;
	snprintf(path, sizeof path, "%s/rollcall.conf", fx->e->dir);
	snprintf(conf, sizeof conf,
		 "policies = \"policies\"\nscripts = \"%s/scripts\"\n"
		 "endpoints = {\n"
		 "  [\"ewo-team\"] = { url = \"http://127.0.0.1:%d/ewo\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"legal-team\"] = { url = \"http://127.0.0.1:%d/legal\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"case-team\"] = { url = \"http://127.0.0.1:%d/case\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "}\n",
		 e2e_root, port, port, port);
	write_file(path, conf);
}

static void put_policy(struct fixture *fx, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/policies/la-355.lua", fx->e->dir);
	write_file(path, text);
}

/* One more day of marks for J (a day of September 2025 after the 12th). */
static void import_day(struct fixture *fx, int day)
{
	char path[PATH_MAX + 64], csv[256];
	snprintf(path, sizeof path, "%s/day-%d.csv", fx->e->dir, day);
	snprintf(csv, sizeof csv,
		 "upn,urn,date,session,code\n" J ",135001,2025-09-%02d,AM,/\n" J
		 ",135001,2025-09-%02d,PM,/\n",
		 day, day);
	write_file(path, csv);
	snprintf(csv, sizeof csv, "import day-%d.csv", day);
	assert_int_equal(e2e_rollcall(fx->e, csv), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	char path[PATH_MAX + 32], args[PATH_MAX * 4];
	fx->e = e2e_new();
	e2e_hook_start(fx->e, &fx->hook);
	configure(fx);
	snprintf(path, sizeof path, "%s/policies", fx->e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(e2e_rollcall(fx->e, "init"), 0);
	snprintf(args, sizeof args,
		 "import %s/tests/data/schools.csv %s/tests/data/pupils.csv "
		 "%s/tests/data/marks.csv",
		 e2e_root, e2e_root, e2e_root);
	assert_int_equal(e2e_rollcall(fx->e, args), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	e2e_hook_stop(&fx->hook);
	e2e_free(fx->e);
	free(fx);
	return 0;
}

/* The lines of the last command's standard output, parsed: an array. */
static json_t *out_lines(struct e2e *e)
{
	char *out = malloc(OUT_MAX);
	e2e_slurp(e, "out", out, OUT_MAX);
	json_t *list = json_array();
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		json_error_t err;
		json_t *o = json_loads(line, 0, &err);
		if (!o)
			fail_msg("not JSON: %s (%s)", line, err.text);
		json_array_append_new(list, o);
	}
	free(out);
	return list;
}

/* The first object of list whose key is the string value; NULL if none. */
static json_t *find(json_t *list, const char *key, const char *value)
{
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o)
	{
		const char *v = json_string_value(json_object_get(o, key));
		if (v && !strcmp(v, value))
			return o;
	}
	return NULL;
}

static const char *text_of(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	if (!v)
		fail_msg("%s: not a string", key);
	return v;
}

static long long int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		fail_msg("%s: not an integer", key);
	return (long long)json_integer_value(v);
}

/* params as the policy declares them: gap an integer, rate a real. */
static void assert_params(json_t *action, long long gap)
{
	json_t *params = json_object_get(action, "params");
	assert_true(json_is_object(params));
	assert_int_equal(json_object_size(params), 2);
	assert_int_equal(int_of(params, "gap"), gap);
	json_t *rate = json_object_get(params, "rate");
	assert_true(json_is_real(rate));
	assert_true(json_real_value(rate) == 0.9);
}

/* The requests the listener received: {"path", "body"} each. */
static json_t *hooks(struct fixture *fx)
{
	char line[1 << 16];
	json_t *list = json_array();
	FILE *f = fopen(fx->hook.log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f)) {
		char *space = strchr(line, ' ');
		assert_non_null(space);
		*space = '\0';
		json_t *body = json_loads(space + 1, 0, NULL);
		if (!body)
			fail_msg("%s: body not JSON: %s", line, space + 1);
		json_array_append_new(list, json_pack("{s:s, s:o}", "path", line, "body", body));
	}
	fclose(f);
	return list;
}

/* The request whose body's type is type; fails if there is not exactly one. */
static json_t *hook_of_type(json_t *list, const char *type)
{
	json_t *found = NULL, *h;
	size_t i;
	json_array_foreach(list, i, h)
	{
		const char *t =
			json_string_value(json_object_get(json_object_get(h, "body"), "type"));
		if (t && !strcmp(t, type)) {
			if (found)
				fail_msg("two deliveries of type %s", type);
			found = h;
		}
	}
	if (!found)
		fail_msg("no delivery of type %s", type);
	return found;
}

/* The first run opens J's case (an alert and a letter); gap is then set to
 * 14, and the second run, a day later, closes it. */
static void open_and_close(struct fixture *fx, const char *endpoints)
{
	char policy[4096];
	snprintf(policy, sizeof policy, open_then_close, endpoints);
	put_policy(fx, policy);
	assert_int_equal(e2e_rollcall(fx->e, "run --once"), 0);
	assert_int_equal(e2e_query(fx->e, "SELECT count(*) FROM cases WHERE closed IS NULL"), 1);
	assert_int_equal(e2e_rollcall(fx->e, "params la:355 gap=14"), 0);
	import_day(fx, 15);
	assert_int_equal(e2e_rollcall(fx->e, "run --once"), 0);
}

static void a_closure_is_an_action_delivered_to_the_legal_endpoint(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	open_and_close(fx, "");
	import_day(fx, 16);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);

	assert_int_equal(e2e_rollcall(e, "actions --json"), 0);
	json_t *actions = out_lines(e);
	assert_int_equal(json_array_size(actions), 4);
	json_t *seen = find(actions, "kind", "seen"), *letter = find(actions, "step", "letter"),
	       *closed = find(actions, "action", "case_closed"),
	       *after = find(actions, "kind", "closed_before");
	assert_non_null(seen);
	assert_non_null(letter);
	assert_non_null(closed);
	assert_non_null(after);

	/* alerts belong to no case; the letter opened one, the closure closed it */
	assert_true(json_is_null(json_object_get(seen, "case_id")));
	long long case_id = int_of(letter, "case_id");
	assert_true(case_id > 0);
	assert_int_equal(int_of(closed, "case_id"), case_id);
	assert_int_equal(e2e_query(e, "SELECT id FROM cases"), case_id);

	/* the closure: its reason, the stage it closed at, no severity */
	assert_string_equal(text_of(closed, "message"), "attendance recovered");
	assert_string_equal(text_of(closed, "kind"), "letter");
	assert_string_equal(text_of(closed, "date"), "2025-09-15");
	assert_string_equal(text_of(closed, "org"), "la:355");
	assert_string_equal(text_of(json_object_get(closed, "pupil"), "upn"), J);
	assert_true(json_is_null(json_object_get(closed, "severity")));
	long long closure_id = int_of(closed, "action_id");
	json_t *deliveries = json_object_get(closed, "deliveries");
	assert_int_equal(json_array_size(deliveries), 1);
	assert_string_equal(text_of(json_array_get(deliveries, 0), "endpoint"), "legal-team");
	assert_string_equal(text_of(json_array_get(deliveries, 0), "state"), "delivered");

	/* the params in force when each was decided */
	assert_params(seen, 28);
	assert_params(letter, 28);
	assert_params(closed, 14);
	assert_params(after, 14);
	/* kept as a person wrote them: 0.9, not 0.90000000000000002 */
	char *kept = e2e_text(e, "SELECT params FROM actions WHERE id = (SELECT min(id) FROM "
				 "actions)");
	assert_string_equal(kept, "{\"gap\":28,\"rate\":0.9}");
	free(kept);

	/* p:actions{ action = 'case_closed' } listed the recorded closure */
	json_t *data = json_object_get(after, "data");
	assert_int_equal(int_of(data, "action_id"), closure_id);
	assert_int_equal(int_of(data, "case_id"), case_id);
	assert_string_equal(text_of(data, "kind"), "letter");
	assert_string_equal(text_of(data, "state"), "recorded");
	assert_int_equal(int_of(data, "n"), 1);

	/* the webhook: attendance.case_closed to the legal endpoint, its data
	 * the action as actions --json gives it, less deliveries */
	json_t *received = hooks(fx);
	assert_int_equal(json_array_size(received), 4);
	json_t *h = hook_of_type(received, "attendance.case_closed");
	assert_string_equal(text_of(h, "path"), "/legal");
	json_t *hook_data = json_object_get(json_object_get(h, "body"), "data");
	json_object_del(closed, "deliveries");
	assert_true(json_equal(hook_data, closed));
	assert_int_equal(int_of(hook_data, "case_id"), case_id);
	assert_params(hook_data, 14);
	/* the others carry case_id and params too */
	json_t *step = json_object_get(
		json_object_get(hook_of_type(received, "attendance.legal_step"), "body"), "data");
	assert_int_equal(int_of(step, "case_id"), case_id);
	assert_params(step, 28);
	size_t i;
	json_array_foreach(received, i, h)
	{
		json_t *d = json_object_get(json_object_get(h, "body"), "data");
		assert_non_null(json_object_get(d, "case_id"));
		assert_true(json_is_object(json_object_get(d, "params")));
	}

	/* replay prints through the same code: case_id and params on every
	 * action, closures among them */
	assert_int_equal(e2e_rollcall(e, "replay --policy policies/la-355.lua --json"), 0);
	json_t *replayed = out_lines(e);
	int closures = 0;
	json_array_foreach(replayed, i, h)
	{
		if (json_object_get(h, "summary"))
			continue;
		assert_non_null(json_object_get(h, "case_id"));
		assert_true(json_is_object(json_object_get(h, "params")));
		closures += !strcmp(text_of(h, "action"), "case_closed");
	}
	assert_true(closures >= 1);
	json_decref(replayed);
	json_decref(received);
	json_decref(actions);
}

static void a_closure_goes_to_the_case_endpoint_when_named(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	open_and_close(fx, ", case = 'case-team'");
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'case_closed'"),
			 1);
	char *endpoint = e2e_text(e, "SELECT d.endpoint FROM deliveries d JOIN actions a ON a.id = "
				     "d.action_id WHERE a.action = 'case_closed'");
	assert_string_equal(endpoint, "case-team");
	free(endpoint);
	json_t *received = hooks(fx);
	json_t *h = hook_of_type(received, "attendance.case_closed");
	assert_string_equal(text_of(h, "path"), "/case");
	/* the letter still goes to legal */
	assert_string_equal(text_of(hook_of_type(received, "attendance.legal_step"), "path"),
			    "/legal");
	json_decref(received);

	/* a role the engine does not know is still a load error */
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/policies/la-355.lua", e->dir);
	write_file(path,
		   "policy { org = 'la:355', name = 'x', endpoints = { cases = 'case-team' } }\n"
		   "function on_pupil(p) end\n");
	assert_int_equal(e2e_rollcall(e, "check"), 2);
	char err[4096];
	e2e_slurp(e, "err", err, sizeof err);
	assert_non_null(strstr(err, "unknown endpoint role 'cases'"));
	assert_non_null(strstr(err, "legal, case"));
}

/* Open and close twice in one call: two closures, the same day, the same
 * kind, neither a repeat; a third close_case, with no case open, is
 * nothing. p:actions{} lists what the call decided, closures included. */
static void closures_in_one_call_are_never_repeats(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	put_policy(
		fx,
		"policy { org = 'la:355', name = 'Twice', endpoints = { legal = 'legal-team' },\n"
		"  signoff = { letter = false } }\n"
		"function on_pupil(p)\n"
		"  if p.upn ~= '" J "' then return end\n"
		"  assert(legal_step(p, 'letter', { cooldown_days = 0 }))\n"
		"  assert(close_case(p, 'first'))\n"
		"  assert(legal_step(p, 'letter', { cooldown_days = 0 }))\n"
		"  assert(close_case(p, 'second'))\n"
		"  assert(close_case(p, 'none open') == false)\n"
		"  local l = p:actions{ action = 'case_closed' }\n"
		"  alert(p, 'listed', { data = { n = #l, kind = l[1].kind, state = l[1].state,\n"
		"    own = l[1].case_id ~= l[2].case_id, id = l[1].action_id or 0 } })\n"
		"end\n");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions"), 5);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'case_closed'"),
			 2);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases WHERE closed = '2025-09-12'"), 2);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases WHERE closed IS NULL"), 0);
	/* each closure belongs to the case it closed, as recorded */
	assert_int_equal(e2e_query(e, "SELECT count(DISTINCT case_id) FROM actions WHERE action = "
				      "'case_closed' AND case_id IN (SELECT id FROM cases)"),
			 2);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions a JOIN cases c ON c.id = "
				      "a.case_id WHERE a.action = 'case_closed' AND a.message = "
				      "c.close_reason AND a.kind = c.stage"),
			 2);
	assert_int_equal(e2e_rollcall(e, "actions --json"), 0);
	json_t *actions = out_lines(e);
	json_t *data = json_object_get(find(actions, "kind", "listed"), "data");
	assert_int_equal(int_of(data, "n"), 2);
	assert_string_equal(text_of(data, "kind"), "letter");
	assert_string_equal(text_of(data, "state"), "decided");
	assert_true(json_is_true(json_object_get(data, "own")));
	assert_int_equal(int_of(data, "id"), 0); /* not recorded yet: no action_id */
	/* a policy with no params keeps an empty object, not null */
	json_t *closed = find(actions, "action", "case_closed");
	assert_true(json_is_object(json_object_get(closed, "params")));
	assert_int_equal(json_object_size(json_object_get(closed, "params")), 0);
	json_decref(actions);
}

static void cases_lists_them_newest_first(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	/* a letter for each of Salford's three pupils; J's case closes a day later */
	put_policy(fx,
		   "policy { org = 'la:355', name = 'All', endpoints = { legal = 'legal-team' },\n"
		   "  signoff = { letter = false } }\n"
		   "function on_pupil(p)\n"
		   "  if p.case then close_case(p, 'attendance recovered')\n"
		   "  else legal_step(p, 'letter') end\n"
		   "end\n");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	import_day(fx, 15);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);

	assert_int_equal(e2e_rollcall(e, "cases --closed --json"), 0);
	json_t *closed = out_lines(e);
	assert_int_equal(json_array_size(closed), 1);
	json_t *c = json_array_get(closed, 0);
	assert_int_equal(int_of(c, "id"),
			 e2e_query(e, "SELECT case_id FROM actions WHERE action = 'case_closed'"));
	assert_string_equal(text_of(c, "org"), "la:355");
	assert_string_equal(text_of(c, "upn"), J);
	assert_string_equal(text_of(c, "stage"), "letter");
	assert_string_equal(text_of(c, "opened"), "2025-09-12");
	assert_string_equal(text_of(c, "closed"), "2025-09-15");
	assert_string_equal(text_of(c, "reason"), "attendance recovered");
	/* the letter; the closure is not a step */
	json_t *steps = json_object_get(c, "steps");
	assert_int_equal(json_array_size(steps), 1);
	assert_string_equal(text_of(json_array_get(steps, 0), "step"), "letter");
	char sql[256];
	snprintf(sql, sizeof sql,
		 "SELECT id FROM actions WHERE action = 'legal_step' AND case_id = %lld",
		 int_of(c, "id"));
	assert_int_equal(int_of(json_array_get(steps, 0), "action_id"), e2e_query(e, sql));
	assert_true(json_is_false(json_object_get(c, "referral_open")));
	json_decref(closed);

	assert_int_equal(e2e_rollcall(e, "cases --open --json"), 0);
	json_t *open = out_lines(e);
	assert_int_equal(json_array_size(open), 2);
	assert_true(json_is_null(json_object_get(json_array_get(open, 0), "closed")));
	assert_true(json_is_null(json_object_get(json_array_get(open, 0), "reason")));
	assert_null(find(open, "upn", J));
	json_decref(open);

	/* all three, newest first: by the date each opened, then the later id */
	assert_int_equal(e2e_rollcall(e, "cases --json"), 0);
	json_t *all = out_lines(e);
	assert_int_equal(json_array_size(all), 3);
	for (size_t i = 1; i < 3; i++) {
		json_t *a = json_array_get(all, i - 1), *b = json_array_get(all, i);
		int cmp = strcmp(text_of(a, "opened"), text_of(b, "opened"));
		assert_true(cmp > 0 || (cmp == 0 && int_of(a, "id") > int_of(b, "id")));
	}
	json_decref(all);

	assert_int_equal(e2e_rollcall(e, "cases --pupil " J " --json"), 0);
	json_t *mine = out_lines(e);
	assert_int_equal(json_array_size(mine), 1);
	json_decref(mine);
	assert_int_equal(e2e_rollcall(e, "cases --org la:846 --json"), 0);
	json_t *none = out_lines(e);
	assert_int_equal(json_array_size(none), 0);
	json_decref(none);

	/* bounded: --limit, and standard error says what was left out */
	assert_int_equal(e2e_rollcall(e, "cases --limit 2 --json"), 0);
	json_t *two = out_lines(e);
	assert_int_equal(json_array_size(two), 2);
	json_decref(two);
	char text[8192];
	e2e_slurp(e, "err", text, sizeof text);
	assert_non_null(strstr(text, "2 of 3 cases shown"));
	assert_int_equal(e2e_rollcall(e, "cases --limit 3"), 0);
	e2e_slurp(e, "err", text, sizeof text);
	assert_string_equal(text, "");

	/* the text listing: one line a case */
	assert_int_equal(e2e_rollcall(e, "cases --closed"), 0);
	e2e_slurp(e, "out", text, sizeof text);
	assert_non_null(strstr(text, J));
	assert_non_null(strstr(text, "2025-09-12 2025-09-15"));
	assert_non_null(strstr(text, "1 steps  attendance recovered\n"));
	assert_int_equal(e2e_rollcall(e, "cases --open"), 0);
	e2e_slurp(e, "out", text, sizeof text);
	assert_non_null(strstr(text, " open "));
	assert_null(strstr(text, J));

	/* bad usage */
	assert_int_equal(e2e_rollcall(e, "cases --open --closed"), 2);
	assert_int_equal(e2e_rollcall(e, "cases --limit 0"), 2);
	assert_int_equal(e2e_rollcall(e, "cases --limit"), 2);
	assert_int_equal(e2e_rollcall(e, "cases --pupil J355400120009"), 2);
	assert_int_equal(e2e_rollcall(e, "cases --org la:35"), 2);
	assert_int_equal(e2e_rollcall(e, "cases --pupil B801200005001"), 1); /* valid, unknown */
}

int main(void)
{
	if (e2e_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			a_closure_is_an_action_delivered_to_the_legal_endpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(a_closure_goes_to_the_case_endpoint_when_named,
						setup, teardown),
		cmocka_unit_test_setup_teardown(closures_in_one_call_are_never_repeats, setup,
						teardown),
		cmocka_unit_test_setup_teardown(cases_lists_them_newest_first, setup, teardown),
	};
	return cmocka_run_group_tests_name("cases", tests, NULL, NULL);
}
