/*
 * main.c — rollcall's entry point: global options, then one subcommand from
 * the table below (git's git.c, tmux's cmd-*.c).
 *
 *   rollcall [--db PATH] [-q|-v] SUBCOMMAND [ARGS]
 */
#include "cmd.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NEED_DB = 1 };

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	int flags;
	const char *usage;
	const char *summary;
};

static const struct command commands[] = {
	{ "init", cmd_init, 0, "init", "create or migrate the database" },
	{ "import", cmd_import, NEED_DB, "import [--skip-invalid] [--ignore-extra] FILE...",
	  "load schools, pupils or marks CSV files ('-' is standard input)" },
	{ "pupil", cmd_pupil, NEED_DB, "pupil UPN [--json] [--window KIND=N]...",
	  "a pupil's attendance figures as a policy sees them" },
};

static int help(FILE *out)
{
	fprintf(out, "usage: rollcall [--db PATH] [-q|-v] SUBCOMMAND [ARGS]\n\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-52s %s\n", commands[i].usage, commands[i].summary);
	fprintf(out, "\nThe database is --db, else $ROLLCALL_DB, else rollcall.db.\n");
	return out == stdout ? EXIT_SUCCESS : EXIT_USAGE;
}

int cmd_usage(const struct cli *cli)
{
	fprintf(stderr, "usage: rollcall %s\n", cli->usage);
	return EXIT_USAGE;
}

int cmd_flag(char **argv, int *i, const char *name)
{
	if (strcmp(argv[*i], name) != 0)
		return 0;
	++*i;
	return 1;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	int i = 1;

	cli.db_path = getenv("ROLLCALL_DB");
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--db") == 0) {
			if (++i == argc) {
				error("--db needs a path");
				return EXIT_USAGE;
			}
			cli.db_path = argv[i];
		} else if (strcmp(argv[i], "-q") == 0)
			cli.verbosity = -1;
		else if (strcmp(argv[i], "-v") == 0)
			cli.verbosity = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return help(stdout);
		else {
			error("unknown option %s", argv[i]);
			return help(stderr);
		}
	}
	if (!cli.db_path || !*cli.db_path)
		cli.db_path = "rollcall.db";
	if (i == argc)
		return help(stderr);
	if (strcmp(argv[i], "help") == 0)
		return help(stdout);

	for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
		const struct command *cmd = &commands[c];
		if (strcmp(argv[i], cmd->name) != 0)
			continue;
		cli.usage = cmd->usage;
		if (cmd->flags & NEED_DB) {
			if (db_open(&cli.db, cli.db_path, 0) < 0)
				return EXIT_FAILURE;
			if (db_check_version(&cli.db) < 0) {
				db_close(&cli.db);
				return EXIT_FAILURE;
			}
		}
		int status = cmd->run(&cli, argc - i, argv + i);
		if (cli.db.h)
			db_close(&cli.db);
		return status;
	}
	error("'%s' is not a rollcall command (see: rollcall help)", argv[i]);
	return EXIT_USAGE;
}
