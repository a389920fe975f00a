/*
 * cmd_check.c — `rollcall check [POLICY...]`: load each policy (default: all
 * in the policies directory) in the sandbox, as `run` would, and report each
 * error as FILE:LINE: reason, and list the files in the directory whose
 * names speak for no organisation (never loaded). Exit 0 only if every
 * policy loads.
 */
#include "cmd.h"
#include "engine.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void not_loaded(const char *path, void *arg)
{
	(void)arg;
	char *safe = text_safe(path, strlen(path), NULL); /* a file name is any bytes */
	printf("not loaded %s: only la-NNN.lua and trust-ID.lua are policies\n", safe);
	free(safe);
}

int cmd_check(struct cli *cli, int argc, char **argv)
{
	struct engine e = { .cfg = &cli->cfg };
	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-')
			return cmd_usage(cli);
	int failed = engine_load_policies(&e, argv + 1, argc - 1, cmd_policy_error);
	if (failed >= 0 && cli->verbosity >= 0)
		for (int i = 0; i < e.npolicies; i++) {
			const struct policy *p = e.policies[i];
			printf("ok %s: %s (%s), %d params, %zu KiB of Lua state, sha256 %.12s\n",
			       p->path, p->org, p->name, p->nparams, p->sb.memory / 1024,
			       p->sha256);
		}
	if (argc == 1 && failed >= 0 && cli->verbosity >= 0)
		engine_unnamed_files(cli->cfg.policies, not_loaded, NULL);
	engine_close(&e);
	return failed == 0 ? EXIT_SUCCESS : EXIT_USAGE;
}
