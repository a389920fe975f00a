/*
 * cmd_init.c — `rollcall init`: create the database or migrate it to this
 * version's schema. Harmless to run again.
 */
#include "cmd.h"

#include <stdio.h>

int cmd_init(struct cli *cli, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return cmd_usage(cli);
	if (db_open(&cli->db, cli->db_path, DB_CREATE) < 0)
		return EXIT_FAILURE;
	if (db_migrate(&cli->db) < 0)
		return EXIT_FAILURE;
	if (cli->verbosity >= 0)
		printf("%s: schema version %d\n", cli->db_path, DB_SCHEMA_VERSION);
	return EXIT_SUCCESS;
}
