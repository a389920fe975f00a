/*
 * cmd_run.c — `rollcall run [--once] [--no-deliver]`.
 *
 * --once expires the proposed legal steps nobody decided in time
 * (signoff.c), takes every row waiting in incoming and every pupil whose
 * marks changed, batch by batch until there is nothing left (each batch one
 * transaction), then delivers webhooks until none is due now; retries due
 * later stay pending for the next run. Without --once it is the service
 * (daemon.c): it keeps watching until SIGTERM or SIGINT.
 */
#include "cmd.h"
#include "daemon.h"
#include "deliver.h"
#include "engine.h"
#include "log.h"
#include "signoff.h"

#include <stdio.h>
#include <string.h>

static void report(const char *path, const char *err, int kept)
{
	(void)kept;
	log_event(LOG_ERROR, "policy not loaded", "file", path, "error", err, NULL);
}

static int evaluate(struct cli *cli)
{
	struct engine e;
	if (engine_open(&e, &cli->db, &cli->cfg) < 0)
		return -1;
	if (engine_load_policies(&e, NULL, 0, report) < 0) {
		engine_close(&e);
		return -1;
	}
	char count[16];
	snprintf(count, sizeof count, "%d", e.set.npolicies);
	log_event(LOG_INFO, "policies loaded", "count", count, "dir", cli->cfg.policies, NULL);
	struct batch_stats st;
	/* first, so that a step whose proposal expires may be proposed again
	 * in this run (once its cooldown allows) */
	long expired = signoff_expire(&e.actions, "service");
	if (expired < 0) {
		engine_close(&e);
		return (int)expired;
	}
	int rc;
	/* a batch the disk cannot take is tried again smaller, down to one row */
	while ((rc = engine_batch(&e, &st)) > 0 || (rc == DB_FULL && engine_shrink(&e)))
		if (rc > 0)
			engine_log_batch(&st);
	engine_close(&e);
	return rc;
}

static int deliver(struct cli *cli)
{
	struct deliver *d = deliver_new(&cli->db, &cli->cfg);
	struct deliver_stats st;
	if (!d)
		return -1;
	int rc = deliver_until_idle(d, &st);
	deliver_free(d);
	if (st.sent)
		deliver_log(&st);
	return rc;
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	int once = 0, no_deliver = 0;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--once"))
			once = 1;
		else if (cmd_flag(argv, &i, "--no-deliver"))
			no_deliver = 1;
		else
			return cmd_usage(cli);
	}
	log_structured = 1;
	/* Secrets are needed only to send; a bad one is a configuration error. */
	if (!no_deliver && config_load_secrets(&cli->cfg) < 0)
		return EXIT_USAGE;
	if (!once)
		return daemon_run(&cli->db, &cli->cfg, !no_deliver) < 0 ? EXIT_FAILURE
									: EXIT_SUCCESS;
	if (evaluate(cli) < 0)
		return EXIT_FAILURE;
	if (!no_deliver && deliver(cli) < 0)
		return EXIT_FAILURE;
	return EXIT_SUCCESS;
}
