/*
 * retention.h — removing personal data once its time is past
 * (`retention = { marks_years, actions_years, payloads_days }`,
 * docs/PRIVACY.md says why each):
 *
 * - marks dated more than marks_years ago (never fewer than 6: School
 *   Attendance (Pupil Registration) (England) Regulations 2024, reg 7),
 *   with their amendments (mark_history), and the registers of the
 *   academic years that lie wholly before that day;
 * - actions recorded more than actions_years ago, with their deliveries,
 *   the deliveries' attempts and the audit rows about them, and the cases
 *   closed more than actions_years ago once none of their actions is
 *   left; never an action of a case still open, nor a proposal waiting
 *   for a decision; the audit rows of exports older than that;
 * - webhook bodies (deliveries.body), receivers' responses
 *   (delivery_attempts.response) and errors (deliveries.last_error) of
 *   deliveries made more than payloads_days ago — the delivery rows
 *   stay — and rows refused on import older than that.
 *
 * In transactions of at most RETENTION_ROWS rows each, so that the write
 * lock is never held for long (the evaluator and the feeders go on
 * between them). What each removed is added to a tally in `meta` in the
 * same transaction; the last one writes the tally to the audit trail
 * (what 'retention', detail the counts as JSON) and clears it, so every
 * removal is counted even when a run is cut short and finished later.
 */
#ifndef ROLLCALL_RETENTION_H
#define ROLLCALL_RETENTION_H

#include "config.h"
#include "db.h"

#define RETENTION_ROWS 5000 /* rows removed or rewritten per transaction */

/* What a run removed (or, dry, would remove). */
struct retention_counts {
	long long marks, amendments, registers;				/* rows removed */
	long long actions, deliveries, attempts, audit, cases, exports; /* exports: audit rows */
	long long bodies, responses, rejected; /* deliveries and attempts expunged; rows removed */
	long long sessions, links; /* the web console's sign-ins that ended, links past their day */
	double longest_lock;	   /* seconds: the longest a transaction held the write lock */
	long transactions;
};

/* The days before which each kind goes, for today (a day number): marks
 * dated before *marks, actions recorded before *actions (as UTC
 * timestamps' dates), payloads made before *payloads. */
void retention_cutoffs(const struct config *c, int today, int *marks, int *actions, int *payloads);

/* Count into n what a run on day today would remove; changes nothing.
 * Returns 0 or the failure (reported). */
int retention_count(struct db *db, const struct config *c, int today, struct retention_counts *n);

/* Remove it, as described above, for at most seconds (0: no limit) of
 * work, audited as who via via. Returns 0 when all is done, 1 when the
 * time ran out with more to do (call again: the tally carries over), or
 * the failure (DB_BUSY: the lock was not had in time; try later). */
int retention_apply(struct db *db, const struct config *c, int today, double seconds,
		    const char *who, const char *via, struct retention_counts *n);

#endif
