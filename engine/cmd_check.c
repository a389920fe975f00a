/*
 * cmd_check.c — `rollcall check [POLICY...]`: load each policy (default: all
 * in the policies directory) in the sandbox, as `run` would, and report each
 * error as FILE:LINE: reason; files in the directory whose names speak
 * for no organisation are said to be not loaded. Exit 0 only if every
 * policy loads.
 */
#include "cmd.h"
#include "engine.h"

#include <stdio.h>

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
	engine_close(&e);
	return failed == 0 ? EXIT_SUCCESS : EXIT_USAGE;
}
