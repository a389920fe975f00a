/*
 * main.c — rollcall's entry point: global options, then one subcommand from
 * the table below (git's git.c, tmux's cmd-*.c).
 *
 *   rollcall [--db PATH] [--config PATH] [-q|-v] SUBCOMMAND [ARGS]
 */
#include "cmd.h"
#include "log.h"
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
	  "a pupil's figures as a policy sees them, open cases, recent actions" },
	{ "check", cmd_check, 0, "check [POLICY...]",
	  "load policies in the sandbox and report errors with file:line" },
	{ "run", cmd_run, NEED_DB, "run [--once] [--no-deliver]",
	  "take new marks, evaluate policies, record actions, deliver webhooks" },
	{ "replay", cmd_replay, 0,
	  "replay --policy FILE [--from DATE] [--to DATE] [--json] [--compare OTHER.lua]",
	  "what a policy would have done over the stored history; changes nothing" },
	{ "actions", cmd_actions, NEED_DB, "actions [--org ORG] [--since DATE] [--json]",
	  "list recorded actions" },
	{ "params", cmd_params, NEED_DB, "params ORG [NAME=VALUE...]",
	  "show or set an organisation's policy thresholds" },
	{ "deliveries", cmd_deliveries, NEED_DB, "deliveries [--failed] [--json]",
	  "the webhook outbox: state, attempts, last status and error" },
	{ "redeliver", cmd_redeliver, NEED_DB, "redeliver ID...",
	  "queue dead deliveries again (same webhook-id)" },
	{ "status", cmd_status, NEED_DB, "status [--json] [--max-age SECONDS]",
	  "backlog, evaluation lag and deliveries; exit 1 when they need attention" },
};

static int help(FILE *out)
{
	fprintf(out, "usage: rollcall [--db PATH] [--config PATH] [-q|-v] SUBCOMMAND [ARGS]\n\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-52s %s\n", commands[i].usage, commands[i].summary);
	fprintf(out, "\nThe database is --db, else $ROLLCALL_DB, else the config's database, else "
		     "rollcall.db.\nThe config is --config, else $ROLLCALL_CONFIG, else "
		     "rollcall.conf if it exists.\n");
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

void cmd_policy_error(const char *path, const char *err, int kept)
{
	(void)path;
	(void)kept;
	fprintf(stderr, "%s\n", err);
}

int cmd_option(int argc, char **argv, int *i, const char *name, const char **value)
{
	if (!cmd_flag(argv, i, name))
		return 0;
	if (*i >= argc || (argv[*i][0] == '-' && argv[*i][1] == '-')) {
		error("%s needs a value", name);
		return -1;
	}
	*value = argv[(*i)++];
	return 1;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	const char *config = getenv("ROLLCALL_CONFIG");
	int i = 1;

	cli.db_path = getenv("ROLLCALL_DB");
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--db") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 == argc) {
				error("%s needs a path", argv[i]);
				return EXIT_USAGE;
			}
			*(argv[i][2] == 'd' ? &cli.db_path : &config) = argv[i + 1];
			i++;
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
	log_threshold = cli.verbosity < 0 ? LOG_WARN : cli.verbosity > 0 ? LOG_DEBUG : LOG_INFO;
	if (i == argc)
		return help(stderr);
	if (strcmp(argv[i], "help") == 0)
		return help(stdout);

	for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
		const struct command *cmd = &commands[c];
		if (strcmp(argv[i], cmd->name) != 0)
			continue;
		cli.usage = cmd->usage;
		/* An explicit config must exist; the default one is optional. */
		if (config_load(&cli.cfg, config && *config ? config : "rollcall.conf",
				!(config && *config)) < 0)
			return EXIT_USAGE;
		if (!cli.db_path || !*cli.db_path)
			cli.db_path = cli.cfg.database;
		if (cmd->flags & NEED_DB) {
			if (db_open(&cli.db, cli.db_path, DB_EXISTING) < 0 ||
			    db_check_version(&cli.db) < 0) {
				db_close(&cli.db);
				config_free(&cli.cfg);
				return EXIT_FAILURE;
			}
		}
		int status = cmd->run(&cli, argc - i, argv + i);
		if (cli.db.h)
			db_close(&cli.db);
		config_free(&cli.cfg);
		return status;
	}
	error("'%s' is not a rollcall command (see: rollcall help)", argv[i]);
	return EXIT_USAGE;
}
