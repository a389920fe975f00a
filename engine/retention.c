/*
 * retention.c — removing what is past its time (retention.h).
 *
 * Each kind of row is one step of the table below: a statement that
 * removes (or expunges) at most RETENTION_ROWS rows past the cut, run in
 * transactions of its own until it removes none, and a statement that
 * counts them for --dry-run. Every statement finds its rows through a
 * key or an index in order of age: marks and registers by their ids
 * (day, resp. academic year, in the high bits: db.c), amendments by
 * mark_history_mark, payloads by the partial indexes that hold only the
 * rows not yet expunged, rejected rows by id (their order of arrival).
 * Actions go by their own step (remove_actions): each with its
 * deliveries, attempts and audit rows, walked by actions_created.
 */
#include "retention.h"

#include "audit.h"
#include "console.h"
#include "date.h"
#include "log.h"
#include "util.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

enum cut { CUT_MARK_ID, CUT_REGISTER_ID, CUT_ACTIONS_AT, CUT_PAYLOADS_AT };

/* An action recorded before the cut goes unless it is a proposal waiting,
 * belongs to a case still open or closed since the cut, or has a delivery
 * still to send (the sender may hold it; it goes once sent or dead). cut:
 * the parameter that holds the actions' cut, a timestamp (a case's closed
 * is a date). */
#define RETENTION_ACTION_GOES(cut)                                                                 \
	"(actions.created_at < " cut " AND actions.state IS NOT 'proposed' AND (actions.case_id "  \
	"IS NULL OR EXISTS (SELECT 1 FROM cases c WHERE c.id = actions.case_id AND c.closed IS "   \
	"NOT NULL AND c.closed < substr(" cut ", 1, 10))) AND NOT EXISTS (SELECT 1 FROM "          \
	"deliveries p WHERE p.action_id = actions.id AND p.state = 'pending'))"

#define N(field) offsetof(struct retention_counts, field)
#define STR_(x)	 #x
#define STR(x)	 STR_(x) /* a number's text in SQL: "(8 * 3600)" */

static const struct step {
	const char *name;  /* the count's key in the audit row */
	size_t count;	   /* its field in struct retention_counts */
	enum cut cut;	   /* what ?1 is */
	int after_actions; /* runs once the actions have gone (remove_actions) */
	const char *where;
	const char *change; /* the statement, with ?2 the rows per transaction */
} steps[] = {
	/* amendments before the marks they amend: mark < the first kept id */
	{ "amendments", N(amendments), CUT_MARK_ID, 0,
	  "SELECT count(*) FROM mark_history WHERE mark < ?1",
	  "DELETE FROM mark_history WHERE id IN (SELECT id FROM mark_history WHERE mark < ?1 "
	  "LIMIT ?2)" },
	{ "marks", N(marks), CUT_MARK_ID, 0, "SELECT count(*) FROM marks WHERE id < ?1",
	  "DELETE FROM marks WHERE id IN (SELECT id FROM marks WHERE id < ?1 ORDER BY id LIMIT "
	  "?2)" },
	/* a register holds an academic year: it goes once the whole year is past */
	{ "registers", N(registers), CUT_REGISTER_ID, 0,
	  "SELECT count(*) FROM registers WHERE id < ?1",
	  "DELETE FROM registers WHERE id IN (SELECT id FROM registers WHERE id < ?1 ORDER BY id "
	  "LIMIT ?2)" },
	/* after the actions (remove_actions): a case closed before the cut with
	 * none of its actions left */
	{ "cases", N(cases), CUT_ACTIONS_AT, 1,
	  "SELECT count(*) FROM cases WHERE closed IS NOT NULL AND closed < substr(?1, 1, 10) AND "
	  "NOT EXISTS (SELECT 1 FROM actions WHERE case_id = cases.id AND NOT "
	  "" RETENTION_ACTION_GOES("?1") ")",
	  "DELETE FROM cases WHERE id IN (SELECT id FROM cases WHERE closed IS NOT NULL AND "
	  "closed < substr(?1, 1, 10) AND NOT EXISTS (SELECT 1 FROM actions WHERE case_id = "
	  "cases.id) LIMIT ?2)" },
	/* an export's audit row names the pupil */
	{ "export_audit", N(exports), CUT_ACTIONS_AT, 0,
	  "SELECT count(*) FROM audit WHERE what = 'pupil.export' AND at < ?1",
	  "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE what = 'pupil.export' AND "
	  "at < ?1 LIMIT ?2)" },
	/* a delivery still pending sends its body as first sent: it keeps it */
	{ "bodies", N(bodies), CUT_PAYLOADS_AT, 0,
	  "SELECT count(*) FROM deliveries WHERE (body IS NOT NULL OR last_error IS NOT NULL) AND "
	  "created_at < ?1 AND state <> 'pending' AND action_id NOT IN (SELECT id FROM actions "
	  "WHERE " RETENTION_ACTION_GOES("?3") ")",
	  "UPDATE deliveries SET body = NULL, last_error = NULL WHERE id IN (SELECT id FROM "
	  "deliveries WHERE (body IS NOT NULL OR last_error IS NOT NULL) AND created_at < ?1 AND "
	  "state <> 'pending' LIMIT ?2)" },
	{ "responses", N(responses), CUT_PAYLOADS_AT, 0,
	  "SELECT count(*) FROM delivery_attempts WHERE response IS NOT NULL AND at < ?1 AND "
	  "delivery NOT IN (SELECT d.id FROM deliveries d JOIN actions ON actions.id = "
	  "d.action_id WHERE " RETENTION_ACTION_GOES("?3") ")",
	  "UPDATE delivery_attempts SET response = NULL WHERE id IN (SELECT id FROM "
	  "delivery_attempts WHERE response IS NOT NULL AND at < ?1 LIMIT ?2)" },
	{ "rejected", N(rejected), CUT_PAYLOADS_AT, 0,
	  "SELECT count(*) FROM rejected WHERE rejected_at < ?1",
	  "DELETE FROM rejected WHERE id IN (SELECT id FROM rejected WHERE rejected_at < ?1 "
	  "ORDER BY id LIMIT ?2)" },
	/* the console's sign-ins that ended (signed out, or idle past
	 * CONSOLE_IDLE_SECONDS) and its links past their day, before the cut:
	 * who signed in when is no longer needed, nor what would let them in */
	{ "sessions", N(sessions), CUT_PAYLOADS_AT, 0,
	  "SELECT count(*) FROM console_sessions WHERE coalesce(strftime('%s', closed_at), "
	  "seen_at + " STR(CONSOLE_IDLE_SECONDS) ") < CAST(strftime('%s', ?1) AS INTEGER)",
	  "DELETE FROM console_sessions WHERE sha256 IN (SELECT sha256 FROM console_sessions "
	  "WHERE coalesce(strftime('%s', closed_at), seen_at + " STR(
		  CONSOLE_IDLE_SECONDS) ") < CAST(strftime('%s', ?1) AS INTEGER) LIMIT ?2)" },
	{ "links", N(links), CUT_PAYLOADS_AT, 0,
	  "SELECT count(*) FROM console_links WHERE expires_at < CAST(strftime('%s', ?1) AS "
	  "INTEGER)",
	  "DELETE FROM console_links WHERE sha256 IN (SELECT sha256 FROM console_links WHERE "
	  "expires_at < CAST(strftime('%s', ?1) AS INTEGER) LIMIT ?2)" },
};

/* The counts an audit row and the tally carry, beside the steps'. */
static const struct {
	const char *name;
	size_t count;
} action_counts[] = {
	{ "actions", N(actions) },
	{ "deliveries", N(deliveries) },
	{ "attempts", N(attempts) },
	{ "audit", N(audit) },
};
#undef N

static long long *field(struct retention_counts *n, size_t offset)
{
	return (long long *)((char *)n + offset);
}

/* The same day n years earlier (29 February: the 28th). */
static int years_before(int day, long n)
{
	int y, m, d;
	date_to_ymd(day, &y, &m, &d);
	if (m == 2 && d == 29)
		d = 28;
	return date_from_ymd(y - (int)n, m, d);
}

void retention_cutoffs(const struct config *c, int today, int *marks, int *actions, int *payloads)
{
	/* never fewer than 6 years, whatever the configuration says (config.c
	 * refuses it; a config made another way is not trusted) */
	long years = c->retention.marks_years < RETENTION_MARKS_YEARS_MIN
			     ? RETENTION_MARKS_YEARS_MIN
			     : c->retention.marks_years;
	long actions_years = c->retention.actions_years < RETENTION_ACTIONS_YEARS_MIN
				     ? RETENTION_ACTIONS_YEARS_MIN
				     : c->retention.actions_years;
	*marks = years_before(today, years);
	*actions = years_before(today, actions_years);
	*payloads = today - (int)(c->retention.payloads_days < 1 ? 1 : c->retention.payloads_days);
}

struct cuts {
	long long mark_id, register_id;
	char actions_at[32], payloads_at[32];
};

static void make_cuts(const struct config *c, int today, struct cuts *k)
{
	int marks, actions, payloads;
	retention_cutoffs(c, today, &marks, &actions, &payloads);
	k->mark_id = (long long)(2 * (long long)marks) << 32;
	/* the academic year that holds the cut is kept whole: the years
	 * before it end before the cut */
	k->register_id = (long long)date_academic_year(marks) << 32;
	char day[11];
	snprintf(k->actions_at, sizeof k->actions_at, "%sT00:00:00Z", date_format(actions, day));
	snprintf(k->payloads_at, sizeof k->payloads_at, "%sT00:00:00Z", date_format(payloads, day));
}

static void bind_cut(sqlite3_stmt *st, enum cut cut, const struct cuts *k)
{
	switch (cut) {
	case CUT_MARK_ID: sqlite3_bind_int64(st, 1, k->mark_id); break;
	case CUT_REGISTER_ID: sqlite3_bind_int64(st, 1, k->register_id); break;
	case CUT_ACTIONS_AT: sqlite3_bind_text(st, 1, k->actions_at, -1, SQLITE_TRANSIENT); break;
	case CUT_PAYLOADS_AT: sqlite3_bind_text(st, 1, k->payloads_at, -1, SQLITE_TRANSIENT); break;
	}
}

/* ---- actions ---- */

static const char *const actions_count_sql =
	"SELECT count(*), (SELECT count(*) FROM deliveries d WHERE d.action_id IN (SELECT "
	"id FROM "
	"actions WHERE " RETENTION_ACTION_GOES(
		"?1") ")), (SELECT count(*) FROM delivery_attempts t "
		      "WHERE t.delivery IN (SELECT d.id FROM deliveries d WHERE "
		      "d.action_id IN (SELECT id FROM "
		      "actions WHERE " RETENTION_ACTION_GOES(
			      "?1") "))), (SELECT count(*) FROM audit WHERE action_id IN "
				    "(SELECT id FROM actions WHERE " RETENTION_ACTION_GOES(
					    "?1") ")) FROM actions "
						  "WHERE " RETENTION_ACTION_GOES("?1");

/* The next actions recorded before the cut, after the cursor (?3 created_at,
 * ?4 id), oldest first, and whether each goes. */
static const char *const actions_next_sql = "SELECT id, created_at, " RETENTION_ACTION_GOES(
	"?1") " FROM actions WHERE created_at < ?1 AND "
	      "(created_at, id) > (?3, ?4) ORDER BY created_at, id LIMIT ?2";

static const char *const actions_remove_sql[] = {
	"DELETE FROM delivery_attempts WHERE delivery IN (SELECT id FROM deliveries WHERE "
	"action_id IN (SELECT id FROM temp.retention_ids))",
	"DELETE FROM deliveries WHERE action_id IN (SELECT id FROM temp.retention_ids)",
	"DELETE FROM audit WHERE action_id IN (SELECT id FROM temp.retention_ids)",
	"DELETE FROM actions WHERE id IN (SELECT id FROM temp.retention_ids)",
};

/* ---- the tally, and the audit row ---- */

static json_t *counts_json(struct retention_counts *n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
		json_object_set_new(o, steps[i].name, json_integer(*field(n, steps[i].count)));
	for (size_t i = 0; i < sizeof action_counts / sizeof *action_counts; i++)
		json_object_set_new(o, action_counts[i].name,
				    json_integer(*field(n, action_counts[i].count)));
	return o;
}

static long long total(struct retention_counts *n)
{
	long long t = 0;
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
		t += *field(n, steps[i].count);
	return t + n->actions + n->deliveries + n->attempts;
}

/* The tally in meta (what runs removed and no audit row has counted yet)
 * added into *n. In the caller's transaction: under the write lock, so
 * that two runs at once (the service's and rollcall retention) each add
 * to it, and neither overwrites the other's. */
static int read_tally(struct db *db, struct retention_counts *n)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT value FROM meta WHERE key = 'retention_tally'");
	if (!st)
		return DB_FAILED;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		json_t *o = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
		for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
			*field(n, steps[i].count) +=
				json_integer_value(json_object_get(o, steps[i].name));
		for (size_t i = 0; i < sizeof action_counts / sizeof *action_counts; i++)
			*field(n, action_counts[i].count) +=
				json_integer_value(json_object_get(o, action_counts[i].name));
		json_decref(o);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
						     : db_fail(db, "reading the retention tally");
}

/* Add what one transaction removed (delta) to the tally, in it. */
static int keep_tally(struct db *db, const struct retention_counts *delta)
{
	struct retention_counts t = *delta;
	int rc = read_tally(db, &t);
	if (rc < 0)
		return rc;
	json_t *o = counts_json(&t);
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	sqlite3_stmt *st =
		db_prepare(db, "INSERT INTO meta(key, value) VALUES ('retention_tally', "
			       "?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
	rc = st ? 0 : DB_FAILED;
	if (st) {
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
		rc = db_step_done(db, st, "keeping the retention tally");
	}
	sqlite3_finalize(st);
	free(text);
	return rc;
}

/* The end of a run: one audit row with the tally (what this run and any
 * cut short or running beside it removed; none if nothing was), and the
 * tally cleared, in one transaction. */
static int audit_run(struct db *db, const struct config *c, const struct cuts *k, const char *who,
		     const char *via, struct retention_counts *n)
{
	double t0 = monotonic_seconds();
	int rc = db_try_begin(db);
	if (rc < 0)
		return rc;
	struct retention_counts t = { 0 };
	char *detail = NULL;
	if ((rc = read_tally(db, &t)) < 0)
		goto out;
	if (total(&t)) {
		json_t *o = counts_json(&t);
		char day[11];
		json_object_set_new(o, "marks_before",
				    json_string(date_format((int)((k->mark_id >> 32) / 2), day)));
		json_object_set_new(o, "actions_before", json_string(k->actions_at));
		json_object_set_new(o, "payloads_before", json_string(k->payloads_at));
		json_object_set_new(o, "config",
				    json_pack("{s:I, s:I, s:I}", "marks_years",
					      (json_int_t)c->retention.marks_years, "actions_years",
					      (json_int_t)c->retention.actions_years,
					      "payloads_days",
					      (json_int_t)c->retention.payloads_days));
		detail = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(o);
		struct audit_entry e = {
			.who = who, .via = via, .org = "*", .what = "retention", .detail = detail
		};
		if ((rc = audit_add(db, &e)) < 0)
			goto out;
	}
	if ((rc = db_exec(db, "DELETE FROM meta WHERE key = 'retention_tally'")) == 0)
		rc = db_commit(db);
out:
	if (rc < 0)
		db_rollback(db);
	double held = monotonic_seconds() - t0;
	if (held > n->longest_lock)
		n->longest_lock = held;
	free(detail);
	return rc;
}

/* ---- running it ---- */

/* One transaction: stmt, then the tally; the rows it changed counted in
 * n's field at offset count. Returns them, or the failure. */
static long long chunk(struct db *db, sqlite3_stmt *st, struct retention_counts *n, size_t count)
{
	double t0 = monotonic_seconds();
	int rc = db_try_begin(db); /* busy: said by the caller, not every try */
	if (rc < 0)
		return rc;
	rc = db_step_done(db, st, "removing what is past its retention period");
	long long changed = rc < 0 ? 0 : sqlite3_changes(db->h);
	struct retention_counts delta = { 0 };
	*field(&delta, count) = changed;
	if (rc < 0 || (rc = keep_tally(db, &delta)) < 0 || (rc = db_commit(db)) < 0) {
		db_rollback(db);
		return rc;
	}
	*field(n, count) += changed;
	double held = monotonic_seconds() - t0;
	if (held > n->longest_lock)
		n->longest_lock = held;
	n->transactions++;
	return changed;
}

/* The actions past their time, a transaction of at most RETENTION_ROWS
 * looked at each. Returns 0 done, 1 out of time, or the failure. */
static int remove_actions(struct db *db, const struct cuts *k, double until,
			  struct retention_counts *n)
{
	sqlite3_stmt *next = db_prepare(db, actions_next_sql);
	sqlite3_stmt *add = db_prepare(db, "INSERT INTO temp.retention_ids(id) VALUES (?1)");
	sqlite3_stmt *rm[4] = { 0 };
	for (int i = 0; i < 4; i++)
		rm[i] = db_prepare(db, actions_remove_sql[i]);
	long long *counts[4] = { &n->attempts, &n->deliveries, &n->audit, &n->actions };
	char after_at[32] = "";
	long long after_id = 0;
	int rc = next && add && rm[0] && rm[1] && rm[2] && rm[3] ? 0 : DB_FAILED, more = 1;
	while (rc == 0 && more) {
		if (until && monotonic_seconds() >= until) {
			rc = 1;
			break;
		}
		double t0 = monotonic_seconds();
		if ((rc = db_try_begin(db)) < 0)
			break;
		rc = db_exec(db, "DELETE FROM temp.retention_ids");
		bind_cut(next, CUT_ACTIONS_AT, k);
		sqlite3_bind_int(next, 2, RETENTION_ROWS);
		sqlite3_bind_text(next, 3, after_at, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(next, 4, after_id);
		int step, seen = 0;
		while (rc == 0 && (step = sqlite3_step(next)) == SQLITE_ROW) {
			seen++;
			after_id = sqlite3_column_int64(next, 0);
			snprintf(after_at, sizeof after_at, "%s", sqlite3_column_text(next, 1));
			if (!sqlite3_column_int(next, 2))
				continue; /* an open case's, or a proposal waiting */
			sqlite3_bind_int64(add, 1, after_id);
			rc = db_step_done(db, add, "choosing actions past their time");
		}
		if (rc == 0 && step != SQLITE_DONE)
			rc = db_fail(db, "reading actions past their time");
		sqlite3_reset(next);
		more = seen == RETENTION_ROWS;
		long long before[4];
		for (int i = 0; i < 4; i++)
			before[i] = *counts[i];
		for (int i = 0; rc == 0 && i < 4; i++) {
			rc = db_step_done(db, rm[i], "removing actions past their time");
			*counts[i] += rc == 0 ? sqlite3_changes(db->h) : 0;
		}
		struct retention_counts delta = { 0 };
		long long *of_delta[4] = { &delta.attempts, &delta.deliveries, &delta.audit,
					   &delta.actions };
		for (int i = 0; i < 4; i++)
			*of_delta[i] = *counts[i] - before[i];
		if (rc < 0 || (rc = keep_tally(db, &delta)) < 0 || (rc = db_commit(db)) < 0) {
			for (int i = 0; i < 4; i++)
				*counts[i] = before[i];
			db_rollback(db);
			break;
		}
		double held = monotonic_seconds() - t0;
		if (held > n->longest_lock)
			n->longest_lock = held;
		n->transactions++;
	}
	sqlite3_finalize(next);
	sqlite3_finalize(add);
	for (int i = 0; i < 4; i++)
		sqlite3_finalize(rm[i]);
	return rc;
}

int retention_apply(struct db *db, const struct config *c, int today, double seconds,
		    const char *who, const char *via, struct retention_counts *n)
{
	struct cuts k;
	memset(n, 0, sizeof *n);
	make_cuts(c, today, &k);
	double until = seconds > 0 ? monotonic_seconds() + seconds : 0;
	int rc = db_exec(db, "CREATE TEMP TABLE IF NOT EXISTS retention_ids(id INTEGER PRIMARY "
			     "KEY)");
	if (rc < 0)
		return rc;
	/* the marks and registers first, then the actions, then what the
	 * cases and payloads steps find once those are gone */
	for (size_t i = 0; rc == 0 && i < sizeof steps / sizeof *steps; i++) {
		if (steps[i].after_actions && (rc = remove_actions(db, &k, until, n)) != 0)
			break;
		sqlite3_stmt *st = db_prepare(db, steps[i].change);
		if (!st)
			return DB_FAILED;
		for (long long got = RETENTION_ROWS; rc == 0 && got == RETENTION_ROWS;) {
			if (until && monotonic_seconds() >= until) {
				rc = 1;
				break;
			}
			bind_cut(st, steps[i].cut, &k);
			sqlite3_bind_int(st, 2, RETENTION_ROWS);
			got = chunk(db, st, n, steps[i].count);
			if (got < 0)
				rc = (int)got;
		}
		sqlite3_finalize(st);
	}
	if (rc == 0)
		rc = audit_run(db, c, &k, who, via, n);
	return rc;
}

int retention_count(struct db *db, const struct config *c, int today, struct retention_counts *n)
{
	struct cuts k;
	memset(n, 0, sizeof *n);
	make_cuts(c, today, &k);
	int rc = db_exec(db, "BEGIN"); /* one snapshot */
	for (size_t i = 0; rc == 0 && i < sizeof steps / sizeof *steps + 1; i++) {
		int actions = i == sizeof steps / sizeof *steps;
		sqlite3_stmt *st = db_prepare(db, actions ? actions_count_sql : steps[i].where);
		if (!st) {
			rc = DB_FAILED;
			break;
		}
		bind_cut(st, actions ? CUT_ACTIONS_AT : steps[i].cut, &k);
		/* a payload of an action that goes is not counted twice: ?3 */
		if (sqlite3_bind_parameter_count(st) >= 3)
			sqlite3_bind_text(st, 3, k.actions_at, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_ROW) {
			rc = db_fail(db, "counting what is past its retention period");
		} else if (actions) {
			n->actions = sqlite3_column_int64(st, 0);
			n->deliveries = sqlite3_column_int64(st, 1);
			n->attempts = sqlite3_column_int64(st, 2);
			n->audit += sqlite3_column_int64(st, 3);
		} else {
			*field(n, steps[i].count) += sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
	}
	db_rollback(db);
	return rc;
}
