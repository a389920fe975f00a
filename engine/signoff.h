/*
 * signoff.h — a named person's decision on a proposed legal step, and the
 * proposals nobody decided in time.
 *
 * UK GDPR art. 22 gives a family the right not to be subject to a decision
 * with legal effects taken solely by automated means, and the DfE's
 * "Working together to improve school attendance" (August 2024) and the
 * School Attendance (Penalty Notices) (England) Regulations 2024 have a
 * penalty notice *considered* at the threshold, not issued by it. So a
 * policy's legal_step() is a proposal (actions.c), and this module is
 * where a person decides it: approving moves the case to that stage and
 * sends the decided step (attendance.legal_step) to the legal endpoint;
 * declining leaves the case where it was. A decision is one conditional
 * UPDATE inside BEGIN IMMEDIATE, so of two officers deciding at once one
 * wins and the other is told; the national framework is checked again at
 * approval, against the approved steps as they are then. Each decision,
 * and each expiry, is written to the audit trail in its own transaction.
 */
#ifndef ROLLCALL_SIGNOFF_H
#define ROLLCALL_SIGNOFF_H

#include "actions.h"
#include "config.h"
#include "db.h"

#include <stddef.h>

#define SIGNOFF_NAME_MAX 200  /* bytes of the name of the person deciding */
#define SIGNOFF_TEXT_MAX 2000 /* bytes of an approval's note, a decline's reason */

/* Why s may not be a name or note of at most max bytes: it is empty (or
 * only spaces), longer, not UTF-8, or holds a control character; NULL if
 * it may. */
const char *signoff_text_refused(const char *s, size_t max);

struct signoff_decision {
	long long id;	  /* the proposal: its action_id */
	int approve;	  /* 1 approve, 0 decline */
	const char *by;	  /* who decides */
	const char *text; /* approve: the note (NULL: none); decline: the reason */
	const char *via;  /* for the audit trail, e.g. audit_cli_via's */
};

enum { SIGNOFF_DONE = 0, SIGNOFF_REFUSED = 1 };

/* Decide d, in one write transaction. SIGNOFF_DONE with msg saying what
 * was done; SIGNOFF_REFUSED with msg saying why nothing changed (no such
 * proposal, one decided or expired already, a name or text out of bounds,
 * a decline with no reason, a pupil who has left the organisation's
 * schools, the national framework, a case closed since); or a database
 * failure (reported). cfg says which endpoints exist. */
int signoff_decide(struct db *db, const struct config *cfg, const struct signoff_decision *d,
		   char *msg, size_t msglen);

/* Proposals are expired in write transactions of at most this many. */
#define SIGNOFF_EXPIRE_BATCH 500

/* Record as expired every proposal whose decide_by day has passed (UTC),
 * each delivered as attendance.legal_step.expired to the endpoint its
 * proposal went to and written to the audit trail (who "rollcall", via
 * via), through a. A read finds whether there is any first: no write lock
 * is taken when none is due. Returns how many expired, or the failure of
 * the call that failed (DB_BUSY: the write lock was taken; try later). */
long signoff_expire(struct actions *a, const char *via);

#endif
