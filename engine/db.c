/*
 * db.c — connection, schema and migrations.
 *
 * Two tables carry the hot path and are keyed so that a day's marks append
 * rather than scatter (a random-order B-tree insert costs ~30x an append, see
 * docs/PERFORMANCE.md, "What the parts can do"):
 *
 *   marks.id      = (2 * day + session) << 32 | pupil
 *                   -> a day's batch, sorted, lands at the end of the table;
 *                      the id also finds a mark by (pupil, date, session)
 *                      without a secondary index.
 *   registers.id  = academic_year << 32 | pupil; slots = one byte a session
 *                   -> a pupil's year of codes in one row, read in a single
 *                      lookup when figures are computed; the current year's
 *                      rows sit together, so a day rewrites only them.
 *
 * registers is derived from marks and is kept in the same transaction; it is
 * to the figures what a covering index is to a query, at 1 byte a session.
 */
#include "db.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* migrations[i] takes a database from version i to i + 1. Never edit one
 * that has shipped: add the next. */
static const char *const migrations[DB_SCHEMA_VERSION] = {
	/* 0 -> 1: the foundation */
	"CREATE TABLE schools("
	"  urn      INTEGER PRIMARY KEY," /* 6 digits */
	"  name     TEXT NOT NULL,"
	"  la_code  TEXT NOT NULL," /* 3 digits */
	"  trust_id TEXT,"
	"  phase    TEXT);"
	"CREATE INDEX schools_la ON schools(la_code);"
	"CREATE INDEX schools_trust ON schools(trust_id);"

	"CREATE TABLE pupils("
	"  id            INTEGER PRIMARY KEY,"
	"  upn           TEXT NOT NULL UNIQUE,"
	"  urn           INTEGER NOT NULL," /* schools.urn */
	"  year_group    TEXT NOT NULL,"
	"  social_worker INTEGER NOT NULL DEFAULT 0,"
	"  sen           TEXT NOT NULL DEFAULT 'N',"
	"  fsm           INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX pupils_urn ON pupils(urn);"

	"CREATE TABLE marks("
	"  id           INTEGER PRIMARY KEY," /* (2 * day + session) << 32 | pupil */
	"  pupil        INTEGER NOT NULL,"    /* pupils.id */
	"  urn          INTEGER NOT NULL,"
	"  date         TEXT NOT NULL,"
	"  session      TEXT NOT NULL,"
	"  code         TEXT NOT NULL,"
	"  minutes_late INTEGER,"
	"  recorded_at  TEXT);"

	/* The codes a mark had before each amendment. */
	"CREATE TABLE mark_history("
	"  id           INTEGER PRIMARY KEY,"
	"  mark         INTEGER NOT NULL," /* marks.id */
	"  code         TEXT NOT NULL,"
	"  minutes_late INTEGER,"
	"  recorded_at  TEXT,"
	"  replaced_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')));"
	"CREATE INDEX mark_history_mark ON mark_history(mark);"

	"CREATE TABLE registers("
	"  id    INTEGER PRIMARY KEY," /* academic_year << 32 | pupil */
	"  slots BLOB NOT NULL);"

	/* Rows other programs insert; a row leaves in the transaction that stores
	 * it as a mark or a rejection, so count(*) is the backlog. Loosely typed
	 * on purpose: validation is rollcall's, with the same rules as import. */
	"CREATE TABLE incoming("
	"  id           INTEGER PRIMARY KEY,"
	"  upn, urn, date, session, code, minutes_late, recorded_at,"
	"  received_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')));"

	"CREATE TABLE rejected("
	"  id          INTEGER PRIMARY KEY,"
	"  source      TEXT NOT NULL," /* a file name, or 'incoming' */
	"  line        INTEGER,"       /* the file's line, or the incoming row's id */
	"  row         TEXT NOT NULL," /* the row as CSV */
	"  reason      TEXT NOT NULL,"
	"  rejected_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')));"

	/* Pupils whose register changed, in order; evaluation reads past its
	 * cursor (meta 'evaluated_seq'). Appending is what keeps it cheap. */
	"CREATE TABLE changes("
	"  seq   INTEGER PRIMARY KEY,"
	"  pupil INTEGER NOT NULL);"

	"CREATE TABLE meta("
	"  key   TEXT PRIMARY KEY,"
	"  value);",

	/* 1 -> 2: what policies decide */
	"CREATE TABLE actions("
	"  id            INTEGER PRIMARY KEY,"
	"  org           TEXT NOT NULL," /* la:NNN or trust:ID */
	"  pupil         INTEGER NOT NULL,"
	"  action        TEXT NOT NULL," /* alert, referral, legal_step */
	"  kind          TEXT NOT NULL," /* alert kind, legal step, or mentor */
	"  severity      TEXT,"
	"  message       TEXT,"
	"  evidence      TEXT,"		 /* JSON: the figures the policy saw */
	"  data          TEXT,"		 /* JSON */
	"  date          TEXT NOT NULL," /* the evaluated date */
	"  day           INTEGER NOT NULL,"
	"  policy        TEXT NOT NULL,"
	"  policy_sha256 TEXT NOT NULL,"
	"  case_id       INTEGER,"
	"  upn           TEXT NOT NULL," /* the pupil as they were when acted on */
	"  urn           INTEGER NOT NULL,"
	"  year_group    TEXT NOT NULL,"
	"  created_at    TEXT NOT NULL);"
	"CREATE INDEX actions_repeat ON actions(org, pupil, action, kind, day);"
	"CREATE INDEX actions_case ON actions(case_id) WHERE case_id IS NOT NULL;"

	"CREATE TABLE cases("
	"  id            INTEGER PRIMARY KEY,"
	"  org           TEXT NOT NULL,"
	"  pupil         INTEGER NOT NULL,"
	"  stage         TEXT NOT NULL,"
	"  opened        TEXT NOT NULL,"
	"  closed        TEXT,"
	"  close_reason  TEXT,"
	"  referral_open INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX cases_open ON cases(org, pupil) WHERE closed IS NULL;"

	/* Thresholds set with `rollcall params`, within the policy's bounds. */
	"CREATE TABLE params("
	"  org    TEXT NOT NULL,"
	"  name   TEXT NOT NULL,"
	"  value  REAL NOT NULL,"
	"  set_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),"
	"  PRIMARY KEY (org, name)) WITHOUT ROWID;"

	/* The outbox: one delivery per action, written in the action's
	 * transaction; the sender reads only this. */
	"CREATE TABLE deliveries("
	"  id              INTEGER PRIMARY KEY,"
	"  action_id       INTEGER NOT NULL,"
	"  endpoint        TEXT," /* the endpoint's name; NULL if the policy names none */
	"  webhook_id      TEXT NOT NULL UNIQUE," /* the same on every attempt */
	"  state           TEXT NOT NULL,"	  /* pending, delivered, dead, no_endpoint */
	"  attempts        INTEGER NOT NULL DEFAULT 0,"
	"  last_status     INTEGER,"
	"  last_error      TEXT,"
	"  next_attempt_at INTEGER NOT NULL DEFAULT 0," /* Unix milliseconds */
	"  delivered_at    TEXT);"
	"CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE state = 'pending';"
	"CREATE INDEX deliveries_action ON deliveries(action_id);"
	"CREATE INDEX deliveries_failed ON deliveries(state) WHERE state IN ('dead', "
	"'no_endpoint');",

	/* 2 -> 3: the sender reads due deliveries endpoint by endpoint, so that a
	 * backlog for one never hides the others'. */
	"CREATE INDEX deliveries_due_endpoint ON deliveries(endpoint, next_attempt_at) "
	"WHERE state = 'pending';"
	/* Importing a file twice keeps each of its rejections once. */
	"CREATE INDEX rejected_source ON rejected(source, line);"
	/* `rollcall pupil`: a pupil's cases and latest actions. */
	"CREATE INDEX cases_pupil ON cases(pupil);"
	"CREATE INDEX actions_pupil ON actions(pupil, day);",

	/* 3 -> 4: pupils a policy was cut off from because it kept hitting its
	 * budget (engine.c): evaluated again for that organisation alone when
	 * the policy is retried. */
	"CREATE TABLE deferred("
	"  org   TEXT NOT NULL,"
	"  pupil INTEGER NOT NULL,"
	"  since TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),"
	"  PRIMARY KEY (org, pupil)) WITHOUT ROWID;",

	/* 4 -> 5: closing a case is an action (action 'case_closed', kind the
	 * stage the case had reached, case_id the case, message the reason);
	 * closures recorded before have no row, only cases.closed. Every action
	 * keeps the policy's parameter values in force when it was decided,
	 * as a JSON object {name: value}; NULL for the rows from before, whose
	 * values were not kept. `rollcall cases` lists newest first. */
	"ALTER TABLE actions ADD COLUMN params TEXT;"
	"CREATE INDEX cases_opened ON cases(opened);",

	/* 5 -> 6: what the evaluator knows of each policy, for `rollcall
	 * status` (another process): one row per organisation with a policy
	 * file named for it, written by the engine when it loads the policies
	 * and in each batch's recording transaction. */
	"CREATE TABLE policy_health("
	"  org            TEXT PRIMARY KEY," /* la:NNN or trust:ID, as the file's name gives */
	"  file           TEXT NOT NULL,"    /* the file's path, as the service names it */
	"  sha256         TEXT,"	     /* of the version running; NULL: none */
	"  loaded         INTEGER NOT NULL," /* 1 if a version of the file runs */
	"  load_error     TEXT,"	     /* why the file as it is now does not load */
	"  calls          INTEGER NOT NULL DEFAULT 0," /* in the last batch that ran it */
	"  failed         INTEGER NOT NULL DEFAULT 0," /* of those, how many failed */
	"  last_error     TEXT," /* the running version's latest failed call */
	"  last_pupil     TEXT," /* that call's pupil (UPN) */
	"  last_failed_at TEXT,"
	"  cut_off        TEXT," /* since when it is cut off for its budget; NULL: runs */
	"  updated_at     TEXT NOT NULL) WITHOUT ROWID;",

	/* 6 -> 7: legal steps are decided by a named person (UK GDPR art. 22;
	 * the DfE framework has a penalty notice *considered*). A legal step
	 * carries its sign-off: `state` proposed, approved, declined or
	 * expired (NULL for the other actions); `signoff` 1 if a person had to
	 * decide it, 0 if the policy declared that step needs no one (decided
	 * at once), NULL for the steps recorded before this version, which
	 * were all taken at once and stay approved, decided_by 'before
	 * sign-off'; `decide_by` the last day a proposal may be decided;
	 * `decided_by`, `decided_at` and `decision` (an approval's note, a
	 * decline's reason); `support_inappropriate` as the policy said, for
	 * the framework's check at approval; `endpoint` where the decided step
	 * goes (the policy's legal endpoint). A delivery names the webhook
	 * `event` it sends (an action may have several: a proposal, then its
	 * decision); NULL, for rows from before, is the action's own type. */
	"ALTER TABLE actions ADD COLUMN state TEXT;"
	"ALTER TABLE actions ADD COLUMN signoff INTEGER;"
	"ALTER TABLE actions ADD COLUMN decide_by TEXT;"
	"ALTER TABLE actions ADD COLUMN decided_by TEXT;"
	"ALTER TABLE actions ADD COLUMN decided_at TEXT;"
	"ALTER TABLE actions ADD COLUMN decision TEXT;"
	"ALTER TABLE actions ADD COLUMN support_inappropriate INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE actions ADD COLUMN endpoint TEXT;"
	"UPDATE actions SET state = 'approved', decided_by = 'before sign-off', "
	"decided_at = created_at WHERE action = 'legal_step';"
	"CREATE INDEX actions_proposed ON actions(decide_by) WHERE state = 'proposed';"
	"ALTER TABLE deliveries ADD COLUMN event TEXT;"
	/* Every change a person makes, and what the service decides for them
	 * (an expiry), written in the change's own transaction: `rollcall
	 * audit`. */
	"CREATE TABLE audit("
	"  id        INTEGER PRIMARY KEY,"
	"  at        TEXT NOT NULL," /* UTC, YYYY-MM-DDTHH:MM:SSZ */
	"  who       TEXT NOT NULL," /* the person named (--by), or 'rollcall' */
	"  via       TEXT NOT NULL," /* how: 'cli:' + the local user, or 'service' */
	"  org       TEXT NOT NULL,"
	"  what      TEXT NOT NULL," /* signoff.approve, signoff.decline, signoff.expire */
	"  action_id INTEGER,"
	"  before    TEXT,"
	"  after     TEXT,"
	"  detail    TEXT);" /* the note or the reason */
	"CREATE INDEX audit_org ON audit(org, at);",

	/* 7 -> 8: people reach rollcall over its API; decisions are kept whole;
	 * webhook operations. */
	/* `rollcall token`: a person's access to one organisation at one role
	 * (viewer < thresholds < officer < author). Only the SHA-256 of the
	 * token is kept (hex); the token itself is shown once. */
	"CREATE TABLE tokens("
	"  id           INTEGER PRIMARY KEY,"
	"  org          TEXT NOT NULL,"
	"  role         TEXT NOT NULL,"
	"  name         TEXT NOT NULL," /* the person */
	"  sha256       TEXT NOT NULL UNIQUE,"
	"  created_at   TEXT NOT NULL,"
	"  created_by   TEXT NOT NULL," /* who made it: 'cli:' + the local user */
	"  expires_at   TEXT,"		/* UTC; NULL: does not expire */
	"  revoked_at   TEXT,"
	"  last_used_at TEXT);"
	/* Every version of a policy that ever loaded or was published, by the
	 * SHA-256 of its text, so that a decision (actions.policy_sha256) can
	 * be read and re-run years later. */
	"CREATE TABLE policy_versions("
	"  sha256       TEXT PRIMARY KEY,"
	"  org          TEXT NOT NULL,"
	"  file         TEXT NOT NULL," /* the path it was loaded from */
	"  text         TEXT NOT NULL,"
	"  first_loaded TEXT NOT NULL,"
	"  last_loaded  TEXT NOT NULL,"
	"  published_by TEXT," /* the person, when it came through the API */
	"  published_at TEXT) WITHOUT ROWID;"
	"CREATE INDEX policy_versions_org ON policy_versions(org, first_loaded);"
	/* The policy line whose call recorded the action (NULL before). */
	"ALTER TABLE actions ADD COLUMN line INTEGER;"
	/* The webhook body exactly as first sent (retries send the same bytes);
	 * NULL before, or once expunged after retention's payloads_days. */
	"ALTER TABLE deliveries ADD COLUMN body TEXT;"
	"ALTER TABLE deliveries ADD COLUMN created_at TEXT;"
	/* Every attempt of a delivery: when, the HTTP status (NULL: no
	 * response), how long, and the start of the response or the error
	 * (response NULL once expunged). */
	"CREATE TABLE delivery_attempts("
	"  id          INTEGER PRIMARY KEY,"
	"  delivery    INTEGER NOT NULL," /* deliveries.id */
	"  at          TEXT NOT NULL,"
	"  status      INTEGER,"
	"  duration_ms INTEGER,"
	"  response    TEXT);"
	"CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery);"
	"CREATE INDEX delivery_attempts_at ON delivery_attempts(at);"
	/* An endpoint's run of failures, and whether it is disabled for it:
	 * failing_since the first failed attempt since the last success (Unix
	 * ms; NULL: not failing), last_failure the latest failed attempt (a run
	 * with a long quiet gap in it is no run: deliver.c), disabled_at when
	 * it was disabled. */
	"CREATE TABLE endpoint_state("
	"  name          TEXT PRIMARY KEY,"
	"  failing_since INTEGER,"
	"  last_failure  INTEGER,"
	"  disabled_at   TEXT,"
	"  disabled_why  TEXT) WITHOUT ROWID;"
	"CREATE INDEX actions_created ON actions(created_at);"
	/* Retention (retention.c): what is still to expunge, oldest first —
	 * a row leaves these partial indexes once its payload is gone, so the
	 * daily run never walks what it has done — and the audit rows of an
	 * action, removed with it. */
	"CREATE INDEX deliveries_payload ON deliveries(created_at) WHERE body IS NOT NULL OR "
	"last_error IS NOT NULL;"
	"CREATE INDEX delivery_attempts_response ON delivery_attempts(at) WHERE response IS NOT "
	"NULL;"
	"CREATE INDEX audit_action ON audit(action_id) WHERE action_id IS NOT NULL;"
	/* The API (rollcall serve): an organisation's actions a page at a time,
	 * by id from a cursor. An index on org alone ends in the rowid, so
	 * `org = ? AND id > ? ORDER BY id` reads the page and no more. */
	"CREATE INDEX actions_org ON actions(org);"
	/* The web console: sessions people signed in to (with a token, or a
	 * one-time link), by the SHA-256 of their cookie; seen_at and a link's
	 * expires_at in Unix seconds. */
	"CREATE TABLE console_sessions("
	"  sha256    TEXT PRIMARY KEY,"
	"  token     INTEGER NOT NULL," /* tokens.id */
	"  opened_at TEXT NOT NULL,"
	"  seen_at   INTEGER NOT NULL,"
	"  closed_at TEXT) WITHOUT ROWID;"
	"CREATE TABLE console_links("
	"  sha256     TEXT PRIMARY KEY,"
	"  token      INTEGER NOT NULL,"
	"  created_at TEXT NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  used_at    TEXT) WITHOUT ROWID;"
	/* Two early forms of version 3 (commits 8b387c5, 07b01e8) were made
	 * before it gained these indexes, with no new number: they get them
	 * now, and every database migrated has a fresh one's schema. */
	"CREATE INDEX IF NOT EXISTS rejected_source ON rejected(source, line);"
	"CREATE INDEX IF NOT EXISTS cases_pupil ON cases(pupil);"
	"CREATE INDEX IF NOT EXISTS actions_pupil ON actions(pupil, day);",
};

enum db_result db_result_of(int code)
{
	/* the extended code tells a write that failed from a read that did */
	if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
		return DB_BUSY;
	if ((code & 0xff) == SQLITE_FULL || code == SQLITE_IOERR_WRITE ||
	    code == SQLITE_IOERR_FSYNC || code == SQLITE_IOERR_TRUNCATE ||
	    code == SQLITE_IOERR_SHMSIZE)
		return DB_FULL;
	return code == SQLITE_OK || code == SQLITE_DONE || code == SQLITE_ROW ? DB_DONE : DB_FAILED;
}

const char *db_result_name(enum db_result rc)
{
	return rc == DB_DONE ? "done" : rc == DB_BUSY ? "busy" : rc == DB_FULL ? "full" : "failed";
}

enum db_result db_fail(struct db *db, const char *what)
{
	enum db_result rc = db_result_of(sqlite3_extended_errcode(db->h));
	error("%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
	return rc == DB_DONE ? DB_FAILED : rc; /* a failure, whatever SQLite last said */
}

enum db_result db_step_done(struct db *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? DB_DONE : db_fail(db, what);
}

int db_open(struct db *db, const char *path, int mode)
{
	int create = mode == DB_CREATE;
	struct stat st;
	int existed = stat(path, &st) == 0;
	memset(db, 0, sizeof *db);
	db->path = xstrdup(path);
	if (!existed && !create) {
		error("%s: no such database (create it with: rollcall init)", path);
		goto fail;
	}
	int flags = mode == DB_READONLY ? SQLITE_OPEN_READONLY
					: SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	flags |= SQLITE_OPEN_NOMUTEX; /* a connection belongs to one thread */
	/* Create it owner-only from the first byte, not chmod it afterwards. */
	mode_t old_mask = umask(077);
	int rc = sqlite3_open_v2(path, &db->h, flags, NULL);
	umask(old_mask);
	if (rc != SQLITE_OK) {
		db_fail(db, "cannot open");
		goto fail;
	}
	/* Attendance records are personal data: owner-only from the start.
	 * SQLite gives the -wal and -shm files the database's mode. */
	if (!existed && chmod(path, 0600) != 0) {
		error("%s: cannot set mode 0600: %s", path, strerror(errno));
		goto fail;
	}
	sqlite3_busy_timeout(db->h, DB_BUSY_MS);
	/* synchronous=FULL: a commit survives power loss, and commits are per
	 * batch, so the fsync is paid once per batch, not per mark. */
	if (db_exec(db, "PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;"
			"PRAGMA cache_size=-131072; PRAGMA foreign_keys=OFF;") < 0)
		goto fail;
	return 0;
fail:
	db_close(db);
	return -1;
}

void db_close(struct db *db)
{
	if (db->h)
		sqlite3_close_v2(db->h);
	free(db->path);
	memset(db, 0, sizeof *db);
}

static int user_version(struct db *db)
{
	sqlite3_stmt *st = db_prepare(db, "PRAGMA user_version");
	int v = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int db_check_version(struct db *db)
{
	int v = user_version(db);
	if (v < 0)
		return db_fail(db, "cannot read schema version");
	if (v == DB_SCHEMA_VERSION)
		return 0;
	if (v == 0)
		error("%s: not a rollcall database yet (run: rollcall init)", db->path);
	else if (v < DB_SCHEMA_VERSION)
		error("%s: schema version %d is older than %d (run: rollcall init to migrate)",
		      db->path, v, DB_SCHEMA_VERSION);
	else
		error("%s: schema version %d was made by a newer rollcall (this one knows %d)",
		      db->path, v, DB_SCHEMA_VERSION);
	return -1;
}

int db_migrate(struct db *db)
{
	if (db_exec(db, "PRAGMA journal_mode=WAL") < 0)
		return -1;
	if (db_begin(db) < 0)
		return -1;
	int v = user_version(db);
	if (v < 0 || v > DB_SCHEMA_VERSION) {
		db_rollback(db);
		return v < 0 ? -1 : db_check_version(db);
	}
	for (; v < DB_SCHEMA_VERSION; v++) {
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v + 1);
		if (db_exec(db, migrations[v]) < 0 || db_exec(db, pragma) < 0) {
			db_rollback(db);
			return -1;
		}
	}
	return db_commit(db);
}

enum db_result db_exec(struct db *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) == SQLITE_OK)
		return DB_DONE;
	enum db_result rc = db_result_of(sqlite3_extended_errcode(db->h));
	error("%s: %s", db->path, msg ? msg : sqlite3_errmsg(db->h));
	sqlite3_free(msg);
	return rc == DB_DONE ? DB_FAILED : rc;
}

enum db_result db_begin(struct db *db)
{
	return db_exec(db, "BEGIN IMMEDIATE");
}

enum db_result db_try_begin(struct db *db)
{
	int rc = sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return DB_DONE;
	if (db_result_of(sqlite3_extended_errcode(db->h)) == DB_BUSY)
		return DB_BUSY;
	return db_fail(db, "beginning a transaction");
}

enum db_result db_commit(struct db *db)
{
	return db_exec(db, "COMMIT");
}

void db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int db_shadow(struct db *db, const char *const tables[])
{
	sqlite3_stmt *st =
		db_prepare(db, "SELECT type, sql FROM main.sqlite_master WHERE "
			       "tbl_name = ? AND sql IS NOT NULL ORDER BY type = 'index'");
	int rc = st ? 0 : -1;
	for (int i = 0; rc == 0 && tables[i]; i++) {
		sqlite3_bind_text(st, 1, tables[i], -1, SQLITE_STATIC);
		while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
			const char *type = (const char *)sqlite3_column_text(st, 0);
			const char *sql = (const char *)sqlite3_column_text(st, 1);
			/* CREATE TABLE t -> CREATE TEMP TABLE t;
			 * CREATE [UNIQUE] INDEX i ON t -> ... INDEX temp.i ON t */
			const char *at =
				strcmp(type, "table") ? strstr(sql, "INDEX ") + 6 : sql + 7;
			char *copy = sqlite3_mprintf("%.*s%s%s", (int)(at - sql), sql,
						     strcmp(type, "table") ? "temp." : "TEMP ", at);
			rc = db_exec(db, copy);
			sqlite3_free(copy);
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

sqlite3_stmt *db_prepare(struct db *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		db_fail(db, "SQL error");
		return NULL;
	}
	return st;
}
