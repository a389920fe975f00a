/*
 * signoff.c — deciding proposed legal steps, and expiring those nobody
 * decided (signoff.h says why a person decides them).
 *
 * The order of a decision: the write lock first (BEGIN IMMEDIATE), then
 * everything that could refuse it is read inside the transaction — the
 * proposal's state and deadline, where the pupil is now, the approved
 * steps the framework counts — so that what another officer committed a
 * moment before is what this one is judged against; then one conditional
 * UPDATE (state = 'proposed'), the case, the delivery and the audit row,
 * committed together or not at all.
 */
#include "signoff.h"

#include "audit.h"
#include "date.h"
#include "log.h"
#include "register.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *signoff_text_refused(const char *s, size_t max)
{
	size_t len = strlen(s), blank = strspn(s, " ");
	if (len == 0 || blank == len)
		return "is empty";
	if (len > max)
		return max == SIGNOFF_NAME_MAX ? "is over 200 bytes" : "is over 2000 bytes";
	if (!text_clean(s, (int)len))
		return "must be UTF-8 text with no control characters (no line breaks, tabs or "
		       "escapes)";
	return NULL;
}

static void utc_now(char out[32])
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The proposal as read inside the transaction. */
struct proposal {
	long long id, case_id;
	uint32_t pupil;
	int day, support_inappropriate, found;
	char org[24], kind[32], state[16], upn[16], date[11], decide_by[11];
	char decided_by[SIGNOFF_NAME_MAX + 1], decided_at[32], endpoint[128];
	int has_endpoint;
};

static void copy_column(sqlite3_stmt *st, int col, char *to, size_t size)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	snprintf(to, size, "%s", s ? s : "");
}

static int read_proposal(struct db *db, long long id, struct proposal *p)
{
	sqlite3_stmt *st =
		db_prepare(db, "SELECT org, pupil, kind, state, upn, date, day, decide_by, "
			       "decided_by, decided_at, case_id, support_inappropriate, endpoint "
			       "FROM actions WHERE id = ? AND action = 'legal_step'");
	if (!st)
		return -1;
	memset(p, 0, sizeof *p);
	p->id = id;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		p->found = 1;
		copy_column(st, 0, p->org, sizeof p->org);
		p->pupil = (uint32_t)sqlite3_column_int64(st, 1);
		copy_column(st, 2, p->kind, sizeof p->kind);
		copy_column(st, 3, p->state, sizeof p->state);
		copy_column(st, 4, p->upn, sizeof p->upn);
		copy_column(st, 5, p->date, sizeof p->date);
		p->day = sqlite3_column_int(st, 6);
		copy_column(st, 7, p->decide_by, sizeof p->decide_by);
		copy_column(st, 8, p->decided_by, sizeof p->decided_by);
		copy_column(st, 9, p->decided_at, sizeof p->decided_at);
		p->case_id = sqlite3_column_int64(st, 10);
		p->support_inappropriate = sqlite3_column_int(st, 11);
		p->has_endpoint = sqlite3_column_type(st, 12) != SQLITE_NULL;
		copy_column(st, 12, p->endpoint, sizeof p->endpoint);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(db, "reading a proposal");
}

/* Is the pupil still at a school of org? 1 yes, 0 no (where describes
 * where they are now), -1 on error. */
static int still_at(struct db *db, const struct proposal *p, char *where, size_t size)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT p.urn, s.la_code, s.trust_id FROM pupils p "
					  "LEFT JOIN schools s ON s.urn = p.urn WHERE p.id = ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, p->pupil);
	int rc = sqlite3_step(st), at = 0;
	snprintf(where, size, "no longer on roll");
	if (rc == SQLITE_ROW) {
		const char *la = (const char *)sqlite3_column_text(st, 1);
		const char *trust = (const char *)sqlite3_column_text(st, 2);
		char org[48];
		if (!strncmp(p->org, "la:", 3)) {
			snprintf(org, sizeof org, "la:%s", la ? la : "");
			at = la && !strcmp(org, p->org);
		} else {
			snprintf(org, sizeof org, "trust:%s", trust ? trust : "");
			at = trust && !strcmp(org, p->org);
		}
		snprintf(where, size, "now at school %06d, of la:%s%s%s", sqlite3_column_int(st, 0),
			 la ? la : "?", trust ? " and trust:" : "", trust ? trust : "");
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, "reading a pupil");
	return at;
}

static int case_stage(struct db *db, long long case_id, char *stage, size_t size)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT stage FROM cases WHERE id = ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, case_id);
	int rc = sqlite3_step(st);
	copy_column(st, 0, stage, size);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : db_fail(db, "reading a case");
}

/* Approve p as d says, in the transaction: 1 done, 0 refused (why), -1. */
static int approve(struct db *db, const struct config *cfg, const struct proposal *p,
		   const struct signoff_decision *d, const char *at, long long *case_id, char *why,
		   size_t whylen)
{
	struct actions a;
	struct registers reg;
	struct history h = { 0 };
	int rc = -1, reg_open = 0;
	if (actions_open(&a, db, cfg) < 0)
		return -1;
	struct action_request r = {
		.org = p->org,
		.pupil = p->pupil,
		.upn = p->upn,
		.type = ACTION_LEGAL_STEP,
		.kind = p->kind,
		.date = p->day,
		.support_inappropriate = p->support_inappropriate,
		.endpoint = p->has_endpoint ? p->endpoint : NULL,
		.signoff = 1,
	};
	/* the framework counts the pupil's marks as they stand now, up to the
	 * day proposed (an absence authorised since no longer counts) */
	if (!strcmp(p->kind, "penalty_notice")) {
		if (register_open(&reg, db) < 0)
			goto out;
		reg_open = 1;
		if (register_history(&reg, p->pupil, date_academic_year(p->day), &h) < 0)
			goto out;
		r.history = &h;
	}
	rc = actions_approve(&a, p->id, &r, p->case_id, d->by, d->text, at, case_id, why, whylen);
out:
	history_free(&h);
	if (reg_open)
		register_close(&reg);
	actions_close(&a);
	return rc;
}

static int decline(struct db *db, const struct proposal *p, const struct signoff_decision *d,
		   const char *at)
{
	sqlite3_stmt *st = db_prepare(db, "UPDATE actions SET state = 'declined', decided_by = ?, "
					  "decided_at = ?, decision = ? WHERE id = ? AND state = "
					  "'proposed'");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, d->by, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, at, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, p->id);
	int rc = db_step_done(db, st, "declining a legal step");
	sqlite3_finalize(st);
	return rc < 0 ? rc : sqlite3_changes(db->h) == 1;
}

int signoff_decide(struct db *db, const struct config *cfg, const struct signoff_decision *d,
		   char *msg, size_t msglen)
{
	const char *bad;
	char at[32], why[512], where[96], stage[32], today[11];
	struct proposal p;
	long long case_id = 0;
	int rc;
	if ((bad = signoff_text_refused(d->by, SIGNOFF_NAME_MAX))) {
		snprintf(msg, msglen, "--by: the name of the person deciding %s", bad);
		return SIGNOFF_REFUSED;
	}
	if (!d->approve && !d->text) {
		snprintf(msg, msglen, "decline needs --reason: why the step is not taken");
		return SIGNOFF_REFUSED;
	}
	if (d->text && (bad = signoff_text_refused(d->text, SIGNOFF_TEXT_MAX))) {
		snprintf(msg, msglen, "%s %s", d->approve ? "--note" : "--reason", bad);
		return SIGNOFF_REFUSED;
	}
	/* the write lock before anything is read: what another officer
	 * committed a moment ago is what this decision is judged against */
	if ((rc = db_begin(db)) < 0)
		return rc;
	if ((rc = read_proposal(db, d->id, &p)) < 0)
		goto fail;
	date_format(date_today(), today);
	if (!p.found) {
		snprintf(msg, msglen,
			 "%lld is not a proposed legal step (rollcall signoff list shows those "
			 "waiting)",
			 d->id);
		goto refused;
	}
	if (!strcmp(p.state, STEP_EXPIRED) ||
	    (!strcmp(p.state, STEP_PROPOSED) && strcmp(p.decide_by, today) < 0)) {
		snprintf(msg, msglen,
			 "proposal %lld (%s for %s, %s) expired: it was to be decided by %s; the "
			 "policy may propose the step again",
			 p.id, p.kind, p.upn, p.org, p.decide_by);
		goto refused;
	}
	if (strcmp(p.state, STEP_PROPOSED) != 0) {
		snprintf(msg, msglen,
			 "proposal %lld (%s for %s, %s) was already %s%s%s%s%s: nothing changed",
			 p.id, p.kind, p.upn, p.org, p.state, *p.decided_by ? " by " : "",
			 p.decided_by, *p.decided_at ? " at " : "", p.decided_at);
		goto refused;
	}
	utc_now(at);
	if (d->approve) {
		if ((rc = still_at(db, &p, where, sizeof where)) < 0)
			goto fail;
		if (rc == 0) {
			snprintf(msg, msglen,
				 "proposal %lld: %s is no longer at a school of %s (%s): a step "
				 "for a pupil who has left cannot be approved; decline it",
				 p.id, p.upn, p.org, where);
			goto refused;
		}
		if ((rc = approve(db, cfg, &p, d, at, &case_id, why, sizeof why)) < 0)
			goto fail;
		if (rc == 0) {
			snprintf(msg, msglen,
				 "proposal %lld (%s for %s, %s) cannot be approved: %s; nothing "
				 "changed (decline it with the reason)",
				 p.id, p.kind, p.upn, p.org, why);
			goto refused;
		}
		if ((rc = case_stage(db, case_id, stage, sizeof stage)) < 0)
			goto fail;
	} else {
		if ((rc = decline(db, &p, d, at)) < 0)
			goto fail;
		if (rc == 0) {
			snprintf(msg, msglen, "proposal %lld is no longer waiting for a decision",
				 p.id);
			goto refused;
		}
	}
	struct audit_entry e = {
		.who = d->by,
		.via = d->via,
		.org = p.org,
		.what = d->approve ? "signoff.approve" : "signoff.decline",
		.action_id = p.id,
		.before = STEP_PROPOSED,
		.after = d->approve ? STEP_APPROVED : STEP_DECLINED,
		.detail = d->text,
	};
	if ((rc = audit_add(db, &e)) < 0 || (rc = db_commit(db)) < 0)
		goto fail;
	if (d->approve)
		snprintf(msg, msglen,
			 "approved %lld: %s for %s (%s), by %s; case %lld is at %s; the step is "
			 "sent as attendance.legal_step%s%s",
			 p.id, p.kind, p.upn, p.org, d->by, case_id, stage,
			 p.has_endpoint ? " to " : " (the policy names no legal endpoint)",
			 p.has_endpoint ? p.endpoint : "");
	else
		snprintf(msg, msglen, "declined %lld: %s for %s (%s), by %s; the case is unchanged",
			 p.id, p.kind, p.upn, p.org, d->by);
	return SIGNOFF_DONE;
refused:
	db_rollback(db);
	return SIGNOFF_REFUSED;
fail:
	db_rollback(db);
	return rc < 0 ? rc : DB_FAILED;
}

/* One transaction's worth of expiries: how many, or the failure. The due
 * proposals are read first, then changed: the read walks the index the
 * change takes them out of. */
static long expire_some(struct actions *a, const char *today, const char *via, int *more)
{
	struct due {
		long long id;
		char org[24], decide_by[11], endpoint[128];
		int has_endpoint;
	} *list = xcalloc(SIGNOFF_EXPIRE_BATCH, sizeof *list);
	struct db *db = a->db;
	char at[32];
	long n = 0;
	int rc;
	sqlite3_stmt *due = NULL, *set = NULL;
	if ((rc = db_try_begin(db)) < 0) {
		free(list);
		return rc;
	}
	due = db_prepare(db, "SELECT a.id, a.org, a.decide_by, (SELECT d.endpoint FROM deliveries "
			     "d WHERE d.action_id = a.id AND d.event = '" EVENT_PROPOSED
			     "' ORDER BY d.id LIMIT 1) FROM actions a WHERE a.state = 'proposed' "
			     "AND a.decide_by < ? ORDER BY a.decide_by, a.id LIMIT ?");
	set = db_prepare(db, "UPDATE actions SET state = 'expired', decided_at = ? WHERE id = ? "
			     "AND state = 'proposed'");
	if (!due || !set) {
		rc = DB_FAILED;
		goto fail;
	}
	sqlite3_bind_text(due, 1, today, -1, SQLITE_STATIC);
	sqlite3_bind_int(due, 2, SIGNOFF_EXPIRE_BATCH);
	while (n < SIGNOFF_EXPIRE_BATCH && (rc = sqlite3_step(due)) == SQLITE_ROW) {
		struct due *x = &list[n++];
		x->id = sqlite3_column_int64(due, 0);
		copy_column(due, 1, x->org, sizeof x->org);
		copy_column(due, 2, x->decide_by, sizeof x->decide_by);
		x->has_endpoint = sqlite3_column_type(due, 3) != SQLITE_NULL;
		copy_column(due, 3, x->endpoint, sizeof x->endpoint);
	}
	if (n < SIGNOFF_EXPIRE_BATCH && rc != SQLITE_DONE) {
		rc = db_fail(db, "reading proposals");
		goto fail;
	}
	sqlite3_reset(due);
	utc_now(at);
	for (long i = 0; i < n; i++) {
		char detail[64];
		snprintf(detail, sizeof detail, "not decided by %s", list[i].decide_by);
		sqlite3_bind_text(set, 1, at, -1, SQLITE_STATIC);
		sqlite3_bind_int64(set, 2, list[i].id);
		struct audit_entry e = {
			.who = AUDIT_SERVICE,
			.via = via,
			.org = list[i].org,
			.what = "signoff.expire",
			.action_id = list[i].id,
			.before = STEP_PROPOSED,
			.after = STEP_EXPIRED,
			.detail = detail,
		};
		if ((rc = db_step_done(db, set, "expiring a proposal")) < 0 ||
		    (rc = actions_enqueue(a, list[i].id,
					  list[i].has_endpoint ? list[i].endpoint : NULL,
					  EVENT_EXPIRED)) < 0 ||
		    (rc = audit_add(db, &e)) < 0)
			goto fail;
	}
	sqlite3_finalize(due);
	sqlite3_finalize(set);
	due = set = NULL;
	if ((rc = db_commit(db)) < 0)
		goto fail;
	free(list);
	*more = n == SIGNOFF_EXPIRE_BATCH;
	return n;
fail:
	sqlite3_finalize(due);
	sqlite3_finalize(set);
	db_rollback(db);
	free(list);
	return rc < 0 ? rc : DB_FAILED;
}

long signoff_expire(struct actions *a, const char *via)
{
	char today[11];
	date_format(date_today(), today);
	/* a read first, with no lock that blocks a writer: most minutes none is due */
	sqlite3_stmt *any = db_prepare(a->db, "SELECT 1 FROM actions WHERE state = 'proposed' AND "
					      "decide_by < ? LIMIT 1");
	if (!any)
		return DB_FAILED;
	sqlite3_bind_text(any, 1, today, -1, SQLITE_STATIC);
	int rc = sqlite3_step(any);
	sqlite3_finalize(any);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_fail(a->db, "reading proposals");
	long total = 0, n = 0;
	int more = 1;
	while (more && (n = expire_some(a, today, via, &more)) >= 0)
		total += n;
	if (total) {
		char count[24];
		snprintf(count, sizeof count, "%ld", total);
		log_event(LOG_INFO, "legal steps expired: not decided in time", "count", count,
			  NULL);
	}
	return more ? n : total;
}
