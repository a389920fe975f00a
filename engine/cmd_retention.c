/*
 * cmd_retention.c — `rollcall retention [--dry-run]`: what is past its
 * retention period (retention.h), counted, and removed unless --dry-run.
 * The service does the same once a day; this is for a database no service
 * runs on, or to see what tomorrow's run will take.
 */
#include "cmd.h"
#include "audit.h"
#include "date.h"
#include "retention.h"
#include "util.h"

#include <stdio.h>

static void print_counts(const struct retention_counts *n, int dry)
{
	const struct {
		const char *what;
		long long count;
	} rows[] = {
		{ "marks", n->marks },
		{ "mark amendments", n->amendments },
		{ "registers (academic years)", n->registers },
		{ "actions", n->actions },
		{ "deliveries", n->deliveries },
		{ "delivery attempts", n->attempts },
		{ "audit rows of those actions", n->audit },
		{ "cases", n->cases },
		{ "audit rows of exports", n->exports },
		{ "webhook bodies and errors", n->bodies },
		{ "receiver responses", n->responses },
		{ "rejected rows", n->rejected },
		{ "console sign-ins ended", n->sessions },
		{ "sign-in links past their day", n->links },
	};
	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
		printf("  %-30s %lld\n", rows[i].what, rows[i].count);
	if (!dry)
		printf("%ld transactions; the longest held the write lock %.3f s\n",
		       n->transactions, n->longest_lock);
}

int cmd_retention(struct cli *cli, int argc, char **argv)
{
	int dry = 0;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--dry-run"))
			dry = 1;
		else
			return cmd_usage(cli);
	}
	int today = date_today(), marks, actions, payloads;
	char m[11], a[11], p[11];
	retention_cutoffs(&cli->cfg, today, &marks, &actions, &payloads);
	printf("%s: marks dated before %s (marks_years %ld), actions recorded before %s "
	       "(actions_years %ld), payloads before %s (payloads_days %ld)\n",
	       dry ? "would remove" : "removing", date_format(marks, m),
	       cli->cfg.retention.marks_years, date_format(actions, a),
	       cli->cfg.retention.actions_years, date_format(payloads, p),
	       cli->cfg.retention.payloads_days);
	struct retention_counts n;
	if (dry) {
		if (retention_count(&cli->db, &cli->cfg, today, &n) < 0)
			return EXIT_FAILURE;
		print_counts(&n, 1);
		return EXIT_SUCCESS;
	}
	char via[300];
	audit_cli_via(via, sizeof via);
	int rc = retention_apply(&cli->db, &cli->cfg, today, 0, via + 4, via, &n);
	print_counts(&n, 0);
	if (rc == DB_BUSY)
		error("%s: another writer kept the database locked: what is counted above was "
		      "removed (and audited when a run completes); run it again",
		      cli->db.path);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
