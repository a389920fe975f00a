/*
 * cmd_run.c — `rollcall run --once [--no-deliver]`: take every row waiting
 * in incoming and every pupil whose marks changed, batch by batch, until
 * there is nothing left (each batch one transaction), then deliver webhooks
 * until none is due now. Retries due later stay pending for the next run.
 *
 * The long-running daemon (run without --once) comes with the daemon work;
 * until then --once is required.
 */
#include "cmd.h"
#include "deliver.h"
#include "engine.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static void report(const char *path, const char *err)
{
	log_event(LOG_ERROR, "policy not loaded", "file", path, "error", err, NULL);
}

static const char *num(char buf[24], long n)
{
	snprintf(buf, 24, "%ld", n);
	return buf;
}

static int evaluate(struct cli *cli)
{
	struct engine e;
	char a[24], b[24], c[24], d[24], f[24], g[24], secs[24];
	if (engine_open(&e, &cli->db, &cli->cfg) < 0)
		return -1;
	if (engine_load_policies(&e, NULL, 0, report) < 0) {
		engine_close(&e);
		return -1;
	}
	log_event(LOG_INFO, "policies loaded", "count", num(a, e.npolicies), "dir",
		  cli->cfg.policies, NULL);
	struct batch_stats st;
	int rc;
	while ((rc = engine_batch(&e, &st)) > 0) {
		snprintf(secs, sizeof secs, "%.3f", st.seconds);
		log_event(LOG_INFO, "batch", "marks", num(a, st.marks), "rejected",
			  num(b, st.rejected), "pupils", num(c, st.pupils), "policy_calls",
			  num(d, st.calls), "actions", num(f, st.actions), "policy_errors",
			  num(g, st.errors), "seconds", secs, NULL);
	}
	engine_close(&e);
	return rc;
}

static int deliver(struct cli *cli)
{
	struct deliver *d = deliver_new(&cli->db, &cli->cfg);
	struct deliver_stats st;
	char a[24], b[24], c[24], e[24];
	if (!d)
		return -1;
	int rc = deliver_until_idle(d, &st);
	deliver_free(d);
	if (st.sent)
		log_event(LOG_INFO, "delivered", "sent", num(a, st.sent), "delivered",
			  num(b, st.delivered), "retrying", num(c, st.retried), "dead",
			  num(e, st.dead), NULL);
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
	if (!once)
		return cmd_usage(cli);
	/* Secrets are needed only to send; a bad one is a configuration error. */
	if (!no_deliver && config_load_secrets(&cli->cfg) < 0)
		return EXIT_USAGE;
	if (evaluate(cli) < 0)
		return EXIT_FAILURE;
	if (!no_deliver && deliver(cli) < 0)
		return EXIT_FAILURE;
	return EXIT_SUCCESS;
}
