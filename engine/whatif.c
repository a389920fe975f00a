/*
 * whatif.c — replays into TEMP tables, one or two side by side, and what
 * differs between them (whatif.h).
 */
#include "whatif.h"

#include "date.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static const char *const outcomes[] = { "actions", "cases", "deliveries", NULL };

int whatif_open(struct whatif *w, struct db *db, const char *path, const struct config *cfg)
{
	memset(w, 0, sizeof *w);
	w->db = db;
	if (db_open(db, path, DB_READONLY) < 0)
		return -1;
	if (db_check_version(db) < 0 || db_shadow(db, outcomes) < 0) {
		db_close(db);
		return -1;
	}
	if (engine_open(&w->e, db, cfg) < 0) {
		db_close(db);
		return -1;
	}
	w->e.actions.approve_as = "replay (approved on the day proposed)";
	return 0;
}

void whatif_close(struct whatif *w)
{
	engine_close(&w->e);
	if (w->db)
		db_close(w->db);
	w->db = NULL;
}

int whatif_replay(struct whatif *w, struct policy *p, struct replay *r, int from, int to)
{
	char first[11] = "0000-00-00", last[11] = "9999-99-99";
	if (from != INT_MIN)
		date_format(from, first);
	if (to != INT_MAX)
		date_format(to, last);
	r->to = to;
	char *keep = sqlite3_mprintf("DELETE FROM temp.actions WHERE date < %Q OR date > %Q; "
				     "DELETE FROM temp.deliveries WHERE action_id NOT IN "
				     "(SELECT id FROM temp.actions)",
				     first, last);
	int rc = db_exec(w->db, "DELETE FROM temp.actions; DELETE FROM temp.cases; "
				"DELETE FROM temp.deliveries") < 0 ||
		 engine_replay(&w->e, p, r) < 0 || db_exec(w->db, keep) < 0;
	sqlite3_free(keep);
	return rc ? -1 : 0;
}

int whatif_keep_first(struct whatif *w)
{
	const char *sql = w->first_kept ? "DELETE FROM temp.replay_first; "
					  "INSERT INTO temp.replay_first SELECT * FROM actions"
					: "CREATE TEMP TABLE replay_first AS SELECT * FROM actions";
	if (db_exec(w->db, sql) < 0)
		return -1;
	w->first_kept = 1;
	return 0;
}

int whatif_compare(struct whatif *w, whatif_difference_fn each, void *arg, long only[3],
		   long *pupils)
{
	static const char *const sql =
		"SELECT * FROM (SELECT 1, date, upn, action, kind FROM replay_first EXCEPT "
		"SELECT 1, date, upn, action, kind FROM actions) UNION ALL "
		"SELECT * FROM (SELECT 2, date, upn, action, kind FROM actions EXCEPT "
		"SELECT 2, date, upn, action, kind FROM replay_first) ORDER BY 2, 3, 1";
	sqlite3_stmt *st = db_prepare(w->db, sql);
	sqlite3_stmt *distinct = db_prepare(
		w->db, "SELECT count(DISTINCT upn) FROM (SELECT date, upn, action, kind FROM "
		       "replay_first EXCEPT SELECT date, upn, action, kind FROM actions UNION "
		       "SELECT * FROM (SELECT date, upn, action, kind FROM actions EXCEPT "
		       "SELECT date, upn, action, kind FROM replay_first))");
	int rc = SQLITE_ERROR, more = 1;
	only[0] = only[1] = only[2] = 0;
	while (st && distinct && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int side = sqlite3_column_int(st, 0);
		only[side]++;
		if (more && each)
			more = !each(side, (const char *)sqlite3_column_text(st, 1),
				     (const char *)sqlite3_column_text(st, 2),
				     (const char *)sqlite3_column_text(st, 3),
				     (const char *)sqlite3_column_text(st, 4), arg);
	}
	if (rc == SQLITE_DONE && pupils) {
		rc = sqlite3_step(distinct);
		*pupils = rc == SQLITE_ROW ? sqlite3_column_int64(distinct, 0) : 0;
		rc = rc == SQLITE_ROW ? SQLITE_DONE : rc;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(distinct);
	if (rc != SQLITE_DONE)
		return db_fail(w->db, "comparing replays");
	return 0;
}

long long whatif_taken_as_approved(struct whatif *w, int first)
{
	char sql[160];
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM %s WHERE action = 'legal_step' AND signoff = 1",
		 first ? "replay_first" : "actions");
	sqlite3_stmt *st = db_prepare(w->db, sql);
	long long n = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else if (st)
		db_fail(w->db, "counting legal steps");
	sqlite3_finalize(st);
	return n;
}

/* Run sql over table, whose rows are (label, count), into o[key]. */
static int counts(struct whatif *w, json_t *o, const char *key, const char *sql, const char *table)
{
	char *text = sqlite3_mprintf(sql, table);
	sqlite3_stmt *st = db_prepare(w->db, text);
	sqlite3_free(text);
	json_t *by = json_object();
	int rc = SQLITE_ERROR;
	while (st && (rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(by, (const char *)sqlite3_column_text(st, 0),
				    json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_finalize(st);
	json_object_set_new(o, key, by);
	if (rc != SQLITE_DONE)
		return db_fail(w->db, "counting a replay's actions");
	return 0;
}

json_t *whatif_side_json(struct whatif *w, int first)
{
	const char *table = first ? "replay_first" : "actions";
	char *sql = sqlite3_mprintf("SELECT count(*), count(DISTINCT pupil) FROM %s", table);
	sqlite3_stmt *st = db_prepare(w->db, sql);
	sqlite3_free(sql);
	if (!st)
		return NULL;
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_fail(w->db, "counting a replay's actions");
		sqlite3_finalize(st);
		return NULL;
	}
	json_t *o = json_pack("{s:I, s:I}", "actions", (json_int_t)sqlite3_column_int64(st, 0),
			      "pupils", (json_int_t)sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
	long long approved = whatif_taken_as_approved(w, first);
	if (approved < 0 ||
	    counts(w, o, "by_kind",
		   "SELECT action || ' ' || kind, count(*) FROM %s GROUP BY 1 ORDER BY 1",
		   table) < 0 ||
	    counts(w, o, "by_month",
		   "SELECT substr(date, 1, 7), count(*) FROM %s GROUP BY 1 ORDER BY 1",
		   table) < 0) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "legal_steps_taken_as_approved", json_integer(approved));
	return o;
}

int whatif_latest_day(struct whatif *w, int *day)
{
	/* a mark's id is (2 × day + session) << 32 | pupil: the largest is
	 * the latest day's, found at the end of the table */
	sqlite3_stmt *st = db_prepare(w->db, "SELECT max(id) >> 33 FROM marks");
	*day = -1;
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*day = sqlite3_column_int(st, 0);
	else if (rc != SQLITE_ROW)
		rc = db_fail(w->db, "reading the latest day stored");
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}
