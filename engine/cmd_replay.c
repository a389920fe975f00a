/*
 * cmd_replay.c — `rollcall replay --policy FILE [--from DATE] [--to DATE]
 * [--param NAME=VALUE]... [--pupil UPN] [--json] [--compare OTHER.lua]`:
 * what a policy (a draft, or a live one) would have done over the stored
 * history had it been live, then a summary. It is evaluated where the live
 * service evaluates — after each session's register, AM then PM — from the
 * first stored day, so repeats, cases and the framework's limits carry as
 * they would have; --from and --to only choose which days' actions are
 * printed and counted. --param replays with a threshold not yet in force;
 * --pupil replays one pupil. With --compare, what each of two policies
 * would have done that the other would not (--param applies to the first:
 * a draft threshold beside the one in force). A legal step that live waits
 * for a person's decision is taken as approved on the day proposed, and
 * the summary says how many were.
 *
 * It changes nothing and sends nothing: the database is opened read-only,
 * and the actions, cases and deliveries the replay records go to TEMP
 * copies of those tables (db_shadow) that vanish with the connection.
 *
 * Exit status: 0; 2 for bad usage (an unknown param, a value out of
 * bounds, a pupil the policy does not cover); 1 on a database error, or
 * when any policy call failed (what was recorded is still printed).
 */
#include "cmd.h"
#include "date.h"
#include "engine.h"
#include "upn.h"
#include "util.h"
#include "whatif.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PARAMS_MAX 64

/* One of the (at most two) replays, and how the output names it. */
struct side {
	const char *path;
	char label[1024];
	struct replay r;
	struct replay_param params[PARAMS_MAX];
	char names[PARAMS_MAX][48]; /* the policy's are freed when the other loads */
};

/* What the whole command was asked. */
struct request {
	int from, to, json;
	const char *upn;
	char la_code[8], trust_id[24]; /* the --pupil's school's */
	const char *param_args[PARAMS_MAX];
	int nparam_args;
};

static void progress(long done, long total)
{
	fprintf(stderr, "\rreplay: %ld of %ld pupils", done, total);
	if (done == total)
		fputc('\n', stderr);
}

/* Load the policy in path as the set's only one; NULL if it does not
 * load (reported). */
static struct policy *load(struct policy_set *set, const struct config *c, const char *path)
{
	char *files[] = { (char *)path };
	if (policy_set_load(set, c, files, 1, cmd_policy_error) != 0 || set->npolicies != 1)
		return NULL;
	return set->policies[0];
}

/* Does p speak for the --pupil's school? */
static int covers(const struct policy *p, const struct request *q)
{
	if (!strncmp(p->org, "la:", 3))
		return !strcmp(p->org + 3, q->la_code);
	return q->trust_id[0] && !strcmp(p->org + 6, q->trust_id);
}

/* The --param NAME=VALUE arguments, checked against the policy s->path
 * loaded as p, into s->params. Returns 0, or -1 (reported). */
static int parse_params(struct side *s, const struct policy *p, const struct request *q)
{
	for (int i = 0; i < q->nparam_args; i++) {
		const char *arg = q->param_args[i], *eq = strchr(arg, '=');
		char name[sizeof s->names[0]], *end;
		if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof name) {
			error("--param %s: expected NAME=VALUE", arg);
			return -1;
		}
		snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
		int k = policy_param(p, name);
		if (k < 0) {
			error("--param %s: %s declares no param \"%s\"", arg, s->path, name);
			return -1;
		}
		const struct param *d = &p->params[k];
		double v = strtod(eq + 1, &end);
		if (end == eq + 1 || *end || !isfinite(v)) {
			error("--param %s: not a number (%s declares %s within %g..%g)", arg,
			      s->path, name, d->min, d->max);
			return -1;
		}
		const char *why = policy_param_refuses(d, v);
		if (why && d->integer && v >= d->min && v <= d->max) {
			error("--param %s: not a whole number (%s declares %s with integer = true)",
			      arg, s->path, name);
			return -1;
		}
		if (why) {
			error("--param %s: outside the bounds %g..%g that %s declares for %s", arg,
			      d->min, d->max, s->path, name);
			return -1;
		}
		int j = 0; /* given twice: the later wins */
		while (j < s->r.nparams && s->params[j].index != k)
			j++;
		s->params[j] = (struct replay_param){ .index = k, .value = v };
		snprintf(s->names[j], sizeof s->names[j], "%s", name);
		if (j == s->r.nparams)
			s->r.nparams++;
	}
	s->r.params = s->params;
	return 0;
}

/* Replay s->path into the TEMP tables, emptied first, keeping the actions
 * of the days asked for. */
static int replay(struct whatif *w, struct policy_set *set, struct side *s, const struct request *q,
		  int with_params, int tty)
{
	struct policy *p = load(set, w->e.cfg, s->path);
	if (!p)
		return EXIT_USAGE;
	if (q->upn && !covers(p, q)) {
		error("--pupil %s: %s speaks for %s, which does not cover this pupil's school "
		      "(la:%s%s%s)",
		      q->upn, s->path, p->org, q->la_code, q->trust_id[0] ? ", trust:" : "",
		      q->trust_id);
		return EXIT_USAGE;
	}
	if (with_params && parse_params(s, p, q) < 0)
		return EXIT_USAGE;
	s->r.upn = q->upn;
	s->r.progress = tty ? progress : NULL;
	/* Every day is replayed, so that what was decided before --from weighs
	 * as it would have live; only the days asked for are kept. */
	return whatif_replay(w, p, &s->r, q->from, q->to) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The params s was replayed with that are not those in force, as
 * "name=value (in force: v)" joined with ", "; "" if none. */
static void params_text(const struct side *s, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < s->r.nparams && n < size; i++) {
		const struct replay_param *q = &s->params[i];
		if (q->value != q->in_force)
			n += (size_t)snprintf(buf + n, size - n, "%s%s=%g (in force: %g)",
					      n ? ", " : "", s->names[i], q->value, q->in_force);
	}
}

/* The params s was replayed with that are not those in force, as JSON. */
static json_t *params_json(const struct side *s)
{
	json_t *o = json_object();
	for (int i = 0; i < s->r.nparams; i++) {
		const struct replay_param *q = &s->params[i];
		if (q->value != q->in_force)
			json_object_set_new(o, s->names[i],
					    json_pack("{s:f, s:f}", "value", q->value, "in_force",
						      q->in_force));
	}
	return o;
}

/* The calls that failed, and the first of them, as JSON. */
static json_t *failures_json(const struct side *s)
{
	json_t *first = json_array();
	for (int i = 0; i < s->r.nkept; i++)
		json_array_append_new(first, json_pack("{s:s, s:s}", "upn", s->r.kept[i].upn,
						       "error", s->r.kept[i].error));
	return json_pack("{s:I, s:I, s:o}", "made", (json_int_t)s->r.calls, "failed",
			 (json_int_t)s->r.errors, "first_failed", first);
}

/* Said last, on stderr: how many calls failed, and the first pupils and
 * lines. Returns 1 if any did. */
static int say_failures(const struct side *s)
{
	if (!s->r.errors)
		return 0;
	for (int i = 0; i < s->r.nkept; i++) {
		if (i == 0)
			error("replay: %ld of %ld policy calls failed (%s); the first: %s (pupil "
			      "%s)",
			      s->r.errors, s->r.calls, s->label, s->r.kept[i].error,
			      s->r.kept[i].upn);
		else
			error("replay: then: %s (pupil %s)", s->r.kept[i].error, s->r.kept[i].upn);
	}
	return 1;
}

/* Run sql, whose rows are (label, count), into a JSON object. */
static json_t *counts(struct db *db, const char *sql)
{
	json_t *o = json_object();
	sqlite3_stmt *st = db_prepare(db, sql);
	while (st && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
				    json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_finalize(st);
	return o;
}

/* Said whenever a replay took a proposal as approved: what live does. */
static void say_taken_as_approved(long long n, const char *who)
{
	if (n > 0)
		printf("%s%s%lld legal step%s taken as approved on the day proposed: live, each "
		       "waits for a named person's decision (rollcall signoff), and may be "
		       "declined or expire\n",
		       who ? who : "", who ? ": " : "", n, n == 1 ? "" : "s");
}

static void summary(struct whatif *w, const struct side *s, int json)
{
	struct db *db = w->db;
	long long approved = whatif_taken_as_approved(w, 0);
	json_t *kinds = counts(db, "SELECT action || ' ' || kind, count(*) FROM actions "
				   "GROUP BY 1 ORDER BY 1");
	json_t *months = counts(db, "SELECT substr(date, 1, 7), count(*) FROM actions GROUP BY 1 "
				    "ORDER BY 1");
	json_t *o =
		json_pack("{s:{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I}}", "summary", "policy",
			  s->path, "actions", counts(db, "SELECT 'all', count(*) FROM actions"),
			  "by_kind", kinds, "by_month", months, "pupils",
			  counts(db, "SELECT 'affected', count(DISTINCT pupil) FROM actions"),
			  "params_not_in_force", params_json(s), "policy_calls", failures_json(s),
			  "legal_steps_taken_as_approved", (json_int_t)approved);
	if (json) {
		char *line = json_dumps(o, JSON_COMPACT);
		puts(line);
		free(line);
	} else {
		json_t *m = json_object_get(o, "summary");
		char params[2048];
		printf("\n%s would have taken %lld actions for %lld pupils\n", s->path,
		       (long long)json_integer_value(
			       json_object_get(json_object_get(m, "actions"), "all")),
		       (long long)json_integer_value(
			       json_object_get(json_object_get(m, "pupils"), "affected")));
		params_text(s, params, sizeof params);
		if (params[0])
			printf("with params not in force: %s\n", params);
		say_taken_as_approved(approved, NULL);
		if (s->r.errors)
			printf("%ld of %ld policy calls failed\n", s->r.errors, s->r.calls);
		const char *key;
		json_t *v;
		printf("by kind:\n");
		json_object_foreach(kinds, key, v)
		{
			printf("  %-36s %lld\n", key, (long long)json_integer_value(v));
		}
		printf("by month:\n");
		json_object_foreach(months, key, v)
		{
			printf("  %-36s %lld\n", key, (long long)json_integer_value(v));
		}
	}
	json_decref(o);
}

/* One action only one side took, printed as a line or as JSON. */
struct difference_out {
	const struct side *sides[2];
	int json;
};

static int print_difference(int side, const char *date, const char *upn, const char *action,
			    const char *kind, void *arg)
{
	const struct difference_out *d = arg;
	const char *who = d->sides[side - 1]->label;
	if (d->json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "only_in", who, "date", date,
				      "upn", upn, "action", action, "kind", kind);
		char *line = json_dumps(o, JSON_COMPACT);
		puts(line);
		free(line);
		json_decref(o);
	} else {
		printf("only %-30s %s %s %-10s %s\n", who, date, upn, action, kind);
	}
	return 0;
}

/* What the first replay did (kept in temp.replay_first) that the second
 * (in temp.actions) did not, and the other way round. */
static int compare(struct whatif *w, const struct side *a, const struct side *b, int json)
{
	struct difference_out d = { { a, b }, json };
	long only[3];
	if (whatif_compare(w, print_difference, &d, only, NULL) < 0)
		return -1;
	const struct side *sides[] = { a, b };
	long long approved[] = { whatif_taken_as_approved(w, 1), whatif_taken_as_approved(w, 0) };
	if (json) {
		json_t *list = json_array();
		for (int i = 0; i < 2; i++)
			json_array_append_new(
				list,
				json_pack("{s:s, s:s, s:I, s:o, s:o, s:I}", "policy",
					  sides[i]->path, "label", sides[i]->label, "only",
					  (json_int_t)only[i + 1], "params_not_in_force",
					  params_json(sides[i]), "policy_calls",
					  failures_json(sides[i]), "legal_steps_taken_as_approved",
					  (json_int_t)approved[i]));
		json_t *o = json_pack("{s:o}", "compare", list);
		char *line = json_dumps(o, JSON_COMPACT);
		puts(line);
		free(line);
		json_decref(o);
		return 0;
	}
	printf("\n%ld actions only in %s, %ld only in %s\n", only[1], a->label, only[2], b->label);
	for (int i = 0; i < 2; i++) {
		char params[2048];
		params_text(sides[i], params, sizeof params);
		if (params[0])
			printf("%s: replayed with params not in force: %s\n", sides[i]->path,
			       params);
		if (sides[i]->r.errors)
			printf("%s: %ld of %ld policy calls failed\n", sides[i]->label,
			       sides[i]->r.errors, sides[i]->r.calls);
		say_taken_as_approved(approved[i], sides[i]->label);
	}
	return 0;
}

static int day_option(const char *name, const char *value, int *day)
{
	if (value && (*day = date_parse(value, (int)strlen(value))) < 0) {
		error("%s %s: expected a date YYYY-MM-DD", name, value);
		return -1;
	}
	return 0;
}

/* The --pupil's school's council and trust, into q. Returns 0, or
 * EXIT_USAGE / EXIT_FAILURE (reported). */
static int find_pupil(struct db *db, struct request *q)
{
	sqlite3_stmt *st =
		db_prepare(db, "SELECT s.la_code, coalesce(s.trust_id, '') FROM "
			       "pupils p JOIN schools s ON s.urn = p.urn WHERE p.upn = ?");
	if (!st)
		return EXIT_FAILURE;
	sqlite3_bind_text(st, 1, q->upn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), status = 0;
	if (rc == SQLITE_ROW) {
		snprintf(q->la_code, sizeof q->la_code, "%s", sqlite3_column_text(st, 0));
		snprintf(q->trust_id, sizeof q->trust_id, "%s", sqlite3_column_text(st, 1));
	} else if (rc == SQLITE_DONE) {
		error("--pupil %s: no such pupil in %s", q->upn, db->path);
		status = EXIT_USAGE;
	} else {
		db_fail(db, "reading a pupil");
		status = EXIT_FAILURE;
	}
	sqlite3_finalize(st);
	return status;
}

/* Name the two sides apart: the first with the params it is replayed
 * with, the second "(in force)" when it is the same file. */
static void label(struct side *a, struct side *b, const struct request *q)
{
	size_t n = (size_t)snprintf(a->label, sizeof a->label, "%s", a->path);
	for (int i = 0; i < q->nparam_args && n < sizeof a->label; i++)
		n += (size_t)snprintf(a->label + n, sizeof a->label - n, "%s%s", i ? "," : " [",
				      q->param_args[i]);
	if (q->nparam_args && n < sizeof a->label)
		snprintf(a->label + n, sizeof a->label - n, "]");
	snprintf(b->label, sizeof b->label, "%s%s", b->path ? b->path : "",
		 b->path && !strcmp(a->path, b->path) ? " [in force]" : "");
}

int cmd_replay(struct cli *cli, int argc, char **argv)
{
	const char *from_text = NULL, *to_text = NULL, *param = NULL;
	struct side a = { 0 }, b = { 0 };
	struct request q = { .from = INT_MIN, .to = INT_MAX };
	int got, status = EXIT_FAILURE;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			q.json = 1;
		else if ((got = cmd_option(argc, argv, &i, "--param", &param)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
			if (q.nparam_args == PARAMS_MAX) {
				error("--param: at most %d", PARAMS_MAX);
				return EXIT_USAGE;
			}
			q.param_args[q.nparam_args++] = param;
		} else if ((got = cmd_option(argc, argv, &i, "--policy", &a.path)) ||
			   (got = cmd_option(argc, argv, &i, "--compare", &b.path)) ||
			   (got = cmd_option(argc, argv, &i, "--from", &from_text)) ||
			   (got = cmd_option(argc, argv, &i, "--to", &to_text)) ||
			   (got = cmd_option(argc, argv, &i, "--pupil", &q.upn))) {
			if (got < 0)
				return cmd_usage(cli);
		} else
			return cmd_usage(cli);
	}
	if (!a.path)
		return cmd_usage(cli);
	if (day_option("--from", from_text, &q.from) < 0 || day_option("--to", to_text, &q.to) < 0)
		return EXIT_USAGE;
	if (q.upn && !upn_valid(q.upn, (int)strlen(q.upn))) {
		error("--pupil %s: not a valid UPN (13 characters with a matching check letter)",
		      q.upn);
		return EXIT_USAGE;
	}
	label(&a, &b, &q);

	struct whatif w;
	struct policy_set set = { 0 };
	int tty = isatty(STDERR_FILENO) && cli->verbosity >= 0;
	/* A legal step is taken as approved on the day proposed (whatif.h);
	 * the summary says how many were. */
	if (whatif_open(&w, &cli->db, cli->db_path, &cli->cfg) < 0)
		return EXIT_FAILURE;
	if (q.upn && (status = find_pupil(&cli->db, &q)) != 0)
		goto out;
	/* the file compared with loads, and covers the pupil, before any
	 * replay: a mistake in it is said at once, not after the first replay */
	if (b.path && !load(&set, &cli->cfg, b.path)) {
		status = EXIT_USAGE;
		goto out;
	}
	if (b.path && q.upn && !covers(set.policies[0], &q)) {
		error("--pupil %s: %s speaks for %s, which does not cover this pupil's school",
		      q.upn, b.path, set.policies[0]->org);
		status = EXIT_USAGE;
		goto out;
	}
	status = replay(&w, &set, &a, &q, 1, tty);
	if (status == EXIT_SUCCESS && b.path) {
		if (whatif_keep_first(&w) < 0)
			status = EXIT_FAILURE;
		else
			status = replay(&w, &set, &b, &q, 0, tty);
		if (status == EXIT_SUCCESS && compare(&w, &a, &b, q.json) < 0)
			status = EXIT_FAILURE;
	} else if (status == EXIT_SUCCESS) {
		if (cmd_print_actions(&cli->db, NULL, NULL, q.json) < 0)
			status = EXIT_FAILURE;
		else
			summary(&w, &a, q.json);
	}
	/* last, so that it is what the reader sees: the calls that failed */
	fflush(stdout);
	if (status == EXIT_SUCCESS && (say_failures(&a) | say_failures(&b)))
		status = EXIT_FAILURE;
out:
	policy_set_free(&set);
	whatif_close(&w);
	return status;
}
