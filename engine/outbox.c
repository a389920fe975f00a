/*
 * outbox.c — queueing a delivery again (outbox.h), one or all those of an
 * endpoint since a time.
 */
#include "outbox.h"

#include <stdio.h>
#include <string.h>

int outbox_redeliver(struct db *db, const struct config *cfg, long long id, const char *org,
		     const char *who, const char *via, char *why, size_t why_size)
{
	sqlite3_stmt *get = db_prepare(db, "SELECT d.state, d.endpoint, a.org, d.action_id "
					   "FROM deliveries d JOIN actions a ON a.id = d.action_id "
					   "WHERE d.id = ?1 AND (?2 IS NULL OR a.org = ?2)");
	if (!get)
		return DB_FAILED;
	sqlite3_bind_int64(get, 1, id);
	if (org)
		sqlite3_bind_text(get, 2, org, -1, SQLITE_STATIC);
	int rc = sqlite3_step(get);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(get);
		if (rc != SQLITE_DONE)
			return db_fail(db, "reading a delivery");
		snprintf(why, why_size, "delivery %lld: no such delivery", id);
		return OUTBOX_NOT_FOUND;
	}
	char state[16], endpoint[128] = "", owner[64];
	snprintf(state, sizeof state, "%s", sqlite3_column_text(get, 0));
	if (sqlite3_column_text(get, 1))
		snprintf(endpoint, sizeof endpoint, "%s", sqlite3_column_text(get, 1));
	snprintf(owner, sizeof owner, "%s", sqlite3_column_text(get, 2));
	long long action_id = sqlite3_column_int64(get, 3);
	sqlite3_finalize(get);

	if (strcmp(state, "dead") && strcmp(state, "no_endpoint")) {
		snprintf(why, why_size, "delivery %lld is %s, not dead", id, state);
		return OUTBOX_NOT_DEAD;
	}
	if (!config_endpoint(cfg, endpoint)) {
		snprintf(why, why_size,
			 "delivery %lld: endpoint \"%s\" is not in the configuration", id,
			 endpoint);
		return OUTBOX_NO_ENDPOINT;
	}
	sqlite3_stmt *set =
		db_prepare(db, "UPDATE deliveries SET state = 'pending', attempts = 0, "
			       "next_attempt_at = strftime('%s', 'now') * 1000 WHERE id = ?");
	if (!set)
		return DB_FAILED;
	sqlite3_bind_int64(set, 1, id);
	rc = db_step_done(db, set, "queueing a delivery");
	sqlite3_finalize(set);
	if (rc < 0)
		return rc;
	char detail[64];
	snprintf(detail, sizeof detail, "delivery %lld", id);
	struct audit_entry e = { .who = who,
				 .via = via,
				 .org = owner,
				 .what = "delivery.redeliver",
				 .action_id = action_id,
				 .before = state,
				 .after = "pending",
				 .detail = detail };
	return audit_add(db, &e);
}

/* The deliveries a bulk redeliver selects, for its count and its update. */
#define BULK_MATCH                                                                                 \
	"FROM deliveries d JOIN actions a ON a.id = d.action_id WHERE d.endpoint = ?1 AND "        \
	"d.state = ?2 AND coalesce(d.created_at, a.created_at) >= ?3 AND (?4 IS NULL OR a.org "    \
	"= ?4)"

static void bind_match(sqlite3_stmt *st, const char *endpoint, const char *state, const char *since,
		       const char *org)
{
	sqlite3_bind_text(st, 1, endpoint, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, since, -1, SQLITE_STATIC);
	if (org)
		sqlite3_bind_text(st, 4, org, -1, SQLITE_STATIC);
}

int outbox_redeliver_since(struct db *db, const struct config *cfg, const char *endpoint,
			   const char *since, const char *state, const char *org, const char *who,
			   const char *via, long *queued, char *why, size_t why_size)
{
	*queued = 0;
	if (!config_endpoint(cfg, endpoint)) {
		snprintf(why, why_size, "endpoint \"%s\" is not in the configuration", endpoint);
		return OUTBOX_NO_ENDPOINT;
	}
	long long total = 0;
	sqlite3_stmt *count = db_prepare(db, "SELECT count(*) " BULK_MATCH);
	if (!count)
		return DB_FAILED;
	bind_match(count, endpoint, state, since, org);
	int rc = sqlite3_step(count);
	if (rc == SQLITE_ROW)
		total = sqlite3_column_int64(count, 0);
	sqlite3_finalize(count);
	if (rc != SQLITE_ROW)
		return db_fail(db, "counting deliveries");
	if (total > OUTBOX_BULK_MAX) {
		snprintf(why, why_size,
			 "%lld %s deliveries to %s since %s: more than %d at once; nothing queued "
			 "(give a later --since)",
			 total, state, endpoint, since, OUTBOX_BULK_MAX);
		return OUTBOX_TOO_MANY;
	}
	/* per organisation, for its audit row: how many, which ids */
	sqlite3_stmt *orgs =
		db_prepare(db, "SELECT a.org, count(*), min(d.id), max(d.id) " BULK_MATCH
			       " GROUP BY a.org ORDER BY a.org");
	sqlite3_stmt *set = db_prepare(
		db, "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = "
		    "strftime('%s', 'now') * 1000 WHERE id IN (SELECT d.id " BULK_MATCH ")");
	if (!orgs || !set) {
		sqlite3_finalize(orgs);
		sqlite3_finalize(set);
		return DB_FAILED;
	}
	bind_match(orgs, endpoint, state, since, org);
	while ((rc = sqlite3_step(orgs)) == SQLITE_ROW) {
		char detail[400], n[24];
		long long many = sqlite3_column_int64(orgs, 1);
		snprintf(n, sizeof n, "%lld", many);
		snprintf(detail, sizeof detail,
			 "%lld deliveries to %s queued since %s (ids %lld to %lld), each with its "
			 "webhook-id",
			 many, endpoint, since, (long long)sqlite3_column_int64(orgs, 2),
			 (long long)sqlite3_column_int64(orgs, 3));
		struct audit_entry e = { .who = who,
					 .via = via,
					 .org = (const char *)sqlite3_column_text(orgs, 0),
					 .what = "delivery.redeliver_bulk",
					 .before = state,
					 .after = "pending",
					 .detail = detail };
		if ((rc = audit_add(db, &e)) < 0)
			goto out;
		*queued += (long)many;
	}
	if (rc != SQLITE_DONE) {
		rc = db_fail(db, "reading deliveries");
		goto out;
	}
	bind_match(set, endpoint, state, since, org);
	rc = db_step_done(db, set, "queueing deliveries");
out:
	sqlite3_finalize(orgs);
	sqlite3_finalize(set);
	return rc;
}
