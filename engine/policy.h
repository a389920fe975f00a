/*
 * policy.h — one organisation's policy: a Lua file that declares itself with
 * policy{...} and defines on_pupil(p), run in its own sandbox.
 *
 * The Lua API (docs/POLICIES.md): the pupil `p` is a
 * read-only userdata over the C figures; p:window{...} returns a table (the
 * same one for the same window within a call); alert, refer_mentor and
 * legal_step go to actions.c, which applies the repeat rule and the national
 * framework, and so does close_case (a closure is an action); param, today
 * and log are helpers. Knows nothing of SQL or HTTP.
 */
#ifndef ROLLCALL_POLICY_H
#define ROLLCALL_POLICY_H

#include "actions.h"
#include "sandbox.h"
#include "stats.h"

/* Endpoint roles, in the order of enum action_type: alert, referral, legal,
 * case (closures; the legal endpoint when a policy names none); then
 * signoff (proposed legal steps and their expiry; the legal endpoint when
 * a policy names none). */
#define POLICY_ROLE_SIGNOFF ACTION_TYPES
#define POLICY_ROLES	    (ACTION_TYPES + 1)
extern const char *const policy_roles[POLICY_ROLES];

struct param {
	char name[48];
	double value, def, min, max;
	char *doc;
	int integer; /* declared integer = true: whole numbers only */
};

/* Is v a value param q may take? NULL if so, else why not (for a message:
 * "outside the bounds", "not a whole number"). */
const char *policy_param_refuses(const struct param *q, double v);

struct policy_run;

/* What one call may record (docs/POLICIES.md, "Limits"). */
#define POLICY_ACTIONS_PER_CALL 16    /* actions, case closures included */
#define POLICY_KINDS_PER_DAY	32    /* distinct alert kinds a policy records in a day */
#define POLICY_KINDS_DAYS	8     /* days whose kinds are remembered */
#define POLICY_JSON_BYTES	16384 /* evidence, and data, of one action */
#define POLICY_TEXT_BYTES	2000  /* a message or a close reason */

struct policy {
	char *path; /* as loaded: policies/la-355.lua */
	char *file; /* its base name, as actions record it */
	char org[24];
	char *name;
	char *endpoint[POLICY_ROLES]; /* endpoint name per role, or NULL */
	/* per legal step (actions.h): 1 if a named person decides it (every
	 * step, unless policy{ signoff = { letter = false, ... } } says one of
	 * the first LEGAL_SIGNOFF_ALWAYS needs no one) */
	unsigned char signoff[LEGAL_STEPS];
	struct param *params;
	int nparams;
	char *params_json;	/* the values in force as JSON, for actions (policy.c) */
	double *params_json_of; /* the values it was made from: rebuilt when they change */
	char sha256[65];
	/* The text as loaded, until the engine keeps it in policy_versions
	 * (versions.h) with the database's next write; then freed, NULL. */
	char *text;
	size_t text_len;
	int line; /* of the policy{...} declaration */
	struct sandbox sb;
	int on_pupil;		/* registry reference */
	int window;		/* registry reference: the pupil's window method */
	int windows;		/* registry reference: the running call's windows */
	struct policy_run *run; /* the evaluation under way, if any */
	long errors, logs;	/* in the current batch, for rate-limited logging */
	int owner;		/* the thread that runs it in a batch (engine.c) */
	int pupil;		/* registry reference: the running call's pupil */
	/* Fairness (engine.c): a policy whose calls keep being stopped for
	 * their budget is cut off for the rest of the batch, and retried with
	 * a growing wait; its pupils wait in `deferred`. */
	int stops;	   /* calls stopped in this batch */
	int cut_off;	   /* for the rest of this batch */
	int backoff;	   /* cut-offs in a row: the wait doubles with each */
	double retry_at;   /* monotonic seconds; 0: runs */
	struct kinds_day { /* alert kinds recorded on a day (policy.c) */
		int day, n;
		uint64_t kind[POLICY_KINDS_PER_DAY];
	} kinds[POLICY_KINDS_DAYS];
	/* Coverage, for `rollcall test` (policytest.c): when set, each call of
	 * an action marks reached[line] for the line of this file it was made
	 * from (lines below nreached). NULL, as loaded: nothing is noted. The
	 * caller owns the array. */
	unsigned char *reached;
	int nreached;
};

/* What the engine knows of a pupil; p's fields come from here. */
struct pupil_view {
	uint32_t id;
	const char *upn, *la_code, *trust_id, *year_group;
	int urn, social_worker, fsm;
	char sen;
	struct history *h;
};

#define POLICY_FILE_MAX (1 << 20)

/* Load and check the policy at path. Returns 0, or -1 with err as
 * "FILE:LINE: reason". */
int policy_load(struct policy *p, const char *path, const char *scripts_dir, size_t memory_limit,
		long instruction_limit, char *err, size_t errlen);

/* The same, from text (len bytes, from malloc: taken, kept in p->text if
 * it loads, else freed) as if read from path: a kept version
 * (policy_versions) loaded again to re-run a decision (`rollcall
 * explain`). */
int policy_load_text(struct policy *p, const char *path, char *text, size_t len,
		     const char *scripts_dir, size_t memory_limit, long instruction_limit,
		     char *err, size_t errlen);
void policy_free(struct policy *p);

/* The Lua type name ("string", "number", "boolean", "table", "function")
 * the pupil p gives its field field[0..len) when it is not nil, or NULL if
 * p has no such field. */
const char *policy_field_type(const char *field, size_t len);

/* Index of param name, or -1. */
int policy_param(const struct policy *p, const char *name);

/* For a "did you mean": the one of names (n of them) nearest to word,
 * within an edit distance of 2, else the one that begins with most of it
 * (8 characters and four fifths of word at least); NULL if none is near. */
const char *policy_near_miss(const char *word, const char *const *names, int n);

/* Run on_pupil for v, deciding actions into draft (emptied first) through
 * a's view of the database; the caller records the draft
 * (actions_commit). Returns 0; -1 if the policy failed (err holds the
 * error and traceback; the draft is empty: a failed call records
 * nothing); -2 if reading the database failed (already reported). */
int policy_evaluate(struct policy *p, struct pupil_view *v, struct actions *a,
		    struct actions_draft *draft, char *err, size_t errlen);

/* 1 if org is "la:" + 3 digits or "trust:" + a trust id. */
int policy_org_valid(const char *org);

#endif
