/*
 * publish.h — an organisation's policy, read, checked, previewed,
 * published and rolled back: what `rollcall policy` and the API's
 * /api/v1/policy and /api/v1/params/preview share.
 *
 * An organisation's live policy is its own file in the policies directory,
 * la-NNN.lua for la:NNN and trust-ID.lua for trust:ID, the only name the
 * service loads for it. The path is made here from the organisation alone,
 * never from anything a caller sends, and a text whose policy{ org } is
 * another organisation's is refused: an author can write no file but their
 * own organisation's.
 *
 * Publishing a text (publish_policy) or a kept version (publish_rollback):
 *   1. check it as `rollcall check` checks a file (it loads in the sandbox,
 *      its module calls and endpoints exist, on_pupil runs clean over the
 *      synthetic pupils and a sample of the stored ones); any error and
 *      nothing is written;
 *   2. write it to a temporary file beside the live one, fsync it;
 *   3. one transaction: the version kept (policy_versions, with who
 *      published it) and the audit row (before and after sha256);
 *   4. rename the temporary file over the live one, fsync the directory:
 *      the service's watch of the directory reloads it.
 * The transaction commits before the rename, so that a crash never leaves
 * a live file whose version is not kept: at worst (a crash between 3 and 4)
 * a version is kept and audited that did not go live, and the file is the
 * previous one, whole. Publishes of one policies directory are serialised
 * (an exclusive lock on the directory), so the live version compared with
 * if_sha256 is still the live one when the file is renamed.
 *
 * Results are jansson objects ready to be an API response (the caller owns
 * them, json_decref); `rollcall policy` prints them. An error result is
 * {"error": "...", "field": "..." (when one is to blame), "errors": [...]}
 * where each of "errors" is {"file", "line", "message"} (line null when
 * the error has none), the FILE:LINE errors `rollcall check` reports,
 * with, for an error met running on_pupil, "pupil" {"upn", "date",
 * "synthetic" (what the synthetic pupil is) or null} and how many pupils
 * met it ("synthetic_pupils", "stored_pupils").
 *
 * Threads: each call uses db, a connection the calling thread holds for
 * the call, for its reads and its one write transaction. A check or a
 * replay opens a connection of its own, read-only, to db->path: what the
 * policy under test records goes to TEMP copies of the tables (db_shadow),
 * which must not hide the caller's. Errors on the database or the files
 * are also reported on stderr (error(), db_fail()).
 */
#ifndef ROLLCALL_PUBLISH_H
#define ROLLCALL_PUBLISH_H

#include "config.h"
#include "db.h"

#include <jansson.h>
#include <stddef.h>

/* What a call came to, for a status code. Negative values are the
 * enum db_result of a failure (DB_FAILED also for a file that cannot be
 * written): a 500, or a 503 for DB_BUSY. */
enum publish_status {
	PUBLISH_DONE = 0,      /* 200 */
	PUBLISH_REFUSED = 1,   /* 422: the text fails check, its org is not the one
				* asked, a param is unknown or out of bounds */
	PUBLISH_CONFLICT = 2,  /* 409: if_sha256 is not the live version */
	PUBLISH_NOT_FOUND = 3, /* 404: no policy for the org, no such kept version */
};

/* Who makes a change, for the audit row and policy_versions.published_by:
 * the API passes the token's person and "api:token N"; the CLI the person
 * (--by, else the local user) and audit_cli_via. */
struct publish_actor {
	const char *who;
	const char *via;
};

#define PUBLISH_DAYS_DEFAULT	28	  /* a preview or a check's replay: the last 28 days */
#define PUBLISH_DAYS_MAX	366	  /* days a preview may ask for */
#define PUBLISH_DIFFERENCES_MAX 100	  /* differences listed (all are counted) */
#define PUBLISH_TEXT_MAX	(1 << 20) /* bytes of a policy text (POLICY_FILE_MAX) */

/* The file org's policy lives in, cfg->policies + "/la-355.lua", into buf.
 * Returns 0, or -1 if org is not la:NNN or trust:ID. */
int publish_path(const struct config *cfg, const char *org, char *buf, size_t size);

/* The live version of org's policy: the SHA-256 (hex) of its file's bytes
 * into sha256[65]. Returns 1, 0 if org has no file (sha256 ""), or
 * DB_FAILED if it cannot be read (reported). The API's ETag. */
int publish_live_sha256(const struct config *cfg, const char *org, char sha256[65]);

/* GET /api/v1/policy: {"org", "file" (its name), "sha256" and "text" of
 * the live file (null if it has none), "versions": every kept version,
 * newest first, each {"sha256", "first_loaded", "last_loaded",
 * "published_by", "published_at", "live"}}. With sha256 (not NULL), the
 * text and sha256 are those of that kept version instead (NOT_FOUND if it
 * is not one of org's). */
int publish_show(struct db *db, const struct config *cfg, const char *org, const char *sha256,
		 json_t **out);

/* The kept versions alone: {"org", "items": [as in publish_show]}. */
int publish_versions(struct db *db, const struct config *cfg, const char *org, json_t **out);

/* POST /api/v1/policy/check: check text as org's policy (name: what its
 * errors call it, NULL for org's file name), then replay it beside the live
 * version over the last days days (0: PUBLISH_DAYS_DEFAULT) of the stored
 * history, counted back from the latest school day stored. DONE:
 * {"org", "file", "sha256" (of text), "check": {"warnings": [...],
 * "synthetic_pupils", "synthetic_calls", "stored_pupils", "stored_calls"},
 * "replay": {"from", "to", "days", "draft": SIDE, "live": SIDE or null
 * (no live file), "difference": DIFF}} where SIDE is {"sha256", "actions",
 * "by_kind": {"alert persistent": n, ...}, "pupils" (affected),
 * "policy_calls": {"made", "failed", "first_failed": [{"upn", "error"}]},
 * "legal_steps_taken_as_approved"} and DIFF is {"only_draft",
 * "only_live", "pupils" (whose actions differ), "items": [{"only_in",
 * "date", "upn", "action", "kind"}] (at most PUBLISH_DIFFERENCES_MAX),
 * "truncated"}. REFUSED: the error result, every error found. */
int publish_check(struct db *db, const struct config *cfg, const char *org, const char *name,
		  const char *text, size_t len, int days, json_t **out);

/* PUT /api/v1/policy: publish text as org's policy (checked as
 * publish_check checks it, without the replay), if if_sha256 (not NULL)
 * is the live version's ("" or "none": org has no file yet). DONE:
 * {"org", "file", "sha256", "previous" (null: none), "published_by",
 * "check": {as publish_check's}}; REFUSED with every error; CONFLICT:
 * {"error", "sha256": the live version}. Nothing is written unless DONE.
 * Audited as policy.publish. */
int publish_policy(struct db *db, const struct config *cfg, const char *org, const char *name,
		   const char *text, size_t len, const char *if_sha256,
		   const struct publish_actor *by, json_t **out);

/* POST /api/v1/policy/rollback: make the kept version sha256 of org's
 * policy live again, checked again as publish_policy checks a text (a
 * version may no longer pass: a module or an endpoint it names has gone),
 * if if_sha256 (not NULL) is the live version. NOT_FOUND if sha256 is not
 * one of org's kept versions; else as publish_policy. Audited as
 * policy.rollback. */
int publish_rollback(struct db *db, const struct config *cfg, const char *org, const char *sha256,
		     const char *if_sha256, const struct publish_actor *by, json_t **out);

/* POST /api/v1/params/preview: org's live policy replayed over the last
 * days days (0: PUBLISH_DAYS_DEFAULT) with the values in params (a JSON
 * object, name: number; unnamed params keep the values in force), beside
 * the same replay with the values in force. Each value is checked against
 * the policy's declaration first: REFUSED naming the param ("field":
 * "params.NAME") if it declares none of that name, or the value is not a
 * number, outside its bounds or not whole where integer = true; and
 * "field": "days" for days outside 1..PUBLISH_DAYS_MAX. NOT_FOUND if org
 * has no policy that loads. DONE: {"org", "sha256" (the live version),
 * "from", "to", "days", "params": {NAME: {"value", "in_force"}},
 * "proposed": SIDE, "in_force": SIDE, "difference": DIFF} as for
 * publish_check, with "only_proposed" and "only_in_force" in DIFF and
 * "proposed" or "in_force" as each item's "only_in". The same figures as
 * `rollcall replay --policy FILE --param NAME=VALUE... --compare FILE
 * --from FROM --to TO`. */
int publish_preview(struct db *db, const struct config *cfg, const char *org, json_t *params,
		    int days, json_t **out);

#endif
