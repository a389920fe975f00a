/*
 * policycheck.h — what can be known about a loaded policy before it is
 * live (`rollcall check`, and a draft checked before it is published,
 * publish.c):
 *
 *  - every call it makes on a module it required (national.persistent)
 *    names something the module defines, read from the text, so that a
 *    branch no pupil reaches is checked too;
 *  - a pupil's field compared with a literal of another type;
 *  - every endpoint it names is one rollcall.conf configures;
 *  - on_pupil runs clean over the synthetic pupils (synthetic.c), each at
 *    many points of its history, and over a sample of the stored pupils
 *    the policy covers (engine_sample), with nothing recorded.
 *
 * Each distinct error is kept once as FILE:LINE: message, with the first
 * pupil that met it and how many did. Warnings (an action whose role has
 * no endpoint) are handed to the caller as they are found.
 */
#ifndef ROLLCALL_POLICYCHECK_H
#define ROLLCALL_POLICYCHECK_H

#include "engine.h"
#include "synthetic.h"

#include <jansson.h>

#define POLICYCHECK_STORED_MAX 500 /* stored pupils run per policy */

enum { POLICYCHECK_SYNTHETIC, POLICYCHECK_STORED };

/* One distinct error: the same text, however many pupils met it. */
struct policycheck_found {
	char *text;	  /* "FILE:LINE: message", made safe to print */
	char *traceback;  /* of the first call that met it */
	int pupils[2];	  /* synthetic and stored pupils that met it */
	uint32_t last[2]; /* the last pupil counted, of each kind */
	char upn[2][14];  /* the first of each kind */
	int day[2];	  /* the day it was evaluated on */
	char who[200];	  /* what the first synthetic one is */
};

struct policycheck {
	/* Set by the caller: */
	const struct config *cfg;
	struct policy *p;
	/* Each warning as found ("warning: FILE:LINE: ..."); NULL: none said. */
	void (*warn)(const char *text, void *arg);
	void *warn_arg;
	/* Shared by the checks of one run: the warning that rollcall.conf names
	 * no endpoints is given once. NULL: each check gives it. */
	int *endpoints_warned;

	/* Found: */
	struct policycheck_found *found;
	int nfound, cap;
	size_t memory;	      /* of the policy's Lua state, as loaded */
	int synthetic_pupils; /* those with marks, each run at many points */
	long synthetic_calls; /* on_pupil calls over them */
	long stored_pupils;   /* stored pupils read, and the calls made */
	long stored_calls;
	int stops;   /* calls stopped for a budget */
	double slow; /* a failed call took this long: given up */

	/* Private: */
	const char *static_at[64]; /* "FILE:LINE:" of each error found in the text */
	int nstatic;
	const struct synthetic_pupil *sp; /* the synthetic pupil being run */
};

/* Check c->p: its text, its endpoints, on_pupil over the synthetic pupils
 * of s and, if stored is not NULL, over a sample of the stored pupils
 * through that engine (opened read-only over a database shadowed for
 * actions, cases and deliveries). Returns 0 (the errors in c->found), or
 * -1 on a database error (reported). */
int policycheck_run(struct policycheck *c, struct synthetic *s, struct engine *stored);

/* 1 if the check gave the policy up before running all of it (too many
 * calls stopped for a budget, or a failed call that took too long). */
int policycheck_given_up(const struct policycheck *c);

/* Each error on stderr as `rollcall check` reports it, with the first
 * pupil and the counts; with its traceback if verbose. */
void policycheck_report(const struct policycheck *c, int verbose);

/* The errors as a JSON array of {"file", "line", "message", "pupil",
 * "synthetic_pupils", "stored_pupils"} (publish.h), the policy's path in
 * them given as name. */
json_t *policycheck_json(const struct policycheck *c, const char *name);

/* One error text "FILE:LINE: message" as {"file", "line", "message"}
 * ("line" null when it has none), path given as name. */
json_t *policycheck_error_json(const char *text, const char *path, const char *name);

void policycheck_free(struct policycheck *c);

#endif
