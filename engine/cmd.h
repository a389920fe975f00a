/*
 * cmd.h — what every subcommand gets, and the subcommands themselves.
 *
 * main.c parses the global options, opens the database for commands that
 * need it, and dispatches through its table; each cmd_*.c is one subcommand.
 * A subcommand returns its exit status.
 */
#ifndef ROLLCALL_CMD_H
#define ROLLCALL_CMD_H

#include "config.h"
#include "db.h"

#include <stdlib.h>

/* Exit status: EXIT_SUCCESS, EXIT_FAILURE for a runtime failure (database,
 * I/O), EXIT_USAGE for bad usage or bad input. */
#define EXIT_USAGE 2

struct cli {
	const char *db_path;
	struct config cfg; /* rollcall.conf, or the defaults */
	int verbosity;	   /* -1 quiet, 0 normal, 1 verbose */
	struct db db;	   /* open when the command needs the database */
	const char *usage; /* the running command's usage line */
};

/* Print "usage: rollcall <usage>" and return EXIT_USAGE. */
int cmd_usage(const struct cli *cli);

/* The next option-looking argument, for simple hand-rolled parsing: returns
 * 1 and advances *i when argv[*i] equals name. */
int cmd_flag(char **argv, int *i, const char *name);

/* An option with a value: 0 if argv[*i] is not name; 1 with *value set
 * (and *i past both); -1, reported, when the value is missing. */
int cmd_option(int argc, char **argv, int *i, const char *name, const char **value);

/* Report a policy that failed to load, as "FILE:LINE: reason" on stderr
 * (the policy_error_fn of the commands that load policies once). */
void cmd_policy_error(const char *path, const char *err, int kept);

/* Print the actions recorded (oldest first), of org and since a date if not
 * NULL, as `rollcall actions` does: a line each, or JSON. Returns 0 or -1. */
int cmd_print_actions(struct db *db, const char *org, const char *since, int json);

int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_pupil(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_actions(struct cli *cli, int argc, char **argv);
int cmd_cases(struct cli *cli, int argc, char **argv);
int cmd_params(struct cli *cli, int argc, char **argv);
int cmd_deliveries(struct cli *cli, int argc, char **argv);
int cmd_redeliver(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_replay(struct cli *cli, int argc, char **argv);
int cmd_report(struct cli *cli, int argc, char **argv);
int cmd_test(struct cli *cli, int argc, char **argv);
int cmd_reevaluate(struct cli *cli, int argc, char **argv);
int cmd_rejected(struct cli *cli, int argc, char **argv);
int cmd_signoff(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);
int cmd_token(struct cli *cli, int argc, char **argv);
int cmd_serve(struct cli *cli, int argc, char **argv);
int cmd_policy(struct cli *cli, int argc, char **argv);

#endif
