/*
 * synthetic.h — the built-in synthetic pupils `rollcall check` runs every
 * policy over, so that a mistake in on_pupil shows before the policy is
 * live rather than on every live call.
 *
 * They cover what a policy can meet: no marks, one session, a year
 * present, a long run of absence, term-time holiday, illness, persistent
 * and severe absence, every attendance code, histories across a year
 * boundary, a pupil who joins mid-year; every year group (N1, N2, R,
 * 1-14, X), LA schools and academies, each social worker, FSM and SEN
 * value; open and closed cases at several stages. Their histories are
 * built in C; their actions and cases live in an in-memory database with
 * rollcall's schema (db.c), so that actions.c answers repeats, cases and
 * the national framework exactly as it does live. Nothing is read from or
 * written to disk. docs/POLICIES.md ("Checking a policy") lists them.
 */
#ifndef ROLLCALL_SYNTHETIC_H
#define ROLLCALL_SYNTHETIC_H

#include "actions.h"
#include "policy.h"

#define SYNTHETIC_PUPILS 36

struct synthetic_pupil {
	uint32_t id;
	char upn[14], la_code[4], trust_id[17]; /* trust_id "" at an LA school */
	char year_group[3], sen;
	int urn, social_worker, fsm;
	int story;	  /* its attendance: an index into synthetic.c's stories */
	int start;	  /* the case it starts with: an index into synthetic.c's starts */
	struct history h; /* the whole history (h.nslots is cut to evaluate at a point) */
	int nslots;	  /* of the whole history */
	int *point;	  /* the h.nslots of each point it is evaluated at, ascending */
	int npoints;	  /* 0: no marks, never evaluated (as live) */
};

struct synthetic {
	struct db db; /* in memory: the actions and cases of the organisation begun */
	struct actions actions;
	struct synthetic_pupil pupil[SYNTHETIC_PUPILS];
};

/* Build the histories and the in-memory database; cfg says which
 * endpoints exist (for the deliveries actions.c queues). Returns 0 or -1
 * (reported). */
int synthetic_open(struct synthetic *s, const struct config *cfg);
void synthetic_close(struct synthetic *s);

/* Make the pupils those of org ("la:NNN": its LA schools and academies in
 * its area; "trust:ID": the trust's academies) and start afresh: every
 * action and case of an earlier organisation gone, and the cases the
 * pupils start with recorded. Returns 0 or -1 (reported). */
int synthetic_begin(struct synthetic *s, const char *org);

/* The pupil as a policy sees it, its history cut at its point-th point. */
void synthetic_view(struct synthetic_pupil *sp, int point, struct pupil_view *v);

/* Who the pupil is, for a message: "year X, academy TR1, SEN E, FSM,
 * social worker, open case at letter: illness". */
void synthetic_describe(const struct synthetic_pupil *sp, char *buf, size_t size);

#endif
