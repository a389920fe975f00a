/*
 * cmd_test.c — `rollcall test [FILE...]`: run policy tests (policytest.c),
 * by default every *.lua in the policies directory's tests/, and say how
 * much of each policy's action lines they reached. Exit 0 if every case
 * passed, 1 if one failed, 2 if a test file is bad.
 */
#include "cmd.h"
#include "log.h"
#include "policytest.h"
#include "util.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static int lua_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 4 && d->d_name[0] != '.' && strcmp(d->d_name + n - 4, ".lua") == 0;
}

int cmd_test(struct cli *cli, int argc, char **argv)
{
	struct dirent **list = NULL;
	char **files = argv + 1, dir[4096];
	int nfiles = argc - 1, found = -1;
	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-')
			return cmd_usage(cli);
	if (nfiles == 0) {
		snprintf(dir, sizeof dir, "%s/tests", cli->cfg.policies);
		found = scandir(dir, &list, lua_file, alphasort);
		if (found <= 0) {
			error("%s: no test files (*.lua) to run (docs/POLICIES.md, \"Testing a "
			      "policy\")",
			      dir);
			free(list);
			return EXIT_USAGE;
		}
		files = xcalloc((size_t)found, sizeof *files);
		for (int i = 0; i < found; i++) {
			size_t n = strlen(dir) + strlen(list[i]->d_name) + 2;
			files[i] = xmalloc(n);
			snprintf(files[i], n, "%s/%s", dir, list[i]->d_name);
			free(list[i]);
		}
		free(list);
		nfiles = found;
	}
	/* The engine's own lines (a refusal, a batch) are for -v: a test
	 * prints what it found. A policy's errors are logged still. */
	if (cli->verbosity <= 0 && log_threshold < LOG_WARN)
		log_threshold = LOG_WARN;
	int status = EXIT_FAILURE;
	struct ptest *t = ptest_new(&cli->cfg, stdout, cli->verbosity);
	if (t) {
		for (int i = 0; i < nfiles; i++)
			ptest_file(t, files[i]);
		status = ptest_finish(t);
		ptest_free(t);
	}
	if (found > 0) {
		for (int i = 0; i < found; i++)
			free(files[i]);
		free(files);
	}
	return status;
}
