/*
 * listing.h — what rollcall shows of its records, built once for both the
 * command line (`--json`, and the text made from the same rows) and the
 * API: one query and one JSON builder each (listing.c); the commands
 * (cmd_actions.c, cmd_cases.c, cmd_pupil.c, cmd_signoff.c, cmd_audit.c)
 * print them, as JSON or as text made from the same items. The report's
 * page is report.h's.
 *
 * A scope says whose records may be seen. The command line sees every
 * organisation's, or one's with --org. The API sees the token's
 * organisation's only, and of its records only those of pupils at its
 * schools now (schools whose la_code, resp. trust_id, the organisation
 * names): a pupil who moved to another trust is that trust's to see.
 */
#ifndef ROLLCALL_LISTING_H
#define ROLLCALL_LISTING_H

#include "actions.h"
#include "config.h"
#include "db.h"

struct json_t;

struct listing_scope {
	const char *org; /* la:NNN or trust:ID; NULL: every organisation */
	int at_schools;	 /* 1: only records of pupils at org's schools now */
};

/* A page of a list in the API's order, by id from after on: at most limit
 * items (0: every one, in the command's own order); next is set to the
 * cursor of the next page, 0 if this is the last. */
struct listing_page {
	long long after;
	long limit;
	long long next;
};

/* Each item of a list, given to the caller, who may keep a reference
 * (json_incref); returns 0 to go on, -1 to stop (the listing then
 * returns -1). */
typedef int (*listing_fn)(struct json_t *item, void *arg);

/* The SQL test that the pupil of column col is at a school of org now: a
 * fragment that binds org as ?9 (NULL: any pupil). */
#define LISTING_AT_SCHOOLS(col)                                                                    \
	"(?9 IS NULL OR EXISTS (SELECT 1 FROM pupils p_ JOIN schools s_ ON s_.urn = p_.urn "       \
	"WHERE p_.id = " col " AND ('la:' || s_.la_code = ?9 OR 'trust:' || s_.trust_id = ?9)))"

/* Bind a scope: its org as ?1 (the organisation filter of every listing
 * query) and, for at_schools, as ?9. */
void listing_bind_scope(sqlite3_stmt *st, const struct listing_scope *s);

/* Actions (alerts, referrals, legal steps, case closures): each as
 * actions_payload gives it plus "deliveries", with its row for the text
 * the CLI prints. Filters, each NULL for any: since (evaluated on or
 * after, YYYY-MM-DD), kind (the kind, or a legal step), state (a legal
 * step's sign-off). */
struct listing_actions_filter {
	const char *since, *kind, *state;
	long long id; /* one action, or 0 */
};
typedef int (*listing_action_fn)(const struct action_row *row, struct json_t *item, void *arg);
int listing_actions(struct db *db, const struct listing_scope *s,
		    const struct listing_actions_filter *f, struct listing_page *page,
		    listing_action_fn each, void *arg);

/* The rows of st, a query of ACTIONS_COLUMNS (then any columns add reads
 * into the item), with a page bound as ?5 (after) and ?6 (limit + 1):
 * each item given to each. For the action listings here. */
int listing_action_rows(struct db *db, sqlite3_stmt *st, struct listing_page *page,
			void (*add)(sqlite3_stmt *st, struct json_t *item), listing_action_fn each,
			void *arg);

/* Cases: {id, org, upn, stage, opened, closed, reason, referral_open,
 * steps}; open 1 open only, 0 closed only, -1 both; pupil a pupils.id or
 * 0; id one case, or 0. Without a page limit, newest first, at most max (more: *more is how
 * many there are in all, else 0). */
int listing_cases(struct db *db, const struct listing_scope *s, int open, long long pupil,
		  long long id, struct listing_page *page, long max, long long *more,
		  listing_fn each, void *arg);

#define LISTING_WINDOWS_MAX    16 /* windows a pupil's listing may ask for */
#define LISTING_RECENT_ACTIONS 10 /* a pupil's latest actions, newest first */

/* Is spec a window listing_pupil takes: "sessions=N", "school_weeks=N",
 * "days=N", "since=YYYY-MM-DD" or "academic_year"? */
int listing_window_valid(const char *spec);

/* A pupil as `rollcall pupil --json` shows them, with the windows named
 * (specs, "sessions=N" and the like; NULL and 0: the standard set): NULL
 * with *found 0 if there is no such pupil in scope, NULL with *found 1 on
 * a failure (reported). Open cases and recent actions are the scope's. */
struct json_t *listing_pupil(struct db *db, const struct config *cfg, const struct listing_scope *s,
			     const char *upn, const char *const *specs, int nspecs, int *found);

/* Legal steps waiting for a decision, the first to expire first (by id with
 * a page): as actions, plus "pupil_at_org" and "past_decide_by". */
int listing_signoff(struct db *db, const struct listing_scope *s, struct listing_page *page,
		    listing_action_fn each, void *arg);

/* The audit trail, oldest first: {id, at, who, via, org, what, action_id,
 * before, after, detail}; since NULL or YYYY-MM-DD. */
int listing_audit(struct db *db, const struct listing_scope *s, const char *since,
		  struct listing_page *page, listing_fn each, void *arg);

#endif
