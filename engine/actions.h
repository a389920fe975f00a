/*
 * actions.h — recording what policies decide: alerts, mentor referrals,
 * legal steps and case closures, with the rules that hold whatever a policy
 * says:
 *
 * - repeats: the same (organisation, pupil, action, kind or step) within
 *   cooldown_days of the last one is suppressed (default 28; 0 never);
 * - at most one open mentor referral per pupil per organisation;
 * - a case per pupil per organisation, at the stage of its latest step;
 *   closing it is an action too (case_closed), recorded once: closures are
 *   never suppressed as repeats, and with no open case there is nothing to
 *   close;
 * - the national framework (DfE, from 19 August 2024): no third
 *   penalty_notice within 3 years; no penalty_notice without an earlier
 *   notice_to_improve in the case unless support is inappropriate; and no
 *   penalty_notice without 10 unauthorised sessions in the last 10 school
 *   weeks that no earlier penalty notice counted (the same absence is
 *   never fined twice).
 *
 * A legal step is decided by a named person (UK GDPR art. 22: no decision
 * with legal effects solely by automated means; the DfE framework has a
 * penalty notice *considered*): a policy's legal_step() records a
 * proposal, state `proposed`, which moves no case; `rollcall signoff`
 * approves it (the case moves to that stage) or declines it, and one not
 * decided in time expires (signoff.c). Only the first rungs (letter,
 * meeting, attendance_contract) may be decided at once, when the policy
 * declares so: state `approved` from the start. The national framework
 * counts approved steps only, and is checked again at approval.
 *
 * Every action keeps its evidence, the policy's SHA-256 and the parameter
 * values in force, so a council can later show why it acted. Knows nothing
 * of Lua or HTTP.
 */
#ifndef ROLLCALL_ACTIONS_H
#define ROLLCALL_ACTIONS_H

#include "config.h"
#include "db.h"
#include "stats.h"

#include <stddef.h>
#include <stdint.h>

enum action_type {
	ACTION_ALERT,
	ACTION_REFERRAL,
	ACTION_LEGAL_STEP,
	ACTION_CASE_CLOSED,
	ACTION_TYPES
};

/* "alert", "referral", "legal_step", "case_closed" */
extern const char *const action_names[ACTION_TYPES];

/* The legal-intervention ladder, in the order usually applied. */
#define LEGAL_STEPS 8
extern const char *const legal_steps[LEGAL_STEPS];

/* Index of a legal step's name, or -1. */
int actions_legal_step(const char *name);

/* The steps from this index on (notice_to_improve, penalty_notice,
 * education_supervision_order, school_attendance_order, prosecution)
 * always wait for a named person's decision; a policy may declare that
 * the ones before it (letter, meeting, attendance_contract) need none. */
#define LEGAL_SIGNOFF_ALWAYS 3

/* A legal step's sign-off, actions.state. */
#define STEP_PROPOSED "proposed"
#define STEP_APPROVED "approved"
#define STEP_DECLINED "declined"
#define STEP_EXPIRED  "expired"

#define COOLDOWN_DEFAULT 28

struct action_request {
	const char *org, *policy, *policy_sha256;
	int line; /* of the policy, the call that decided it; 0: not known */
	uint32_t pupil;
	const char *upn, *year_group; /* the pupil as acted on */
	int urn;
	const char *endpoint; /* the policy's endpoint for this action's role, or NULL */
	enum action_type type;
	const char *kind;     /* alert kind, legal step; "mentor" for referrals; a
				 closure's is the stage its case had reached, set
				 when it is decided (the caller's is ignored) */
	const char *severity; /* low, medium, high, urgent; NULL for closures */
	const char *message;  /* may be NULL; a closure's reason */
	const char *evidence; /* JSON text, may be NULL */
	const char *data;     /* JSON text, may be NULL */
	const char *params;   /* JSON text: the policy's parameter values in force,
				 {name: value}; may be NULL */
	int cooldown_days;
	/* The caller has asked actions_repeat for this very request, with the
	 * same draft, and it was no repeat: actions_decide does not ask again.
	 * Recording (actions_commit, actions_record) always asks. */
	int repeat_checked;
	int support_inappropriate;
	/* A legal step that waits for a named person's decision: recorded as a
	 * proposal (state proposed, delivered to signoff_endpoint as
	 * attendance.legal_step.proposed) unless the actions are opened with
	 * approve_as. 0: decided at once (state approved). policy.c sets it
	 * for every legal step from the policy's declaration. */
	int signoff;
	const char *signoff_endpoint; /* the policy's signoff endpoint, else its legal one */
	int date;		      /* the evaluated day */
	/* The pupil's marks, at least up to date (later ones are not counted),
	 * which a penalty notice's threshold is counted from; NULL: none (a
	 * penalty notice is refused). */
	struct history *history;
};

#define CASE_STEPS_MAX 32

struct pupil_case {
	long long id;
	char stage[32];
	int opened; /* day */
	int referral_open;
	int nsteps; /* the latest CASE_STEPS_MAX steps */
	struct {
		char step[32];
		int date;
	} steps[CASE_STEPS_MAX];
};

/* What one policy call decided for one pupil of one organisation, kept to
 * be recorded later: policies run on a read snapshot (engine.c), and what
 * they decide is recorded once the write lock is taken, every rule checked
 * again then. While the call runs, the draft answers as the database
 * would if each action had been recorded at once: repeats, the open
 * referral, the case and its stage, the penalty-notice limits. */
struct drafted {
	struct action_request r; /* kind, message, evidence, data and params owned here */
	long long case_id;	 /* the case it belongs to (< 0: opened in this draft) */
	int close;		 /* a case closure (r.type ACTION_CASE_CLOSED) */
	int proposal;		 /* a legal step proposed, not decided: it moves no case */
	char kind[72];
};

struct actions_draft {
	struct drafted *item;
	int n, cap;
	int case_loaded, has_case; /* the case as it stands after the items */
	struct pupil_case *c;	   /* once loaded */
	long long next_case;	   /* ids of cases opened in the draft: -1, -2, ... */
};

struct actions {
	struct db *db;
	const struct config *cfg; /* which endpoints exist, signoff_days; NULL: none, 20 */
	sqlite3_stmt *stmt[24];
	/* Not NULL: every legal step is recorded approved on the day proposed,
	 * decided_by this text (a replay, `rollcall test`, `rollcall check`:
	 * what the live service would do if every proposal were approved). */
	const char *approve_as;
	long recorded, suppressed, refused; /* since open */
	long approved_as_proposed;	    /* proposals approve_as approved */
	unsigned char random[1024];	    /* for webhook ids, random_used taken */
	size_t random_used;
};

int actions_open(struct actions *a, struct db *db, const struct config *cfg);
void actions_close(struct actions *a);

/* Is r a repeat within its cooldown, as things stand with draft d (NULL:
 * in the database only)? 1 yes (counted as suppressed), 0 no, -1 on a
 * database error. A caller asks first to skip work (the evidence) for the
 * many calls that repeat, and then sets r->repeat_checked so that
 * actions_decide does not ask again. */
int actions_repeat(struct actions *a, struct actions_draft *d, const struct action_request *r);

/* Decide r into draft d, or say why not. Returns 1 drafted, 0 not (why is
 * empty for a repeat suppressed by the cooldown, or a closure with no open
 * case to close; else the rule that refused it), -1 on a database error.
 * d takes r.evidence and r.data (they must come from malloc) whatever the
 * answer; r's other strings are copied, but for org, policy,
 * policy_sha256, endpoint, upn, year_group and history, which must outlive
 * the draft. A closure (ACTION_CASE_CLOSED) closes the open case and its
 * referral, and is recorded with the case's id and its stage as kind. */
int actions_decide(struct actions *a, struct actions_draft *d, struct action_request *r, char *why,
		   size_t whylen);

/* Record r at once, in the caller's transaction: actions_decide with no
 * draft. Same answers. */
int actions_record(struct actions *a, const struct action_request *r, char *why, size_t whylen);

/* Approve proposal id (state proposed) in the caller's write transaction:
 * r is the proposal as a request (signoff.c makes it from its row: org,
 * pupil, kind, date, support_inappropriate, endpoint, and the pupil's
 * marks as they stand now, at least to its day), case_id the case it was
 * proposed in (0: none was open). The national framework is checked
 * again, against the approved steps as they are now; then the step is
 * approved (decided_by by, decided_at at, its note), the case (its own,
 * else the pupil's open case, else one opened on the day proposed) moves
 * to the stage of its latest approved step, and the decided step is
 * queued to r->endpoint as attendance.legal_step. Returns 1 (*case_out the
 * case), 0 refused with why (the framework; the case it was proposed in
 * has closed since; decided by another meanwhile), -1 on a database
 * error. */
int actions_approve(struct actions *a, long long id, const struct action_request *r,
		    long long case_id, const char *by, const char *note, const char *at,
		    long long *case_out, char *why, size_t whylen);

/* The open case of pupil in org, as it stands with draft d: 1 and *c
 * filled, 0 if none, -1 on error. */
int actions_case(struct actions *a, struct actions_draft *d, const char *org, uint32_t pupil,
		 struct pupil_case *c);

/* One of a pupil's actions, as p:actions{} lists them. */
struct listed {
	long long action_id;	   /* 0: decided in this call, not yet recorded */
	char action[16], kind[72]; /* a closure's kind: the stage it closed at */
	int day;
	long long case_id; /* 0 for none (alerts); < 0 a case opened in this call */
	int decided;	   /* in this call's draft */
	/* a legal step's sign-off (proposed, approved, declined, expired);
	 * other actions: decided (in this call's draft) or recorded */
	char state[12];
};

/* This organisation's actions for pupil on or after day since, newest
 * first (those decided in draft d first of all), at most max, filtered by
 * action and kind when not NULL, into out; case closures included.
 * Returns the number listed, or -1 on a database error. */
int actions_list(struct actions *a, struct actions_draft *d, const char *org, uint32_t pupil,
		 int since, const char *action, const char *kind, struct listed *out, int max);

/* Record what d holds, in its order, each rule checked again against the
 * database (the caller holds the write lock); a step another writer's
 * change now refuses is logged and left out. Empties d. Returns the number
 * recorded, or -1 on a database error. */
long actions_commit(struct actions *a, struct actions_draft *d);

/* Empty d (a call that failed records nothing), or free it. */
void actions_draft_reset(struct actions_draft *d);
void actions_draft_free(struct actions_draft *d);

/* An action row: select ACTIONS_COLUMNS, read the row with actions_row and
 * use its named fields. No caller counts column positions; the enum below
 * is ACTIONS_COLUMNS' order, kept next to it, and only actions_row and a
 * statement that binds such a row (the fuzz target) use it. */
#define ACTIONS_COLUMNS                                                                            \
	"actions.id, actions.action, actions.org, actions.policy, actions.policy_sha256, "         \
	"actions.kind, actions.severity, actions.message, actions.upn, actions.urn, "              \
	"actions.year_group, actions.evidence, actions.data, actions.date, "                       \
	"actions.created_at, actions.case_id, actions.params, actions.state, actions.signoff, "    \
	"actions.decide_by, actions.decided_by, actions.decided_at, actions.decision"

enum action_column {
	ACTION_COL_ID,
	ACTION_COL_ACTION,
	ACTION_COL_ORG,
	ACTION_COL_POLICY,
	ACTION_COL_POLICY_SHA256,
	ACTION_COL_KIND,
	ACTION_COL_SEVERITY,
	ACTION_COL_MESSAGE,
	ACTION_COL_UPN,
	ACTION_COL_URN,
	ACTION_COL_YEAR_GROUP,
	ACTION_COL_EVIDENCE,
	ACTION_COL_DATA,
	ACTION_COL_DATE,
	ACTION_COL_CREATED_AT,
	ACTION_COL_CASE_ID,
	ACTION_COL_PARAMS,
	ACTION_COL_STATE,
	ACTION_COL_SIGNOFF,
	ACTION_COL_DECIDE_BY,
	ACTION_COL_DECIDED_BY,
	ACTION_COL_DECIDED_AT,
	ACTION_COL_DECISION,
	ACTION_COLUMNS_COUNT
};

/* A stored text: s is NULL for SQL NULL; it may hold any bytes (stored by
 * other writers), so it leaves rollcall only through text_json/text_safe. */
struct action_text {
	const char *s;
	size_t len;
};

/* One action row as read. The texts point into the statement's row: valid
 * until it is stepped, reset or finalized. */
struct action_row {
	long long id;
	struct action_text action, org, policy, policy_sha256, kind, severity, message, upn,
		year_group, evidence, data, date, created_at, params;
	/* a legal step's sign-off: state, the last day to decide a proposal,
	 * who decided and when, and the approval's note or the decline's
	 * reason; signoff 1 a person had to decide, 0 not, -1 not known */
	struct action_text state, decide_by, decided_by, decided_at, decision;
	int signoff;
	int urn;
	int has_case; /* case_id is not NULL (alerts belong to no case) */
	long long case_id;
};

/* Read the row of st whose columns from index first are ACTIONS_COLUMNS. */
void actions_row(sqlite3_stmt *st, int first, struct action_row *r);

/* The action's JSON (docs/WEBHOOKS.md; the webhook body's data). Never
 * NULL but when memory runs out. */
struct json_t;
struct json_t *actions_payload(const struct action_row *r);

/* The same, as webhook event sent it (a delivery's event; NULL: as the
 * row stands): an attendance.legal_step.proposed shows the step as it was
 * proposed, whatever was decided since. */
struct json_t *actions_event_payload(const struct action_row *r, const char *event);

/* An action's deliveries as [{endpoint, state, attempts, event}], oldest
 * first (event: the webhook type; null for a delivery from before schema
 * version 7),
 * read with del, a statement prepared from ACTIONS_DELIVERIES. NULL on a
 * database error (not reported). */
#define ACTIONS_DELIVERIES                                                                         \
	"SELECT endpoint, state, attempts, event FROM deliveries WHERE action_id = ? ORDER BY id"
struct json_t *actions_deliveries(sqlite3_stmt *del, long long action_id);

/* "attendance.alert", "attendance.referral", "attendance.legal_step" or
 * "attendance.case_closed": the event of a delivery from before version 7
 * (deliveries.event NULL). */
const char *actions_webhook_type(const char *action);

/* The webhook events of a legal step's sign-off. */
#define EVENT_PROPOSED "attendance.legal_step.proposed"
#define EVENT_DECIDED  "attendance.legal_step"
#define EVENT_EXPIRED  "attendance.legal_step.expired"

/* Queue the delivery of event for action_id to endpoint (NULL: the policy
 * names none), in the caller's transaction: pending if the endpoint is
 * configured, else no_endpoint. Returns 0 or the failure. */
int actions_enqueue(struct actions *a, long long action_id, const char *endpoint,
		    const char *event);

#endif
