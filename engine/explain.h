/*
 * explain.h — why an action was taken, years later (`rollcall explain`):
 * the kept version of the policy that decided it (policy_versions, by
 * actions.policy_sha256) and its lines around the call that recorded it
 * (actions.line), the parameter values in force (actions.params), the
 * evidence, the case and the sign-off; then that version called again,
 * with those values, for the pupil as the action recorded them, on their
 * stored history up to the action's day and the organisation's record of
 * them as it stood (read-only: into TEMP tables), to show it decides the
 * same — or to say why it does not.
 */
#ifndef ROLLCALL_EXPLAIN_H
#define ROLLCALL_EXPLAIN_H

#include "config.h"
#include "db.h"

#include <jansson.h>

/* No such action (or, with an org, not one of its own). */
#define EXPLAIN_NOT_FOUND 1

/* Lines of the policy shown before and after the recorded line. */
#define EXPLAIN_CONTEXT 6

/* Explain action id into *out (the caller's to json_decref):
 *
 *   {"action": (as actions --json), "line": N | null,
 *    "policy": {"file", "sha256", "kept", "first_loaded", "last_loaded",
 *               "lines": [{"line", "text", "called": bool}]},
 *    "params", "evidence", "case": {...} | null, "signoff": {...} | null,
 *    "rerun": {"same": bool, "ran": bool, "found": [...], "differences":
 *              [...], "reasons": [...], "calls", "failed",
 *              "session": "AM" | "PM"}}
 *
 * org NULL: any action; else only that organisation's (EXPLAIN_NOT_FOUND
 * for another's). The re-run opens its own read-only connection to
 * db->path, with c's scripts and limits, and changes nothing. Returns 0,
 * EXPLAIN_NOT_FOUND, or a failure (enum db_result, reported). */
int explain_action(struct db *db, const struct config *c, long long id, const char *org,
		   json_t **out);

#endif
