/*
 * engine.h — the evaluation side of `rollcall run`: take rows from incoming,
 * store them, and run every policy that covers each pupil whose marks
 * changed. One batch is one transaction: marks, rejects, actions, case
 * changes and the evaluation cursor commit together or not at all, so a
 * crash at any moment neither loses an action nor records one twice.
 */
#ifndef ROLLCALL_ENGINE_H
#define ROLLCALL_ENGINE_H

#include "actions.h"
#include "config.h"
#include "ingest.h"
#include "policy.h"
#include "policyset.h"

struct batch_stats {
	long marks, rejected, pupils, calls, actions, errors;
	double seconds, locked; /* in all; with the write lock held (steps 1 and 3) */
};

#include <pthread.h>

#define EVAL_THREADS_MAX 4 /* threads running policies in a batch, one per core */

/* A pupil of the batch under way, read before its policies run. Its two
 * policies may run at once on two threads, and a window that reaches into
 * an earlier year extends the history it reads: each has its own copy. */
struct evaluation {
	struct pupil_view v[2];
	struct history h[2];
	struct policy *policy[2];      /* its council's and its trust's, if loaded */
	struct actions_draft draft[2]; /* what each decided, until recorded */
	unsigned char defer[2];	       /* its policy was cut off: the pupil waits for it */
	const char *unloaded[2];       /* an org whose file is there but does not load:
					* the pupil waits for it in `deferred` */
	struct policy *retried;	       /* taken from `deferred` for this policy */
};

/* A pupil waiting in `deferred` for a policy being retried. */
struct retry {
	struct policy *policy;
	uint32_t pupil;
};

/* Fairness: a policy with this many calls stopped for their budget in one
 * batch is cut off for the rest of it; its pupils wait in `deferred` and
 * it is tried again after ENGINE_RETRY_SECONDS, doubling each time it is
 * cut off again, up to ENGINE_RETRY_MAX_SECONDS. A reload tries it at
 * once. */
#define ENGINE_STOPS_MAX	 3
#define ENGINE_ERRORS_LOGGED	 10 /* policy errors logged whole a batch, per policy */
#define ENGINE_RETRY_SECONDS	 60
#define ENGINE_RETRY_MAX_SECONDS 3600

/* What one batch's calls of a loaded policy came to, for policy_health.
 * Written only by the thread that runs the policy. */
struct policy_tally {
	long calls, failed;
	char *error;  /* the latest failed call's error, cut to ENGINE_ERROR_KEPT */
	char upn[16]; /* and its pupil */
};

#define ENGINE_ERROR_KEPT 1000 /* bytes of a failed call's error kept in policy_health */

struct engine {
	struct db *db;
	const struct config *cfg;
	struct policy_tally *tally; /* one per policy of set, by the same index: this batch's */
	struct policy_set set;
	int health;	  /* policy_health is kept: the service, or run --once */
	int health_dirty; /* what the last load found is not written yet */
	sqlite3_stmt *health_load, *health_batch, *deferred_after;
	struct ingest in;
	struct directory dir;  /* loaded by the first engine_batch */
	struct evaluation *ev; /* the batch's pupils; their histories' buffers kept */
	size_t evcap;
	pthread_mutex_t lock; /* db->shared while policies run on threads */
	struct actions actions;
	sqlite3_stmt *changes, *facts, *params, *cursor_get, *cursor_set, *prune, *data_version,
		*pending, *has_incoming, *deferred, *any_deferred, *defer, *undefer;
	/* Asked between pupils while policies run: 1 to give the batch up
	 * (SIGTERM), which then records nothing and leaves its pupils to be
	 * evaluated again. NULL: never. */
	int (*interrupted)(void *arg);
	void *interrupt_arg;
	double retry_at;	/* the soonest a cut-off policy is tried again (0: none) */
	int shrink;		/* batches are halved this many times: the disk was full */
	long long seen_version; /* PRAGMA data_version at the last batch */
};

/* policy_set_load into the set of e, which engine_open opened; from the
 * directory, an organisation whose file is there but for which no version
 * runs then keeps its changed pupils in `deferred` (one row each) until a
 * version loads, and what the load found is written to policy_health (its
 * own short transaction), with the database file's identity in meta, for
 * `rollcall status`. Returns what policy_set_load returns. */
int engine_load_policies(struct engine *e, char **files, int nfiles, policy_error_fn on_error);

int engine_open(struct engine *e, struct db *db, const struct config *cfg);
void engine_close(struct engine *e);

/* A threshold replayed with a value that is not (yet) in force. */
struct replay_param {
	int index;	 /* in the policy's params */
	double value;	 /* the value replayed with */
	double in_force; /* set by engine_replay: stored with `rollcall params`, else the default */
};

#define REPLAY_ERRORS_KEPT 3 /* failed calls kept whole, each from another pupil */

/* What engine_replay is asked, and what it found. */
struct replay {
	int to;		 /* the last day evaluated (INT_MAX: all) */
	const char *upn; /* one pupil, or NULL: every pupil the policy covers */
	struct replay_param *params;
	int nparams;
	void (*progress)(long done, long total); /* NULL: silent */
	long pupils, calls, errors;		 /* out: pupils replayed, policy calls, failed */
	int nkept;
	struct {
		char upn[16];
		char error[512]; /* its first line: "FILE:LINE: message" */
	} kept[REPLAY_ERRORS_KEPT];
};

/* Evaluate p over the stored history as the live service would have, from
 * the first stored day to day r->to: each pupil it covers (or r->upn)
 * after each session's register, AM then PM, seeing the marks up to that
 * session, with the repeat rules, cases and refusals carried from the
 * start. The actions go wherever unqualified table names lead: call
 * db_shadow first (before engine_open) so that they land in TEMP tables;
 * the caller keeps those of the days it wants. Values in r->params replace
 * those in force for this replay. A policy call that fails is counted in
 * r->errors, the first kept, and the replay goes on. Returns 0, or -1 on a
 * database error. */
int engine_replay(struct engine *e, struct policy *p, struct replay *r);

/* Called after each call engine_sample makes: the pupil, the day it was
 * evaluated on, the error with its traceback (NULL if the call did not
 * fail), and the seconds the call took. Non-zero stops the sample. */
typedef int (*engine_call_fn)(const struct pupil_view *v, int day, const char *err, double seconds,
			      void *arg);

/* Evaluate p, for `rollcall check`, over up to max of the stored pupils it
 * covers (spread evenly over their ids), each once, at its latest mark,
 * with the thresholds in force and its own recorded actions and case:
 * each hears of every call. Nothing is recorded: call db_shadow for
 * actions, cases and deliveries first (before engine_open), as for a
 * replay; the pupil's rows are copied into those TEMP tables and dropped
 * again. *pupils and *calls count the pupils read and the calls made (a
 * pupil with no mark is not called). Returns 0, or -1 on a database
 * error. */
int engine_sample(struct engine *e, struct policy *p, int max, engine_call_fn each, void *arg,
		  long *pupils, long *calls);

/* When a batch should run even if nothing changed, for a policy that was
 * cut off and is due to be tried again (monotonic seconds; 0: never). */
double engine_retry_at(const struct engine *e);

/* After a batch that could not be written (DB_FULL): make batches half
 * the size, and cut the write-ahead log back. Returns 1, or 0 if they are
 * already of one row and one pupil. Each committed batch grows them back
 * a step. */
int engine_shrink(struct engine *e);

/* The rows a batch now takes from incoming (batch_rows, shrunk). */
long engine_batch_rows(const struct engine *e);

/* The summary line of a batch, in the log. */
void engine_log_batch(const struct batch_stats *st);

/* 1 if rows wait in incoming or pupils wait for evaluation (changes past
 * the cursor, or rows of `deferred` for a loaded policy that is not
 * waiting out a cut-off), 0 if not, -1 on a database error. A read: it
 * takes no lock from other writers. */
int engine_pending(struct engine *e);

/* One batch: store rows from incoming (one short write transaction),
 * decide on a read snapshot, record what was decided and move the cursor
 * (one write transaction). Returns 1 if it did any work, 0 if there was
 * nothing to do (or it was interrupted before recording), or the failure
 * of the call that failed (what was not committed is rolled back):
 * DB_BUSY, DB_FULL or DB_FAILED, for the caller to try again later, try
 * again smaller (engine_shrink) or stop. */
int engine_batch(struct engine *e, struct batch_stats *st);

#endif
