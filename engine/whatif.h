/*
 * whatif.h — what a policy would have done over the stored history, and
 * how two such replays differ: `rollcall replay` and publish.c's previews
 * (a draft beside the live version, proposed params beside those in
 * force) share it, so that they give the same figures.
 *
 * A replay runs on a connection of its own, opened read-only, whose
 * actions, cases and deliveries are TEMP copies (db_shadow): it changes
 * nothing and sends nothing, and the copies vanish with the connection.
 * Live, a legal step waits for a person's decision; a replay cannot know
 * what they would decide, and takes each proposal as approved on the day
 * proposed (whatif_side_json counts them).
 */
#ifndef ROLLCALL_WHATIF_H
#define ROLLCALL_WHATIF_H

#include "engine.h"

#include <jansson.h>

struct whatif {
	struct db *db; /* the caller's struct, opened here on the path given */
	struct engine e;
	int first_kept; /* temp.replay_first holds a replay */
};

/* Open path read-only into db, shadow the outcome tables and open an
 * engine over it. Returns 0, or -1 (reported; nothing to close). */
int whatif_open(struct whatif *w, struct db *db, const char *path, const struct config *cfg);
/* Close the engine and the connection. */
void whatif_close(struct whatif *w);

/* Replay p (r as engine_replay takes it, r->to set to to) into the TEMP
 * tables, emptied first, from the first stored day, keeping the actions of
 * the days from..to (day numbers; INT_MIN and INT_MAX for all): what was
 * decided before from weighs as it would have live (a pupil alerted in
 * October is not alerted again on 3 November). Returns 0, or -1 on a
 * database error (reported). */
int whatif_replay(struct whatif *w, struct policy *p, struct replay *r, int from, int to);

/* Keep the last replay's actions (as temp.replay_first) for a second to be
 * compared with. Returns 0 or -1. */
int whatif_keep_first(struct whatif *w);

/* Called for each action one replay took that the other did not, in
 * order of date and UPN: side 1 for the kept first, 2 for the last. */
typedef int (*whatif_difference_fn)(int side, const char *date, const char *upn, const char *action,
				    const char *kind, void *arg);

/* Each difference between the kept first replay and the last, counted in
 * only[1] and only[2] (only[0] unused), and the distinct pupils among them
 * in *pupils; each hands each difference on (non-zero stops the calls,
 * the counting goes on). Returns 0, or -1 on a database error. */
int whatif_compare(struct whatif *w, whatif_difference_fn each, void *arg, long only[3],
		   long *pupils);

/* The figures of a replay, as JSON: {"actions", "by_kind": {"alert
 * persistent": n, ...}, "by_month", "pupils" (affected),
 * "legal_steps_taken_as_approved"}; first: of the kept first replay, else
 * of the last. NULL on a database error (reported). */
json_t *whatif_side_json(struct whatif *w, int first);

/* The legal steps of a replay (first: the kept first) that live would
 * have waited for a person's decision. -1 on a database error. */
long long whatif_taken_as_approved(struct whatif *w, int first);

/* The latest day with a stored mark, as a day number, into *day (-1 if
 * none is stored). Returns 0, or -1 on a database error (reported). */
int whatif_latest_day(struct whatif *w, int *day);

#endif
