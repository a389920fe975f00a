/*
 * ingest.h — validating rows and storing them: schools, pupils and marks.
 *
 * There is one validator per kind of row, whichever way the row arrived (a
 * CSV file or the incoming table), so the rules cannot drift apart. Marks
 * are gathered into a batch and stored together (ingest_store): sorted so
 * that registers are rewritten in key order and new marks append, amendments
 * kept in mark_history, and every pupil whose register changed noted in
 * `changes` for evaluation. The caller owns the transaction.
 */
#ifndef ROLLCALL_INGEST_H
#define ROLLCALL_INGEST_H

#include "db.h"
#include "directory.h"
#include "register.h"

#include <stdint.h>

enum row_kind { KIND_SCHOOLS, KIND_PUPILS, KIND_MARKS, KIND_COUNT };

#define ROW_MAX_COLUMNS 7

/* The columns of each kind of row, required ones first. */
struct row_kind_info {
	const char *name;
	int required;
	const char *columns[ROW_MAX_COLUMNS + 1];
};
extern const struct row_kind_info ingest_kinds[KIND_COUNT];

/* Column indices, in the order of ingest_kinds[].columns. */
enum { SCHOOL_URN, SCHOOL_NAME, SCHOOL_LA_CODE, SCHOOL_TRUST_ID, SCHOOL_PHASE };
enum { PUPIL_UPN, PUPIL_URN, PUPIL_YEAR_GROUP, PUPIL_SOCIAL_WORKER, PUPIL_SEN, PUPIL_FSM };
enum {
	MARK_UPN,
	MARK_URN,
	MARK_DATE,
	MARK_SESSION,
	MARK_CODE,
	MARK_MINUTES_LATE,
	MARK_RECORDED_AT
};

/* One row as text; an absent optional column has s = NULL. */
struct row {
	const char *s[ROW_MAX_COLUMNS];
	int len[ROW_MAX_COLUMNS];
};

struct mark {
	uint64_t group; /* register id: academic year << 32 | pupil */
	uint32_t pos;	/* 2 * day + session */
	uint32_t pupil, urn;
	uint32_t seq;	      /* arrival order in the batch */
	uint32_t recorded_at; /* 1 + offset in the text arena, 0 if none */
	int16_t minutes_late; /* -1 if none */
	uint8_t code;
};

struct pupil_slot; /* the pupil cache, private to ingest.c */

struct ingest {
	struct db *db;
	struct registers reg;
	sqlite3_stmt *stmt[16]; /* prepared statements, indexed as in ingest.c */

	struct mark *marks;
	size_t nmarks, cap;
	char *text; /* recorded_at values of the batch */
	size_t ntext, textcap;

	struct pupil_slot *cache;
	size_t cache_cap, cache_used;
	struct directory *dir; /* if set, pupils are found in it, not the cache */

	uint8_t *noted; /* a bit per pupil id noted in `changes` this transaction */
	size_t noted_cap;

	/* Counts over the ingest_store calls since they were last zeroed. */
	long added, amended, unchanged, pupils_changed;
};

int ingest_open(struct ingest *in, struct db *db);
void ingest_close(struct ingest *in);

/* Validate a row of the given kind. Schools and pupils are stored at once
 * (upsert); marks join the batch. Returns 0 if accepted, 1 if invalid (why
 * says why, naming the field), -1 on a database error. */
int ingest_row(struct ingest *in, enum row_kind kind, const struct row *row, char *why,
	       size_t whylen);

/* Marks held before a file's batch is stored part-way (in the same
 * transaction): bounds memory, and keeps 32-bit offsets in range. */
#define INGEST_BATCH_MAX (1 << 20)

/* A transaction begins: no pupil has been noted in `changes` in it yet.
 * Whoever begins a transaction that stores marks calls this. */
void ingest_begin(struct ingest *in);

/* Store the batch of marks and empty it. Each pupil whose register changed
 * is noted in `changes` once per transaction. Returns 0 or -1. */
int ingest_store(struct ingest *in);

/* Another process has written to the database: forget cached pupils (one
 * may have moved school), reload the directory if pupils or schools
 * changed, and re-read which academic years have registers. */
int ingest_refresh(struct ingest *in);

/* Forget the batch without storing it. */
void ingest_discard(struct ingest *in);

/* Keep a row that was refused, with its reason. row is its text as CSV.
 * Returns 0 or -1. */
int ingest_reject(struct ingest *in, const char *source, long line, const char *row,
		  const char *reason);

/* The same for a row of a file, unless an identical rejection (the same
 * source, line, row and reason) is already stored: importing a file again
 * changes nothing. Returns 1 if stored, 0 if it already was, -1 on error. */
int ingest_reject_once(struct ingest *in, const char *source, long line, const char *row,
		       const char *reason);

/* Take up to limit rows from incoming (oldest first): valid ones join the
 * batch, invalid ones go to rejected, and all leave incoming. The caller
 * then calls ingest_store and commits. Returns rows taken, or -1. */
long ingest_incoming(struct ingest *in, int limit, long *rejected);

/* Format fields as one CSV line into buf (truncated to size). */
void ingest_row_csv(const struct row *row, int ncolumns, char *buf, size_t size);

#endif
