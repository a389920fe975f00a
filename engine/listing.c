/*
 * listing.c — what rollcall shows of its records (listing.h): one query and
 * one JSON builder each, for the command line and the API alike. Every
 * query takes the scope's organisation as ?1 and, for the API, the test
 * that the pupil is at one of its schools now as ?9 (LISTING_AT_SCHOOLS);
 * the API's pages are by id, from a cursor (?5) and one row more than the
 * page (?6), which says whether there is a next page.
 */
#include "listing.h"

#include "actions.h"
#include "date.h"
#include "register.h"
#include "stats.h"
#include "upn.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void listing_bind_scope(sqlite3_stmt *st, const struct listing_scope *s)
{
	if (s && s->org)
		sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
	if (s && s->org && s->at_schools)
		sqlite3_bind_text(st, 9, s->org, -1, SQLITE_STATIC);
}

/* ?1 org (ORG: how it is tested), ?2 since, ?3 kind, ?4 state, ?7 one id;
 * ?9 the scope's pupils */
#define ACTIONS_WHERE(ORG)                                                                         \
	" FROM actions WHERE " ORG " AND (?2 IS NULL OR date >= ?2) AND (?3 IS NULL OR kind = "    \
	"?3) AND (?4 IS NULL OR state = ?4) AND (?7 IS NULL OR id = ?7) AND "                      \
	"" LISTING_AT_SCHOOLS("actions.pupil")

/* The command's order, any organisation or one; and the API's, always one
 * organisation's, by id, a page from ?5, ?6 of them (index actions_org). */
static const char *const actions_sql[2] = {
	"SELECT " ACTIONS_COLUMNS ACTIONS_WHERE("(?1 IS NULL OR org = ?1)") " ORDER BY date, id",
	"SELECT " ACTIONS_COLUMNS ACTIONS_WHERE("org = ?1") " AND id > ?5 ORDER BY id LIMIT ?6",
};

/* The rows of st, a query of ACTIONS_COLUMNS (and more columns after, which
 * add may read), each given to each with its deliveries; with a page, at
 * most page->limit of them, and page->next said. */
int listing_action_rows(struct db *db, sqlite3_stmt *st, struct listing_page *page,
			void (*add)(sqlite3_stmt *st, json_t *item), listing_action_fn each,
			void *arg)
{
	int rc, status = -1;
	long n = 0;
	long long last = 0;
	sqlite3_stmt *del = db_prepare(db, ACTIONS_DELIVERIES);
	if (!del)
		return -1;
	if (page) {
		page->next = 0;
		if (page->limit) {
			sqlite3_bind_int64(st, 5, page->after);
			sqlite3_bind_int64(st, 6, page->limit + 1); /* one more: is there a next? */
		}
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (page && page->limit && n == page->limit) {
			page->next = last;
			break;
		}
		struct action_row a;
		actions_row(st, 0, &a);
		json_t *deliveries = actions_deliveries(del, a.id);
		if (!deliveries) {
			rc = SQLITE_ERROR;
			break;
		}
		json_t *o = actions_payload(&a);
		json_object_set_new(o, "deliveries", deliveries);
		if (add)
			add(st, o);
		int stop = each(&a, o, arg);
		json_decref(o);
		if (stop < 0)
			goto out;
		last = a.id;
		n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		db_fail(db, "reading actions");
	else
		status = 0;
out:
	sqlite3_finalize(del);
	return status;
}

int listing_actions(struct db *db, const struct listing_scope *s,
		    const struct listing_actions_filter *f, struct listing_page *page,
		    listing_action_fn each, void *arg)
{
	sqlite3_stmt *st = db_prepare(db, actions_sql[page && page->limit]);
	if (!st)
		return -1;
	listing_bind_scope(st, s);
	const char *filters[] = { f ? f->since : NULL, f ? f->kind : NULL, f ? f->state : NULL };
	for (int i = 0; i < 3; i++)
		if (filters[i])
			sqlite3_bind_text(st, i + 2, filters[i], -1, SQLITE_STATIC);
	if (f && f->id)
		sqlite3_bind_int64(st, 7, f->id);
	int rc = listing_action_rows(db, st, page, NULL, each, arg);
	sqlite3_finalize(st);
	return rc;
}

/* ?1 org, ?2 1 open only / 0 closed only / NULL both, ?3 pupil id, ?6 one
 * case; ?9 the scope's pupils */
#define CASES_WHERE                                                                                \
	" FROM cases c WHERE (?1 IS NULL OR c.org = ?1) AND (?2 IS NULL OR (c.closed IS NULL) = "  \
	"?2) AND (?3 IS NULL OR c.pupil = ?3) AND (?6 IS NULL OR c.id = ?6) AND "                  \
	"" LISTING_AT_SCHOOLS("c.pupil")

#define CASES_COLUMNS                                                                              \
	"SELECT c.id, c.org, (SELECT upn FROM pupils WHERE id = c.pupil), c.stage, c.opened, "     \
	"c.closed, c.close_reason, c.referral_open"

/* A case's steps, in the order taken: its actions but the closure and the
 * legal steps not approved (a proposal waits outside the case), each as
 * the pupil's view names it (a referral's step is "referral"). Index
 * actions_case. */
static const char *const steps_sql =
	"SELECT id, CASE action WHEN 'referral' THEN 'referral' ELSE kind END, day FROM actions "
	"WHERE case_id = ?1 AND action <> 'case_closed' AND (state IS NULL OR state = 'approved') "
	"ORDER BY id";

/* the command's order (?4: how many), and the API's: by id, from ?5 */
static const char *const list_sql[2] = {
	CASES_COLUMNS CASES_WHERE " ORDER BY c.opened DESC, c.id DESC LIMIT ?4",
	CASES_COLUMNS CASES_WHERE " AND c.id > ?5 ORDER BY c.id LIMIT ?4",
};

static const char *const count_sql = "SELECT count(*)" CASES_WHERE;

static void bind_filters(sqlite3_stmt *st, const struct listing_scope *s, int open, long long pupil,
			 long long id)
{
	listing_bind_scope(st, s);
	if (id)
		sqlite3_bind_int64(st, 6, id);
	if (open >= 0)
		sqlite3_bind_int(st, 2, open);
	if (pupil)
		sqlite3_bind_int64(st, 3, pupil);
}

static json_t *case_json(sqlite3_stmt *st, sqlite3_stmt *steps_st)
{
	json_t *steps = json_array();
	int rc;
	sqlite3_bind_int64(steps_st, 1, sqlite3_column_int64(st, 0));
	while ((rc = sqlite3_step(steps_st)) == SQLITE_ROW) {
		char day[11];
		json_array_append_new(steps,
				      json_pack("{s:I, s:o, s:s}", "action_id",
						(json_int_t)sqlite3_column_int64(steps_st, 0),
						"step", column_json(steps_st, 1, NULL), "date",
						date_format(sqlite3_column_int(steps_st, 2), day)));
	}
	sqlite3_reset(steps_st);
	if (rc != SQLITE_DONE) {
		json_decref(steps);
		return NULL;
	}
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(o, "org", column_json(st, 1, NULL));
	json_object_set_new(o, "upn", column_json(st, 2, NULL));
	json_object_set_new(o, "stage", column_json(st, 3, NULL));
	json_object_set_new(o, "opened", column_json(st, 4, NULL));
	json_object_set_new(o, "closed", column_json(st, 5, NULL));
	json_object_set_new(o, "reason", column_json(st, 6, TEXT_KEEP_JSON));
	json_object_set_new(o, "referral_open", json_boolean(sqlite3_column_int(st, 7)));
	json_object_set_new(o, "steps", steps);
	return o;
}

int listing_cases(struct db *db, const struct listing_scope *s, int open, long long pupil,
		  long long id, struct listing_page *page, long max, long long *more,
		  listing_fn each, void *arg)
{
	int paged = page && page->limit, status = -1, rc;
	long limit = paged ? page->limit : max, n = 0;
	long long last = 0;
	sqlite3_stmt *st = db_prepare(db, list_sql[paged]), *count = NULL;
	sqlite3_stmt *steps = db_prepare(db, steps_sql);
	if (more)
		*more = 0;
	if (page)
		page->next = 0;
	if (!st || !steps)
		goto out;
	bind_filters(st, s, open, pupil, id);
	sqlite3_bind_int64(st, 4, limit + 1); /* one more: are there more? */
	if (paged)
		sqlite3_bind_int64(st, 5, page->after);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		json_t *o = case_json(st, steps);
		if (!o) {
			db_fail(db, "reading a case's steps");
			goto out;
		}
		last = sqlite3_column_int64(st, 0);
		int stop = each(o, arg);
		json_decref(o);
		if (stop < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_fail(db, "reading cases");
		goto out;
	}
	if (rc == SQLITE_ROW && paged)
		page->next = last;
	else if (rc == SQLITE_ROW && more) { /* cut at the limit: say by how much */
		if (!(count = db_prepare(db, count_sql)))
			goto out;
		bind_filters(count, s, open, pupil, id);
		if (sqlite3_step(count) != SQLITE_ROW) {
			db_fail(db, "counting cases");
			goto out;
		}
		*more = sqlite3_column_int64(count, 0);
	}
	status = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(steps);
	sqlite3_finalize(count);
	return status;
}

/* ?1 org, ?2 since; by id, which is the order written (a page from ?5) */
static const char *const audit_sql[2] = {
	"SELECT id, at, who, via, org, what, action_id, before, after, detail FROM audit WHERE "
	"(?1 IS NULL OR org = ?1) AND (?2 IS NULL OR at >= ?2) ORDER BY id",
	"SELECT id, at, who, via, org, what, action_id, before, after, detail FROM audit WHERE "
	"(?1 IS NULL OR org = ?1) AND (?2 IS NULL OR at >= ?2) AND id > ?5 ORDER BY id LIMIT ?6",
};

int listing_audit(struct db *db, const struct listing_scope *s, const char *since,
		  struct listing_page *page, listing_fn each, void *arg)
{
	static const char *const keys[] = { "id",   "at",	 "who",	   "via",   "org",
					    "what", "action_id", "before", "after", "detail" };
	int paged = page && page->limit, rc, status = -1;
	long n = 0;
	long long last = 0;
	sqlite3_stmt *st = db_prepare(db, audit_sql[paged]);
	if (page)
		page->next = 0;
	if (!st)
		return -1;
	listing_bind_scope(st, s);
	if (since)
		sqlite3_bind_text(st, 2, since, -1, SQLITE_STATIC);
	if (paged) {
		sqlite3_bind_int64(st, 5, page->after);
		sqlite3_bind_int64(st, 6, page->limit + 1);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (paged && n == page->limit) {
			page->next = last;
			break;
		}
		json_t *o = json_object();
		for (int k = 0; k < 10; k++)
			json_object_set_new(
				o, keys[k],
				k == 0 || k == 6
					? (sqlite3_column_type(st, k) == SQLITE_NULL
						   ? json_null()
						   : json_integer(sqlite3_column_int64(st, k)))
					: column_json(st, k, NULL));
		last = sqlite3_column_int64(st, 0);
		int stop = each(o, arg);
		json_decref(o);
		if (stop < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		db_fail(db, "reading the audit trail");
	else
		status = 0;
out:
	sqlite3_finalize(st);
	return status;
}

/* Is the pupil of the action row still at a school of its organisation? */
#define AT_ORG                                                                                     \
	"EXISTS (SELECT 1 FROM pupils p JOIN schools s ON s.urn = p.urn WHERE p.id = "             \
	"actions.pupil AND ('la:' || s.la_code = actions.org OR 'trust:' || s.trust_id = "         \
	"actions.org))"

/* ?1 org; ?9 the scope's pupils. The first to expire first, or by id from
 * ?5 for the API. The column after ACTIONS_COLUMNS is AT_ORG. */
#define PROPOSALS                                                                                  \
	"SELECT " ACTIONS_COLUMNS ", " AT_ORG " FROM actions WHERE action = 'legal_step' AND "     \
	"state = 'proposed' AND (?1 IS NULL OR org = ?1) AND " LISTING_AT_SCHOOLS("actions.pupil")
static const char *const proposals_sql[2] = {
	PROPOSALS " ORDER BY decide_by, id",
	PROPOSALS " AND id > ?5 ORDER BY id LIMIT ?6",
};

static void add_signoff(sqlite3_stmt *st, json_t *o)
{
	char today[11];
	const char *decide_by = json_string_value(json_object_get(o, "decide_by"));
	date_format(date_today(), today);
	/* past its day, and not yet recorded expired (the service does it) */
	json_object_set_new(o, "pupil_at_org",
			    json_boolean(sqlite3_column_int(st, ACTION_COLUMNS_COUNT)));
	json_object_set_new(o, "past_decide_by",
			    json_boolean(decide_by && strcmp(decide_by, today) < 0));
}

int listing_signoff(struct db *db, const struct listing_scope *s, struct listing_page *page,
		    listing_action_fn each, void *arg)
{
	sqlite3_stmt *st = db_prepare(db, proposals_sql[page && page->limit]);
	if (!st)
		return -1;
	listing_bind_scope(st, s);
	int rc = listing_action_rows(db, st, page, add_signoff, each, arg);
	sqlite3_finalize(st);
	return rc;
}

static const char *const default_windows[] = { "sessions=20", "school_weeks=6", "school_weeks=10",
					       "days=28", "academic_year" };

#define MAX_WINDOWS    LISTING_WINDOWS_MAX
#define RECENT_ACTIONS LISTING_RECENT_ACTIONS

/* The organisations with an open case for pupil ?1, and the pupil's latest
 * actions (indexes cases_pupil and actions_pupil). */
static const char *const orgs_with_open_case =
	"SELECT org FROM cases WHERE pupil = ?2 AND closed IS NULL AND (?1 IS NULL OR org = ?1) "
	"ORDER BY org";
static const char *const recent_actions_sql =
	"SELECT id, org, action, kind, severity, date, state FROM actions WHERE pupil = ?2 AND "
	"(?1 IS NULL OR org = ?1) ORDER BY day DESC, id DESC LIMIT ?3";

/* "sessions=N", "school_weeks=N", "days=N", "since=YYYY-MM-DD", "academic_year" */
static int parse_window(const char *spec, struct window *w)
{
	static const struct {
		const char *name;
		enum window_kind kind;
	} kinds[] = { { "sessions", WINDOW_SESSIONS },
		      { "school_weeks", WINDOW_SCHOOL_WEEKS },
		      { "days", WINDOW_DAYS },
		      { "since", WINDOW_SINCE },
		      { "academic_year", WINDOW_ACADEMIC_YEAR } };
	const char *eq = strchr(spec, '=');
	size_t len = eq ? (size_t)(eq - spec) : strlen(spec);
	memset(w, 0, sizeof *w);
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strlen(kinds[i].name) != len || strncmp(kinds[i].name, spec, len) != 0)
			continue;
		w->kind = kinds[i].kind;
		if (w->kind == WINDOW_ACADEMIC_YEAR)
			return eq ? -1 : 0;
		if (!eq)
			return -1;
		if (w->kind == WINDOW_SINCE)
			return (w->since = date_parse(eq + 1, (int)strlen(eq + 1))) < 0 ? -1 : 0;
		char *end;
		long n = strtol(eq + 1, &end, 10);
		if (*end || end == eq + 1 || n < 1 || n > 100000)
			return -1;
		w->n = (int)n;
		return 0;
	}
	return -1;
}

int listing_window_valid(const char *spec)
{
	struct window w;
	return parse_window(spec, &w) == 0;
}

static json_t *figures_json(const char *name, const struct figures *f)
{
	json_t *o = stats_figures_json(f);
	json_object_set_new(o, "window", json_string(name));
	return o;
}

/* Stored text (a case's stage and steps) as JSON that jansson accepts. */
static json_t *safe_json_text(const char *s)
{
	return text_json(s, strlen(s), NULL);
}

/* Append the pupil's open cases to list: org, stage, opened, whether a
 * mentor referral is open, and the steps (the latest CASE_STEPS_MAX). */
static int open_cases(struct db *db, const struct config *cfg, const struct listing_scope *s,
		      uint32_t pupil, json_t *list)
{
	struct actions a;
	struct pupil_case c;
	int rc, status = -1;
	if (actions_open(&a, db, cfg) < 0)
		return -1;
	sqlite3_stmt *st = db_prepare(db, orgs_with_open_case);
	if (!st)
		goto out;
	listing_bind_scope(st, s);
	sqlite3_bind_int64(st, 2, pupil);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *org = (const char *)sqlite3_column_text(st, 0);
		char day[11];
		int found = actions_case(&a, NULL, org, pupil, &c);
		if (found < 0)
			goto out;
		if (!found)
			continue;
		json_t *steps = json_array();
		for (int i = 0; i < c.nsteps; i++)
			json_array_append_new(steps,
					      json_pack("{s:o, s:s}", "step",
							safe_json_text(c.steps[i].step), "date",
							date_format(c.steps[i].date, day)));
		json_array_append_new(
			list,
			json_pack("{s:o, s:o, s:o, s:b, s:o}", "org", column_json(st, 0, NULL),
				  "stage", safe_json_text(c.stage), "opened",
				  c.opened >= 0 ? json_string(date_format(c.opened, day))
						: json_null(),
				  "referral_open", c.referral_open, "steps", steps));
	}
	if (rc != SQLITE_DONE)
		db_fail(db, "reading cases");
	else
		status = 0;
out:
	sqlite3_finalize(st);
	actions_close(&a);
	return status;
}

/* Append the pupil's RECENT_ACTIONS latest actions, from every
 * organisation, newest first: the action as `actions --json` names it
 * (kind for an alert or a case closure, step for a legal step) and its
 * deliveries. */
static int recent_actions(struct db *db, const struct listing_scope *s, uint32_t pupil,
			  json_t *list)
{
	int rc, status = -1;
	sqlite3_stmt *st = db_prepare(db, recent_actions_sql);
	sqlite3_stmt *del = db_prepare(db, ACTIONS_DELIVERIES);
	if (!st || !del)
		goto out;
	listing_bind_scope(st, s);
	sqlite3_bind_int64(st, 2, pupil);
	sqlite3_bind_int(st, 3, RECENT_ACTIONS);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *action = (const char *)sqlite3_column_text(st, 2);
		json_t *o = json_object();
		json_object_set_new(o, "action_id", json_integer(sqlite3_column_int64(st, 0)));
		json_object_set_new(o, "org", column_json(st, 1, NULL));
		json_object_set_new(o, "action", column_json(st, 2, NULL));
		if (action && (!strcmp(action, "alert") || !strcmp(action, "case_closed")))
			json_object_set_new(o, "kind", column_json(st, 3, NULL));
		else if (action && !strcmp(action, "legal_step")) {
			json_object_set_new(o, "step", column_json(st, 3, NULL));
			/* its sign-off: a proposal is not a step taken */
			json_object_set_new(o, "state", column_json(st, 6, NULL));
		}
		json_object_set_new(o, "severity", column_json(st, 4, NULL));
		json_object_set_new(o, "date", column_json(st, 5, NULL));
		json_array_append_new(list, o);
		json_t *deliveries = actions_deliveries(del, sqlite3_column_int64(st, 0));
		if (!deliveries) {
			rc = SQLITE_ERROR;
			break;
		}
		json_object_set_new(o, "deliveries", deliveries);
	}
	if (rc != SQLITE_DONE)
		db_fail(db, "reading actions");
	else
		status = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(del);
	return status;
}

/* The pupil's school is the scope's: ?1 the org, NULL for any. */
static const char *const pupil_sql =
	"SELECT p.id, p.urn, p.year_group, p.social_worker, p.sen, p.fsm, s.la_code, s.trust_id "
	"FROM pupils p JOIN schools s ON s.urn = p.urn WHERE p.upn = ?2 AND (?1 IS NULL OR "
	"'la:' || s.la_code = ?1 OR 'trust:' || s.trust_id = ?1)";

json_t *listing_pupil(struct db *db, const struct config *cfg, const struct listing_scope *s,
		      const char *upn, const char *const *specs, int nspecs, int *found)
{
	struct window windows[MAX_WINDOWS];
	*found = 1;
	if (!specs || !nspecs) {
		specs = default_windows;
		nspecs = sizeof default_windows / sizeof *default_windows;
	}
	for (int i = 0; i < nspecs && i < MAX_WINDOWS; i++)
		if (parse_window(specs[i], &windows[i]) < 0) {
			error("window %s: expected sessions=N, school_weeks=N, days=N, "
			      "since=YYYY-MM-DD or academic_year",
			      specs[i]);
			return NULL;
		}
	sqlite3_stmt *st = db_prepare(db, pupil_sql);
	struct registers reg = { 0 };
	struct history h = { 0 };
	json_t *out = NULL, *cases = json_array(), *recent = json_array();
	if (!st)
		goto out;
	/* with an organisation, the pupil is one of its own or not there at all */
	struct listing_scope org = { .org = s && s->at_schools ? s->org : NULL };
	listing_bind_scope(st, &org);
	sqlite3_bind_text(st, 2, upn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			*found = 0;
		else
			db_fail(db, "reading a pupil");
		goto out;
	}
	uint32_t pupil = (uint32_t)sqlite3_column_int64(st, 0);
	int urn = sqlite3_column_int(st, 1);
	int social_worker = sqlite3_column_int(st, 3), fsm = sqlite3_column_int(st, 5), year = 0;
	const char *group = (const char *)sqlite3_column_text(st, 2);
	int has_year = group && year_group_year(group, &year);

	if (register_open(&reg, db) < 0 || register_history(&reg, pupil, 0, &h) < 0)
		goto out;
	int absent_days, unauthorised_days, day, session, code;
	if (stats_consecutive(&h, &absent_days, &unauthorised_days) < 0)
		goto out;
	int has_last = stats_latest(&h, &day, &session, &code);
	if (open_cases(db, cfg, s, pupil, cases) < 0 || recent_actions(db, s, pupil, recent) < 0)
		goto out;
	char date[11] = "", urn_text[7];
	if (has_last)
		date_format(day, date);
	snprintf(urn_text, sizeof urn_text, "%06d", urn);
	/* upn was checked by the caller; the stored text goes through column_json */
	/* the types a policy sees: booleans, the year a number */
	out = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:b, s:i, s:i}", "upn", upn,
			"urn", urn_text, "la_code", column_json(st, 6, NULL), "trust_id",
			column_json(st, 7, NULL), "year_group", column_json(st, 2, NULL), "year",
			has_year ? json_integer(year) : json_null(), "social_worker", social_worker,
			"sen", column_json(st, 4, NULL), "fsm", fsm, "consecutive_absent_days",
			absent_days, "consecutive_unauthorised_days", unauthorised_days);
	json_object_set_new(out, "last",
			    has_last ? json_pack("{s:s, s:s, s:s}", "date", date, "session",
						 session ? "PM" : "AM", "code",
						 codes_get(code)->text)
				     : json_null());
	json_t *list = json_array();
	json_object_set_new(out, "windows", list);
	for (int i = 0; i < nspecs; i++) {
		struct figures f;
		if (stats_window(&h, &windows[i], &f) < 0) {
			json_decref(out);
			out = NULL;
			goto out;
		}
		json_array_append_new(list, figures_json(specs[i], &f));
	}
	json_object_set(out, "open_cases", cases);
	json_object_set(out, "recent_actions", recent);
out:
	json_decref(cases);
	json_decref(recent);
	history_free(&h);
	if (reg.db)
		register_close(&reg);
	sqlite3_finalize(st);
	return out;
}
