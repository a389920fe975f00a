/*
 * export.c — one pupil's data as one JSON document (export.h).
 *
 * Every table is read by the pupil's id or by the ids of their actions,
 * through an index or a primary key, so an export costs the same in a
 * database of 500 pupils or of 8 million. Marks have no index by pupil
 * (db.c: their id is (2 × day + session) << 32 | pupil, so that a day
 * appends): the pupil's registers say which sessions have a mark, and
 * each mark is then one primary-key lookup.
 */
#include "export.h"

#include "actions.h"
#include "audit.h"
#include "codes.h"
#include "date.h"
#include "register.h"
#include "stats.h"
#include "upn.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The windows `rollcall pupil` shows when asked for none (cmd_pupil.c),
 * with the names it gives them. */
static const struct {
	const char *name;
	struct window w;
} figure_windows[] = {
	{ "sessions=20", { WINDOW_SESSIONS, 20, 0 } },
	{ "school_weeks=6", { WINDOW_SCHOOL_WEEKS, 6, 0 } },
	{ "school_weeks=10", { WINDOW_SCHOOL_WEEKS, 10, 0 } },
	{ "days=28", { WINDOW_DAYS, 28, 0 } },
	{ "academic_year", { WINDOW_ACADEMIC_YEAR, 0, 0 } },
};

/* What one export reads with. */
struct reader {
	struct db *db;
	const char *upn, *org;
	long long pupil;
	char la_code[8], trust_id[24];
	long redacted;
};

/* A row as an object, each column by the name the SQL gives it, made
 * JSON by its kind in kinds (one letter a column): 'i' integer, 'b'
 * boolean, 't' one-line text, 'm' free text (line breaks kept), 'a' as
 * stored (incoming is loosely typed), 'j' JSON rollcall wrote, parsed
 * again. Text goes through column_json: stored text may be anything
 * another writer put there. SQL NULL is JSON null. */
static json_t *row_json(sqlite3_stmt *st, const char *kinds)
{
	json_t *o = json_object();
	for (int i = 0; kinds[i]; i++) {
		const char *name = sqlite3_column_name(st, i);
		json_t *v;
		if (sqlite3_column_type(st, i) == SQLITE_NULL)
			v = json_null();
		else if (kinds[i] == 'i')
			v = json_integer(sqlite3_column_int64(st, i));
		else if (kinds[i] == 'a' && sqlite3_column_type(st, i) == SQLITE_INTEGER)
			v = json_integer(sqlite3_column_int64(st, i));
		else if (kinds[i] == 'a' && sqlite3_column_type(st, i) == SQLITE_FLOAT)
			v = json_real(sqlite3_column_double(st, i));
		else if (kinds[i] == 'b')
			v = json_boolean(sqlite3_column_int(st, i));
		else if (kinds[i] == 'j') {
			v = json_loadb((const char *)sqlite3_column_text(st, i),
				       (size_t)sqlite3_column_bytes(st, i), JSON_DECODE_ANY, NULL);
			if (!v) /* not JSON after all: kept as the text it is */
				v = column_json(st, i, TEXT_KEEP_JSON);
		} else
			v = column_json(st, i, kinds[i] == 'm' ? TEXT_KEEP_JSON : NULL);
		json_object_set_new(o, name, v);
	}
	return o;
}

/* Run sql (its ?1 the pupil, ?2 the org or NULL, ?3 the UPN) and append a
 * row_json per row to list, or call each per row if not NULL. */
static int rows(struct reader *x, const char *sql, const char *kinds, json_t *list,
		int (*each)(struct reader *x, sqlite3_stmt *st, json_t *list))
{
	sqlite3_stmt *st = db_prepare(x->db, sql);
	if (!st)
		return DB_FAILED;
	int n = sqlite3_bind_parameter_count(st), rc;
	if (n >= 1)
		sqlite3_bind_int64(st, 1, x->pupil);
	if (n >= 2 && x->org)
		sqlite3_bind_text(st, 2, x->org, -1, SQLITE_STATIC);
	if (n >= 3)
		sqlite3_bind_text(st, 3, x->upn, -1, SQLITE_STATIC);
	int failed = 0;
	while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW)
		failed =
			each ? each(x, st, list) : json_array_append_new(list, row_json(st, kinds));
	if (!failed && rc != SQLITE_DONE)
		failed = db_fail(x->db, "reading what is held about a pupil");
	sqlite3_finalize(st);
	return failed < 0 ? failed : failed ? DB_FAILED : 0;
}

/* ---- the pupil, their school, their figures ---- */

static int pupil_and_school(struct reader *x, json_t *doc)
{
	sqlite3_stmt *st = db_prepare(
		x->db, "SELECT p.id, p.upn, printf('%06d', p.urn) AS urn, p.year_group, "
		       "p.social_worker, p.sen, p.fsm, printf('%06d', s.urn) AS urn, s.name, "
		       "s.la_code, s.trust_id, s.phase FROM pupils p JOIN schools s ON "
		       "s.urn = p.urn WHERE p.upn = ?1");
	if (!st)
		return DB_FAILED;
	sqlite3_bind_text(st, 1, x->upn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? EXPORT_NOT_FOUND : db_fail(x->db, "reading a pupil");
	}
	x->pupil = sqlite3_column_int64(st, 0);
	snprintf(x->la_code, sizeof x->la_code, "%s", (const char *)sqlite3_column_text(st, 9));
	snprintf(x->trust_id, sizeof x->trust_id, "%s",
		 sqlite3_column_type(st, 10) == SQLITE_NULL
			 ? ""
			 : (const char *)sqlite3_column_text(st, 10));
	int found = 1;
	if (x->org) { /* only an organisation's own pupils */
		const char *code = strchr(x->org, ':') + 1;
		found = !strncmp(x->org, "la:", 3) ? !strcmp(code, x->la_code)
						   : *x->trust_id && !strcmp(code, x->trust_id);
	}
	if (found) {
		int year = 0;
		const char *group = (const char *)sqlite3_column_text(st, 3);
		json_t *pupil = json_pack(
			"{s:o, s:o, s:o, s:o, s:b, s:o, s:b}", "upn", column_json(st, 1, NULL),
			"urn", column_json(st, 2, NULL), "year_group", column_json(st, 3, NULL),
			"year",
			group && year_group_year(group, &year) ? json_integer(year) : json_null(),
			"social_worker", sqlite3_column_int(st, 4), "sen", column_json(st, 5, NULL),
			"fsm", sqlite3_column_int(st, 6));
		json_t *school = json_pack(
			"{s:o, s:o, s:o, s:o, s:o}", "urn", column_json(st, 7, NULL), "name",
			column_json(st, 8, NULL), "la_code", column_json(st, 9, NULL), "trust_id",
			column_json(st, 10, NULL), "phase", column_json(st, 11, NULL));
		json_object_set_new(doc, "pupil", pupil);
		json_object_set_new(doc, "school", school);
	}
	sqlite3_finalize(st);
	return found ? 0 : EXPORT_NOT_FOUND;
}

/* The figures as `rollcall pupil --json` gives them with its default
 * windows: the streaks, the latest mark and each window. */
static int figures(struct reader *x, struct registers *reg, json_t *doc)
{
	struct history h = { 0 };
	int absent, unauthorised, day, session, code, rc = -1;
	if (register_history(reg, (uint32_t)x->pupil, 0, &h) < 0 ||
	    stats_consecutive(&h, &absent, &unauthorised) < 0)
		goto out;
	json_t *o = json_pack("{s:i, s:i}", "consecutive_absent_days", absent,
			      "consecutive_unauthorised_days", unauthorised);
	char date[11];
	json_object_set_new(o, "last",
			    stats_latest(&h, &day, &session, &code)
				    ? json_pack("{s:s, s:s, s:s}", "date", date_format(day, date),
						"session", session ? "PM" : "AM", "code",
						codes_get(code)->text)
				    : json_null());
	json_t *list = json_array();
	json_object_set_new(o, "windows", list);
	json_object_set_new(doc, "figures", o);
	for (size_t i = 0; i < sizeof figure_windows / sizeof *figure_windows; i++) {
		struct figures f;
		if (stats_window(&h, &figure_windows[i].w, &f) < 0)
			goto out;
		json_t *w = stats_figures_json(&f);
		json_object_set_new(w, "window", json_string(figure_windows[i].name));
		json_array_append_new(list, w);
	}
	rc = 0;
out:
	history_free(&h);
	return rc;
}

/* ---- marks and their amendments ---- */

/* Each session with a mark in the pupil's registers, year by year: the
 * mark (one primary-key lookup), at one of the org's schools if an org is
 * asked for, and its amendments, oldest first. A register keeps a whole
 * academic year, so a session whose mark retention has removed has no row
 * and is left out. */
static int marks(struct reader *x, struct registers *reg, json_t *list)
{
	sqlite3_stmt *mark = db_prepare(
		x->db, "SELECT m.date, m.session, m.code, m.minutes_late, m.recorded_at, "
		       "printf('%06d', m.urn) AS urn FROM marks m WHERE m.id = ?1 AND (?2 IS "
		       "NULL OR m.urn IN (SELECT urn FROM schools WHERE la_code = ?3 OR "
		       "trust_id = ?4))");
	sqlite3_stmt *amended =
		db_prepare(x->db, "SELECT code, minutes_late, recorded_at, replaced_at FROM "
				  "mark_history WHERE mark = ?1 ORDER BY id");
	uint8_t slots[REGISTER_SLOTS];
	int rc = mark && amended ? 0 : DB_FAILED;
	if (rc == 0 && x->org) {
		const char *code = strchr(x->org, ':') + 1;
		int la = !strncmp(x->org, "la:", 3);
		sqlite3_bind_text(mark, 2, x->org, -1, SQLITE_STATIC);
		sqlite3_bind_text(mark, 3, la ? code : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(mark, 4, la ? "" : code, -1, SQLITE_STATIC);
	}
	for (int y = 0; rc == 0 && y < reg->nyears; y++) {
		int len = 0;
		if (register_get(reg, reg->years[y], (uint32_t)x->pupil, slots, &len) < 0) {
			rc = DB_FAILED;
			break;
		}
		int start = date_from_ymd(reg->years[y], 9, 1);
		for (int s = 0; rc == 0 && s < len; s++) {
			if (!slots[s])
				continue;
			int64_t id = (int64_t)(2 * (start + s / 2) + s % 2) << 32 | x->pupil;
			sqlite3_bind_int64(mark, 1, id);
			int step = sqlite3_step(mark);
			if (step == SQLITE_ROW) {
				json_t *o = row_json(mark, "tttitt");
				json_t *history = json_array();
				sqlite3_bind_int64(amended, 1, id);
				while ((step = sqlite3_step(amended)) == SQLITE_ROW)
					json_array_append_new(history, row_json(amended, "titt"));
				sqlite3_reset(amended);
				json_object_set_new(o, "amendments", history);
				json_array_append_new(list, o);
				if (step != SQLITE_DONE)
					rc = db_fail(x->db, "reading a mark's amendments");
			} else if (step != SQLITE_DONE) {
				rc = db_fail(x->db, "reading a mark");
			}
			sqlite3_reset(mark);
		}
	}
	sqlite3_finalize(mark);
	sqlite3_finalize(amended);
	return rc;
}

/* ---- actions, their deliveries, the policy versions that decided them ---- */

/* The pupil's actions (of the org, if one is asked for), oldest first. */
#define PUPIL_ACTIONS                                                                              \
	"SELECT " ACTIONS_COLUMNS ", actions.line FROM actions WHERE pupil = ?1 AND (?2 IS NULL "  \
	"OR org = ?2) ORDER BY id"

static int deliveries_of(struct reader *x, long long action, json_t *list)
{
	sqlite3_stmt *del = db_prepare(
		x->db, "SELECT id AS delivery_id, event, endpoint, webhook_id, state, attempts, "
		       "last_status, last_error, created_at, delivered_at, body FROM deliveries "
		       "WHERE action_id = ?1 ORDER BY id");
	sqlite3_stmt *att = db_prepare(x->db, "SELECT at, status, duration_ms, response FROM "
					      "delivery_attempts WHERE delivery = ?1 ORDER BY id");
	int rc = del && att ? 0 : DB_FAILED, step;
	if (rc == 0)
		sqlite3_bind_int64(del, 1, action);
	while (rc == 0 && (step = sqlite3_step(del)) == SQLITE_ROW) {
		json_t *o = row_json(del, "ittttiimttm");
		json_t *attempts = json_array();
		json_object_set_new(o, "attempt_log", attempts);
		json_array_append_new(list, o);
		sqlite3_bind_int64(att, 1, sqlite3_column_int64(del, 0));
		while ((step = sqlite3_step(att)) == SQLITE_ROW)
			json_array_append_new(attempts, row_json(att, "tiim"));
		sqlite3_reset(att);
		if (step != SQLITE_DONE)
			rc = db_fail(x->db, "reading delivery attempts");
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(x->db, "reading deliveries");
	sqlite3_finalize(del);
	sqlite3_finalize(att);
	return rc;
}

static int one_action(struct reader *x, sqlite3_stmt *st, json_t *list)
{
	struct action_row r;
	actions_row(st, 0, &r);
	json_t *o = actions_payload(&r);
	json_object_set_new(o, "line",
			    sqlite3_column_type(st, ACTION_COLUMNS_COUNT) == SQLITE_NULL
				    ? json_null()
				    : json_integer(sqlite3_column_int64(st, ACTION_COLUMNS_COUNT)));
	json_t *deliveries = json_array();
	json_object_set_new(o, "deliveries", deliveries);
	json_array_append_new(list, o);
	return deliveries_of(x, r.id, deliveries);
}

/* ---- what is left to say: pending work, refusals, the audit trail ---- */

/* Each version of a policy that decided one of the actions exported, with
 * its text when it was kept (versions from before schema version 8 were
 * not: kept false, text null). */
static const char *const versions_sql =
	"SELECT a.policy_sha256 AS sha256, a.org, v.file, v.text IS NOT NULL AS kept, v.text, "
	"v.first_loaded, v.last_loaded, v.published_by, v.published_at FROM (SELECT DISTINCT "
	"org, policy_sha256 FROM actions WHERE pupil = ?1 AND (?2 IS NULL OR org = ?2)) a LEFT "
	"JOIN policy_versions v ON v.sha256 = a.policy_sha256 ORDER BY v.first_loaded, a.org";

static const char *const cases_sql =
	"SELECT id AS case_id, org, stage, opened, closed, close_reason, referral_open FROM "
	"cases WHERE pupil = ?1 AND (?2 IS NULL OR org = ?2) ORDER BY id";

/* Rows of the audit trail about the pupil: decisions on their actions,
 * and the pupil's own (an export, an erasure refused) naming their UPN. */
static const char *const audit_sql =
	"SELECT id AS audit_id, at, who, via, org, what, action_id, before, after, detail FROM "
	"audit WHERE (?2 IS NULL OR org = ?2) AND (action_id IN (SELECT id FROM actions WHERE "
	"pupil = ?1) OR (what LIKE 'pupil.%' AND detail = ?3)) ORDER BY id";

static const char *const deferred_sql =
	"SELECT org, since FROM deferred WHERE pupil = ?1 AND (?2 IS NULL OR org = ?2) ORDER BY "
	"org";

/* Rows refused on import (a file's or incoming's) whose text names the
 * UPN, and rows of incoming not stored yet: the operator's, so the full
 * export only (?2 NULL). */
static const char *const rejected_sql =
	"SELECT source, line, row, reason, rejected_at FROM rejected WHERE ?2 IS NULL AND "
	"instr(row, ?3) > 0 ORDER BY id";
static const char *const incoming_sql =
	"SELECT id, upn, urn, date, session, code, minutes_late, recorded_at, received_at FROM "
	"incoming WHERE ?2 IS NULL AND upn = ?3 ORDER BY id";
static const char *const errors_sql =
	"SELECT org, file, last_error, last_failed_at FROM policy_health WHERE ?2 IS NULL AND "
	"last_pupil = ?3";

/* ---- no other pupil ---- */

/* Replace every valid UPN in s other than keep by EXPORT_REDACTED; NULL
 * if there is none (s stays as it is), else the new text, *n counted. */
static char *without_other_upns(const char *s, const char *keep, long *n)
{
	size_t len = strlen(s), cap = 0, used = 0;
	char *out = NULL;
	size_t from = 0;
	for (size_t i = 0; i + 13 <= len; i++) {
		/* a UPN stands alone: not inside a longer run of letters and digits */
		int before = i > 0 && ((s[i - 1] >= '0' && s[i - 1] <= '9') ||
				       (s[i - 1] >= 'A' && s[i - 1] <= 'Z'));
		char after = s[i + 13];
		if (before || (after >= '0' && after <= '9') || (after >= 'A' && after <= 'Z') ||
		    !upn_valid(s + i, 13) || !strncmp(s + i, keep, 13))
			continue;
		size_t need = used + (i - from) + sizeof EXPORT_REDACTED + (len - i);
		if (need > cap)
			out = xrealloc(out, cap = need * 2);
		memcpy(out + used, s + from, i - from);
		used += i - from;
		memcpy(out + used, EXPORT_REDACTED, sizeof EXPORT_REDACTED - 1);
		used += sizeof EXPORT_REDACTED - 1;
		from = i + 13;
		i += 12;
		(*n)++;
	}
	if (!out)
		return NULL;
	memcpy(out + used, s + from, len - from);
	out[used + len - from] = '\0';
	return out;
}

/* Walk v: each string (and object key) with another pupil's UPN in it is
 * rewritten without it. */
static void redact(json_t *v, const char *keep, long *n)
{
	size_t i;
	const char *key;
	json_t *item;
	void *tmp;
	if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			char *s = json_is_string(item)
					  ? without_other_upns(json_string_value(item), keep, n)
					  : NULL;
			if (s)
				json_array_set_new(v, i, json_string(s));
			else
				redact(item, keep, n);
			free(s);
		}
	} else if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, key, item)
		{
			char *k = without_other_upns(key, keep, n);
			char *s = json_is_string(item)
					  ? without_other_upns(json_string_value(item), keep, n)
					  : NULL;
			if (s)
				json_object_set_new(v, key, json_string(s));
			else
				redact(item, keep, n);
			if (k) { /* a key is moved, not renamed: keep the value */
				json_object_set(v, k, json_object_get(v, key));
				json_object_del(v, key);
			}
			free(s);
			free(k);
		}
	}
}

/* ---- the document ---- */

static void utc_now(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int export_pupil(struct db *db, const char *upn, const char *org, json_t **out)
{
	struct reader x = { .db = db, .upn = upn, .org = org };
	struct registers reg = { 0 };
	json_t *doc = json_object(), *list;
	char now[32];
	*out = NULL;
	int rc = db_exec(db, "BEGIN"); /* one snapshot for every table */
	if (rc < 0) {
		json_decref(doc);
		return rc;
	}
	utc_now(now);
	json_object_set_new(doc, "format", json_string(EXPORT_FORMAT));
	json_object_set_new(doc, "exported_at", json_string(now));
	json_object_set_new(doc, "organisation", org ? json_string(org) : json_null());
	if ((rc = pupil_and_school(&x, doc)) != 0)
		goto out;
	if ((rc = register_open(&reg, db)) < 0 || (rc = figures(&x, &reg, doc)) < 0)
		goto out;
	static const struct {
		const char *key, *sql, *kinds;
		int (*each)(struct reader *x, sqlite3_stmt *st, json_t *list);
	} parts[] = {
		{ "actions", PUPIL_ACTIONS, NULL, one_action },
		{ "policy_versions", versions_sql, "tttbmtttt", NULL },
		{ "cases", cases_sql, "ittttmb", NULL },
		{ "audit", audit_sql, "itttttittm", NULL },
		{ "awaiting_evaluation", deferred_sql, "tt", NULL },
		{ "rejected_rows", rejected_sql, "timmt", NULL },
		{ "incoming_rows", incoming_sql, "iaaaaaaaa", NULL },
		{ "policy_errors", errors_sql, "ttmt", NULL },
	};
	list = json_array();
	json_object_set_new(doc, "marks", list);
	if ((rc = marks(&x, &reg, list)) < 0)
		goto out;
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
		list = json_array();
		json_object_set_new(doc, parts[i].key, list);
		if ((rc = rows(&x, parts[i].sql, parts[i].kinds, list, parts[i].each)) < 0)
			goto out;
	}
	redact(doc, upn, &x.redacted);
	json_object_set_new(doc, "redacted", json_integer(x.redacted));
	*out = doc;
	doc = NULL;
	rc = 0;
out:
	if (reg.db)
		register_close(&reg);
	db_rollback(db); /* a read: nothing to keep */
	json_decref(doc);
	return rc;
}

int export_pupil_org(struct db *db, const char *upn, char *buf, size_t size)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT 'la:' || s.la_code FROM pupils p JOIN schools s "
					  "ON s.urn = p.urn WHERE p.upn = ?1");
	if (!st)
		return DB_FAILED;
	sqlite3_bind_text(st, 1, upn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
	rc = rc == SQLITE_ROW	 ? 0
	     : rc == SQLITE_DONE ? EXPORT_NOT_FOUND
				 : db_fail(db, "reading a pupil");
	sqlite3_finalize(st);
	return rc;
}

int export_audit(struct db *db, const char *upn, const char *org, const char *who, const char *via)
{
	char own[32];
	int rc = org ? 0 : export_pupil_org(db, upn, own, sizeof own);
	if (rc != 0)
		return rc < 0 ? rc : DB_FAILED;
	struct audit_entry e = {
		.who = who,
		.via = via,
		.org = org ? org : own,
		.what = "pupil.export",
		.detail = upn,
	};
	if ((rc = db_begin(db)) < 0)
		return rc;
	if ((rc = audit_add(db, &e)) < 0 || (rc = db_commit(db)) < 0) {
		db_rollback(db);
		return rc;
	}
	return 0;
}
