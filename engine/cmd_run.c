/*
 * cmd_run.c — `rollcall run --once [--no-deliver]`: take every row waiting
 * in incoming and every pupil whose marks changed, batch by batch, until
 * there is nothing left; each batch is one transaction.
 *
 * Webhook delivery and the long-running daemon come with the delivery and
 * daemon work (docs/ARCHITECTURE.md); until then actions are recorded and
 * --once is required.
 */
#include "cmd.h"
#include "engine.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static void report(const char *path, const char *err)
{
	log_event(LOG_ERROR, "policy not loaded", "file", path, "error", err, NULL);
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	int once = 0;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--once"))
			once = 1;
		else if (cmd_flag(argv, &i, "--no-deliver"))
			; /* nothing is delivered yet: see the comment above */
		else
			return cmd_usage(cli);
	}
	if (!once)
		return cmd_usage(cli);

	struct engine e;
	if (engine_open(&e, &cli->db, &cli->cfg) < 0)
		return EXIT_FAILURE;
	if (engine_load_policies(&e, NULL, 0, report) < 0) {
		engine_close(&e);
		return EXIT_FAILURE;
	}
	char n[32];
	snprintf(n, sizeof n, "%d", e.npolicies);
	log_event(LOG_INFO, "policies loaded", "count", n, "dir", cli->cfg.policies, NULL);

	struct batch_stats st, total = { 0 };
	int rc;
	while ((rc = engine_batch(&e, &st)) > 0) {
		char marks[24], rejected[24], pupils[24], calls[24], actions[24], errors[24],
			secs[24];
		snprintf(marks, sizeof marks, "%ld", st.marks);
		snprintf(rejected, sizeof rejected, "%ld", st.rejected);
		snprintf(pupils, sizeof pupils, "%ld", st.pupils);
		snprintf(calls, sizeof calls, "%ld", st.calls);
		snprintf(actions, sizeof actions, "%ld", st.actions);
		snprintf(errors, sizeof errors, "%ld", st.errors);
		snprintf(secs, sizeof secs, "%.3f", st.seconds);
		log_event(LOG_INFO, "batch", "marks", marks, "rejected", rejected, "pupils", pupils,
			  "policy_calls", calls, "actions", actions, "policy_errors", errors,
			  "seconds", secs, NULL);
		total.actions += st.actions;
	}
	engine_close(&e);
	return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
