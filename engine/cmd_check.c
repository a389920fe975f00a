/*
 * cmd_check.c — `rollcall check [POLICY...]`: what can be known about a
 * policy before it is live. Each policy (default: all in the policies
 * directory) is loaded in the sandbox as `run` would load it, then
 * (policycheck.c):
 *
 *  - every call it makes on a module it required (national.persistent)
 *    must name something the module defines, read from the text, so a
 *    branch no pupil reaches is checked too (literal param names are
 *    checked at load, policy.c);
 *  - every endpoint it names must be one rollcall.conf configures;
 *  - on_pupil runs over the synthetic pupils (synthetic.c), each at many
 *    points of its history, and, when the database exists, over a sample
 *    of the stored pupils the policy covers, at their latest mark, with
 *    nothing recorded (the database is opened read-only and the actions
 *    go to TEMP copies, as for a replay).
 *
 * Each distinct error is reported once on stderr as FILE:LINE: message,
 * with the first pupil that met it and how many did. Files in the
 * directory whose names speak for no organisation are said to be not
 * loaded. Exit 0 only if every policy loads and passes; 2 if one does
 * not; 1 if the database cannot be read.
 */
#include "cmd.h"
#include "engine.h"
#include "log.h"
#include "policycheck.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* A warning the check finds, said at once (unless -q). */
static void say_warning(const char *text, void *arg)
{
	const struct cli *cli = arg;
	if (cli->verbosity >= 0)
		error("%s", text);
}

int cmd_check(struct cli *cli, int argc, char **argv)
{
	/* The policies, a set of their own (check writes nothing about the
	 * load anywhere), and an engine over the database for the stored
	 * pupils, which runs them. */
	struct policy_set set = { 0 };
	struct engine db;
	struct synthetic s;
	struct stat st;
	int stored = cli->db_path && stat(cli->db_path, &st) == 0, status = EXIT_SUCCESS;
	static const char *const outcomes[] = { "actions", "cases", "deliveries", NULL };

	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-')
			return cmd_usage(cli);
	/* as replay: read-only, and what policies decide goes to TEMP copies */
	if (stored &&
	    (db_open(&cli->db, cli->db_path, DB_READONLY) < 0 || db_check_version(&cli->db) < 0 ||
	     db_shadow(&cli->db, outcomes) < 0 || engine_open(&db, &cli->db, &cli->cfg) < 0))
		return EXIT_FAILURE;
	int failed_loads = policy_set_load(&set, &cli->cfg, argv + 1, argc - 1, cmd_policy_error);
	if (failed_loads < 0 || synthetic_open(&s, &cli->cfg) < 0) {
		policy_set_free(&set);
		if (stored)
			engine_close(&db);
		return failed_loads < 0 ? EXIT_USAGE : EXIT_FAILURE;
	}
	int warned = 0;
	/* what the policies log, and the refusals their actions meet, are
	 * the run's business, not the check's */
	enum log_level threshold = log_threshold;
	if (cli->verbosity <= 0 && log_threshold < LOG_WARN)
		log_threshold = LOG_WARN;
	for (int i = 0; i < set.npolicies && status != EXIT_FAILURE; i++) {
		struct policycheck c = { .cfg = &cli->cfg,
					 .p = set.policies[i],
					 .warn = say_warning,
					 .warn_arg = cli,
					 .endpoints_warned = &warned };
		if (policycheck_run(&c, &s, stored ? &db : NULL) < 0)
			status = EXIT_FAILURE;
		else if (c.nfound)
			status = EXIT_USAGE;
		policycheck_report(&c, cli->verbosity > 0);
		if (status != EXIT_FAILURE && !c.nfound && cli->verbosity >= 0) {
			const struct policy *p = c.p;
			printf("ok %s: %s (%s), %d params, %zu KiB of Lua state, sha256 %.12s; "
			       "on_pupil ran %ld times over %d synthetic pupils",
			       p->path, p->org, p->name, p->nparams, c.memory / 1024, p->sha256,
			       c.synthetic_calls, c.synthetic_pupils);
			if (stored && c.stored_pupils)
				printf(" and %ld over %ld stored pupils", c.stored_calls,
				       c.stored_pupils);
			else if (stored)
				printf("; the database has no pupil it covers");
			printf("\n");
		}
		policycheck_free(&c);
	}
	log_threshold = threshold;
	synthetic_close(&s);
	policy_set_free(&set);
	if (stored)
		engine_close(&db);
	if (status == EXIT_SUCCESS && failed_loads > 0)
		status = EXIT_USAGE;
	return status;
}
