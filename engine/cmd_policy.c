/*
 * cmd_policy.c — `rollcall policy`: an organisation's policy as the API
 * sees it (publish.c), from the shell.
 *
 *   policy show ORG [--sha256 SHA] [--json]      the live text, or a kept version's
 *   policy versions ORG [--json]                 every version kept, newest first
 *   policy check ORG FILE [--days N] [--json]    check FILE as ORG's, and replay it
 *                                                beside the live version
 *   policy publish ORG FILE [--if-sha256 SHA] [--by NAME] [--json]
 *   policy rollback ORG SHA [--if-sha256 SHA] [--by NAME] [--json]
 *   policy preview ORG NAME=VALUE... [--days N] [--json]
 *
 * The organisation is always named: the file written is the one its name
 * gives (la-355.lua), and a FILE whose policy{ org } is another's is
 * refused. A publish or rollback is audited with the person (--by, else
 * the local user) and "cli:" and the local user. Exit status: 0; 2 when
 * the text or a value is refused, the version is not the live one
 * (--if-sha256) or there is no such policy or version (nothing written);
 * 1 on a database or file failure.
 */
#include "audit.h"
#include "cmd.h"
#include "file.h"
#include "log.h"
#include "publish.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the options of a policy subcommand gave. */
struct options {
	const char *org, *arg; /* ORG, and FILE or SHA */
	const char *sha256, *if_sha256, *by;
	int days, json;
	const char *assignments[64]; /* preview: NAME=VALUE */
	int nassignments;
};

static void print_json(const json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);
	puts(text);
	free(text);
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static long long num(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* A refusal on stderr: each of its errors as FILE:LINE: message (with the
 * pupil that met it, as `rollcall check` says), then what was refused. */
static void say_refusal(const json_t *r, const char *nothing)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(r, "errors"), i, e)
	{
		char line[32] = "";
		const json_t *p = json_object_get(e, "pupil");
		if (json_is_integer(json_object_get(e, "line")))
			snprintf(line, sizeof line, ":%lld", num(e, "line"));
		if (p && json_is_string(json_object_get(p, "synthetic")))
			fprintf(stderr,
				"%s%s: %s (pupil %s, %s, synthetic: %s; %lld synthetic pupils)\n",
				str(e, "file"), line, str(e, "message"), str(p, "upn"),
				str(p, "date"), str(p, "synthetic"), num(e, "synthetic_pupils"));
		else if (p)
			fprintf(stderr, "%s%s: %s (pupil %s, %s; %lld stored pupils)\n",
				str(e, "file"), line, str(e, "message"), str(p, "upn"),
				str(p, "date"), num(e, "stored_pupils"));
		else
			fprintf(stderr, "%s%s: %s\n", str(e, "file"), line, str(e, "message"));
	}
	error("%s%s", str(r, "error"), nothing);
}

/* The warnings a check passed with, as check says them. */
static void say_warnings(const json_t *check, int verbosity)
{
	size_t i;
	json_t *e;
	if (verbosity < 0)
		return;
	json_array_foreach(json_object_get(check, "warnings"), i, e)
	{
		char line[32] = "";
		if (json_is_integer(json_object_get(e, "line")))
			snprintf(line, sizeof line, ":%lld", num(e, "line"));
		error("warning: %s%s: %s", str(e, "file"), line, str(e, "message"));
	}
}

/* The exit status of a publish.c result, its error said on stderr; with
 * --json, the result printed, a refusal too (as the API gives it). */
static int status_of(int rc, json_t *out, const char *nothing, int json)
{
	if (rc > 0)
		say_refusal(out, nothing);
	if (json && out)
		print_json(out);
	return rc == PUBLISH_DONE ? EXIT_SUCCESS : rc > 0 ? EXIT_USAGE : EXIT_FAILURE;
}

/* ---- what a replay beside another came to ---- */

static void say_side(const char *label, const json_t *side)
{
	printf("%-22s %lld actions for %lld pupils", label, num(side, "actions"),
	       num(side, "pupils"));
	json_t *calls = json_object_get(side, "policy_calls");
	if (num(calls, "failed"))
		printf(" (%lld of %lld policy calls failed)", num(calls, "failed"),
		       num(calls, "made"));
	printf("\n");
}

/* The actions by kind of two sides, a column each. */
static void say_kinds(const char *la, const json_t *a, const char *lb, const json_t *b)
{
	json_t *ka = json_object_get(a, "by_kind"), *kb = b ? json_object_get(b, "by_kind") : NULL;
	const char *key;
	json_t *v;
	printf("by kind:%30s %10s %10s\n", "", la, lb ? lb : "");
	json_object_foreach(ka, key, v)
	{
		printf("  %-36s %10lld", key, (long long)json_integer_value(v));
		if (kb)
			printf(" %10lld", (long long)json_integer_value(json_object_get(kb, key)));
		printf("\n");
	}
	json_object_foreach(kb, key, v)
	{
		if (!json_object_get(ka, key))
			printf("  %-36s %10d %10lld\n", key, 0, (long long)json_integer_value(v));
	}
}

static void say_difference(const json_t *d, const char *one, const char *two)
{
	char k1[64], k2[64];
	snprintf(k1, sizeof k1, "only_%s", one);
	snprintf(k2, sizeof k2, "only_%s", two);
	printf("%lld actions only %s, %lld only %s, for %lld pupils\n", num(d, k1), one, num(d, k2),
	       two, num(d, "pupils"));
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(d, "items"), i, e)
	{
		printf("only %-9s %s %s %-10s %s\n", str(e, "only_in"), str(e, "date"),
		       str(e, "upn"), str(e, "action"), str(e, "kind"));
	}
	if (json_is_true(json_object_get(d, "truncated")))
		printf("(the first %d listed; --json for the counts)\n", PUBLISH_DIFFERENCES_MAX);
}

static void say_window(const json_t *o)
{
	if (json_is_string(json_object_get(o, "from")))
		printf("over %s..%s (%lld days to the latest stored)\n", str(o, "from"),
		       str(o, "to"), num(o, "days"));
	else
		printf("no marks are stored: nothing to replay\n");
}

/* ---- the subcommands ---- */

static char *read_draft(const char *path, size_t *len)
{
	char err[4400];
	char *text = file_read(path, PUBLISH_TEXT_MAX, len, NULL, err, sizeof err);
	if (!text)
		error("%s", err);
	return text;
}

/* The person a change is audited under: --by, else the local user. */
static void actor(const struct options *o, struct publish_actor *by, char *via, size_t size)
{
	by->via = audit_cli_via(via, size);
	by->who = o->by ? o->by : via + strlen("cli:");
}

static int show(struct cli *cli, const struct options *o)
{
	json_t *out;
	int rc = publish_show(&cli->db, &cli->cfg, o->org, o->sha256, &out);
	int status = status_of(rc, out, "", o->json);
	if (status != EXIT_SUCCESS || o->json)
		;
	else if (json_is_string(json_object_get(out, "text")))
		fputs(str(out, "text"), stdout); /* as it is: to edit, and publish again */
	else {
		error("%s has no policy file (%s)", o->org, str(out, "file"));
		status = EXIT_USAGE;
	}
	json_decref(out);
	return status;
}

static int versions(struct cli *cli, const struct options *o)
{
	json_t *out;
	int rc = publish_versions(&cli->db, &cli->cfg, o->org, &out);
	int status = status_of(rc, out, "", o->json);
	if (status == EXIT_SUCCESS && !o->json) {
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(out, "items"), i, v)
		{
			const char *by = str(v, "published_by");
			printf("%s  %s  %s%s%s%s\n", str(v, "sha256"), str(v, "first_loaded"),
			       *by ? "published by " : "loaded from the file", by,
			       *by ? " at " : "", *by ? str(v, "published_at") : "");
			if (json_is_true(json_object_get(v, "live")))
				printf("  live\n");
		}
	}
	json_decref(out);
	return status;
}

static int check(struct cli *cli, const struct options *o)
{
	size_t len;
	char *text = read_draft(o->arg, &len);
	if (!text)
		return EXIT_USAGE;
	json_t *out;
	int rc = publish_check(&cli->db, &cli->cfg, o->org, o->arg, text, len, o->days, &out);
	free(text);
	int status = status_of(rc, out, "", o->json);
	if (status == EXIT_SUCCESS && !o->json) {
		const json_t *c = json_object_get(out, "check"),
			     *r = json_object_get(out, "replay");
		const json_t *live = json_object_get(r, "live");
		say_warnings(c, cli->verbosity);
		printf("ok %s: %s, sha256 %.12s; on_pupil ran %lld times over %lld synthetic "
		       "pupils and %lld over %lld stored pupils\n",
		       o->arg, o->org, str(out, "sha256"), num(c, "synthetic_calls"),
		       num(c, "synthetic_pupils"), num(c, "stored_calls"), num(c, "stored_pupils"));
		say_window(r);
		say_side("draft", json_object_get(r, "draft"));
		if (json_is_object(live)) {
			char label[64];
			snprintf(label, sizeof label, "live %.12s", str(live, "sha256"));
			say_side(label, live);
			say_kinds("draft", json_object_get(r, "draft"), "live", live);
			say_difference(json_object_get(r, "difference"), "draft", "live");
		} else {
			printf("%s has no live policy that loads%s%s\n", o->org,
			       json_object_get(r, "live_error") ? ": " : "", str(r, "live_error"));
			say_kinds("draft", json_object_get(r, "draft"), NULL, NULL);
		}
	}
	json_decref(out);
	return status;
}

static int publish(struct cli *cli, const struct options *o, int rollback)
{
	struct publish_actor by;
	char via[300];
	size_t len = 0;
	char *text = rollback ? NULL : read_draft(o->arg, &len);
	if (!rollback && !text)
		return EXIT_USAGE;
	actor(o, &by, via, sizeof via);
	json_t *out;
	int rc = rollback ? publish_rollback(&cli->db, &cli->cfg, o->org, o->arg, o->if_sha256, &by,
					     &out)
			  : publish_policy(&cli->db, &cli->cfg, o->org, o->arg, text, len,
					   o->if_sha256, &by, &out);
	free(text);
	int status = status_of(rc, out, "; nothing was written", o->json);
	if (status == EXIT_SUCCESS && !o->json) {
		say_warnings(json_object_get(out, "check"), cli->verbosity);
		const char *was = json_is_string(json_object_get(out, "previous"))
					  ? str(out, "previous")
					  : "none";
		if (rollback)
			printf("rolled back %s, %s's policy, to sha256 %s (was %s), by %s\n",
			       str(out, "file"), o->org, str(out, "sha256"), was,
			       str(out, "published_by"));
		else
			printf("published %s as %s, %s's policy: sha256 %s (was %s), by %s\n",
			       o->arg, str(out, "file"), o->org, str(out, "sha256"), was,
			       str(out, "published_by"));
	}
	json_decref(out);
	return status;
}

static int preview(struct cli *cli, const struct options *o)
{
	json_t *params = json_object();
	for (int i = 0; i < o->nassignments; i++) {
		const char *a = o->assignments[i], *eq = strchr(a, '=');
		char name[64], *end;
		if (!eq || eq == a || (size_t)(eq - a) >= sizeof name) {
			error("%s: expected NAME=VALUE", a);
			json_decref(params);
			return EXIT_USAGE;
		}
		snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
		double v = strtod(eq + 1, &end);
		if (end == eq + 1 || *end || !isfinite(v)) {
			error("%s: not a number", a);
			json_decref(params);
			return EXIT_USAGE;
		}
		json_object_set_new(params, name, json_real(v));
	}
	json_t *out;
	int rc = publish_preview(&cli->db, &cli->cfg, o->org, params, o->days, &out);
	json_decref(params);
	int status = status_of(rc, out, "", o->json);
	if (status == EXIT_SUCCESS && !o->json) {
		const char *key;
		json_t *v;
		printf("%s's policy, sha256 %.12s, ", o->org, str(out, "sha256"));
		say_window(out);
		json_object_foreach(json_object_get(out, "params"), key, v)
		{
			printf("  %s = %g (in force: %g)\n", key,
			       json_number_value(json_object_get(v, "value")),
			       json_number_value(json_object_get(v, "in_force")));
		}
		say_side("with those values", json_object_get(out, "proposed"));
		say_side("with those in force", json_object_get(out, "in_force"));
		say_kinds("proposed", json_object_get(out, "proposed"), "in force",
			  json_object_get(out, "in_force"));
		say_difference(json_object_get(out, "difference"), "proposed", "in_force");
	}
	json_decref(out);
	return status;
}

static int publish_file(struct cli *cli, const struct options *o)
{
	return publish(cli, o, 0);
}

static int rollback(struct cli *cli, const struct options *o)
{
	return publish(cli, o, 1);
}

/* The subcommands: name, positional arguments after ORG, and what runs. */
static const struct {
	const char *name;
	int args; /* after ORG: 1 (FILE or SHA), 0, or -1 (NAME=VALUE...) */
	int (*run)(struct cli *cli, const struct options *o);
} subcommands[] = {
	{ "show", 0, show },	     { "versions", 0, versions },
	{ "check", 1, check },	     { "publish", 1, publish_file },
	{ "rollback", 1, rollback }, { "preview", -1, preview },
};

int cmd_policy(struct cli *cli, int argc, char **argv)
{
	struct options o = { 0 };
	size_t which = sizeof subcommands / sizeof *subcommands;
	const char *days = NULL;
	int got, positional = 0;
	if (argc < 3)
		return cmd_usage(cli);
	for (size_t k = 0; k < sizeof subcommands / sizeof *subcommands; k++)
		if (!strcmp(argv[1], subcommands[k].name))
			which = k;
	if (which == sizeof subcommands / sizeof *subcommands)
		return cmd_usage(cli);
	for (int i = 2; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			o.json = 1;
		else if ((got = cmd_option(argc, argv, &i, "--sha256", &o.sha256)) ||
			 (got = cmd_option(argc, argv, &i, "--if-sha256", &o.if_sha256)) ||
			 (got = cmd_option(argc, argv, &i, "--by", &o.by)) ||
			 (got = cmd_option(argc, argv, &i, "--days", &days))) {
			if (got < 0)
				return cmd_usage(cli);
		} else if (argv[i][0] == '-' && argv[i][1])
			return cmd_usage(cli);
		else if (positional == 0)
			o.org = argv[i++], positional++;
		else if (subcommands[which].args < 0 && o.nassignments < 64)
			o.assignments[o.nassignments++] = argv[i++];
		else if (subcommands[which].args == 1 && positional == 1)
			o.arg = argv[i++], positional++;
		else
			return cmd_usage(cli);
	}
	if (!o.org || (subcommands[which].args == 1 && !o.arg) ||
	    (subcommands[which].args < 0 && !o.nassignments))
		return cmd_usage(cli);
	if (days) {
		char *end;
		errno = 0;
		long n = strtol(days, &end, 10);
		if (end == days || *end || errno || n < 1 || n > PUBLISH_DAYS_MAX) {
			error("--days %s: expected a whole number of days, 1 to %d", days,
			      PUBLISH_DAYS_MAX);
			return EXIT_USAGE;
		}
		o.days = (int)n;
	}
	/* what the policies log, and the refusals their actions meet, are a
	 * run's business, not a check's (as rollcall check) */
	enum log_level threshold = log_threshold;
	if (cli->verbosity <= 0 && log_threshold < LOG_WARN)
		log_threshold = LOG_WARN;
	int status = subcommands[which].run(cli, &o);
	log_threshold = threshold;
	return status;
}
