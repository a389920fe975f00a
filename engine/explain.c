/*
 * explain.c — an action's decision, read and re-run (explain.h).
 *
 * The re-run is the live call made again: the kept version loaded from
 * its text (policy_load_text), with the parameter values the action
 * recorded, called once for the pupil as the action recorded them, on
 * their stored history cut after the action's day (policy_evaluate), on
 * a connection of its own opened read-only whose actions, cases and
 * deliveries are TEMP copies (db_shadow) holding the organisation's
 * record of the pupil as it stood before that call: the code that
 * recorded the action live records the re-run's (actions_commit), and
 * nothing reaches the file. What the call decides on that day is then
 * compared with what was recorded: the action, its kind, severity,
 * message, evidence, data and params.
 */
#include "explain.h"

#include "actions.h"
#include "policy.h"
#include "register.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static const char *const outcomes[] = { "actions", "cases", "deliveries", NULL };

/* What explain reads of the action, besides its payload. */
struct decision {
	long long id, pupil, case_id;
	int day, line, has_case;
	char org[24], sha256[65], action[16], kind[72], date[11], created_at[32];
};

static void copy_column(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	snprintf(buf, size, "%s", s ? s : "");
}

static int read_action(struct db *db, long long id, const char *org, struct decision *d,
		       json_t *out)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " ACTIONS_COLUMNS ", actions.line, "
					  "actions.pupil, actions.day FROM main.actions WHERE id = "
					  "?1 AND (?2 IS NULL OR org = ?2)");
	if (!st)
		return DB_FAILED;
	sqlite3_bind_int64(st, 1, id);
	if (org)
		sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? EXPLAIN_NOT_FOUND : db_fail(db, "reading an action");
	}
	struct action_row r;
	actions_row(st, 0, &r);
	json_object_set_new(out, "action", actions_payload(&r));
	int n = ACTION_COLUMNS_COUNT;
	d->id = id;
	d->line = sqlite3_column_int(st, n);
	d->pupil = sqlite3_column_int64(st, n + 1);
	d->day = sqlite3_column_int(st, n + 2);
	d->has_case = r.has_case;
	d->case_id = r.case_id;
	copy_column(st, ACTION_COL_ORG, d->org, sizeof d->org);
	copy_column(st, ACTION_COL_POLICY_SHA256, d->sha256, sizeof d->sha256);
	copy_column(st, ACTION_COL_ACTION, d->action, sizeof d->action);
	copy_column(st, ACTION_COL_KIND, d->kind, sizeof d->kind);
	copy_column(st, ACTION_COL_DATE, d->date, sizeof d->date);
	copy_column(st, ACTION_COL_CREATED_AT, d->created_at, sizeof d->created_at);
	json_object_set_new(out, "line", d->line > 0 ? json_integer(d->line) : json_null());
	json_t *payload = json_object_get(out, "action");
	json_object_set(out, "params", json_object_get(payload, "params"));
	json_object_set(out, "evidence", json_object_get(payload, "evidence"));
	if (!strcmp(d->action, "legal_step")) {
		static const char *const keys[] = { "state",	     "signoff_required",
						    "decide_by",     "decided_by",
						    "decided_at",    "note",
						    "decline_reason" };
		json_t *s = json_object();
		for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
			json_object_set(s, keys[i], json_object_get(payload, keys[i]));
		json_object_set_new(out, "signoff", s);
	} else {
		json_object_set_new(out, "signoff", json_null());
	}
	sqlite3_finalize(st);
	return 0;
}

/* The kept version: where it was loaded from, when, and the lines around
 * d->line. Its text (malloc'd) in *text, NULL if it was never kept. */
static int read_version(struct db *db, const struct decision *d, json_t *out, char **text,
			size_t *len, char *file, size_t filesize)
{
	sqlite3_stmt *st =
		db_prepare(db, "SELECT file, text, first_loaded, last_loaded, published_by FROM "
			       "policy_versions WHERE sha256 = ?1 AND org = ?2");
	if (!st)
		return DB_FAILED;
	sqlite3_bind_text(st, 1, d->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->org, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	json_t *p = json_pack("{s:o, s:b}", "sha256", text_json(d->sha256, strlen(d->sha256), NULL),
			      "kept", rc == SQLITE_ROW);
	json_object_set_new(out, "policy", p);
	*text = NULL;
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? 0 : db_fail(db, "reading a policy version");
	}
	copy_column(st, 0, file, filesize);
	json_object_set_new(p, "file", column_json(st, 0, NULL));
	json_object_set_new(p, "first_loaded", column_json(st, 2, NULL));
	json_object_set_new(p, "last_loaded", column_json(st, 3, NULL));
	json_object_set_new(p, "published_by", column_json(st, 4, NULL));
	*len = (size_t)sqlite3_column_bytes(st, 1);
	*text = xmalloc(*len + 1);
	if (*len)
		memcpy(*text, sqlite3_column_blob(st, 1), *len);
	(*text)[*len] = '\0';
	sqlite3_finalize(st);

	json_t *lines = json_array();
	json_object_set_new(p, "lines", lines);
	const char *s = *text, *end = *text + *len;
	for (int n = 1; s < end && d->line > 0; n++) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t l = nl ? (size_t)(nl - s) : (size_t)(end - s);
		if (n > d->line + EXPLAIN_CONTEXT)
			break;
		if (n >= d->line - EXPLAIN_CONTEXT)
			json_array_append_new(lines, json_pack("{s:i, s:o, s:b}", "line", n, "text",
							       text_json(s, l, "\t"), "called",
							       n == d->line));
		s += l + 1;
	}
	return 0;
}

/* The case the action belongs to, and its actions. */
static int read_case(struct db *db, const struct decision *d, json_t *out)
{
	if (!d->has_case) {
		json_object_set_new(out, "case", json_null());
		return 0;
	}
	sqlite3_stmt *c = db_prepare(db, "SELECT id, stage, opened, closed, close_reason FROM "
					 "main.cases WHERE id = ?1");
	sqlite3_stmt *steps = db_prepare(db, "SELECT id, action, kind, date, state FROM "
					     "main.actions WHERE case_id = ?1 ORDER BY id");
	int rc = c && steps ? 0 : DB_FAILED, step;
	json_t *o = json_null();
	if (rc == 0) {
		sqlite3_bind_int64(c, 1, d->case_id);
		if ((step = sqlite3_step(c)) == SQLITE_ROW) {
			json_t *list = json_array();
			o = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "case_id",
				      (json_int_t)d->case_id, "stage", column_json(c, 1, NULL),
				      "opened", column_json(c, 2, NULL), "closed",
				      column_json(c, 3, NULL), "close_reason",
				      column_json(c, 4, TEXT_KEEP_JSON), "actions", list);
			sqlite3_bind_int64(steps, 1, d->case_id);
			while ((step = sqlite3_step(steps)) == SQLITE_ROW)
				json_array_append_new(
					list, json_pack("{s:I, s:o, s:o, s:o, s:o}", "action_id",
							(json_int_t)sqlite3_column_int64(steps, 0),
							"action", column_json(steps, 1, NULL),
							"kind", column_json(steps, 2, NULL), "date",
							column_json(steps, 3, NULL), "state",
							column_json(steps, 4, NULL)));
		}
		if (step != SQLITE_DONE)
			rc = db_fail(db, "reading a case");
	}
	json_object_set_new(out, "case", o);
	sqlite3_finalize(c);
	sqlite3_finalize(steps);
	return rc;
}

/* ---- the re-run ---- */

/* JSON texts a and b (either may be NULL) hold the same value. */
static int same_json(const char *a, const char *b)
{
	if (!a || !b)
		return !a && !b;
	json_t *x = json_loads(a, JSON_DECODE_ANY, NULL), *y = json_loads(b, JSON_DECODE_ANY, NULL);
	int same = x && y ? json_equal(x, y) : !strcmp(a, b);
	json_decref(x);
	json_decref(y);
	return same;
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int same_text(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : !a && !b;
}

/* What the re-run recorded on the action's day, beside what live did:
 * each of the same action and kind, with the fields that differ. */
static int compare(struct db *ro, struct db *db, const struct decision *d, json_t *rerun)
{
	static const char *const fields[] = { "severity", "message", "evidence", "data", "params" };
	sqlite3_stmt *live = db_prepare(db, "SELECT severity, message, evidence, data, params "
					    "FROM main.actions WHERE id = ?1");
	sqlite3_stmt *again = db_prepare(
		ro, "SELECT " ACTIONS_COLUMNS ", actions.severity, actions.message, "
		    "actions.evidence, actions.data, actions.params FROM temp.actions "
		    "WHERE org = ?1 AND date = ?2 AND id > (SELECT coalesce(max(id), 0) "
		    "FROM main.actions WHERE org = ?1 AND pupil = ?3 AND id < ?4 AND NOT "
		    "(date = ?2 AND created_at = ?5)) ORDER BY id");
	int rc = live && again ? 0 : DB_FAILED, same = 0, step;
	json_t *found = json_array(), *differences = json_array();
	json_object_set_new(rerun, "found", found);
	json_object_set_new(rerun, "differences", differences);
	if (rc == 0) {
		sqlite3_bind_int64(live, 1, d->id);
		if (sqlite3_step(live) != SQLITE_ROW)
			rc = db_fail(db, "reading an action");
		sqlite3_bind_text(again, 1, d->org, -1, SQLITE_STATIC);
		sqlite3_bind_text(again, 2, d->date, -1, SQLITE_STATIC);
		sqlite3_bind_int64(again, 3, d->pupil);
		sqlite3_bind_int64(again, 4, d->id);
		sqlite3_bind_text(again, 5, d->created_at, -1, SQLITE_STATIC);
	}
	while (rc == 0 && (step = sqlite3_step(again)) == SQLITE_ROW) {
		struct action_row r;
		actions_row(again, 0, &r);
		json_array_append_new(found, actions_payload(&r));
		if (!same_text(col(again, ACTION_COL_ACTION), d->action) ||
		    !same_text(col(again, ACTION_COL_KIND), d->kind))
			continue;
		int differ = 0;
		for (int i = 0; i < 5; i++) {
			const char *a = col(live, i), *b = col(again, ACTION_COLUMNS_COUNT + i);
			if (i < 2 ? same_text(a, b) : same_json(a, b))
				continue;
			differ++;
			json_array_append_new(differences, json_string(fields[i]));
		}
		same |= differ == 0;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(ro, "reading the re-run's actions");
	if (same)
		json_array_clear(differences);
	json_object_set_new(rerun, "same", json_boolean(same));
	sqlite3_finalize(live);
	sqlite3_finalize(again);
	return rc;
}

static void reason(json_t *rerun, const char *text)
{
	json_array_append_new(json_object_get(rerun, "reasons"), json_string(text));
}

/* Why a re-run that decided otherwise may have: what changed since that
 * the stored history cannot show as it was. */
static int reasons(struct db *db, const struct decision *d, json_t *rerun)
{
	sqlite3_stmt *amended = db_prepare(
		db, "SELECT count(*) FROM mark_history WHERE (mark & 4294967295) = ?1 AND (mark >> "
		    "32) < 2 * (?2 + 1) AND replaced_at > ?3");
	if (!amended)
		return DB_FAILED;
	sqlite3_bind_int64(amended, 1, d->pupil);
	sqlite3_bind_int(amended, 2, d->day);
	sqlite3_bind_text(amended, 3, d->created_at, -1, SQLITE_STATIC);
	int rc =
		sqlite3_step(amended) == SQLITE_ROW ? 0 : db_fail(db, "reading what changed since");
	char text[256];
	if (rc == 0 && sqlite3_column_int64(amended, 0)) {
		snprintf(text, sizeof text,
			 "%lld marks up to that day were amended after the decision: the re-run "
			 "sees them as they stand now",
			 (long long)sqlite3_column_int64(amended, 0));
		reason(rerun, text);
	}
	if (rc == 0)
		reason(rerun, "the pupil's sen, fsm and social_worker are not recorded with an "
			      "action: the re-run sees them as they are now");
	/* the scripts/ modules a policy requires are not kept with it */
	if (rc == 0)
		reason(rerun, "modules the policy requires (scripts/) are read as they are now");
	sqlite3_finalize(amended);
	return rc;
}

/* The parameter values the action recorded, set in p (those it did not
 * record keep their defaults); a name p does not declare is a reason. */
static void recorded_params(struct policy *p, json_t *params, json_t *rerun)
{
	const char *name;
	json_t *v;
	for (int i = 0; i < p->nparams; i++)
		p->params[i].value = p->params[i].def;
	json_object_foreach(params, name, v)
	{
		int i = policy_param(p, name);
		if (i >= 0 && json_is_number(v)) {
			p->params[i].value = json_number_value(v);
			continue;
		}
		char text[160];
		snprintf(text, sizeof text,
			 "param %.48s was recorded but this version does not declare it", name);
		reason(rerun, text);
	}
}

/* The organisation's record of the pupil as it stood when the call that
 * decided the action began, into the TEMP copies: the actions of earlier
 * calls (recorded before it, not in the same second for the same day),
 * each legal step decided since put back to its proposal (without the
 * case its approval opened), and their cases, reopened if closed since, at the stage of the latest
 * step approved by then. ?1 org, ?2 pupil, ?3 the action's id, ?4 its date, ?5 its created_at. */
static const char *const as_it_stood[] = {
	"INSERT INTO temp.actions SELECT * FROM main.actions WHERE org = ?1 AND pupil = ?2 AND "
	"id < ?3 AND NOT (date = ?4 AND created_at = ?5)",
	"UPDATE temp.actions SET state = 'proposed', decided_by = NULL, decided_at = NULL, "
	"decision = NULL WHERE action = 'legal_step' AND signoff = 1 AND decided_at > ?5",
	/* a proposal made with no case open got its case when approved (the
	 * approval opened it): while it waited it had none, nor did the pupil */
	"UPDATE temp.actions SET case_id = NULL WHERE action = 'legal_step' AND state = "
	"'proposed' AND case_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM temp.actions b WHERE "
	"b.case_id = actions.case_id AND b.id < actions.id)",
	"INSERT INTO temp.cases SELECT * FROM main.cases WHERE org = ?1 AND pupil = ?2 AND id IN "
	"(SELECT case_id FROM temp.actions)",
	"UPDATE temp.cases SET closed = NULL, close_reason = NULL WHERE NOT EXISTS (SELECT 1 "
	"FROM temp.actions a WHERE a.case_id = cases.id AND a.action = 'case_closed')",
	"UPDATE temp.cases SET stage = coalesce((SELECT a.kind FROM temp.actions a WHERE "
	"a.case_id = cases.id AND a.action = 'legal_step' AND a.state = 'approved' ORDER BY a.id "
	"DESC LIMIT 1), 'referral') WHERE closed IS NULL",
};

static int restore(struct db *ro, const struct decision *d)
{
	for (size_t i = 0; i < sizeof as_it_stood / sizeof *as_it_stood; i++) {
		sqlite3_stmt *st = db_prepare(ro, as_it_stood[i]);
		if (!st)
			return DB_FAILED;
		/* each binds what it uses; the others are out of its range (ignored) */
		sqlite3_bind_text(st, 1, d->org, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, d->pupil);
		sqlite3_bind_int64(st, 3, d->id);
		sqlite3_bind_text(st, 4, d->date, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, d->created_at, -1, SQLITE_STATIC);
		int rc = db_step_done(ro, st, "restoring the record as it stood");
		sqlite3_finalize(st);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The pupil as the action recorded them (the UPN, school and year group
 * it was taken for), the rest as stored now, into v (texts in buf). */
static int pupil_as_acted_on(struct db *db, const struct decision *d, struct pupil_view *v,
			     char buf[4][32])
{
	sqlite3_stmt *st = db_prepare(
		db, "SELECT a.upn, a.urn, a.year_group, p.social_worker, p.sen, p.fsm, s.la_code, "
		    "s.trust_id FROM main.actions a JOIN pupils p ON p.id = a.pupil LEFT JOIN "
		    "schools s ON s.urn = a.urn WHERE a.id = ?1");
	if (!st)
		return DB_FAILED;
	sqlite3_bind_int64(st, 1, d->id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		copy_column(st, 0, buf[0], 32);
		copy_column(st, 2, buf[1], 32);
		copy_column(st, 6, buf[2], 32);
		copy_column(st, 7, buf[3], 32);
		const char *sen = (const char *)sqlite3_column_text(st, 4);
		*v = (struct pupil_view){
			.id = (uint32_t)d->pupil,
			.upn = buf[0],
			.urn = sqlite3_column_int(st, 1),
			.year_group = buf[1],
			.social_worker = sqlite3_column_int(st, 3),
			.sen = sen ? *sen : 'N',
			.fsm = sqlite3_column_int(st, 5),
			.la_code = buf[2],
			.trust_id = buf[3][0] ? buf[3] : NULL,
		};
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(db, "reading a pupil");
}

/* Re-run the kept version (text, len bytes, from malloc: taken) as loaded
 * from file, into out's "rerun": one call, as the live one was made, on
 * the pupil's history up to the action's day (after its PM register if it
 * has one, else, or if that decides otherwise, after its AM), with the
 * parameter values recorded and the record as it stood. */
static int rerun(struct db *db, const struct config *c, const struct decision *d, char *text,
		 size_t len, const char *file, json_t *out)
{
	json_t *r = json_pack("{s:b, s:b, s:[], s:[], s:[]}", "ran", 0, "same", 0, "found",
			      "differences", "reasons");
	json_object_set_new(out, "rerun", r);
	if (!text) {
		reason(r, "this version's text was not kept (rollcall keeps every version it "
			  "loads from schema version 8 on; this action is older, or the version "
			  "was never loaded by this database's service)");
		return 0;
	}
	struct db ro;
	struct actions a = { 0 };
	struct registers reg = { 0 };
	struct history h = { 0 };
	struct actions_draft draft = { 0 };
	struct policy p;
	struct pupil_view v;
	char err[4096], buf[4][32];
	int loaded = 0, rc = 0, found;
	if (db_open(&ro, db->path, DB_READONLY) < 0) {
		free(text);
		return DB_FAILED;
	}
	if (db_check_version(&ro) < 0 || db_shadow(&ro, outcomes) < 0 ||
	    actions_open(&a, &ro, c) < 0 || register_open(&reg, &ro) < 0) {
		free(text);
		rc = DB_FAILED;
		goto out;
	}
	if (policy_load_text(&p, file, text, len, c->scripts, c->policy_memory,
			     c->policy_instructions, err, sizeof err) < 0) {
		char msg[4200];
		snprintf(msg, sizeof msg, "this version no longer loads: %s", err);
		reason(r, msg);
		goto out;
	}
	loaded = 1;
	if (strcmp(p.sha256, d->sha256) || strcmp(p.org, d->org)) {
		reason(r, strcmp(p.sha256, d->sha256)
				  ? "the kept text does not hash to the recorded sha256: it was "
				    "altered after it was kept"
				  : "the kept text declares another organisation");
		goto out;
	}
	recorded_params(&p, json_object_get(out, "params"), r);
	if ((found = pupil_as_acted_on(&ro, d, &v, buf)) <= 0) {
		rc = found;
		if (!found)
			reason(r, "the pupil is no longer in the database");
		goto out;
	}
	v.h = &h;
	if ((rc = register_history(&reg, v.id, 0, &h)) < 0)
		goto out;
	/* the sessions of the action's day: PM first (the day's whole register) */
	int slot[2] = { 2 * (d->day - h.first_day) + 1, 2 * (d->day - h.first_day) };
	int all = h.nslots, calls = 0, failed = 0;
	for (int i = 0; i < 2 && rc == 0; i++) {
		if (slot[i] < 0 || slot[i] >= all || !h.slot[slot[i]])
			continue;
		if (calls && json_is_true(json_object_get(r, "same")))
			break;
		if ((rc = db_exec(&ro, "BEGIN")) < 0 ||
		    (rc = db_exec(&ro, "DELETE FROM temp.actions; DELETE FROM temp.cases; "
				       "DELETE FROM temp.deliveries")) < 0 ||
		    (rc = restore(&ro, d)) < 0)
			break;
		h.nslots = slot[i] + 1;
		calls++;
		int called = policy_evaluate(&p, &v, &a, &draft, err, sizeof err);
		h.nslots = all;
		if (called == -2 || (called == 0 && actions_commit(&a, &draft) < 0)) {
			rc = DB_FAILED;
			break;
		}
		if (called == -1) {
			failed++;
			char msg[700];
			snprintf(msg, sizeof msg, "the call failed: %.*s", (int)strcspn(err, "\n"),
				 err);
			reason(r, msg);
		}
		json_object_set_new(r, "session", json_string(i ? "AM" : "PM"));
		rc = compare(&ro, db, d, r);
		db_exec(&ro, "COMMIT");
	}
	db_rollback(&ro);
	if (rc < 0)
		goto out;
	json_object_set_new(r, "ran", json_boolean(calls > 0));
	json_object_set_new(r, "calls", json_integer(calls));
	json_object_set_new(r, "failed", json_integer(failed));
	if (!calls)
		reason(r, "the pupil has no stored mark on the action's day (removed since, by "
			  "retention or a correction)");
	else if (!json_is_true(json_object_get(r, "same")))
		rc = reasons(db, d, r);
out:
	if (loaded)
		policy_free(&p);
	actions_draft_free(&draft);
	history_free(&h);
	if (reg.db)
		register_close(&reg);
	if (a.db)
		actions_close(&a);
	db_close(&ro);
	return rc;
}

int explain_action(struct db *db, const struct config *c, long long id, const char *org,
		   json_t **out)
{
	struct decision d = { 0 };
	json_t *o = json_object();
	char *text = NULL, file[4096] = "";
	size_t len = 0;
	*out = NULL;
	int rc = read_action(db, id, org, &d, o);
	if (rc == 0)
		rc = read_version(db, &d, o, &text, &len, file, sizeof file);
	if (rc == 0)
		rc = read_case(db, &d, o);
	if (rc == 0) {
		/* policy_load_text takes the text it is given */
		char *copy = text ? xmalloc(len + 1) : NULL;
		if (copy)
			memcpy(copy, text, len + 1);
		rc = rerun(db, c, &d, copy, len, file, o);
	}
	free(text);
	if (rc != 0) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return 0;
}
