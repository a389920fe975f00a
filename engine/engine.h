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

struct batch_stats {
	long marks, rejected, pupils, calls, actions, errors;
	double seconds;
};

#include <pthread.h>

#define EVAL_THREADS_MAX 4 /* threads running policies in a batch, one per core */

/* A pupil of the batch under way, read before its policies run. Its two
 * policies may run at once on two threads, and a window that reaches into
 * an earlier year extends the history it reads: each has its own copy. */
struct evaluation {
	struct pupil_view v[2];
	struct history h[2];
	struct policy *policy[2]; /* its council's and its trust's, if loaded */
};

struct engine {
	struct db *db;
	const struct config *cfg;
	struct policy **policies; /* sorted by org; never moved once loaded (the
				   * Lua state points into its struct policy) */
	int npolicies;
	struct ingest in;
	struct directory dir;  /* loaded by the first engine_batch */
	struct evaluation *ev; /* the batch's pupils; their histories' buffers kept */
	size_t evcap;
	pthread_mutex_t lock; /* db->shared while policies run on threads */
	struct actions actions;
	sqlite3_stmt *changes, *facts, *params, *cursor_get, *cursor_set, *prune, *data_version,
		*pending;
	long long seen_version; /* PRAGMA data_version at the last batch */
};

/* Called for each policy that fails to load: path, "FILE:LINE: reason", and
 * whether the previous version from that file is kept running. */
typedef void (*policy_error_fn)(const char *path, const char *err, int kept);

/* Load the policies named in files (or, if nfiles is 0, every *.lua in the
 * config's policies directory), replacing those loaded before: a reload. A
 * policy that fails keeps its previous version if it had one, else is left
 * out; one that names an org an earlier file (in name order) already has is
 * left out. Policies whose files are gone are dropped. Returns the number of
 * files that failed, or -1 if the directory cannot be read (the loaded
 * policies stay as they were). */
int engine_load_policies(struct engine *e, char **files, int nfiles, policy_error_fn on_error);

int engine_open(struct engine *e, struct db *db, const struct config *cfg);
void engine_close(struct engine *e);

/* The loaded policy for org, or NULL. */
struct policy *engine_policy(struct engine *e, const char *org);

/* Evaluate p over the stored history as if it had been live from day from
 * to day to: each pupil it covers, on each day with a mark, seeing the
 * marks up to that day, through the same repeat rules and refusals. The
 * actions go wherever unqualified table names lead: call db_shadow first
 * (before engine_open) so that they land in TEMP tables. progress, if not
 * NULL, hears how many pupils are done. Returns 0, or -1 on an error. */
int engine_replay(struct engine *e, struct policy *p, int from, int to,
		  void (*progress)(long done, long total));

/* The summary line of a batch, in the log. */
void engine_log_batch(const struct batch_stats *st);

/* 1 if rows wait in incoming or pupils wait for evaluation, 0 if not, -1
 * on a database error. A read: it takes no lock from other writers. */
int engine_pending(struct engine *e);

/* One batch. Returns 1 if it did any work, 0 if there was nothing to do,
 * -1 on a database error (the batch is rolled back). */
int engine_batch(struct engine *e, struct batch_stats *st);

#endif
