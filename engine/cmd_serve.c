/*
 * cmd_serve.c — `rollcall serve`: the API for the people of each
 * organisation (serve.c, api.c; docs/API.md), until SIGTERM.
 */
#include "cmd.h"
#include "log.h"
#include "serve.h"

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return cmd_usage(cli);
	/* main.c opened the database to check its version; each of the
	 * server's threads opens its own */
	db_close(&cli->db);
	log_structured = 1;
	return serve_run(&cli->cfg, cli->db_path) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
