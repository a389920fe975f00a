/*
 * test_signoff.c — a legal step is decided by a named person, end to end:
 * the real rollcall binary on a real SQLite file, `run --once` delivering
 * to a listener on 127.0.0.1 that keeps every request's path and body.
 *
 * - legal_step() records a proposal (state proposed, its evidence, the
 *   params in force, the policy's sha256), delivered as
 *   attendance.legal_step.proposed to the legal endpoint, or to the
 *   signoff endpoint when the policy names one; never as
 *   attendance.legal_step. It moves no case, and a pupil who stays above
 *   the threshold is not proposed again while it waits (the cooldown, and
 *   one open proposal per step even with no cooldown);
 * - a letter, a meeting or an attendance contract the policy declares
 *   needs no sign-off (signoff = { letter = false }) is decided at once;
 *   the other steps cannot be declared so;
 * - `signoff approve` records who, when and the note, moves the case to
 *   the step, and sends exactly one attendance.legal_step, with
 *   approved_by; `signoff decline` records who, when and why, leaves the
 *   case, and sends nothing; both are in `rollcall audit`; deciding again
 *   is a conflict (exit 2, nothing changed);
 * - every bad input (an unknown, expired or decided proposal, a decline
 *   with no reason, a name or text empty, too long, not UTF-8 or with a
 *   control character, a pupil who has left) is exit 2 with a clear
 *   error, and changes nothing;
 * - the national framework counts approved steps only and is checked again
 *   at approval: a third penalty notice within three years is refused,
 *   whichever order the three are approved in; the same absence is never
 *   fined twice, also when the later notice was approved first; a penalty
 *   notice needs a Notice to Improve approved before it; of two officers
 *   approving conflicting notices at once, one wins;
 * - a proposal not decided by its day (signoff_days weekdays after it was
 *   proposed) expires, in `run --once` and in the service: recorded,
 *   delivered as attendance.legal_step.expired where the proposal went,
 *   audited; it can no longer be decided, and the policy may propose the
 *   step again once its cooldown allows;
 * - policies see it: p.case.steps lists decided steps only, p:actions{}
 *   each legal step with its sign-off state (proposed, approved, declined,
 *   expired; one decided at once is approved), also those decided earlier
 *   in the same call;
 * - a replay, and `rollcall test`, take each proposal as approved on the
 *   day proposed (the ladder climbs as if an officer approved each at
 *   once), and the replay says how many it took so;
 * - a database at schema version 6 migrates: its legal steps, taken at
 *   once before sign-off existed, become approved "before sign-off", and
 *   a delivery of one still pending is sent as attendance.legal_step;
 * - `rollcall report` lists the steps waiting for a decision and who
 *   decided what in the last four weeks.
 *
 * The pupils are tests/data's: J355400120001 has marks 1-12 Sep 2025, ten
 * sessions of them unauthorised (the penalty-notice threshold); each later
 * import adds days for J alone, so that only J is evaluated again.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"
#include "db.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#define OUT_MAX (1 << 20)
#define J	"J355400120001"

struct fixture {
	struct e2e *e;
	struct e2e_hook hook;
};

static void configure(struct fixture *fx, const char *extra)
{
	char path[PATH_MAX + 32], conf[PATH_MAX * 3];
	int port = fx->hook.port;
	snprintf(path, sizeof path, "%s/rollcall.conf", fx->e->dir);
	snprintf(conf, sizeof conf,
		 "policies = \"policies\"\nscripts = \"%s/scripts\"\n%s\n"
		 "endpoints = {\n"
		 "  [\"ewo-team\"] = { url = \"http://127.0.0.1:%d/ewo\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"legal-team\"] = { url = \"http://127.0.0.1:%d/legal\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "  [\"signoff-team\"] = { url = \"http://127.0.0.1:%d/signoff\", secret_env = "
		 "\"HOOK_SECRET\" },\n"
		 "}\n",
		 e2e_root, extra, port, port, port);
	write_file(path, conf);
}

static void put_policy(struct fixture *fx, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/policies/la-355.lua", fx->e->dir);
	write_file(path, text);
}

/* Days of marks for J, each day's AM and PM code `code`, from `from` for
 * n weekdays; imported. */
static void import_days(struct fixture *fx, const char *from, int n, const char *code)
{
	static int files;
	char path[PATH_MAX + 64], args[128], date[11];
	snprintf(path, sizeof path, "%s/days-%d.csv", fx->e->dir, ++files);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("upn,urn,date,session,code\n", f);
	for (int day = day_of(from), k = 0; k < n; day++) {
		if (date_weekday(day) >= 5)
			continue;
		date_format(day, date);
		fprintf(f, J ",135001,%s,AM,%s\n" J ",135001,%s,PM,%s\n", date, code, date, code);
		k++;
	}
	assert_int_equal(fclose(f), 0);
	snprintf(args, sizeof args, "import days-%d.csv", files);
	assert_int_equal(e2e_rollcall(fx->e, args), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	char path[PATH_MAX + 32], args[PATH_MAX * 4];
	fx->e = e2e_new();
	e2e_hook_start(fx->e, &fx->hook);
	configure(fx, "");
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

/* How many of the requests received have the body type type. */
static int hooks_of_type(struct fixture *fx, const char *type)
{
	json_t *list = hooks(fx), *h;
	size_t i;
	int n = 0;
	json_array_foreach(list, i, h)
	{
		const char *t =
			json_string_value(json_object_get(json_object_get(h, "body"), "type"));
		n += t && !strcmp(t, type);
	}
	json_decref(list);
	return n;
}

/* The one request of type type (a new reference); fails unless exactly one. */
static json_t *hook_of_type(struct fixture *fx, const char *type)
{
	json_t *list = hooks(fx), *found = NULL, *h;
	size_t i;
	json_array_foreach(list, i, h)
	{
		const char *t =
			json_string_value(json_object_get(json_object_get(h, "body"), "type"));
		if (t && !strcmp(t, type)) {
			if (found)
				fail_msg("two deliveries of type %s", type);
			found = json_incref(h);
		}
	}
	json_decref(list);
	if (!found)
		fail_msg("no delivery of type %s", type);
	return found;
}

/* A council's policy for J alone: at the penalty threshold, `step` (with
 * opts, a Lua table's inside), and an alert saying what p.case and
 * p:actions{} showed. decl is added to policy{}. */
static void threshold_policy(struct fixture *fx, const char *step, const char *opts,
			     const char *decl)
{
	char text[4096];
	snprintf(text, sizeof text,
		 "policy { org = 'la:355', name = 'Sign-off', endpoints = {\n"
		 "    alert = 'ewo-team', legal = 'legal-team' %s },\n"
		 "  params = { gap = { default = 28, min = 1, max = 90, integer = true, doc = 'g' "
		 "} } }\n"
		 "local national = require 'national'\n"
		 "function on_pupil(p)\n"
		 "  if p.upn ~= '" J "' then return end\n"
		 "  if national.penalty_threshold_met(p) then\n"
		 "    legal_step(p, '%s', { reason = 'threshold' %s })\n"
		 "  end\n"
		 "  local steps = p:actions{ action = 'legal_step' }\n"
		 "  local states = {}\n"
		 "  for i, a in ipairs(steps) do states[i] = a.step .. ':' .. a.state end\n"
		 "  alert(p, 'seen', { severity = 'low', cooldown_days = 0, data = {\n"
		 "    stage = p.case and p.case.stage or 'none',\n"
		 "    steps = p.case and #p.case.steps or 0,\n"
		 "    states = table.concat(states, ',') } })\n"
		 "end\n",
		 decl, step, opts);
	put_policy(fx, text);
}

/* The data of the newest `seen` alert. */
static json_t *seen(struct e2e *e)
{
	assert_int_equal(e2e_rollcall(e, "actions --json"), 0);
	json_t *list = out_lines(e), *a, *last = NULL;
	size_t i;
	json_array_foreach(list, i, a)
	{
		const char *kind = json_string_value(json_object_get(a, "kind"));
		if (kind && !strcmp(kind, "seen"))
			last = a;
	}
	assert_non_null(last);
	json_t *data = json_incref(json_object_get(last, "data"));
	json_decref(list);
	return data;
}

static void a_step_at_the_threshold_is_proposed_not_taken(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	threshold_policy(fx, "penalty_notice", ", support_inappropriate = true", "");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);

	/* one proposal, with its evidence, params and the policy's version */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'legal_step'"),
			 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'legal_step' "
				      "AND state = 'proposed' AND signoff = 1 AND decided_by IS "
				      "NULL AND case_id IS NULL AND decide_by IS NOT NULL"),
			 1);
	/* it moves no case: none is opened */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases"), 0);
	json_t *h = hook_of_type(fx, "attendance.legal_step.proposed");
	assert_string_equal(text_of(h, "path"), "/legal"); /* no signoff endpoint named */
	json_t *data = json_object_get(json_object_get(h, "body"), "data");
	assert_string_equal(text_of(data, "step"), "penalty_notice");
	assert_string_equal(text_of(data, "state"), "proposed");
	assert_true(json_is_true(json_object_get(data, "signoff_required")));
	assert_true(json_is_null(json_object_get(data, "approved_by")));
	assert_true(json_is_null(json_object_get(data, "decided_by")));
	assert_true(json_is_null(json_object_get(data, "case_id")));
	assert_int_equal(strlen(text_of(data, "decide_by")), 10);
	assert_int_equal(strlen(text_of(data, "policy_sha256")), 64);
	assert_int_equal(int_of(json_object_get(data, "params"), "gap"), 28);
	json_t *ten = json_object_get(json_object_get(data, "evidence"), "school_weeks=10");
	assert_int_equal(int_of(ten, "unauthorised"), 10);
	assert_string_equal(text_of(data, "message"), "threshold");
	assert_string_equal(text_of(data, "date"), "2025-09-12");
	json_decref(h);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step"), 0);

	/* the policy saw no case, and the proposal among its actions */
	json_t *d = seen(e);
	assert_string_equal(text_of(d, "stage"), "none");
	assert_string_equal(text_of(d, "states"), "penalty_notice:proposed");
	json_decref(d);

	/* still above the threshold for two more weeks: not proposed again */
	import_days(fx, "2025-09-15", 10, "N");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'legal_step'"),
			 1);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step.proposed"), 1);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step"), 0);

	/* the text listings say it is a proposal */
	assert_int_equal(e2e_rollcall(e, "actions"), 0);
	char out[8192];
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "[proposed] threshold"));
	assert_int_equal(e2e_rollcall(e, "pupil " J), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "penalty_notice (proposed)"));
}

/* With no cooldown the one open proposal per step still holds: the pupil
 * is evaluated on each new day, and the step waits. */
static void one_open_proposal_per_step(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	threshold_policy(fx, "letter", ", cooldown_days = 0", ", signoff = 'signoff-team'");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	for (int i = 0; i < 3; i++) {
		char day[11];
		date_format(day_of("2025-09-15") + i, day);
		import_days(fx, day, 1, "N");
		assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	}
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE kind = 'seen'"), 4);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'legal_step'"),
			 1);
	/* to the signoff endpoint the policy names */
	json_t *h = hook_of_type(fx, "attendance.legal_step.proposed");
	assert_string_equal(text_of(h, "path"), "/signoff");
	json_decref(h);
	char *endpoint = e2e_text(e, "SELECT endpoint FROM actions WHERE action = 'legal_step'");
	assert_string_equal(endpoint, "legal-team"); /* where the decided step will go */
	free(endpoint);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases"), 0);
}

/* signoff = { letter = false }: a letter is decided at once, as before
 * sign-off existed: approved, by no one, delivered as attendance.legal_step,
 * and the case opens at it. */
static void a_letter_may_be_declared_decided_at_once(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	threshold_policy(fx, "letter", "", "}, signoff = { letter = false, meeting = true");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'legal_step' "
				      "AND state = 'approved' AND signoff = 0 AND decided_by IS "
				      "NULL AND decided_at IS NOT NULL AND decide_by IS NULL"),
			 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases WHERE stage = 'letter'"), 1);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step.proposed"), 0);
	json_t *h = hook_of_type(fx, "attendance.legal_step");
	assert_string_equal(text_of(h, "path"), "/legal");
	json_t *data = json_object_get(json_object_get(h, "body"), "data");
	assert_string_equal(text_of(data, "state"), "approved");
	assert_true(json_is_false(json_object_get(data, "signoff_required")));
	assert_true(json_is_null(json_object_get(data, "approved_by")));
	assert_true(int_of(data, "case_id") > 0);
	json_decref(h);
	json_t *d = seen(e);
	assert_string_equal(text_of(d, "stage"), "letter");
	assert_string_equal(text_of(d, "states"), "letter:approved");
	json_decref(d);
}

/* Only the first rungs may go without a person: each of the others, and
 * anything but a table of steps and booleans, is a load error. */
static void only_the_first_rungs_may_go_without_signoff(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	static const struct {
		const char *decl, *error;
	} bad[] = {
		{ "signoff = { penalty_notice = false }",
		  "signoff.penalty_notice = false: a penalty_notice always needs a named "
		  "person's decision (UK GDPR art. 22)" },
		{ "signoff = { notice_to_improve = false }", "signoff.notice_to_improve = false" },
		{ "signoff = { prosecution = false }", "signoff.prosecution = false" },
		{ "signoff = { education_supervision_order = false }",
		  "signoff.education_supervision_order = false" },
		{ "signoff = { school_attendance_order = false }",
		  "signoff.school_attendance_order = false" },
		{ "signoff = { leter = false }", "signoff.leter: not a legal step" },
		{ "signoff = { letter = 0 }", "signoff.letter must be true or false" },
		{ "signoff = false", "signoff must be a table of step = false" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char text[512], err[4096];
		snprintf(text, sizeof text,
			 "policy { org = 'la:355', name = 'x', endpoints = { legal = "
			 "'legal-team' },\n  %s }\nfunction on_pupil(p) end\n",
			 bad[i].decl);
		put_policy(fx, text);
		assert_int_equal(e2e_rollcall(e, "check"), 2);
		e2e_slurp(e, "err", err, sizeof err);
		if (!strstr(err, bad[i].error) || !strstr(err, "la-355.lua:1:"))
			fail_msg("%s: %s", bad[i].decl, err);
	}
	/* a signoff endpoint the configuration lacks is named as any other */
	put_policy(fx, "policy { org = 'la:355', name = 'x', endpoints = { legal = 'legal-team', "
		       "signoff = 'signof-team' } }\nfunction on_pupil(p) end\n");
	assert_int_equal(e2e_rollcall(e, "check"), 2);
	char err[4096];
	e2e_slurp(e, "err", err, sizeof err);
	assert_non_null(strstr(err, "endpoints.signoff = \"signof-team\" is not an endpoint"));
}

/* What a decision could change, as one text: compared before and after a
 * command that must change nothing. */
static char *state_of(struct e2e *e)
{
	return e2e_text(e,
			"SELECT (SELECT group_concat(id || ':' || coalesce(state, '') || ':' "
			"|| coalesce(decided_by, '') || ':' || coalesce(decision, '') || ':' || "
			"coalesce(case_id, ''), ',') FROM actions) || '|' || (SELECT "
			"group_concat(id || ':' || stage || ':' || coalesce(closed, ''), ',') FROM "
			"cases) || '|' || (SELECT count(*) FROM deliveries) || '|' || (SELECT "
			"count(*) FROM audit)");
}

/* The id of the legal step proposed for J (the only one). */
static long long proposal_id(struct e2e *e)
{
	return e2e_query(e, "SELECT id FROM actions WHERE action = 'legal_step'");
}

static void approving_sends_the_decided_step_once(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	char args[256], out[8192];
	threshold_policy(fx, "letter", "", ", signoff = 'signoff-team'");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	long long id = proposal_id(e);

	/* the queue: the proposal, its deadline, its pupil still here */
	assert_int_equal(e2e_rollcall(e, "signoff list --json"), 0);
	json_t *waiting = out_lines(e);
	assert_int_equal(json_array_size(waiting), 1);
	json_t *w = json_array_get(waiting, 0);
	assert_int_equal(int_of(w, "action_id"), id);
	assert_string_equal(text_of(w, "state"), "proposed");
	assert_true(json_is_true(json_object_get(w, "pupil_at_org")));
	assert_true(json_is_false(json_object_get(w, "past_decide_by")));
	json_decref(waiting);
	assert_int_equal(e2e_rollcall(e, "signoff list"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "letter"));
	assert_non_null(strstr(out, J));
	assert_int_equal(e2e_rollcall(e, "signoff list --org la:846"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_string_equal(out, "no legal steps waiting for a decision for la:846\n");

	snprintf(args, sizeof args,
		 "signoff approve %lld --by 'A. Officer' --note 'support offered since June'", id);
	assert_int_equal(e2e_rollcall(e, args), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "approved"));
	assert_non_null(strstr(out, "case "));
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases WHERE stage = 'letter' AND "
				      "opened = '2025-09-12' AND closed IS NULL"),
			 1);
	assert_int_equal(e2e_query(e,
				   "SELECT count(*) FROM actions WHERE state = 'approved' AND "
				   "decided_by = 'A. Officer' AND decided_at IS NOT NULL AND "
				   "decision = 'support offered since June' AND case_id = (SELECT "
				   "id FROM cases)"),
			 1);
	assert_int_equal(e2e_rollcall(e, "signoff list"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_string_equal(out, "no legal steps waiting for a decision\n");

	/* delivered once, to the legal endpoint, with who approved it */
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	json_t *h = hook_of_type(fx, "attendance.legal_step");
	assert_string_equal(text_of(h, "path"), "/legal");
	json_t *body = json_object_get(h, "body"), *data = json_object_get(body, "data");
	assert_int_equal(int_of(data, "action_id"), id);
	assert_string_equal(text_of(data, "state"), "approved");
	assert_string_equal(text_of(data, "approved_by"), "A. Officer");
	assert_string_equal(text_of(data, "decided_by"), "A. Officer");
	assert_string_equal(text_of(data, "note"), "support offered since June");
	assert_string_equal(text_of(data, "decided_at"), text_of(body, "timestamp"));
	assert_int_equal(int_of(data, "case_id"), e2e_query(e, "SELECT id FROM cases"));
	json_decref(h);
	/* the proposal went to the signoff endpoint */
	h = hook_of_type(fx, "attendance.legal_step.proposed");
	assert_string_equal(text_of(h, "path"), "/signoff");
	assert_true(json_is_null(
		json_object_get(json_object_get(json_object_get(h, "body"), "data"), "case_id")));
	json_decref(h);

	/* the policy sees the case at the approved step */
	import_days(fx, "2025-09-15", 1, "/");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	json_t *d = seen(e);
	assert_string_equal(text_of(d, "stage"), "letter");
	assert_int_equal(int_of(d, "steps"), 1);
	assert_string_equal(text_of(d, "states"), "letter:approved");
	json_decref(d);

	/* deciding again is a conflict: exit 2, nothing changed, nothing sent */
	char *before = state_of(e);
	assert_int_equal(e2e_rollcall(e, args), 2);
	e2e_slurp(e, "err", out, sizeof out);
	assert_non_null(strstr(out, "was already approved by A. Officer at "));
	assert_non_null(strstr(out, "nothing changed"));
	snprintf(args, sizeof args, "signoff decline %lld --by 'B. Officer' --reason 'no'", id);
	assert_int_equal(e2e_rollcall(e, args), 2);
	char *after = state_of(e);
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step"), 1);

	/* audited: who, how, what, the action, before and after, the note */
	assert_int_equal(e2e_rollcall(e, "audit --json"), 0);
	json_t *trail = out_lines(e);
	assert_int_equal(json_array_size(trail), 1);
	json_t *a = json_array_get(trail, 0);
	assert_string_equal(text_of(a, "who"), "A. Officer");
	assert_int_equal(strncmp(text_of(a, "via"), "cli:", 4), 0);
	assert_string_equal(text_of(a, "org"), "la:355");
	assert_string_equal(text_of(a, "what"), "signoff.approve");
	assert_int_equal(int_of(a, "action_id"), id);
	assert_string_equal(text_of(a, "before"), "proposed");
	assert_string_equal(text_of(a, "after"), "approved");
	assert_string_equal(text_of(a, "detail"), "support offered since June");
	assert_int_equal(strlen(text_of(a, "at")), 20);
	json_decref(trail);
	assert_int_equal(e2e_rollcall(e, "audit"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "signoff.approve"));
	assert_non_null(strstr(out, "proposed -> approved  by A. Officer (cli:"));
	assert_non_null(strstr(out, "\n    support offered since June\n"));
	assert_int_equal(e2e_rollcall(e, "audit --org la:846 --json"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_string_equal(out, "");
	assert_int_equal(e2e_rollcall(e, "audit --since 2099-01-01"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_string_equal(out, "");
	assert_int_equal(e2e_rollcall(e, "audit --since 2025-13-01"), 2);
	assert_int_equal(e2e_rollcall(e, "audit --org la:35"), 2);
}

static void declining_never_sends_the_step(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	char args[256], out[8192];
	threshold_policy(fx, "notice_to_improve", "", "");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	long long id = proposal_id(e);
	snprintf(args, sizeof args,
		 "signoff decline %lld --by 'B. Officer' --reason 'illness not yet ruled out'", id);
	assert_int_equal(e2e_rollcall(e, args), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "declined"));
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE state = 'declined' AND "
				      "decided_by = 'B. Officer' AND decided_at IS NOT NULL AND "
				      "decision = 'illness not yet ruled out' AND case_id IS NULL"),
			 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases"), 0);

	/* still above the threshold: not proposed again within the cooldown,
	 * and never sent as a step */
	import_days(fx, "2025-09-15", 5, "N");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'legal_step'"),
			 1);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step"), 0);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step.proposed"), 1);
	json_t *d = seen(e);
	assert_string_equal(text_of(d, "stage"), "none");
	assert_string_equal(text_of(d, "states"), "notice_to_improve:declined");
	json_decref(d);

	assert_int_equal(e2e_rollcall(e, "actions --json"), 0);
	json_t *all = out_lines(e), *a;
	size_t i;
	json_array_foreach(all, i, a)
	{
		if (int_of(a, "action_id") != id)
			continue;
		assert_string_equal(text_of(a, "state"), "declined");
		assert_string_equal(text_of(a, "decided_by"), "B. Officer");
		assert_string_equal(text_of(a, "decline_reason"), "illness not yet ruled out");
		assert_true(json_is_null(json_object_get(a, "approved_by")));
		assert_true(json_is_null(json_object_get(a, "note")));
	}
	json_decref(all);

	snprintf(args, sizeof args, "signoff approve %lld --by 'A. Officer'", id);
	assert_int_equal(e2e_rollcall(e, args), 2);
	e2e_slurp(e, "err", out, sizeof out);
	assert_non_null(strstr(out, "was already declined by B. Officer"));
	assert_int_equal(e2e_rollcall(e, "audit --json"), 0);
	json_t *trail = out_lines(e);
	assert_int_equal(json_array_size(trail), 1);
	assert_string_equal(text_of(json_array_get(trail, 0), "what"), "signoff.decline");
	assert_string_equal(text_of(json_array_get(trail, 0), "after"), "declined");
	assert_string_equal(text_of(json_array_get(trail, 0), "detail"),
			    "illness not yet ruled out");
	json_decref(trail);
}

/* Each bad input: exit 2, its error said, nothing changed. */
static void bad_input_changes_nothing(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	char long_name[202], long_note[2002];
	memset(long_name, 'a', 201);
	long_name[201] = '\0';
	memset(long_note, 'n', 2001);
	long_note[2001] = '\0';
	threshold_policy(fx, "letter", "", "");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	long long id = proposal_id(e),
		  alert = e2e_query(e, "SELECT id FROM actions WHERE action = 'alert'");
	/* a second pupil's proposal, past its day (the service has not yet
	 * recorded it expired) */
	e2e_exec(e,
		 "INSERT INTO actions(org, pupil, action, kind, severity, date, day, policy, "
		 "policy_sha256, upn, urn, year_group, created_at, state, signoff, decide_by) "
		 "SELECT org, (SELECT id FROM pupils WHERE upn = 'Y355400120002'), action, kind, "
		 "severity, date, day, policy, policy_sha256, 'Y355400120002', urn, year_group, "
		 "created_at, 'proposed', 1, '2025-10-01' FROM actions WHERE action = "
		 "'legal_step'");
	long long late = e2e_query(e, "SELECT max(id) FROM actions");
	/* and a third, recorded expired */
	e2e_exec(e, "INSERT INTO actions(org, pupil, action, kind, severity, date, day, policy, "
		    "policy_sha256, upn, urn, year_group, created_at, state, signoff, decide_by, "
		    "decided_at) SELECT org, (SELECT id FROM pupils WHERE upn = 'H355210120003'), "
		    "action, kind, severity, date, day, policy, policy_sha256, 'H355210120003', "
		    "urn, year_group, created_at, 'expired', 1, '2025-10-01', "
		    "'2025-10-02T00:00:00Z' FROM actions WHERE id = (SELECT min(id) FROM actions "
		    "WHERE action = 'legal_step')");
	long long expired = e2e_query(e, "SELECT max(id) FROM actions");
	struct {
		char args[2400];
		const char *says;
	} bad[32];
	int n = 0;
#define BAD(says_, ...)                                                                            \
	do {                                                                                       \
		snprintf(bad[n].args, sizeof bad[n].args, __VA_ARGS__);                            \
		bad[n++].says = says_;                                                             \
	} while (0)
	BAD("999999 is not a proposed legal step", "signoff approve 999999 --by X");
	BAD("is not a proposed legal step", "signoff approve %lld --by X", alert);
	BAD("\"abc\" is not a proposal's id", "signoff approve abc --by X");
	BAD("\"0\" is not a proposal's id", "signoff decline 0 --by X --reason r");
	BAD("usage: rollcall signoff", "signoff approve %lld", id);
	BAD("usage: rollcall signoff", "signoff approve --by X");
	BAD("usage: rollcall signoff", "signoff approve %lld --by X --reason r", id);
	BAD("usage: rollcall signoff", "signoff decline %lld --by X --note r", id);
	BAD("usage: rollcall signoff", "signoff");
	BAD("usage: rollcall signoff", "signoff approve");
	BAD("usage: rollcall signoff", "signoff sign %lld --by X", id);
	BAD("usage: rollcall signoff", "signoff list --bogus");
	BAD("--org la:35: expected la:NNN or trust:ID", "signoff list --org la:35");
	BAD("--by: the name of the person deciding is empty", "signoff approve %lld --by ''", id);
	BAD("--by: the name of the person deciding is empty", "signoff approve %lld --by '   '",
	    id);
	BAD("--by: the name of the person deciding is over 200 bytes",
	    "signoff approve %lld --by '%s'", id, long_name);
	BAD("must be UTF-8 text with no control characters",
	    "signoff approve %lld --by \"$(printf 'A\\033[2J')\"", id);
	BAD("must be UTF-8 text with no control characters",
	    "signoff approve %lld --by \"$(printf 'Jos\\351')\"", id);
	BAD("--note is over 2000 bytes", "signoff approve %lld --by X --note '%s'", id, long_note);
	BAD("--note must be UTF-8 text with no control characters",
	    "signoff approve %lld --by X --note \"$(printf 'a\\nb')\"", id);
	BAD("--note is empty", "signoff approve %lld --by X --note ''", id);
	BAD("decline needs --reason", "signoff decline %lld --by X", id);
	BAD("--reason is empty", "signoff decline %lld --by X --reason ''", id);
	BAD("--reason is over 2000 bytes", "signoff decline %lld --by X --reason '%s'", id,
	    long_note);
	BAD("was to be decided by 2025-10-01", "signoff approve %lld --by X", late);
	BAD("expired", "signoff decline %lld --by X --reason r", late);
	BAD("was to be decided by 2025-10-01; the policy may propose the step again",
	    "signoff approve %lld --by X", expired);
#undef BAD
	char *before = state_of(e);
	for (int i = 0; i < n; i++) {
		char err[8192];
		int status = e2e_rollcall(e, bad[i].args);
		e2e_slurp(e, "err", err, sizeof err);
		if (status != 2 || !strstr(err, bad[i].says))
			fail_msg("%s: exit %d, %s", bad[i].args, status, err);
		/* the terminal never gets what was typed raw */
		assert_null(strchr(err, '\033'));
		char *after = state_of(e);
		if (strcmp(before, after))
			fail_msg("%s changed the database", bad[i].args);
		free(after);
	}
	free(before);

	/* the pupil moves to another council's school: the step cannot be
	 * approved for them, but can be declined; the list says so */
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/moved.csv", e->dir);
	write_file(path, "upn,urn,year_group\n" J ",146410,9\n");
	assert_int_equal(e2e_rollcall(e, "import moved.csv"), 0);
	char args[128], out[8192];
	assert_int_equal(e2e_rollcall(e, "signoff list"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "(the pupil has left)"));
	assert_non_null(strstr(out, "(expired: past its day)"));
	before = state_of(e);
	snprintf(args, sizeof args, "signoff approve %lld --by X", id);
	assert_int_equal(e2e_rollcall(e, args), 2);
	e2e_slurp(e, "err", out, sizeof out);
	assert_non_null(strstr(out, J " is no longer at a school of la:355 (now at school 146410, "
				      "of la:846 and trust:TR00092)"));
	char *after = state_of(e);
	assert_string_equal(before, after);
	free(before);
	free(after);
	snprintf(args, sizeof args, "signoff decline %lld --by X --reason 'moved away'", id);
	assert_int_equal(e2e_rollcall(e, args), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit"), 1);
}

/* ---- the framework at decision time ---- */

/* J's marks after tests/data's (1-12 Sep 2025, ten unauthorised sessions
 * by the 12th): every weekday to 13 March 2026 present, but for two weeks
 * of N from 1 December and one from 2 March. Ten school weeks back from 5
 * December start on 29 September, after 12 September; from 6 March, on 29
 * December: the three weeks of absence ground three notices no window
 * shares. */
static void absence_in_three_spells(struct fixture *fx)
{
	char path[PATH_MAX + 32], date[11];
	snprintf(path, sizeof path, "%s/spells.csv", fx->e->dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("upn,urn,date,session,code\n", f);
	for (int day = day_of("2025-09-15"); day <= day_of("2026-03-13"); day++) {
		if (date_weekday(day) >= 5)
			continue;
		int absent = (day >= day_of("2025-12-01") && day <= day_of("2025-12-12")) ||
			     (day >= day_of("2026-03-02") && day <= day_of("2026-03-06"));
		date_format(day, date);
		fprintf(f, J ",135001,%s,AM,%s\n" J ",135001,%s,PM,%s\n", date, absent ? "N" : "/",
			date, absent ? "N" : "\\");
	}
	assert_int_equal(fclose(f), 0);
	assert_int_equal(e2e_rollcall(fx->e, "import spells.csv"), 0);
}

/* Another proposal of the engine's proposal id's kind (or kind), on date:
 * its copy. One open proposal per step means the engine never leaves two
 * penalty notices waiting for one pupil; what the check at approval guards
 * is the approved steps changing under a waiting one, made here directly
 * (as a restored database, or another writer, could leave it). */
static long long copy_proposal(struct e2e *e, long long id, const char *date, const char *kind,
			       int support_inappropriate)
{
	char sql[2048];
	snprintf(sql, sizeof sql,
		 "INSERT INTO actions(org, pupil, action, kind, severity, message, evidence, data, "
		 "date, day, policy, policy_sha256, upn, urn, year_group, created_at, params, "
		 "state, signoff, decide_by, support_inappropriate, endpoint) SELECT org, pupil, "
		 "action, coalesce(%s%s%s, kind), severity, message, evidence, data, '%s', "
		 "CAST(julianday('%s') - julianday('1970-01-01') AS INTEGER), policy, "
		 "policy_sha256, upn, urn, year_group, created_at, params, 'proposed', 1, "
		 "decide_by, %d, endpoint FROM actions WHERE id = %lld",
		 kind ? "'" : "", kind ? kind : "NULL", kind ? "'" : "", date, date,
		 support_inappropriate, id);
	e2e_exec(e, sql);
	return e2e_query(e, "SELECT max(id) FROM actions");
}

static int approve(struct e2e *e, long long id, char *err, size_t size)
{
	char args[128];
	snprintf(args, sizeof args, "signoff approve %lld --by 'A. Officer'", id);
	int status = e2e_rollcall(e, args);
	e2e_slurp(e, "err", err, size);
	return status;
}

/* Three penalty notices for J proposed: the engine's on 12 September,
 * copies on 5 December and 6 March; *p1..*p3. */
static void three_notices(struct fixture *fx, long long *p1, long long *p2, long long *p3)
{
	struct e2e *e = fx->e;
	threshold_policy(fx, "penalty_notice", ", support_inappropriate = true, cooldown_days = 0",
			 "");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	*p1 = proposal_id(e);
	absence_in_three_spells(fx);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	/* the first still waits: the engine proposed no other */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'legal_step'"),
			 1);
	*p2 = copy_proposal(e, *p1, "2025-12-05", NULL, 1);
	*p3 = copy_proposal(e, *p1, "2026-03-06", NULL, 1);
}

static void a_third_penalty_notice_is_refused_in_any_order(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	char err[4096];
	long long p1, p2, p3;
	three_notices(fx, &p1, &p2, &p3);

	/* in order: the third is refused when it is approved */
	assert_int_equal(approve(e, p1, err, sizeof err), 0);
	assert_int_equal(approve(e, p2, err, sizeof err), 0);
	char *before = state_of(e);
	assert_int_equal(approve(e, p3, err, sizeof err), 2);
	if (!strstr(err, "cannot be approved: national framework: 2 penalty notices already "
			 "within 3 years (2025-09-12 and 2025-12-05); use another step (usually "
			 "prosecution); nothing changed"))
		fail_msg("%s", err);
	char *after = state_of(e);
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE state = 'approved'"), 2);
	/* still waiting: an officer declines it, with the reason */
	assert_int_equal(e2e_query(e, "SELECT state = 'proposed' FROM actions WHERE id = (SELECT "
				      "max(id) FROM actions WHERE kind = 'penalty_notice')"),
			 1);

	/* out of order: the latest, then the first, and the one between them
	 * is the third */
	e2e_exec(e, "UPDATE actions SET state = 'proposed', decided_by = NULL, decided_at = NULL, "
		    "decision = NULL, case_id = NULL WHERE action = 'legal_step';"
		    "DELETE FROM cases; DELETE FROM audit;");
	assert_int_equal(approve(e, p3, err, sizeof err), 0);
	assert_int_equal(approve(e, p1, err, sizeof err), 0);
	assert_int_equal(approve(e, p2, err, sizeof err), 2);
	if (!strstr(err, "2 penalty notices already within 3 years (2025-09-12 and 2026-03-06)"))
		fail_msg("%s", err);
	/* the case is at the latest approved step by the day proposed */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases WHERE stage = 'penalty_notice' "
				      "AND closed IS NULL"),
			 1);
	assert_int_equal(e2e_query(e, "SELECT count(DISTINCT case_id) FROM actions WHERE state = "
				      "'approved'"),
			 1);

	/* and the engine itself proposes no third: the next spell of absence
	 * is refused at once, and logged */
	e2e_exec(e, "UPDATE actions SET state = 'declined', decided_by = 'A. Officer', "
		    "decision = 'a third' WHERE id = (SELECT max(id) FROM actions WHERE state = "
		    "'proposed')");
	import_days(fx, "2026-03-16", 5, "N");
	assert_int_equal(e2e_rollcall(e, "-v run --once"), 0);
	e2e_slurp(e, "err", err, sizeof err);
	assert_non_null(strstr(err, "action refused"));
	assert_non_null(strstr(err, "2 penalty notices already within 3 years"));
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE state = 'proposed'"), 0);
}

/* The same absence never grounds two notices, whichever is approved first:
 * a notice on 12 December counts the fortnight from 1 December, so one on
 * the 5th, approved after it, has nothing of its own left. */
static void the_same_absence_is_never_fined_twice_out_of_order(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	char err[4096];
	long long p1, p2, p3;
	three_notices(fx, &p1, &p2, &p3);
	long long later = copy_proposal(e, p1, "2025-12-12", NULL, 1);
	assert_int_equal(approve(e, later, err, sizeof err), 0);
	char *before = state_of(e);
	assert_int_equal(approve(e, p2, err, sizeof err), 2);
	if (!strstr(err, "a penalty notice needs 10 unauthorised sessions in 10 school weeks that "
			 "no other notice counted: 0 before the penalty notice of 2025-12-12"))
		fail_msg("%s", err);
	char *after = state_of(e);
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* in order the later one counts the days after the earlier: ten
	 * sessions from 8 December, enough */
	e2e_exec(e, "UPDATE actions SET state = 'proposed', decided_by = NULL, decided_at = NULL, "
		    "decision = NULL, case_id = NULL WHERE action = 'legal_step';"
		    "DELETE FROM cases;");
	assert_int_equal(approve(e, p2, err, sizeof err), 0);
	assert_int_equal(approve(e, later, err, sizeof err), 0);
	/* marks amended since the proposal count as they are now: the
	 * absence of 2-6 March, authorised since (illness), grounds nothing */
	snprintf(err, sizeof err, "%s/ill.csv", e->dir);
	FILE *f = fopen(err, "w");
	assert_non_null(f);
	fputs("upn,urn,date,session,code\n", f);
	for (int day = day_of("2026-03-02"); day <= day_of("2026-03-06"); day++) {
		char date[11];
		date_format(day, date);
		fprintf(f, J ",135001,%s,AM,I\n" J ",135001,%s,PM,I\n", date, date);
	}
	assert_int_equal(fclose(f), 0);
	char sql[128]; /* the 12th's, out of the way of the limit of two */
	snprintf(sql, sizeof sql, "UPDATE actions SET state = 'declined' WHERE id = %lld", later);
	e2e_exec(e, sql);
	assert_int_equal(e2e_rollcall(e, "import ill.csv"), 0);
	assert_int_equal(approve(e, p3, err, sizeof err), 2);
	if (!strstr(err, "a penalty notice needs 10 unauthorised sessions in 10 school weeks: 0;"))
		fail_msg("%s", err);
}

/* A penalty notice (support not inappropriate) needs a Notice to Improve
 * approved, in its case, on or before its day. */
static void a_notice_to_improve_must_be_approved_first(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	char err[4096];
	long long p1, p2, p3;
	three_notices(fx, &p1, &p2, &p3);
	long long notice = copy_proposal(e, p1, "2025-12-05", NULL, 0);
	long long nti_after = copy_proposal(e, p1, "2025-12-12", "notice_to_improve", 0);
	long long nti = copy_proposal(e, p1, "2025-12-01", "notice_to_improve", 0);
	assert_int_equal(approve(e, notice, err, sizeof err), 2);
	assert_non_null(strstr(err, "needs an earlier notice_to_improve in the case, approved"));
	/* one approved after its day is no earlier one */
	assert_int_equal(approve(e, nti_after, err, sizeof err), 0);
	assert_int_equal(approve(e, notice, err, sizeof err), 2);
	assert_non_null(strstr(err, "needs an earlier notice_to_improve"));
	assert_int_equal(approve(e, nti, err, sizeof err), 0);
	assert_int_equal(approve(e, notice, err, sizeof err), 0);
	/* all three in the one case, at the latest by day: the notice to
	 * improve of the 12th */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases"), 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases WHERE stage = "
				      "'notice_to_improve'"),
			 1);
}

/* Two officers at once. Each approval runs in its own process, started
 * together; BEGIN IMMEDIATE makes one wait for the other, which then finds
 * the world it must be judged against. */
static void race(struct e2e *e, long long a, long long b, int status[2], char err[2][4096])
{
	char cmd[2][PATH_MAX * 3];
	pid_t pid[2];
	long long ids[2] = { a, b };
	for (int i = 0; i < 2; i++) {
		snprintf(cmd[i], sizeof cmd[i],
			 "cd '%s' && exec '%s' -q --config rollcall.conf signoff approve %lld "
			 "--by 'Officer %d' >out-%d 2>err-%d",
			 e->dir, e2e_bin, ids[i], i, i, i);
	}
	for (int i = 0; i < 2; i++)
		if ((pid[i] = fork()) == 0) {
			execl("/bin/sh", "sh", "-c", cmd[i], (char *)NULL);
			_exit(127);
		}
	for (int i = 0; i < 2; i++) {
		int st;
		char name[16];
		waitpid(pid[i], &st, 0);
		status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		snprintf(name, sizeof name, "err-%d", i);
		e2e_slurp(e, name, err[i], 4096);
	}
}

static void of_two_officers_at_once_one_wins(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	char err[2][4096];
	int status[2];
	long long p1, p2, p3;
	three_notices(fx, &p1, &p2, &p3);
	assert_int_equal(approve(e, p1, err[0], sizeof err[0]), 0);

	/* conflicting notices: either would be the second, both a third */
	race(e, p2, p3, status, err);
	if ((status[0] == 0) == (status[1] == 0)) /* exactly one wins */
		fail_msg("exits %d and %d: %s / %s", status[0], status[1], err[0], err[1]);
	int lost = status[0] == 0;
	assert_int_equal(status[lost], 2);
	assert_non_null(strstr(err[lost], "2 penalty notices already within 3 years"));
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE state = 'approved'"), 2);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit"), 2);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM deliveries WHERE event = "
				      "'attendance.legal_step'"),
			 2);

	/* the same proposal: one approval, one conflict */
	e2e_exec(e, "UPDATE actions SET state = 'declined', decided_by = 'x' WHERE state = "
		    "'proposed'");
	long long fresh = copy_proposal(e, p1, "2026-03-13", "meeting", 0);
	race(e, fresh, fresh, status, err);
	if (!((status[0] == 0 && status[1] == 2) || (status[0] == 2 && status[1] == 0)))
		fail_msg("exits %d and %d: %s / %s", status[0], status[1], err[0], err[1]);
	assert_non_null(strstr(err[status[0] == 0], "was already approved by Officer "));
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE kind = 'meeting' AND "
				      "state = 'approved'"),
			 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit"), 3);
	char sql[256];
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM deliveries WHERE action_id = %lld AND event = "
		 "'attendance.legal_step'",
		 fresh);
	assert_int_equal(e2e_query(e, sql), 1);
}

/* ---- expiry ---- */

static void a_school_day_is_a_weekday(void **state)
{
	(void)state;
	/* 20 school days after Monday 5 January 2026: Monday 2 February */
	assert_int_equal(date_add_weekdays(day_of("2026-01-05"), 20), day_of("2026-02-02"));
	assert_int_equal(date_add_weekdays(day_of("2026-01-09"), 1), day_of("2026-01-12"));
	assert_int_equal(date_add_weekdays(day_of("2026-01-10"), 1), day_of("2026-01-12"));
	assert_int_equal(date_add_weekdays(day_of("2026-01-11"), 5), day_of("2026-01-16"));
	assert_int_equal(date_add_weekdays(day_of("2026-01-05"), 0), day_of("2026-01-05"));
}

static void an_undecided_proposal_expires(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	char args[256], out[8192], want[11], want_after[11];
	configure(fx, "signoff_days = 5");
	threshold_policy(fx, "letter", "", ", signoff = 'signoff-team'");
	/* five school days from today, by the wall clock: the time a person
	 * has to decide, whatever day of the marks it was proposed on (today
	 * before the run or after it, if it ran past midnight) */
	date_format(date_add_weekdays(date_today(), 5), want);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	date_format(date_add_weekdays(date_today(), 5), want_after);
	long long id = proposal_id(e);
	char *by = e2e_text(e, "SELECT decide_by FROM actions WHERE action = 'legal_step'");
	if (strcmp(by, want_after))
		assert_string_equal(by, want);
	free(by);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0); /* not yet */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE state = 'proposed'"), 1);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step.expired"), 0);

	/* the day passes (here: the proposal's day moved back) */
	e2e_exec(e, "UPDATE actions SET decide_by = '2025-10-10' WHERE action = 'legal_step'");
	assert_int_equal(e2e_rollcall(e, "signoff list --json"), 0);
	json_t *waiting = out_lines(e);
	assert_true(json_is_true(json_object_get(json_array_get(waiting, 0), "past_decide_by")));
	json_decref(waiting);
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e,
				   "SELECT count(*) FROM actions WHERE state = 'expired' AND "
				   "decided_by IS NULL AND decided_at IS NOT NULL AND case_id IS "
				   "NULL"),
			 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases"), 0);
	json_t *h = hook_of_type(fx, "attendance.legal_step.expired");
	assert_string_equal(text_of(h, "path"), "/signoff"); /* where the proposal went */
	json_t *body = json_object_get(h, "body"), *data = json_object_get(body, "data");
	assert_int_equal(int_of(data, "action_id"), id);
	assert_string_equal(text_of(data, "state"), "expired");
	assert_string_equal(text_of(data, "decide_by"), "2025-10-10");
	assert_string_equal(text_of(data, "decided_at"), text_of(body, "timestamp"));
	assert_true(json_is_null(json_object_get(data, "approved_by")));
	assert_true(json_is_null(json_object_get(data, "decided_by")));
	json_decref(h);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step"), 0);
	/* the proposal's own webhook still says it was proposed */
	h = hook_of_type(fx, "attendance.legal_step.proposed");
	assert_string_equal(text_of(json_object_get(json_object_get(h, "body"), "data"), "state"),
			    "proposed");
	json_decref(h);

	/* audited, as the service's doing */
	assert_int_equal(e2e_rollcall(e, "audit --json"), 0);
	json_t *trail = out_lines(e);
	assert_int_equal(json_array_size(trail), 1);
	json_t *a = json_array_get(trail, 0);
	assert_string_equal(text_of(a, "who"), "rollcall");
	assert_string_equal(text_of(a, "via"), "service");
	assert_string_equal(text_of(a, "what"), "signoff.expire");
	assert_string_equal(text_of(a, "before"), "proposed");
	assert_string_equal(text_of(a, "after"), "expired");
	assert_string_equal(text_of(a, "detail"), "not decided by 2025-10-10");
	assert_int_equal(int_of(a, "action_id"), id);
	json_decref(trail);

	/* no longer to be decided; expired once, sent once */
	snprintf(args, sizeof args, "signoff approve %lld --by 'A. Officer'", id);
	assert_int_equal(e2e_rollcall(e, args), 2);
	e2e_slurp(e, "err", out, sizeof out);
	assert_non_null(strstr(out, "expired: it was to be decided by 2025-10-10; the policy may "
				    "propose the step again"));
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step.expired"), 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit"), 1);

	/* proposed again once the cooldown (28 days) has passed: on 10 Oct */
	import_days(fx, "2025-09-15", 19, "N");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'legal_step'"),
			 1);
	import_days(fx, "2025-10-10", 1, "N");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'legal_step' "
				      "AND state = 'proposed' AND date = '2025-10-10'"),
			 1);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step.proposed"), 2);
}

/* The service expires proposals by itself, at start and once a minute. */
static void the_service_expires_them(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	threshold_policy(fx, "penalty_notice", ", support_inappropriate = true", "");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	e2e_exec(e, "UPDATE actions SET decide_by = '2025-10-10' WHERE action = 'legal_step'");
	e2e_daemon_start(e, "");
	assert_true(
		e2e_wait_for(e, "SELECT count(*) FROM actions WHERE state = 'expired'", 1, 10000));
	assert_true(e2e_wait_for(e,
				 "SELECT count(*) FROM deliveries WHERE event = "
				 "'attendance.legal_step.expired' AND state = 'delivered'",
				 1, 10000));
	kill(e->daemon, SIGTERM);
	assert_int_equal(e2e_daemon_wait(e, 10000), 0);
	assert_int_equal(hooks_of_type(fx, "attendance.legal_step.expired"), 1);
	assert_int_equal(lines_with(e->daemon_log, "legal steps expired", "count=1"), 1);
}

/* status counts the proposals waiting, and a proposal past its last day
 * that has not expired (no service to expire it) needs attention. */
static void status_tells_of_proposals(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	char out[8192];
	threshold_policy(fx, "penalty_notice", ", support_inappropriate = true", "");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	e2e_exec(e, "UPDATE deliveries SET state = 'delivered'"); /* nothing else to say */
	assert_int_equal(e2e_rollcall(e, "status --json"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	json_t *o = json_loads(out, 0, NULL), *so = json_object_get(o, "signoff");
	assert_non_null(so);
	assert_int_equal(int_of(so, "proposed"), 1);
	assert_int_equal(int_of(so, "due_soon"), 0);
	assert_int_equal(int_of(so, "past_deadline"), 0);
	assert_string_equal(text_of(so, "oldest_proposed"), "2025-09-12");
	json_decref(o);
	assert_int_equal(e2e_rollcall(e, "status"), 0);

	e2e_exec(e, "UPDATE actions SET decide_by = '2025-10-10' WHERE action = 'legal_step'");
	assert_int_equal(e2e_rollcall(e, "status"), 1);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out,
			       "attention: 1 proposed legal steps are past the last day they "
			       "could be decided (the earliest 2025-10-10) and have not expired"));
	/* the service expires it: nothing left to say */
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	e2e_exec(e, "UPDATE deliveries SET state = 'delivered'");
	assert_int_equal(e2e_rollcall(e, "status"), 0);
}

static void signoff_days_is_checked(void **state)
{
	struct fixture *fx = *state;
	static const char *const bad[] = { "signoff_days = 0", "signoff_days = 201",
					   "signoff_days = 2.5", "signoff_days = '20'" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char err[4096];
		configure(fx, bad[i]);
		assert_int_equal(e2e_rollcall(fx->e, "signoff list"), 2);
		e2e_slurp(fx->e, "err", err, sizeof err);
		if (!strstr(err, "rollcall.conf:3: signoff_days must be a whole number of school "
				 "days from 1 to 200"))
			fail_msg("%s: %s", bad[i], err);
	}
}

/* ---- what a policy sees ---- */

static void policies_see_each_steps_state(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	put_policy(fx,
		   "policy { org = 'la:355', name = 'States', endpoints = { legal = 'legal-team', "
		   "alert = 'ewo-team' },\n"
		   "  signoff = { letter = false } }\n"
		   "local function states(p)\n"
		   "  local t = {}\n"
		   "  for _, a in ipairs(p:actions{ action = 'legal_step' }) do\n"
		   "    t[#t + 1] = a.step .. ':' .. a.state .. ':' .. (a.action_id and 'id' or "
		   "'new')\n"
		   "  end\n"
		   "  return table.concat(t, ',')\n"
		   "end\n"
		   "function on_pupil(p)\n"
		   "  if p.upn ~= '" J "' then return end\n"
		   "  local before = states(p)\n"
		   "  legal_step(p, 'letter', { cooldown_days = 0 })\n"
		   "  legal_step(p, 'meeting', { cooldown_days = 0 })\n"
		   "  local steps = {}\n"
		   "  for _, s in ipairs(p.case and p.case.steps or {}) do steps[#steps + 1] = "
		   "s.step end\n"
		   "  alert(p, 'seen', { cooldown_days = 0, data = { before = before, during = "
		   "states(p),\n"
		   "    stage = p.case and p.case.stage or 'none', steps = table.concat(steps, "
		   "',') } })\n"
		   "end\n");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	/* in the call: the letter decided at once, the meeting proposed; the
	 * case the letter opened is at letter, its one step the letter */
	json_t *d = seen(e);
	assert_string_equal(text_of(d, "before"), "");
	assert_string_equal(text_of(d, "during"), "meeting:proposed:new,letter:approved:new");
	assert_string_equal(text_of(d, "stage"), "letter");
	assert_string_equal(text_of(d, "steps"), "letter");
	json_decref(d);
	long long meeting = e2e_query(e, "SELECT id FROM actions WHERE kind = 'meeting'");

	/* recorded: the same states, with their ids; the meeting waits, and
	 * proposes no second one */
	import_days(fx, "2025-09-15", 1, "N");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	d = seen(e);
	assert_string_equal(text_of(d, "before"), "meeting:proposed:id,letter:approved:id");
	assert_string_equal(text_of(d, "steps"), "letter,letter");
	json_decref(d);

	/* declined, then expired: as the policy sees them. Declined, the
	 * meeting may be proposed again (no cooldown here): on the 16th */
	char args[128];
	snprintf(args, sizeof args, "signoff decline %lld --by 'A. Officer' --reason 'not yet'",
		 meeting);
	assert_int_equal(e2e_rollcall(e, args), 0);
	import_days(fx, "2025-09-16", 1, "N");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	e2e_exec(e, "UPDATE actions SET decide_by = '2025-10-10' WHERE state = 'proposed'");
	import_days(fx, "2025-09-17", 1, "N");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0); /* it expires, first */
	d = seen(e);
	assert_string_equal(text_of(d, "before"), "meeting:expired:id,letter:approved:id,"
						  "letter:approved:id,meeting:declined:id,"
						  "letter:approved:id");
	assert_string_equal(text_of(d, "stage"), "letter");
	assert_string_equal(text_of(d, "steps"), "letter,letter,letter,letter");
	json_decref(d);
}

/* ---- replay and rollcall test ---- */

static const char ladder[] =
	"policy { org = 'la:355', name = 'Ladder', endpoints = { legal = 'legal-team' } }\n"
	"local national = require 'national'\n"
	"function on_pupil(p)\n"
	"  if not national.penalty_threshold_met(p) then return end\n"
	"  if not p.case then legal_step(p, 'letter')\n"
	"  elseif p.case.stage == 'letter' then legal_step(p, 'meeting') end\n"
	"end\n";

static void replay_and_test_take_proposals_as_approved(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	char out[1 << 14];
	put_policy(fx, ladder);
	import_days(fx, "2025-09-15", 2, "N");
	/* live: the letter waits for a person; no case, no meeting */
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE action = 'legal_step'"),
			 1);
	/* a replay: the letter approved on the day proposed, then the meeting */
	assert_int_equal(e2e_rollcall(e, "replay --policy policies/la-355.lua --pupil " J), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "legal_step letter"));
	assert_non_null(strstr(out, "legal_step meeting"));
	assert_non_null(strstr(out, "2 legal steps taken as approved on the day proposed: live, "
				    "each waits for a named person's decision (rollcall signoff)"));
	assert_int_equal(
		e2e_rollcall(e, "replay --policy policies/la-355.lua --pupil " J " --json"), 0);
	json_t *lines = out_lines(e), *o;
	size_t i;
	int steps = 0;
	json_array_foreach(lines, i, o)
	{
		json_t *summary = json_object_get(o, "summary");
		if (summary) {
			assert_int_equal(int_of(summary, "legal_steps_taken_as_approved"), 2);
			continue;
		}
		assert_string_equal(text_of(o, "state"), "approved");
		assert_string_equal(text_of(o, "approved_by"),
				    "replay (approved on the day proposed)");
		assert_true(json_is_true(json_object_get(o, "signoff_required")));
		assert_true(json_is_null(json_object_get(o, "decide_by")));
		steps++;
	}
	assert_int_equal(steps, 2);
	json_decref(lines);
	/* and nothing of it reached the database */
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM actions WHERE state = 'approved'"), 0);

	/* rollcall test likewise: the meeting the day after the letter */
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/ladder-test.lua", e->dir);
	write_file(path,
		   "policy = 'policies/la-355.lua'\n"
		   "schools = { { urn = '135001', name = 'S', la_code = '355' } }\n"
		   "start = '2025-09-01'\n"
		   "cases = { {\n"
		   "  name = 'each rung after the one approved',\n"
		   "  pupils = { { upn = '" J "', marks = [[ NN*6 ]] } },\n"
		   "  expect = { { legal_step = 'letter', date = '2025-09-05', count = 1 },\n"
		   "             { legal_step = 'meeting', date = '2025-09-08', count = 1 } },\n"
		   "  nothing_else = true } }\n");
	assert_int_equal(e2e_rollcall(e, "test ladder-test.lua"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "1 case in 1 file: 1 passed, 0 failed"));
}

/* ---- schema version 6 ---- */

static void a_version_6_database_migrates(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	/* as version 6 left it: a letter taken at once, its case at letter,
	 * its delivery still pending; none of 7's columns, nor audit */
	e2e_exec(
		e,
		/* first what version 8 added */
		"DROP INDEX deliveries_payload;" /* retention's; audit's goes with its table */
		"DROP TABLE tokens; DROP TABLE policy_versions; DROP TABLE delivery_attempts;"
		"DROP TABLE endpoint_state; DROP INDEX actions_created; DROP INDEX actions_org;"
		"DROP TABLE console_sessions; DROP TABLE console_links;"
		"ALTER TABLE actions DROP COLUMN line; ALTER TABLE deliveries DROP COLUMN body;"
		"ALTER TABLE deliveries DROP COLUMN created_at;"
		"DROP TABLE audit; DROP INDEX actions_proposed;"
		"ALTER TABLE deliveries DROP COLUMN event;"
		"ALTER TABLE actions DROP COLUMN state; ALTER TABLE actions DROP COLUMN signoff;"
		"ALTER TABLE actions DROP COLUMN decide_by;"
		"ALTER TABLE actions DROP COLUMN decided_by;"
		"ALTER TABLE actions DROP COLUMN decided_at;"
		"ALTER TABLE actions DROP COLUMN decision;"
		"ALTER TABLE actions DROP COLUMN support_inappropriate;"
		"ALTER TABLE actions DROP COLUMN endpoint;"
		"INSERT INTO cases(id, org, pupil, stage, opened) SELECT 3, 'la:355', id, "
		"'letter', '2025-09-12' FROM pupils WHERE upn = '" J "';"
		"INSERT INTO actions(id, org, pupil, action, kind, severity, date, day, policy, "
		"policy_sha256, case_id, upn, urn, year_group, created_at, params) SELECT 5, "
		"'la:355', id, 'legal_step', 'letter', 'medium', '2025-09-12', "
		"CAST(julianday('2025-09-12') - julianday('1970-01-01') AS INTEGER), 'la-355.lua', "
		"'ab', 3, upn, urn, year_group, '2025-09-12T16:00:00Z', '{}' FROM pupils WHERE upn "
		"= '" J "';"
		"INSERT INTO deliveries(action_id, endpoint, webhook_id, state) VALUES (5, "
		"'legal-team', 'msg_0123456789abcdef0123456789abcdef', 'pending');"
		"PRAGMA user_version = 6;");
	assert_int_equal(e2e_rollcall(e, "signoff list"), 1);
	char err[4096];
	e2e_slurp(e, "err", err, sizeof err);
	char want[64];
	snprintf(want, sizeof want, "schema version 6 is older than %d", DB_SCHEMA_VERSION);
	assert_non_null(strstr(err, want));
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	assert_int_equal(e2e_query(e, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	assert_int_equal(e2e_query(e,
				   "SELECT count(*) FROM actions WHERE id = 5 AND state = "
				   "'approved' AND decided_by = 'before sign-off' AND decided_at "
				   "= '2025-09-12T16:00:00Z' AND signoff IS NULL AND "
				   "support_inappropriate = 0"),
			 1);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM audit"), 0);
	assert_int_equal(e2e_rollcall(e, "signoff list"), 0);
	char out[4096];
	e2e_slurp(e, "out", out, sizeof out);
	assert_string_equal(out, "no legal steps waiting for a decision\n");

	/* the pending delivery goes out as the decided step it was */
	put_policy(fx, "policy { org = 'la:355', name = 'x', endpoints = { legal = 'legal-team' } "
		       "}\nfunction on_pupil(p) end\n");
	assert_int_equal(e2e_rollcall(e, "run --once"), 0);
	json_t *h = hook_of_type(fx, "attendance.legal_step");
	json_t *data = json_object_get(json_object_get(h, "body"), "data");
	assert_string_equal(text_of(data, "state"), "approved");
	assert_string_equal(text_of(data, "approved_by"), "before sign-off");
	assert_true(json_is_null(json_object_get(data, "signoff_required")));
	assert_int_equal(int_of(data, "case_id"), 3);
	json_decref(h);
	/* it is the case's step, as before */
	assert_int_equal(e2e_rollcall(e, "pupil " J " --json"), 0);
	e2e_slurp(e, "out", out, sizeof out);
	assert_non_null(strstr(out, "\"steps\":[{\"step\":\"letter\",\"date\":\"2025-09-12\"}]"));
	assert_int_equal(e2e_rollcall(e, "init"), 0); /* again: harmless */
}

/* ---- the report ---- */

static void the_report_shows_the_queue_and_who_decided(void **state)
{
	struct fixture *fx = *state;
	struct e2e *e = fx->e;
	char err[4096];
	threshold_policy(fx, "letter", "", "");
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	long long j = proposal_id(e);
	/* two more proposals: one for Y, one for H that expires */
	long long y = copy_proposal(e, j, "2025-09-12", "meeting", 0);
	long long h = copy_proposal(e, j, "2025-09-12", "attendance_contract", 0);
	char sql[512];
	snprintf(sql, sizeof sql,
		 "UPDATE actions SET pupil = (SELECT id FROM pupils WHERE upn = 'Y355400120002'), "
		 "upn = 'Y355400120002' WHERE id = %lld; UPDATE actions SET pupil = (SELECT id "
		 "FROM pupils WHERE upn = 'H355210120003'), upn = 'H355210120003', urn = 105210, "
		 "decide_by = '2025-10-10' WHERE id = %lld",
		 y, h);
	e2e_exec(e, sql);
	assert_int_equal(approve(e, j, err, sizeof err), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0); /* H's expires */
	assert_int_equal(e2e_rollcall(e, "report --org la:355 -o report.html"), 0);
	char *page = malloc(OUT_MAX);
	e2e_slurp(e, "report.html", page, OUT_MAX);
	char *start = strstr(page, "<script type=\"application/json\" id=\"report-data\">");
	assert_non_null(start);
	start = strchr(start, '>') + 1;
	*strstr(start, "</script>") = '\0';
	json_t *data = json_loads(start, 0, NULL);
	assert_non_null(data);
	json_t *waiting = json_object_get(data, "signoff_waiting");
	assert_int_equal(json_array_size(waiting), 1);
	json_t *w = json_array_get(waiting, 0);
	assert_int_equal(int_of(w, "action_id"), y);
	assert_string_equal(text_of(w, "step"), "meeting");
	assert_string_equal(text_of(w, "upn"), "Y355400120002");
	assert_true(json_is_false(json_object_get(w, "left")));
	json_t *decided = json_object_get(data, "signoff_decided");
	assert_int_equal(json_array_size(decided), 2);
	/* the expiry first (nobody), then each person */
	assert_true(json_is_null(json_object_get(json_array_get(decided, 0), "by")));
	assert_int_equal(int_of(json_array_get(decided, 0), "expired"), 1);
	assert_string_equal(text_of(json_array_get(decided, 1), "by"), "A. Officer");
	assert_int_equal(int_of(json_array_get(decided, 1), "approved"), 1);
	assert_int_equal(int_of(json_array_get(decided, 1), "declined"), 0);
	assert_non_null(strstr(page, "Legal steps waiting for a decision"));
	assert_non_null(strstr(page, "Legal steps decided in the last 4 weeks, by whom"));
	json_decref(data);
	free(page);
}

int main(void)
{
	if (e2e_init() < 0) {
		fprintf(stderr,
			"test_signoff: build/rollcall and build/receiver are needed (make)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_step_at_the_threshold_is_proposed_not_taken,
						setup, teardown),
		cmocka_unit_test_setup_teardown(one_open_proposal_per_step, setup, teardown),
		cmocka_unit_test_setup_teardown(a_letter_may_be_declared_decided_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(only_the_first_rungs_may_go_without_signoff, setup,
						teardown),
		cmocka_unit_test_setup_teardown(approving_sends_the_decided_step_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(declining_never_sends_the_step, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_input_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(a_third_penalty_notice_is_refused_in_any_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(the_same_absence_is_never_fined_twice_out_of_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_notice_to_improve_must_be_approved_first, setup,
						teardown),
		cmocka_unit_test_setup_teardown(of_two_officers_at_once_one_wins, setup, teardown),
		cmocka_unit_test(a_school_day_is_a_weekday),
		cmocka_unit_test_setup_teardown(an_undecided_proposal_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(the_service_expires_them, setup, teardown),
		cmocka_unit_test_setup_teardown(status_tells_of_proposals, setup, teardown),
		cmocka_unit_test_setup_teardown(signoff_days_is_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(policies_see_each_steps_state, setup, teardown),
		cmocka_unit_test_setup_teardown(replay_and_test_take_proposals_as_approved, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_version_6_database_migrates, setup, teardown),
		cmocka_unit_test_setup_teardown(the_report_shows_the_queue_and_who_decided, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("signoff", tests, NULL, NULL);
}
