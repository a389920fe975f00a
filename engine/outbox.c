/*
 * outbox.c — queueing a delivery again (outbox.h).
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
