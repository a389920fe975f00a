/*
 * cmd_deliveries.c — the outbox from the command line:
 *
 *   rollcall deliveries [--failed] [--json]   every delivery (or only those
 *                                              dead, without an endpoint, or
 *                                              retrying), newest first
 *   rollcall redeliver ID...                   queue dead (or endpoint-less)
 *                                              deliveries again, same webhook-id
 *   rollcall redeliver --endpoint NAME --since TIME [--state dead|no_endpoint]
 *                                              all of an endpoint's since TIME
 *                                              (outbox_redeliver_since: at most
 *                                              OUTBOX_BULK_MAX, audited)
 */
#include "cmd.h"
#include "outbox.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void iso_ms(long long ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cmd_deliveries(struct cli *cli, int argc, char **argv)
{
	int failed = 0, json = 0, rc;
	for (int i = 1; i < argc;) {
		if (cmd_flag(argv, &i, "--failed"))
			failed = 1;
		else if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else
			return cmd_usage(cli);
	}
	sqlite3_stmt *st = db_prepare(
		&cli->db,
		"SELECT id, action_id, endpoint, webhook_id, state, attempts, last_status, "
		"last_error, next_attempt_at, event FROM deliveries WHERE ?1 = 0 OR state IN "
		"('dead', 'no_endpoint') OR (state = 'pending' AND attempts > 0) "
		"ORDER BY id DESC");
	if (!st)
		return EXIT_FAILURE;
	sqlite3_bind_int(st, 1, failed);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 4);
		char next[32] = "";
		if (state && !strcmp(state, "pending"))
			iso_ms(sqlite3_column_int64(st, 8), next);
		/* Stored text leaves only through text_safe: last_error is the
		 * start of a receiver's answer, cut at a byte count, and may end
		 * mid-character or hold anything a receiver sent. */
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
			json_object_set_new(o, "action_id",
					    json_integer(sqlite3_column_int64(st, 1)));
			json_object_set_new(o, "endpoint", column_json(st, 2, NULL));
			json_object_set_new(o, "webhook_id", column_json(st, 3, NULL));
			json_object_set_new(o, "state", column_json(st, 4, NULL));
			json_object_set_new(o, "attempts", json_integer(sqlite3_column_int(st, 5)));
			json_object_set_new(o, "last_status",
					    sqlite3_column_type(st, 6) == SQLITE_NULL
						    ? json_null()
						    : json_integer(sqlite3_column_int(st, 6)));
			json_object_set_new(o, "last_error", column_json(st, 7, TEXT_KEEP_JSON));
			json_object_set_new(o, "next_attempt_at",
					    *next ? json_string(next) : json_null());
			/* the webhook type it sends; null from before schema version 7 */
			json_object_set_new(o, "event", column_json(st, 9, NULL));
			char *line = json_dumps(o, JSON_COMPACT);
			puts(line);
			free(line);
			json_decref(o);
			continue;
		}
		char *endpoint = column_safe(st, 2, NULL), *safe_state = column_safe(st, 4, NULL),
		     *status = column_safe(st, 6, NULL), *error_text = column_safe(st, 7, NULL);
		printf("%-7lld action %-7lld %-18s %-11s attempts %-3d %-4s %s %s\n",
		       (long long)sqlite3_column_int64(st, 0),
		       (long long)sqlite3_column_int64(st, 1), endpoint ? endpoint : "-",
		       safe_state ? safe_state : "", sqlite3_column_int(st, 5),
		       status ? status : "-", next, error_text ? error_text : "");
		free(endpoint);
		free(safe_state);
		free(status);
		free(error_text);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_fail(&cli->db, "reading deliveries");
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

/* redeliver --endpoint NAME --since TIME [--state dead|no_endpoint]: after
 * an outage, every delivery that died in it, in one transaction. */
static int redeliver_bulk(struct cli *cli, int argc, char **argv, const char *who, const char *via)
{
	const char *endpoint = NULL, *since = NULL, *state = "dead";
	long long ms;
	for (int i = 1, got; i < argc;) {
		if ((got = cmd_option(argc, argv, &i, "--endpoint", &endpoint)) ||
		    (got = cmd_option(argc, argv, &i, "--since", &since)) ||
		    (got = cmd_option(argc, argv, &i, "--state", &state))) {
			if (got < 0)
				return EXIT_USAGE;
			continue;
		}
		return cmd_usage(cli);
	}
	if (!endpoint || !since) {
		error("redeliver: --endpoint and --since go together");
		return EXIT_USAGE;
	}
	if (config_parse_time(since, &ms) < 0) {
		error("--since %s: not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)", since);
		return EXIT_USAGE;
	}
	if (strcmp(state, "dead") && strcmp(state, "no_endpoint")) {
		error("--state %s: only dead or no_endpoint deliveries are queued again", state);
		return EXIT_USAGE;
	}
	char why[256];
	long queued;
	if (db_begin(&cli->db) < 0)
		return EXIT_FAILURE;
	int rc = outbox_redeliver_since(&cli->db, &cli->cfg, endpoint, since, state, NULL, who, via,
					&queued, why, sizeof why);
	if (rc != 0) {
		db_rollback(&cli->db);
		if (rc > 0)
			error("%s", why);
		return rc > 0 ? EXIT_USAGE : EXIT_FAILURE;
	}
	if (db_commit(&cli->db) < 0)
		return EXIT_FAILURE;
	if (cli->verbosity >= 0)
		printf("%ld %s deliveries to %s since %s queued again\n", queued, state, endpoint,
		       since);
	return EXIT_SUCCESS;
}

int cmd_redeliver(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return cmd_usage(cli);
	char via[160];
	audit_cli_via(via, sizeof via);
	const char *who = via + strlen("cli:"); /* the local user */
	if (!strncmp(argv[1], "--", 2))
		return redeliver_bulk(cli, argc, argv, who, via);
	if (db_begin(&cli->db) < 0)
		return EXIT_FAILURE;
	int status = EXIT_SUCCESS;
	for (int i = 1; i < argc; i++) {
		char *end;
		long long id = strtoll(argv[i], &end, 10);
		if (*end || end == argv[i] || id <= 0) {
			error("%s: not a delivery id", argv[i]);
			status = EXIT_USAGE;
			continue;
		}
		char why[256];
		int rc = outbox_redeliver(&cli->db, &cli->cfg, id, NULL, who, via, why, sizeof why);
		if (rc < 0) {
			db_rollback(&cli->db);
			return EXIT_FAILURE;
		}
		if (rc > 0) {
			error("%s", why);
			status = EXIT_USAGE;
		} else if (cli->verbosity >= 0) {
			printf("delivery %lld queued again\n", id);
		}
	}
	return db_commit(&cli->db) < 0 ? EXIT_FAILURE : status;
}
