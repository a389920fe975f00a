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

#define DB_SCHEMA_VERSION 6

struct db {
	sqlite3 *h;
	char *path;
	int err; /* the SQLite result code of the last failure reported */
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
 * naming the file; returns 0 or -1. */
int db_open(struct db *db, const char *path, int mode);
void db_close(struct db *db);

/* Create or migrate the schema, set WAL mode. Returns 0 or -1. */
int db_migrate(struct db *db);

/* Refuse a database that is not at DB_SCHEMA_VERSION. */
int db_check_version(struct db *db);

/* Run SQL with no results; reports the error. Returns 0 or -1. */
int db_exec(struct db *db, const char *sql);

/* How long a connection waits for another's write lock before SQLITE_BUSY. */
#define DB_BUSY_MS 5000

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int db_begin(struct db *db);
/* BEGIN IMMEDIATE for a caller with other work to get on with: 0 begun, 1
 * another connection kept the write lock past the busy timeout (nothing is
 * reported: try again later), -1 on any other error (reported). */
int db_try_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Prepare a statement; reports the error and returns NULL on failure. */
sqlite3_stmt *db_prepare(struct db *db, const char *sql);

/* Give this connection TEMP copies of tables (their columns and indexes,
 * none of their rows): unqualified names then mean the copies, so code
 * that records into them changes nothing in the database. NULL-terminated
 * list. Returns 0 or -1. */
int db_shadow(struct db *db, const char *const tables[]);

/* Report the connection's last error as "PATH: what: message". */
int db_fail(struct db *db, const char *what);

/* 1 if the last failure was another connection holding the lock for longer
 * than the busy timeout: worth trying again later, not a broken database. */
int db_busy(const struct db *db);

/* 1 if the last failure was a write the disk refused (full, or the file
 * size limit): worth trying again with less to write, not a broken
 * database. */
int db_full(const struct db *db);

#endif
