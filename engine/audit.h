/*
 * audit.h — the audit trail: every change a person makes through rollcall
 * (a legal step approved or declined), and what the service decides in
 * their place (a proposal that expired), one row each in `audit`, written
 * in the change's own transaction so that neither is ever kept without
 * the other. `rollcall audit` reads it.
 */
#ifndef ROLLCALL_AUDIT_H
#define ROLLCALL_AUDIT_H

#include "db.h"

/* Who decides for the service, and how it is recorded: */
#define AUDIT_SERVICE "rollcall"

struct audit_entry {
	const char *who;  /* the person named, or AUDIT_SERVICE */
	const char *via;  /* "cli:" + the local user (audit_cli_via), or "service" */
	const char *org;  /* la:NNN or trust:ID */
	const char *what; /* signoff.approve, signoff.decline, signoff.expire */
	long long action_id;
	const char *before, *after; /* the state it changed, e.g. proposed -> approved */
	const char *detail;	    /* the note or the reason; may be NULL */
};

/* Write e, at the time now (UTC), in the caller's transaction. Returns 0
 * or the failure. */
int audit_add(struct db *db, const struct audit_entry *e);

/* "cli:" and the name of the local user running the command (its uid when
 * it has none), into buf. */
const char *audit_cli_via(char *buf, size_t size);

#endif
