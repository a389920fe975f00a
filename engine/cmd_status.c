/*
 * cmd_status.c — `rollcall status [--json] [--max-age SECONDS]`: the health
 * of a rollcall database, read from the database alone, for people and for
 * monitoring checks (cron, Nagios, systemd timers).
 *
 * Exit status 1 when something needs attention: a dead delivery; rows
 * waiting in incoming, pupils waiting for evaluation, or deliveries due,
 * for longer than --max-age (default 300 s) — which is what a stopped or
 * stuck `rollcall run` looks like from outside.
 */
#include "cmd.h"
#include "engine.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_AGE_DEFAULT 300

struct health {
	long long incoming, incoming_age; /* rows; seconds the oldest waited (-1: none) */
	long long waiting, evaluated_ago; /* pupils; seconds since the last batch (-1: never) */
	long long delivered, pending, retrying, dead, no_endpoint;
	long long overdue; /* seconds the most overdue pending delivery is late */
	long long oldest_id, oldest_attempts; /* the oldest pending delivery (0: none) */
	char oldest_created[32], oldest_endpoint[128];
	long long deferred, deferred_orgs; /* pupils waiting for a policy cut off */
	char deferred_org[32];
};

/* Run sql, which yields one row, into the integer columns given. */
static int row(struct db *db, const char *sql, int n, long long *out[])
{
	sqlite3_stmt *st = db_prepare(db, sql);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	for (int i = 0; rc == SQLITE_ROW && i < n; i++)
		*out[i] = sqlite3_column_type(st, i) == SQLITE_NULL ? -1
								    : sqlite3_column_int64(st, i);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : db_fail(db, "reading the status");
}

static int read_health(struct db *db, struct health *h)
{
	long long total = 0;
	memset(h, 0, sizeof *h);
	/* Every query reads one snapshot: the figures agree with each other. */
	if (db_exec(db, "BEGIN") < 0)
		return -1;
	int rc = row(db,
		     "SELECT count(*), strftime('%s', 'now') - strftime('%s', min(received_at)) "
		     "FROM incoming",
		     2, (long long *[]){ &h->incoming, &h->incoming_age });
	if (!rc)
		rc = row(db,
			 "SELECT (SELECT count(*) FROM changes WHERE seq > coalesce((SELECT value "
			 "FROM meta WHERE key = 'evaluated_seq'), 0)), strftime('%s', 'now') - "
			 "(SELECT value FROM meta WHERE key = 'evaluated_at')",
			 2, (long long *[]){ &h->waiting, &h->evaluated_ago });
	if (!rc)
		rc = row(db,
			 "SELECT (SELECT count(*) FROM deliveries), count(*), "
			 "coalesce(sum(attempts > 0), 0), "
			 "strftime('%s', 'now') - min(next_attempt_at) / 1000 "
			 "FROM deliveries WHERE state = 'pending'",
			 4, (long long *[]){ &total, &h->pending, &h->retrying, &h->overdue });
	if (!rc)
		rc = row(
			db,
			"SELECT coalesce(sum(state = 'dead'), 0), coalesce(sum(state = "
			"'no_endpoint'), 0) FROM deliveries WHERE state IN ('dead', 'no_endpoint')",
			2, (long long *[]){ &h->dead, &h->no_endpoint });
	h->delivered = total - h->pending - h->dead - h->no_endpoint;
	sqlite3_stmt *st = NULL;
	if (!rc && !(st = db_prepare(db, "SELECT d.id, d.attempts, a.created_at, d.endpoint "
					 "FROM deliveries d JOIN actions a ON a.id = d.action_id "
					 "WHERE d.id = (SELECT min(id) FROM deliveries WHERE "
					 "state = 'pending')")))
		rc = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		h->oldest_id = sqlite3_column_int64(st, 0);
		h->oldest_attempts = sqlite3_column_int64(st, 1);
		char *created = column_safe(st, 2, NULL), *endpoint = column_safe(st, 3, NULL);
		snprintf(h->oldest_created, sizeof h->oldest_created, "%s", created ? created : "");
		snprintf(h->oldest_endpoint, sizeof h->oldest_endpoint, "%s",
			 endpoint ? endpoint : "-");
		free(created);
		free(endpoint);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (!rc)
		rc = row(db, "SELECT count(*), count(DISTINCT org) FROM deferred", 2,
			 (long long *[]){ &h->deferred, &h->deferred_orgs });
	if (!rc && h->deferred && (st = db_prepare(db, "SELECT min(org) FROM deferred")) &&
	    sqlite3_step(st) == SQLITE_ROW) {
		char *org = column_safe(st, 0, NULL);
		snprintf(h->deferred_org, sizeof h->deferred_org, "%s", org ? org : "");
		free(org);
	}
	sqlite3_finalize(st);
	db_exec(db, "COMMIT");
	return rc;
}

/* What needs attention, one reason a line; returns how many. */
static int attention(const struct health *h, long max_age, char out[][160])
{
	int n = 0;
	if (h->deferred)
		snprintf(out[n++], 160,
			 "%lld pupils wait for %lld policies cut off for going over their budget "
			 "(%s first)",
			 h->deferred, h->deferred_orgs, h->deferred_org);
	if (h->dead)
		snprintf(out[n++], 160,
			 "%lld dead deliveries (see: rollcall deliveries --failed; then rollcall "
			 "redeliver ID...)",
			 h->dead);
	if (h->incoming && h->incoming_age > max_age)
		snprintf(out[n++], 160,
			 "the oldest incoming row has waited %lld s: is rollcall run running?",
			 h->incoming_age);
	if (h->waiting && (h->evaluated_ago < 0 || h->evaluated_ago > max_age))
		snprintf(out[n++], 160,
			 "%lld pupils wait for evaluation and no batch has committed for %s: is "
			 "rollcall run running?",
			 h->waiting, h->evaluated_ago < 0 ? "ever" : "too long");
	if (h->pending && h->overdue > max_age)
		snprintf(out[n++], 160,
			 "a delivery has been due for %lld s: is rollcall run delivering?",
			 h->overdue);
	return n;
}

static void add_path(const char *path, void *arg)
{
	char *safe = text_safe(path, strlen(path), NULL); /* a file name is any bytes */
	json_array_append_new(arg, json_string(safe));
	free(safe);
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	int json = 0;
	long max_age = MAX_AGE_DEFAULT;
	const char *age = NULL;
	for (int i = 1, got; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if ((got = cmd_option(argc, argv, &i, "--max-age", &age)) < 0)
			return cmd_usage(cli);
		else if (!got)
			return cmd_usage(cli);
	}
	if (age) {
		char *end;
		max_age = strtol(age, &end, 10);
		if (*end || end == age || max_age < 0) {
			error("--max-age: not a number of seconds: %s", age);
			return EXIT_USAGE;
		}
	}
	struct health h;
	if (read_health(&cli->db, &h) < 0)
		return EXIT_FAILURE;
	char reasons[5][160];
	int n = attention(&h, max_age, reasons);
	/* drafts and backups in the policies directory: safe, but said */
	json_t *unnamed = json_array();
	engine_unnamed_files(cli->cfg.policies, add_path, unnamed);

	if (json) {
		json_t *why = json_array();
		for (int i = 0; i < n; i++)
			json_array_append_new(why, json_string(reasons[i]));
		json_t *o = json_pack(
			"{s:s, s:o, s:o, s:{s:I, s:o}, s:{s:I, s:o, s:I}, s:{s:I, s:I, s:I, s:I, "
			"s:I}, s:o}",
			"status", n ? "attention" : "ok", "attention", why, "not_loaded", unnamed,
			"incoming", "rows", (json_int_t)h.incoming, "oldest_age_s",
			h.incoming ? json_integer(h.incoming_age) : json_null(), "evaluation",
			"pupils_waiting", (json_int_t)h.waiting, "last_batch_age_s",
			h.evaluated_ago < 0 ? json_null() : json_integer(h.evaluated_ago),
			"pupils_deferred", (json_int_t)h.deferred, "deliveries", "delivered",
			(json_int_t)h.delivered, "pending", (json_int_t)h.pending, "retrying",
			(json_int_t)h.retrying, "dead", (json_int_t)h.dead, "no_endpoint",
			(json_int_t)h.no_endpoint, "oldest_pending",
			h.oldest_id ? json_pack("{s:I, s:s, s:s, s:I}", "id",
						(json_int_t)h.oldest_id, "endpoint",
						h.oldest_endpoint, "created_at", h.oldest_created,
						"attempts", (json_int_t)h.oldest_attempts)
				    : json_null());
		char *line = json_dumps(o, JSON_COMPACT);
		puts(line);
		free(line);
		json_decref(o);
		return n ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	if (cli->verbosity < 0) { /* -q: only what needs attention */
		json_decref(unnamed);
		for (int i = 0; i < n; i++)
			printf("attention: %s\n", reasons[i]);
		return n ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	size_t k;
	json_t *path;
	json_array_foreach(unnamed, k, path)
		printf("not loaded   %s: only la-NNN.lua and trust-ID.lua are policies\n",
		       json_string_value(path));
	json_decref(unnamed);
	printf("incoming     %lld rows waiting", h.incoming);
	if (h.incoming)
		printf(", the oldest for %lld s", h.incoming_age);
	printf("\nevaluation   %lld pupils waiting, ", h.waiting);
	if (h.evaluated_ago < 0)
		printf("no batch yet\n");
	else
		printf("last batch %lld s ago\n", h.evaluated_ago);
	if (h.deferred)
		printf("             %lld pupils wait for a policy cut off (%s first)\n",
		       h.deferred, h.deferred_org);
	printf("deliveries   %lld delivered, %lld pending (%lld retrying), %lld dead, %lld with no "
	       "endpoint\n",
	       h.delivered, h.pending, h.retrying, h.dead, h.no_endpoint);
	if (h.oldest_id)
		printf("oldest pending delivery %lld to %s, action of %s, %lld attempts\n",
		       h.oldest_id, h.oldest_endpoint, h.oldest_created, h.oldest_attempts);
	for (int i = 0; i < n; i++)
		printf("attention: %s\n", reasons[i]);
	if (!n)
		printf("ok\n");
	return n ? EXIT_FAILURE : EXIT_SUCCESS;
}
