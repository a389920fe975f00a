/*
 * db.h — the SQLite database: connection, schema, migrations, transactions.
 *
 * The schema is versioned with PRAGMA user_version; db_migrate brings any
 * older rollcall database up to date and is harmless to run twice. Every
 * other command refuses a database whose version it does not know.
 */
#ifndef ROLLCALL_DB_H
#define ROLLCALL_DB_H

#include <pthread.h>
#include <sqlite3.h>

#define DB_SCHEMA_VERSION 8

/* What a call that can fail did, in the manner of curl's CURLcode: the
 * caller that handles a failure decides from the result of the very call
 * that failed, never from a state the connection keeps. Failures are
 * negative, so that every `< 0` test of a caller still means failure and
 * `return rc` carries the kind up unchanged; code that knows no better and
 * returns -1 says DB_FAILED, the kind that stops the service. */
enum db_result {
	DB_DONE = 0,
	DB_FAILED = -1, /* any failure but the two below (a damaged database, an SQL
			 * error, out of memory, a thread that cannot start):
			 * reported, and not worth trying again */
	DB_BUSY = -2,	/* another connection kept the write lock past the busy
			 * timeout: try again later */
	DB_FULL = -3,	/* the disk refused a write (full, or the file size limit):
			 * try again with less to write */
};

struct db {
	sqlite3 *h;
	char *path;
	/* Set while threads share the connection (engine.c: policies run on
	 * several threads in a batch): the modules whose SQL those threads
	 * reach (actions.c, register.c's history extension) take it. A
	 * recursive mutex; NULL when one thread has the connection. */
	pthread_mutex_t *shared;
};

static inline void db_lock(struct db *db)
{
	if (db->shared)
		pthread_mutex_lock(db->shared);
}

static inline void db_unlock(struct db *db)
{
	if (db->shared)
		pthread_mutex_unlock(db->shared);
}

enum { DB_EXISTING, DB_CREATE, DB_READONLY };

/* Open path: DB_EXISTING, DB_CREATE (make the file, mode 0600, if missing)
 * or DB_READONLY (nothing can be written but TEMP tables). Reports errors
 * naming the file; returns 0 or a failure. */
int db_open(struct db *db, const char *path, int mode);
void db_close(struct db *db);

/* Create or migrate the schema, set WAL mode. Returns 0 or -1. */
int db_migrate(struct db *db);

/* Refuse a database that is not at DB_SCHEMA_VERSION. */
int db_check_version(struct db *db);

/* Run SQL with no results; reports the error. Returns DB_DONE or the
 * failure. */
enum db_result db_exec(struct db *db, const char *sql);

/* How long a connection waits for another's write lock before SQLITE_BUSY. */
#define DB_BUSY_MS 5000

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. db_begin is DB_BUSY when another
 * connection kept the write lock past the busy timeout (reported). */
enum db_result db_begin(struct db *db);
/* BEGIN IMMEDIATE for a caller with other work to get on with: the same,
 * but DB_BUSY is not reported (try again later). */
enum db_result db_try_begin(struct db *db);
enum db_result db_commit(struct db *db);
void db_rollback(struct db *db);

/* Step st, a statement that gives no row (an INSERT, UPDATE or DELETE),
 * and reset it: DB_DONE, or the failure as db_fail reports it with what. */
enum db_result db_step_done(struct db *db, sqlite3_stmt *st, const char *what);

/* Prepare a statement; reports the error and returns NULL on failure. */
sqlite3_stmt *db_prepare(struct db *db, const char *sql);

/* Give this connection TEMP copies of tables (their columns and indexes,
 * none of their rows): unqualified names then mean the copies, so code
 * that records into them changes nothing in the database. NULL-terminated
 * list. Returns 0 or -1. */
int db_shadow(struct db *db, const char *const tables[]);

/* Report the connection's last error as "PATH: what: message"; returns
 * what it was (db_result_of). */
enum db_result db_fail(struct db *db, const char *what);

/* What a SQLite result code (extended or primary) means to a caller: busy
 * (the lock), full (a write the disk refused), else failed. */
enum db_result db_result_of(int sqlite_code);

/* "busy", "full" or "failed", for the log. */
const char *db_result_name(enum db_result rc);

#endif
