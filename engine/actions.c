/*
 * actions.c — recording actions and keeping cases, under the repeat rule and
 * the national framework. Each rule is checked in actions_record in the
 * order a caseworker would: is this a repeat, is it allowed, then record it
 * and move the case on. Closing a case is an action like the others (a row,
 * an action_id, a delivery): `case_closed`, with the case's id and, as its
 * kind, the stage the case had reached.
 *
 * A legal step that needs a person's decision is recorded as a proposal:
 * the repeat rule and one open proposal per step keep a pupil above the
 * threshold from being proposed again every day while the first waits;
 * the national framework is checked against approved steps, and moves no
 * case. Deciding it (signoff.c) checks the framework again here
 * (actions_approve).
 */
#include "actions.h"

#include "date.h"
#include "log.h"
#include "util.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const action_names[ACTION_TYPES] = { "alert", "referral", "legal_step", "case_closed" };

/* DfE "Working together to improve school attendance" (2024): the ladder,
 * support first, legal steps as a last resort. */
const char *const legal_steps[LEGAL_STEPS] = {
	"letter",
	"meeting",
	"attendance_contract",	       /* formerly parenting contract */
	"notice_to_improve",	       /* 3-6 week improvement period */
	"penalty_notice",	       /* GBP 80 in 21 days, 160 in 28 */
	"education_supervision_order", /* s36 Children Act 1989 */
	"school_attendance_order",     /* s437 Education Act 1996 */
	"prosecution",		       /* s444(1) / s444(1A) Education Act 1996 */
};

/* National framework: at most 2 penalty notices per child within a rolling
 * 3 years (applied per pupil per organisation: rollcall does not model
 * parents). */
#define PENALTY_NOTICES_MAX  2
#define PENALTY_WINDOW_YEARS 3

/* The national threshold at which a penalty notice must be considered:
 * 10 sessions of unauthorised absence within a rolling 10 school weeks. */
#define PENALTY_SESSIONS     10
#define PENALTY_SCHOOL_WEEKS 10

enum {
	ST_LAST_SAME,
	ST_OPEN_PROPOSAL,
	ST_PENALTIES,
	ST_OPEN_CASE,
	ST_CASE_STEPS,
	ST_HAS_STEP,
	ST_NEW_CASE,
	ST_UPDATE_CASE,
	ST_INSERT,
	ST_CLOSE_CASE,
	ST_DELIVERY,
	ST_LIST,
	ST_APPROVE,
	ST_STAGE,
	ST_CASE_CLOSED,
	ST_COUNT
};

static const char *const statements[ST_COUNT] = {
	[ST_LAST_SAME] = "SELECT max(day) FROM actions WHERE org = ? AND pupil = ? AND action = ? "
			 "AND kind = ?",
	[ST_OPEN_PROPOSAL] = "SELECT 1 FROM actions WHERE org = ? AND pupil = ? AND action = "
			     "'legal_step' AND kind = ? AND state = 'proposed' LIMIT 1",
	/* approved only: a proposal, a declined or expired one was never issued */
	[ST_PENALTIES] = "SELECT day FROM actions WHERE org = ? AND pupil = ? AND action = "
			 "'legal_step' AND kind = 'penalty_notice' AND state = 'approved' AND "
			 "day > ? AND day < ? ORDER BY day LIMIT 64",
	[ST_OPEN_CASE] = "SELECT id, stage, opened, referral_open FROM cases WHERE org = ? AND "
			 "pupil = ? AND closed IS NULL",
	/* a referral's step is "referral"; legal steps are their names, once
	 * approved (a proposal waits outside the case's steps) */
	[ST_CASE_STEPS] = "SELECT step, day FROM (SELECT id, CASE action WHEN 'referral' THEN "
			  "'referral' ELSE kind END AS step, day FROM actions WHERE case_id = ? "
			  "AND (state IS NULL OR state = 'approved') ORDER BY id DESC LIMIT 32) "
			  "ORDER BY id",
	[ST_HAS_STEP] = "SELECT 1 FROM actions WHERE case_id = ? AND action = 'legal_step' AND "
			"kind = ? AND state = 'approved' AND day <= ? LIMIT 1",
	[ST_NEW_CASE] = "INSERT INTO cases(org, pupil, stage, opened, referral_open) "
			"VALUES (?, ?, ?, ?, ?)",
	[ST_UPDATE_CASE] = "UPDATE cases SET stage = ?, referral_open = ? WHERE id = ?",
	[ST_INSERT] = "INSERT INTO actions(org, pupil, action, kind, severity, message, evidence, "
		      "data, date, day, policy, policy_sha256, case_id, upn, urn, year_group, "
		      "created_at, params, state, signoff, decide_by, decided_by, decided_at, "
		      "support_inappropriate, endpoint, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
		      "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[ST_DELIVERY] = "INSERT INTO deliveries(action_id, endpoint, webhook_id, state, event, "
			"created_at) VALUES (?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
	[ST_CLOSE_CASE] = "UPDATE cases SET closed = ?, close_reason = ?, referral_open = 0 "
			  "WHERE id = ?",
	/* p:actions{}: newest first, open or closed case, closures too (index
	 * actions_pupil) */
	[ST_LIST] = "SELECT id, action, kind, day, case_id, state FROM actions WHERE pupil = ? AND "
		    "day >= ? AND org = ? AND (?4 IS NULL OR action = ?4) AND (?5 IS NULL OR kind "
		    "= ?5) ORDER BY day DESC, id DESC LIMIT ?6",
	/* the decision is a conditional update: a proposal decided by another
	 * in the meantime changes nothing */
	[ST_APPROVE] = "UPDATE actions SET state = 'approved', decided_by = ?, decided_at = ?, "
		       "decision = ?, case_id = ? WHERE id = ? AND state = 'proposed'",
	/* the stage of the case's latest approved step, by the day each was
	 * proposed: approving an older proposal after a newer one leaves it */
	[ST_STAGE] = "UPDATE cases SET stage = coalesce((SELECT kind FROM actions WHERE case_id = "
		     "?1 AND action = 'legal_step' AND state = 'approved' ORDER BY day DESC, id "
		     "DESC LIMIT 1), stage) WHERE id = ?1",
	[ST_CASE_CLOSED] = "SELECT closed, coalesce(close_reason, '') FROM cases WHERE id = ?",
};

int actions_legal_step(const char *name)
{
	for (int i = 0; i < LEGAL_STEPS; i++)
		if (strcmp(legal_steps[i], name) == 0)
			return i;
	return -1;
}

_Static_assert(ST_COUNT <= sizeof((struct actions *)0)->stmt / sizeof(sqlite3_stmt *),
	       "struct actions has room for every statement");

int actions_open(struct actions *a, struct db *db, const struct config *cfg)
{
	memset(a, 0, sizeof *a);
	a->db = db;
	a->cfg = cfg;
	a->random_used = sizeof a->random; /* the pool is drawn on first use */
	for (int i = 0; i < ST_COUNT; i++)
		if (!(a->stmt[i] = db_prepare(db, statements[i]))) {
			actions_close(a);
			return -1;
		}
	return 0;
}

void actions_close(struct actions *a)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(a->stmt[i]);
	memset(a, 0, sizeof *a);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Step a statement expected to give at most one row; *found says whether it
 * did. Leaves the row readable; the caller resets. */
static int step_row(struct actions *a, sqlite3_stmt *st, int *found, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_reset(st);
		return db_fail(a->db, what);
	}
	*found = rc == SQLITE_ROW;
	return 0;
}

static int read_case(struct actions *a, struct actions_draft *d, const char *org, uint32_t pupil,
		     struct pupil_case *c)
{
	if (d && d->case_loaded) {
		*c = *d->c;
		return d->has_case;
	}
	sqlite3_stmt *st = a->stmt[ST_OPEN_CASE];
	int found = 0;
	memset(c, 0, sizeof *c);
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, pupil);
	int failed = step_row(a, st, &found, "reading a case");
	if (failed < 0)
		return failed; /* the db_result */
	if (found) {
		c->id = sqlite3_column_int64(st, 0);
		snprintf(c->stage, sizeof c->stage, "%s", (const char *)sqlite3_column_text(st, 1));
		const char *opened = (const char *)sqlite3_column_text(st, 2);
		c->opened = date_parse(opened, (int)strlen(opened));
		c->referral_open = sqlite3_column_int(st, 3);
	}
	sqlite3_reset(st);
	if (found) {
		st = a->stmt[ST_CASE_STEPS];
		sqlite3_bind_int64(st, 1, c->id);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && c->nsteps < CASE_STEPS_MAX) {
			snprintf(c->steps[c->nsteps].step, sizeof c->steps[0].step, "%s",
				 (const char *)sqlite3_column_text(st, 0));
			c->steps[c->nsteps++].date = sqlite3_column_int(st, 1);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return db_fail(a->db, "reading a case");
	}
	if (d) {
		if (!d->c) /* only for calls that read a case: most never do */
			d->c = xmalloc(sizeof *d->c);
		*d->c = *c;
		d->has_case = found;
		d->case_loaded = 1;
	}
	return found;
}

static int same_action(const struct drafted *x, const struct action_request *r)
{
	return !x->close && x->r.type == r->type && !strcmp(x->kind, r->kind);
}

/* The day of the latest (organisation, pupil, action, kind) like r, in
 * the database or draft d: -1 if none, -2 on a database error. */
static int last_same(struct actions *a, struct actions_draft *d, const struct action_request *r,
		     int *last)
{
	sqlite3_stmt *st = a->stmt[ST_LAST_SAME];
	int found = 0;
	sqlite3_bind_text(st, 1, r->org, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->pupil);
	sqlite3_bind_text(st, 3, action_names[r->type], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->kind, -1, SQLITE_STATIC);
	int rc = step_row(a, st, &found, "checking repeats");
	if (rc < 0)
		return rc; /* the db_result */
	*last = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	for (int i = 0; d && i < d->n; i++)
		if (same_action(&d->item[i], r) && d->item[i].r.date > *last)
			*last = d->item[i].r.date;
	return 0;
}

static int repeat(struct actions *a, struct actions_draft *d, const struct action_request *r)
{
	/* a case closes once: a closure is never a repeat (with no open case
	 * there is nothing to close, which record() answers) */
	if (r->cooldown_days <= 0 || r->type == ACTION_CASE_CLOSED)
		return 0;
	int last, rc = last_same(a, d, r, &last);
	if (rc < 0)
		return rc;
	int repeat = last >= 0 && r->date - last < r->cooldown_days && r->date >= last;
	a->suppressed += repeat;
	return repeat;
}

/* The day years before (or, negative, after) day; 29 February falls back
 * to the 28th. */
static int years_before(int day, int years)
{
	int y, m, d;
	date_to_ymd(day, &y, &m, &d);
	if (m == 2 && d == 29)
		d = 28;
	return date_from_ymd(y - years, m, d);
}

static int drafted_step(const struct drafted *x, const char *step)
{
	return !x->close && x->r.type == ACTION_LEGAL_STEP && !strcmp(x->kind, step);
}

/* Is r a legal step to be recorded as a proposal, waiting for a person? */
static int proposal(const struct actions *a, const struct action_request *r)
{
	return r->type == ACTION_LEGAL_STEP && r->signoff && !a->approve_as;
}

/* Is a proposal of r's step for r's pupil still waiting, in the database
 * or draft d? 1 yes, 0 no, -1 on a database error. */
static int open_proposal(struct actions *a, struct actions_draft *d, const struct action_request *r)
{
	sqlite3_stmt *st = a->stmt[ST_OPEN_PROPOSAL];
	int found = 0;
	sqlite3_bind_text(st, 1, r->org, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->pupil);
	sqlite3_bind_text(st, 3, r->kind, -1, SQLITE_STATIC);
	if (step_row(a, st, &found, "checking proposals") < 0)
		return -1;
	sqlite3_reset(st);
	for (int i = 0; d && i < d->n && !found; i++)
		found = d->item[i].proposal && drafted_step(&d->item[i], r->kind);
	return found;
}

/* The figures of window w over h cut at the end of day: the marks after
 * it are not counted. -1 if out of memory or extending h failed. */
static int window_at(struct history *h, int day, const struct window *w, struct figures *f)
{
	int cut = 2 * (day - h->first_day) + 2;
	if (cut >= h->nslots)
		return stats_window(h, w, f);
	struct history copy = { 0 };
	int rc = history_copy(&copy, h);
	if (rc == 0) {
		copy.nslots = cut > 0 ? cut : 0;
		rc = stats_window(&copy, w, f);
	}
	history_free(&copy);
	return rc;
}

static int by_day(const void *x, const void *y)
{
	int a = *(const int *)x, b = *(const int *)y;
	return (a > b) - (a < b);
}

#define NOTICES_MAX 64 /* approved penalty notices read around a day: far more than may be */

/* The days of the approved penalty notices of r's organisation for r's
 * pupil within PENALTY_WINDOW_YEARS either side of r's day, in the
 * database and draft d, ascending: *n of them. -1 on a database error. */
static int approved_notices(struct actions *a, struct actions_draft *d,
			    const struct action_request *r, int *days, int *n)
{
	sqlite3_stmt *st = a->stmt[ST_PENALTIES];
	int before = years_before(r->date, PENALTY_WINDOW_YEARS);
	int after = years_before(r->date, -PENALTY_WINDOW_YEARS), rc;
	*n = 0;
	sqlite3_bind_text(st, 1, r->org, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->pupil);
	sqlite3_bind_int(st, 3, before);
	sqlite3_bind_int(st, 4, after);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < NOTICES_MAX)
		days[(*n)++] = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(a->db, "counting penalty notices");
	for (int i = 0; d && i < d->n && *n < NOTICES_MAX; i++) {
		const struct drafted *x = &d->item[i];
		if (drafted_step(x, "penalty_notice") && !x->proposal && x->r.date > before &&
		    x->r.date < after)
			days[(*n)++] = x->r.date;
	}
	qsort(days, (size_t)*n, sizeof *days, by_day);
	return 0;
}

/* National framework: at most PENALTY_NOTICES_MAX within a rolling
 * PENALTY_WINDOW_YEARS, counted from 19 August 2024. Would a notice on day
 * be a third beside two of days (ascending)? 1, with them in *x and *y,
 * or 0. Notices approved out of order count as well as earlier ones: any
 * three within three years are too many. */
static int third_notice(const int *days, int n, int day, int *x, int *y)
{
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			int lo = days[i] < day ? days[i] : day, hi = days[j] > day ? days[j] : day;
			if (days[i] >= DATE_REGS_2024 &&
			    lo > years_before(hi, PENALTY_WINDOW_YEARS)) {
				*x = days[i];
				*y = days[j];
				return 1;
			}
		}
	return 0;
}

/* The unauthorised sessions in the last PENALTY_SCHOOL_WEEKS of r's
 * history up to r's day that no other approved penalty notice of r's
 * organisation counted (days: theirs, ascending). A notice counted every
 * session of its own window, and a window that ends later starts no
 * earlier, so what r may still count lies after the latest notice on or
 * before its day (*earlier, 0 if none) and before the window of the first
 * notice after it (*later, 0 if none: a notice approved out of order).
 * -1 on a database error. */
static int uncounted(struct actions *a, const struct action_request *r, const int *days, int n,
		     int *earlier, int *later)
{
	struct window w = { .kind = WINDOW_SCHOOL_WEEKS, .n = PENALTY_SCHOOL_WEEKS };
	struct figures f, g;
	*earlier = *later = 0;
	if (!r->history)
		return 0;
	if (window_at(r->history, r->date, &w, &f) < 0)
		return db_fail(a->db, "reading a pupil's history");
	if (f.from < 0)
		return 0;
	int lo = f.from, hi = f.to;
	for (int i = 0; i < n; i++) {
		if (days[i] <= r->date && days[i] >= lo) {
			lo = days[i] + 1;
			*earlier = days[i];
		} else if (days[i] > r->date) { /* the first after: the others start later */
			if (window_at(r->history, days[i], &w, &g) < 0)
				return db_fail(a->db, "reading a pupil's history");
			if (g.from >= 0 && g.from <= hi) {
				hi = g.from - 1;
				*later = days[i];
			}
			break;
		}
	}
	if (lo > hi)
		return 0;
	w = (struct window){ .kind = WINDOW_SINCE, .since = lo };
	if (window_at(r->history, hi, &w, &f) < 0)
		return db_fail(a->db, "reading a pupil's history");
	return f.unauthorised;
}

/* A national-framework refusal for a legal step, written into why; 0 if
 * allowed, 1 refused, -1 error. Only approved steps count: a proposal, or
 * one declined or expired, was never taken. */
static int refused(struct actions *a, struct actions_draft *d, const struct action_request *r,
		   const struct pupil_case *c, int has_case, char *why, size_t whylen)
{
	int days[NOTICES_MAX], n, x, y;
	char one[11], two[11];
	if (r->type != ACTION_LEGAL_STEP || strcmp(r->kind, "penalty_notice") != 0)
		return 0;
	if (approved_notices(a, d, r, days, &n) < 0)
		return -1;
	if (third_notice(days, n, r->date, &x, &y)) {
		snprintf(why, whylen,
			 "national framework: %d penalty notices already within 3 years (%s and "
			 "%s); use another step (usually prosecution)",
			 PENALTY_NOTICES_MAX, date_format(x, one), date_format(y, two));
		return 1;
	}
	int earlier, later, unauthorised = uncounted(a, r, days, n, &earlier, &later);
	if (unauthorised < 0)
		return -1;
	if (unauthorised < PENALTY_SESSIONS) {
		if (later)
			snprintf(why, whylen,
				 "national framework: a penalty notice needs %d unauthorised "
				 "sessions in %d school weeks that no other notice counted: %d "
				 "%s%s%s the penalty notice of %s",
				 PENALTY_SESSIONS, PENALTY_SCHOOL_WEEKS, unauthorised,
				 earlier ? "between the penalty notice of " : "before",
				 earlier ? date_format(earlier, one) : "", earlier ? " and" : "",
				 date_format(later, two));
		else if (earlier)
			snprintf(why, whylen,
				 "national framework: a penalty notice needs %d unauthorised "
				 "sessions in %d school weeks that no earlier notice counted: %d "
				 "since the penalty notice of %s",
				 PENALTY_SESSIONS, PENALTY_SCHOOL_WEEKS, unauthorised,
				 date_format(earlier, one));
		else
			snprintf(why, whylen,
				 "national framework: a penalty notice needs %d unauthorised "
				 "sessions in %d school weeks: %d",
				 PENALTY_SESSIONS, PENALTY_SCHOOL_WEEKS, unauthorised);
		return 1;
	}
	if (r->support_inappropriate)
		return 0;
	int nti = 0;
	if (has_case && c->id > 0) {
		sqlite3_stmt *st = a->stmt[ST_HAS_STEP];
		sqlite3_bind_int64(st, 1, c->id);
		sqlite3_bind_text(st, 2, "notice_to_improve", -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, r->date);
		if (step_row(a, st, &nti, "reading a case") < 0)
			return -1;
		sqlite3_reset(st);
	}
	for (int i = 0; has_case && d && i < d->n; i++)
		nti |= d->item[i].case_id == c->id && !d->item[i].proposal &&
		       drafted_step(&d->item[i], "notice_to_improve");
	if (!nti) {
		snprintf(why, whylen,
			 "national framework: a penalty notice needs an earlier notice_to_improve "
			 "in the case, approved, unless support is inappropriate "
			 "(opts.support_inappropriate)");
		return 1;
	}
	return 0;
}

int actions_enqueue(struct actions *a, long long action_id, const char *endpoint, const char *event)
{
	static const char hex[] = "0123456789abcdef";
	char webhook_id[40] = "msg_";
	/* 128 random bits an id, drawn from OpenSSL a pool at a time: one
	 * RAND_bytes call per action cost as much as the action's insert */
	if (a->random_used + 16 > sizeof a->random) {
		if (RAND_bytes(a->random, sizeof a->random) != 1) {
			error("cannot make a webhook id: no randomness");
			return -1;
		}
		a->random_used = 0;
	}
	for (int i = 0; i < 16; i++) {
		unsigned char b = a->random[a->random_used + i];
		webhook_id[4 + 2 * i] = hex[b >> 4];
		webhook_id[5 + 2 * i] = hex[b & 15];
	}
	webhook_id[36] = '\0';
	OPENSSL_cleanse(a->random + a->random_used, 16); /* each byte serves once */
	a->random_used += 16;
	int configured = endpoint && a->cfg && config_endpoint(a->cfg, endpoint);
	sqlite3_stmt *st = a->stmt[ST_DELIVERY];
	sqlite3_bind_int64(st, 1, action_id);
	bind_text(st, 2, endpoint);
	sqlite3_bind_text(st, 3, webhook_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, configured ? "pending" : "no_endpoint", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, event, -1, SQLITE_STATIC);
	return db_step_done(a->db, st, "queueing a delivery");
}

static struct drafted *draft_add(struct actions_draft *d)
{
	if (d->n == d->cap)
		d->item = xrealloc(d->item,
				   (size_t)(d->cap = d->cap ? 2 * d->cap : 4) * sizeof *d->item);
	struct drafted *x = &d->item[d->n++];
	memset(x, 0, sizeof *x);
	return x;
}

/* Keep the case at its new stage with step appended, in the draft or in
 * the database. */
static int keep_case(struct actions *a, struct actions_draft *d, const struct action_request *r,
		     struct pupil_case *c, int has_case, const char *date)
{
	const char *stage = r->type == ACTION_LEGAL_STEP ? r->kind
			    : has_case			 ? c->stage
							 : "referral";
	int referral_open = (has_case && c->referral_open) || r->type == ACTION_REFERRAL;
	if (d) {
		if (!has_case) {
			memset(c, 0, sizeof *c);
			c->id = --d->next_case;
			c->opened = r->date;
		}
		snprintf(c->stage, sizeof c->stage, "%s", stage);
		c->referral_open = referral_open;
		if (c->nsteps == CASE_STEPS_MAX) /* the latest CASE_STEPS_MAX, as read */
			memmove(c->steps, c->steps + 1, sizeof c->steps - sizeof *c->steps);
		else
			c->nsteps++;
		snprintf(c->steps[c->nsteps - 1].step, sizeof c->steps[0].step, "%s",
			 r->type == ACTION_REFERRAL ? "referral" : r->kind);
		c->steps[c->nsteps - 1].date = r->date;
		*d->c = *c; /* the case was read first (record) */
		d->has_case = 1;
		return 0;
	}
	sqlite3_stmt *st = a->stmt[has_case ? ST_UPDATE_CASE : ST_NEW_CASE];
	if (has_case) {
		sqlite3_bind_text(st, 1, stage, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, referral_open);
		sqlite3_bind_int64(st, 3, c->id);
	} else {
		sqlite3_bind_text(st, 1, r->org, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, r->pupil);
		sqlite3_bind_text(st, 3, stage, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, date, 10, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, referral_open);
	}
	int failed = db_step_done(a->db, st, "keeping a case");
	if (failed < 0)
		return failed; /* the db_result: a full disk reaches the batch as one */
	if (!has_case)
		c->id = sqlite3_last_insert_rowid(a->db->h);
	return 0;
}

static void utc_now(char out[32])
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Record r, of case case_id (0: none), and queue its delivery. A legal
 * step is recorded with its sign-off: a proposal waits for a person
 * until its decide_by day (signoff_days weekdays from today, by the wall
 * clock: the time a person has to decide), delivered as a proposal to
 * the signoff endpoint; a step decided at once is approved from the
 * start, by no one (the policy declared it needs no one) or by
 * approve_as. */
static int insert(struct actions *a, const struct action_request *r, long long case_id,
		  const char *date)
{
	sqlite3_stmt *st = a->stmt[ST_INSERT];
	char created[32], decide_by[11];
	int step = r->type == ACTION_LEGAL_STEP, proposed = proposal(a, r);
	utc_now(created);
	sqlite3_bind_text(st, 1, r->org, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->pupil);
	sqlite3_bind_text(st, 3, action_names[r->type], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->kind, -1, SQLITE_STATIC);
	bind_text(st, 5, r->severity);
	bind_text(st, 6, r->message);
	bind_text(st, 7, r->evidence);
	bind_text(st, 8, r->data);
	sqlite3_bind_text(st, 9, date, 10, SQLITE_STATIC);
	sqlite3_bind_int(st, 10, r->date);
	sqlite3_bind_text(st, 11, r->policy, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, r->policy_sha256, -1, SQLITE_STATIC);
	if (case_id)
		sqlite3_bind_int64(st, 13, case_id);
	else
		sqlite3_bind_null(st, 13);
	sqlite3_bind_text(st, 14, r->upn, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 15, r->urn);
	sqlite3_bind_text(st, 16, r->year_group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 17, created, -1, SQLITE_STATIC);
	bind_text(st, 18, r->params);
	bind_text(st, 19, !step ? NULL : proposed ? STEP_PROPOSED : STEP_APPROVED);
	if (step)
		sqlite3_bind_int(st, 20, r->signoff != 0);
	else
		sqlite3_bind_null(st, 20);
	long days = a->cfg ? a->cfg->signoff_days : SIGNOFF_DAYS_DEFAULT;
	bind_text(st, 21,
		  proposed ? date_format(date_add_weekdays(date_today(), (int)days), decide_by)
			   : NULL);
	bind_text(st, 22, step && r->signoff && !proposed ? a->approve_as : NULL);
	bind_text(st, 23, step && !proposed ? created : NULL);
	sqlite3_bind_int(st, 24, r->support_inappropriate);
	bind_text(st, 25, r->endpoint);
	if (r->line > 0)
		sqlite3_bind_int(st, 26, r->line);
	else
		sqlite3_bind_null(st, 26);
	int failed = db_step_done(a->db, st, "recording an action");
	if (failed < 0)
		return failed; /* the db_result: a full disk reaches the batch as one */
	long long id = sqlite3_last_insert_rowid(a->db->h);
	if (proposed)
		return actions_enqueue(a, id, r->signoff_endpoint, EVENT_PROPOSED);
	a->approved_as_proposed += step && r->signoff;
	return actions_enqueue(a, id, r->endpoint, actions_webhook_type(action_names[r->type]));
}

/* r into d, of case case_id (0: none): its strings taken (evidence, data)
 * or copied. */
static void draft_keep(struct actions *a, struct actions_draft *d, struct action_request *r,
		       long long case_id, int close)
{
	struct drafted *x = draft_add(d);
	x->r = *r;
	snprintf(x->kind, sizeof x->kind, "%s", r->kind);
	x->r.kind = NULL; /* x->kind: the items may move */
	x->r.message = r->message ? xstrdup(r->message) : NULL;
	x->r.params = r->params ? xstrdup(r->params) : NULL;
	r->evidence = r->data = NULL; /* the draft's now */
	x->case_id = case_id;
	x->close = close;
	x->proposal = proposal(a, r);
}

/* Close the open case c and its referral (in d, or the database if d is
 * NULL) with closure r, recorded as an action of that case whose kind is
 * the stage the case had reached. */
static int close_case(struct actions *a, struct actions_draft *d, struct action_request *r,
		      const struct pupil_case *c)
{
	struct action_request closing = *r;
	char date[11];
	closing.kind = c->stage;
	if (d) {
		draft_keep(a, d, &closing, c->id, 1);
		r->evidence = r->data = NULL; /* taken with the copy */
		d->has_case = 0;
		return 1;
	}
	sqlite3_stmt *st = a->stmt[ST_CLOSE_CASE];
	sqlite3_bind_text(st, 1, date_format(r->date, date), 10, SQLITE_STATIC);
	bind_text(st, 2, r->message);
	sqlite3_bind_int64(st, 3, c->id);
	int failed = db_step_done(a->db, st, "closing a case");
	if (failed < 0 || (failed = insert(a, &closing, c->id, date)) < 0)
		return failed;
	a->recorded++;
	return 1;
}

/* The rules, in the order a caseworker would apply them: is this a
 * repeat, is it allowed, then record it (into d, or the database if d is
 * NULL) and move the case on — or, for a proposal, leave the case where
 * it is until a person decides. On its way into d, r's strings are taken
 * (evidence, data) or copied. */
static int record(struct actions *a, struct actions_draft *d, struct action_request *r, char *why,
		  size_t whylen)
{
	struct pupil_case c;
	char date[11];
	int rc, has_case;

	why[0] = '\0';
	/* deciding a request already found no repeat (policy.c asks before it
	 * encodes the evidence): one query, not two; recording asks again */
	if ((!d || !r->repeat_checked) && (rc = repeat(a, d, r)) != 0)
		return rc < 0 ? rc : 0;
	/* alerts belong to no case */
	memset(&c, 0, sizeof c);
	has_case = r->type == ACTION_ALERT ? 0 : read_case(a, d, r->org, r->pupil, &c);
	if (has_case < 0)
		return has_case;
	/* closing with no open case is nothing: not a repeat, not a refusal */
	if (r->type == ACTION_CASE_CLOSED)
		return has_case ? close_case(a, d, r, &c) : 0;
	/* One open referral per pupil: another while it is open is a repeat,
	 * suppressed quietly like one within the cooldown, not a refusal to log
	 * on every evaluation. */
	if (r->type == ACTION_REFERRAL && has_case && c.referral_open) {
		a->suppressed++;
		return 0;
	}
	/* One open proposal per step, likewise: the first waits for a person
	 * (a cooldown of 0 does not let a policy propose it again daily). */
	if (proposal(a, r) && (rc = open_proposal(a, d, r)) != 0) {
		a->suppressed += rc > 0;
		return rc < 0 ? rc : 0;
	}
	if ((rc = refused(a, d, r, &c, has_case, why, whylen)) != 0) {
		if (rc > 0)
			a->refused++;
		return rc < 0 ? rc : 0;
	}
	/* Referrals and decided legal steps belong to a case: open one if
	 * needed, and keep it at the stage of its latest step. A proposal is
	 * of the case open when it was made (none: its approval opens one). */
	date_format(r->date, date);
	if (r->type != ACTION_ALERT && !proposal(a, r) &&
	    (rc = keep_case(a, d, r, &c, has_case, date)) < 0)
		return rc;
	long long case_id = r->type == ACTION_ALERT || (!has_case && proposal(a, r)) ? 0 : c.id;
	if (!d) {
		if ((rc = insert(a, r, case_id, date)) < 0)
			return rc;
		a->recorded++;
		return 1;
	}
	draft_keep(a, d, r, case_id, 0);
	return 1;
}

int actions_approve(struct actions *a, long long id, const struct action_request *r,
		    long long case_id, const char *by, const char *note, const char *at,
		    long long *case_out, char *why, size_t whylen)
{
	struct pupil_case c;
	char date[11];
	int rc, found = 0;
	why[0] = '\0';
	db_lock(a->db);
	int has_case = read_case(a, NULL, r->org, r->pupil, &c);
	if (has_case < 0)
		goto fail;
	/* proposed in a case that has closed since: the step it proposed
	 * belongs to no case now */
	if (case_id && (!has_case || c.id != case_id)) {
		sqlite3_stmt *st = a->stmt[ST_CASE_CLOSED];
		sqlite3_bind_int64(st, 1, case_id);
		if (step_row(a, st, &found, "reading a case") < 0)
			goto fail;
		snprintf(why, whylen, "its case (%lld) was closed%s%s%s%s since it was proposed",
			 case_id, found ? " on " : "",
			 found ? (const char *)sqlite3_column_text(st, 0) : "",
			 found && *sqlite3_column_text(st, 1) ? ": " : "",
			 found ? (const char *)sqlite3_column_text(st, 1) : "");
		sqlite3_reset(st);
		db_unlock(a->db);
		return 0;
	}
	/* the national framework, against the approved steps as they are now */
	if ((rc = refused(a, NULL, r, &c, has_case, why, whylen)) != 0) {
		a->refused += rc > 0;
		db_unlock(a->db);
		return rc < 0 ? rc : 0;
	}
	/* a proposal made with no case open opens one, on the day proposed */
	if (!has_case && keep_case(a, NULL, r, &c, 0, date_format(r->date, date)) < 0)
		goto fail;
	sqlite3_stmt *st = a->stmt[ST_APPROVE];
	sqlite3_bind_text(st, 1, by, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, at, -1, SQLITE_STATIC);
	bind_text(st, 3, note);
	sqlite3_bind_int64(st, 4, c.id);
	sqlite3_bind_int64(st, 5, id);
	if (db_step_done(a->db, st, "approving a legal step") < 0)
		goto fail;
	if (sqlite3_changes(a->db->h) != 1) {
		snprintf(why, whylen, "it is no longer waiting for a decision");
		db_unlock(a->db);
		return 0;
	}
	st = a->stmt[ST_STAGE];
	sqlite3_bind_int64(st, 1, c.id);
	if (db_step_done(a->db, st, "keeping a case") < 0 ||
	    actions_enqueue(a, id, r->endpoint, EVENT_DECIDED) < 0)
		goto fail;
	*case_out = c.id;
	db_unlock(a->db);
	return 1;
fail:
	db_unlock(a->db);
	return -1;
}

static void drafted_free(struct drafted *x)
{
	free((char *)x->r.message);
	free((char *)x->r.evidence);
	free((char *)x->r.data);
	free((char *)x->r.params);
}

void actions_draft_reset(struct actions_draft *d)
{
	for (int i = 0; i < d->n; i++)
		drafted_free(&d->item[i]);
	d->n = 0;
	free(d->c);
	d->c = NULL;
	d->case_loaded = d->has_case = 0;
	d->next_case = 0;
}

void actions_draft_free(struct actions_draft *d)
{
	actions_draft_reset(d);
	free(d->item);
	memset(d, 0, sizeof *d);
}

/* The entry points: each takes the connection's lock, if it is shared. */

int actions_case(struct actions *a, struct actions_draft *d, const char *org, uint32_t pupil,
		 struct pupil_case *c)
{
	db_lock(a->db);
	int rc = read_case(a, d, org, pupil, c);
	db_unlock(a->db);
	return rc;
}

int actions_repeat(struct actions *a, struct actions_draft *d, const struct action_request *r)
{
	db_lock(a->db);
	int rc = repeat(a, d, r);
	db_unlock(a->db);
	return rc;
}

int actions_decide(struct actions *a, struct actions_draft *d, struct action_request *r, char *why,
		   size_t whylen)
{
	db_lock(a->db);
	int rc = record(a, d, r, why, whylen);
	db_unlock(a->db);
	free((char *)r->evidence); /* not drafted: still the caller's to give */
	free((char *)r->data);
	r->evidence = r->data = NULL;
	return rc;
}

int actions_record(struct actions *a, const struct action_request *r, char *why, size_t whylen)
{
	db_lock(a->db);
	int rc =
		record(a, NULL, (struct action_request *)r, why, whylen); /* read only, without d */
	db_unlock(a->db);
	return rc;
}

static void listed_set(struct listed *l, long long id, const char *action, const char *kind,
		       int day, long long case_id, int decided, const char *state)
{
	l->action_id = id;
	snprintf(l->action, sizeof l->action, "%s", action);
	snprintf(l->kind, sizeof l->kind, "%s", kind ? kind : "");
	l->day = day;
	l->case_id = case_id;
	l->decided = decided;
	/* a legal step's sign-off; the others as before: decided in this call, or recorded */
	snprintf(l->state, sizeof l->state, "%s", state ? state : decided ? "decided" : "recorded");
}

int actions_list(struct actions *a, struct actions_draft *d, const char *org, uint32_t pupil,
		 int since, const char *action, const char *kind, struct listed *out, int max)
{
	int n = 0;
	/* decided in this call, newest first: as if recorded at once */
	for (int i = d ? d->n - 1 : -1; i >= 0 && n < max; i--) {
		const struct drafted *x = &d->item[i];
		if (x->r.date < since || (action && strcmp(action, action_names[x->r.type])) ||
		    (kind && strcmp(kind, x->kind)))
			continue;
		listed_set(&out[n++], 0, action_names[x->r.type], x->kind, x->r.date,
			   x->r.type == ACTION_ALERT ? 0 : x->case_id, 1,
			   x->r.type != ACTION_LEGAL_STEP ? NULL
			   : x->proposal		  ? STEP_PROPOSED
							  : STEP_APPROVED);
	}
	if (n == max)
		return n;
	db_lock(a->db);
	sqlite3_stmt *st = a->stmt[ST_LIST];
	sqlite3_bind_int64(st, 1, pupil);
	sqlite3_bind_int(st, 2, since);
	sqlite3_bind_text(st, 3, org, -1, SQLITE_STATIC);
	bind_text(st, 4, action);
	bind_text(st, 5, kind);
	sqlite3_bind_int(st, 6, max - n);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max)
		listed_set(&out[n++], sqlite3_column_int64(st, 0),
			   (const char *)sqlite3_column_text(st, 1),
			   (const char *)sqlite3_column_text(st, 2), sqlite3_column_int(st, 3),
			   sqlite3_column_int64(st, 4), 0,
			   (const char *)sqlite3_column_text(st, 5));
	sqlite3_reset(st);
	db_unlock(a->db);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? n : db_fail(a->db, "listing actions");
}

long actions_commit(struct actions *a, struct actions_draft *d)
{
	long recorded = 0;
	char why[256];
	int rc = 0;
	db_lock(a->db);
	for (int i = 0; i < d->n && rc >= 0; i++) {
		struct drafted *x = &d->item[i];
		x->r.kind = x->kind; /* a closure's is found again from its case */
		rc = record(a, NULL, &x->r, why, sizeof why);
		recorded += rc > 0;
		/* decided on the snapshot, refused now: another writer moved
		 * the case on in between */
		if (rc == 0 && why[0])
			log_event(LOG_WARN, "action refused when recorded", "org", x->r.org, "file",
				  x->r.policy, "action", action_names[x->r.type], "kind", x->r.kind,
				  "pupil", x->r.upn, "why", why, NULL);
	}
	db_unlock(a->db);
	actions_draft_reset(d);
	return rc < 0 ? rc : recorded; /* rc: the db_result of what failed */
}

json_t *actions_deliveries(sqlite3_stmt *del, long long action_id)
{
	json_t *list = json_array();
	int rc;
	sqlite3_bind_int64(del, 1, action_id);
	while ((rc = sqlite3_step(del)) == SQLITE_ROW)
		json_array_append_new(list, json_pack("{s:o, s:o, s:i, s:o}", "endpoint",
						      column_json(del, 0, NULL), "state",
						      column_json(del, 1, NULL), "attempts",
						      sqlite3_column_int(del, 2), "event",
						      column_json(del, 3, NULL)));
	sqlite3_reset(del);
	if (rc != SQLITE_DONE) {
		json_decref(list);
		return NULL;
	}
	return list;
}

const char *actions_webhook_type(const char *action)
{
	if (!strcmp(action, "alert"))
		return "attendance.alert";
	if (!strcmp(action, "referral"))
		return "attendance.referral";
	if (!strcmp(action, "case_closed"))
		return "attendance.case_closed";
	return "attendance.legal_step";
}

/* A copy of v whose strings and keys are safe to leave rollcall: stored
 * JSON is valid UTF-8 once jansson has parsed it, but its strings may hold
 * control characters (an ESC as \u001b) that a receiver would print. */
static json_t *safe_json(json_t *v)
{
	const char *key;
	json_t *item, *copy;
	size_t i;
	switch (json_typeof(v)) {
	case JSON_STRING: {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);
		if (text_clean(s, (int)len) && strlen(s) == len)
			return json_incref(v);
		return text_json(s, len, TEXT_KEEP_JSON);
	}
	case JSON_ARRAY:
		copy = json_array();
		json_array_foreach(v, i, item)
		{
			json_array_append_new(copy, safe_json(item));
		}
		return copy;
	case JSON_OBJECT:
		copy = json_object();
		json_object_foreach(v, key, item)
		{
			if (text_clean(key, (int)strlen(key))) {
				json_object_set_new(copy, key, safe_json(item));
				continue;
			}
			char *safe = text_safe(key, strlen(key), NULL);
			json_object_set_new(copy, safe, safe_json(item));
			free(safe);
		}
		return copy;
	default: return json_incref(v);
	}
}

/* Stored JSON (evidence, data) as a value safe to send, or null if the
 * column is NULL or not JSON. */
static json_t *stored_json(struct action_text t)
{
	json_t *v = t.s ? json_loadb(t.s, t.len, JSON_DECODE_ANY, NULL) : NULL;
	if (!v)
		return json_null();
	json_t *safe = safe_json(v);
	json_decref(v);
	return safe;
}

static struct action_text column_text(sqlite3_stmt *st, int col)
{
	/* text first, then its length: the order SQLite documents as safe */
	struct action_text t = { (const char *)sqlite3_column_text(st, col), 0 };
	if (t.s)
		t.len = (size_t)sqlite3_column_bytes(st, col);
	return t;
}

void actions_row(sqlite3_stmt *st, int first, struct action_row *r)
{
	r->id = sqlite3_column_int64(st, first + ACTION_COL_ID);
	r->action = column_text(st, first + ACTION_COL_ACTION);
	r->org = column_text(st, first + ACTION_COL_ORG);
	r->policy = column_text(st, first + ACTION_COL_POLICY);
	r->policy_sha256 = column_text(st, first + ACTION_COL_POLICY_SHA256);
	r->kind = column_text(st, first + ACTION_COL_KIND);
	r->severity = column_text(st, first + ACTION_COL_SEVERITY);
	r->message = column_text(st, first + ACTION_COL_MESSAGE);
	r->upn = column_text(st, first + ACTION_COL_UPN);
	r->urn = sqlite3_column_int(st, first + ACTION_COL_URN);
	r->year_group = column_text(st, first + ACTION_COL_YEAR_GROUP);
	r->evidence = column_text(st, first + ACTION_COL_EVIDENCE);
	r->data = column_text(st, first + ACTION_COL_DATA);
	r->date = column_text(st, first + ACTION_COL_DATE);
	r->created_at = column_text(st, first + ACTION_COL_CREATED_AT);
	r->has_case = sqlite3_column_type(st, first + ACTION_COL_CASE_ID) != SQLITE_NULL;
	r->case_id = r->has_case ? sqlite3_column_int64(st, first + ACTION_COL_CASE_ID) : 0;
	r->params = column_text(st, first + ACTION_COL_PARAMS);
	r->state = column_text(st, first + ACTION_COL_STATE);
	r->signoff = sqlite3_column_type(st, first + ACTION_COL_SIGNOFF) == SQLITE_INTEGER
			     ? sqlite3_column_int(st, first + ACTION_COL_SIGNOFF) != 0
			     : -1;
	r->decide_by = column_text(st, first + ACTION_COL_DECIDE_BY);
	r->decided_by = column_text(st, first + ACTION_COL_DECIDED_BY);
	r->decided_at = column_text(st, first + ACTION_COL_DECIDED_AT);
	r->decision = column_text(st, first + ACTION_COL_DECISION);
}

static json_t *text_of(struct action_text t, const char *keep)
{
	return text_json(t.s, t.len, keep);
}

static int text_is(struct action_text t, const char *s)
{
	return t.s && t.len == strlen(s) && !memcmp(t.s, s, t.len);
}

/* A legal step's sign-off, as the event shows it: a proposal as it was
 * proposed (nothing decided yet, whatever was decided since); an approval,
 * a decline or an expiry as recorded. The note and the reason are free
 * text (line breaks kept); a name is one line. */
static void signoff_fields(json_t *o, const struct action_row *r, const char *event)
{
	int proposed =
		(event && !strcmp(event, EVENT_PROPOSED)) || text_is(r->state, STEP_PROPOSED);
	struct action_text none = { NULL, 0 };
	struct action_text by = proposed ? none : r->decided_by,
			   at = proposed ? none : r->decided_at;
	int approved = !proposed && text_is(r->state, STEP_APPROVED);
	int declined = !proposed && text_is(r->state, STEP_DECLINED);
	json_object_set_new(o, "state",
			    proposed ? json_string(STEP_PROPOSED) : text_of(r->state, NULL));
	json_object_set_new(o, "signoff_required",
			    r->signoff < 0 ? json_null() : json_boolean(r->signoff));
	json_object_set_new(o, "decide_by", text_of(r->decide_by, NULL));
	json_object_set_new(o, "decided_by", text_of(by, NULL));
	json_object_set_new(o, "decided_at", text_of(at, NULL));
	json_object_set_new(o, "approved_by", approved ? text_of(by, NULL) : json_null());
	json_object_set_new(o, "note",
			    approved ? text_of(r->decision, TEXT_KEEP_JSON) : json_null());
	json_object_set_new(o, "decline_reason",
			    declined ? text_of(r->decision, TEXT_KEEP_JSON) : json_null());
}

json_t *actions_payload(const struct action_row *r)
{
	return actions_event_payload(r, NULL);
}

/* Every text goes through text_json: a stored name, kind or message that
 * is not UTF-8, or holds control characters, is sent with U+FFFD in their
 * place rather than dropped (json_string would return NULL) or passed on. */
json_t *actions_event_payload(const struct action_row *r, const char *event)
{
	char urn[16];
	snprintf(urn, sizeof urn, "%06d", r->urn);
	json_t *o = json_object();
	json_object_set_new(o, "action_id", json_integer(r->id));
	json_object_set_new(o, "action", text_of(r->action, NULL));
	json_object_set_new(o, "org", text_of(r->org, NULL));
	json_object_set_new(o, "policy", text_of(r->policy, NULL));
	json_object_set_new(o, "policy_sha256", text_of(r->policy_sha256, NULL));
	/* a closure's kind is the stage its case had reached */
	if (text_is(r->action, "alert") || text_is(r->action, "case_closed"))
		json_object_set_new(o, "kind", text_of(r->kind, NULL));
	else if (text_is(r->action, "legal_step"))
		json_object_set_new(o, "step", text_of(r->kind, NULL));
	/* null for alerts, which belong to no case */
	json_object_set_new(o, "case_id", r->has_case ? json_integer(r->case_id) : json_null());
	json_object_set_new(o, "severity", text_of(r->severity, NULL));
	json_object_set_new(o, "message", text_of(r->message, TEXT_KEEP_JSON));
	json_t *pupil = json_object();
	json_object_set_new(pupil, "upn", text_of(r->upn, NULL));
	json_object_set_new(pupil, "urn", json_string(urn));
	json_object_set_new(pupil, "year_group", text_of(r->year_group, NULL));
	json_object_set_new(o, "pupil", pupil);
	json_object_set_new(o, "evidence", stored_json(r->evidence));
	json_object_set_new(o, "data", stored_json(r->data));
	/* the parameter values in force when it was decided; null for actions
	 * recorded before rollcall kept them (schema version 5) */
	json_object_set_new(o, "params", stored_json(r->params));
	json_object_set_new(o, "date", text_of(r->date, NULL));
	json_object_set_new(o, "created_at", text_of(r->created_at, NULL));
	if (text_is(r->action, "legal_step"))
		signoff_fields(o, r, event);
	return o;
}
