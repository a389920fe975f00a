/*
 * test_faults.c — one batch under failing writes and failing allocations:
 * whatever fails, and wherever, the database is left as it was before the
 * batch, as it is after the batch's first transaction (its rows stored, not
 * yet evaluated), or as it is after the whole batch; never anything else,
 * never damaged, and a clean batch run after the failure always reaches
 * exactly what a batch with no failure reaches.
 *
 * The batch is that of `rollcall run` (engine_open, engine_load_policies
 * from a policies directory, engine_batch, engine_close, db_close), run
 * in-process from librollcall.a in a forked child for each N, so that a
 * stop (xmalloc aborts on out of memory, by design) is just one outcome
 * among others. Seven sweeps:
 *
 * - writes, I/O error: a VFS shim over the default one whose xWrite, xSync
 *   and xTruncate fail from the Nth call on (SQLITE_IOERR_WRITE, _FSYNC,
 *   _TRUNCATE);
 * - writes, disk full: the same with SQLITE_FULL, each failing xWrite
 *   having written the first half of its buffer, as a disk that fills in
 *   the middle of a write does;
 * - SQLite's allocations (sqlite3_config(SQLITE_CONFIG_MALLOC), before
 *   SQLite initialises): the Nth and every later one fails; and the Nth
 *   alone;
 * - statements: the Nth statement the engine's connection runs is
 *   interrupted (SQLITE_INTERRUPT, which rolls an explicit transaction
 *   back, as SQLite may on any failure), whatever it allocates or writes;
 * - every allocation in the process (malloc, calloc and realloc replaced in
 *   this program, over glibc's): SQLite's, Lua's (a policy's state), the
 *   engine's own xmalloc, jansson's; from the Nth on, and the Nth alone.
 *   Not built under a sanitizer, which replaces them itself; a realloc that
 *   shrinks never fails, as glibc's does not.
 *
 * After each run the file is opened with a clean connection (the write-
 * ahead log a dead child left is recovered, as after a crash), `PRAGMA
 * integrity_check` must say ok, and a dump of every table (and the schema)
 * must equal one of the three made by runs with no failure. Columns that
 * hold a clock reading or a random id are compared as NULL or not (see
 * masked). A batch that says it succeeded must have left the state after
 * it; one that says there was nothing to do is wrong (there always is); a
 * child that stops must have been stopped by abort(), with no sanitizer's
 * report. Then, unless the state is already the one after, a clean batch
 * must bring it there.
 *
 * Bounded: every N up to one past the number of calls a clean batch makes,
 * or an even spread of FAULTS_SWEEP_MAX of them when there are more (all
 * of them with ROLLCALL_FAULTS_ALL=1 in the environment).
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "e2e.h"

#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>

#define FAULTS_SWEEP_MAX 100 /* runs per sweep when a clean batch makes more calls */

/* ---- the faults ---- */

enum counter {
	COUNT_WRITES,	  /* xWrite, xSync, xTruncate of every file SQLite opens */
	COUNT_SQLITE,	  /* SQLite's allocations */
	COUNT_ALL,	  /* every malloc, calloc and growing realloc in the process */
	COUNT_STATEMENTS, /* statements the engine's connection starts running */
	COUNTERS
};

enum fault {
	FAULT_NONE,
	FAULT_IOERR,
	FAULT_FULL,
	FAULT_SQLITE_MALLOC,	  /* the Nth and every later one */
	FAULT_SQLITE_MALLOC_ONCE, /* the Nth alone: memory short for a moment */
	FAULT_MALLOC,
	FAULT_MALLOC_ONCE,
	FAULT_STATEMENT, /* the Nth statement run is interrupted */
};

/* What each fault fails, and whether the calls after the Nth go through
 * again (memory short for a moment) or fail too (a disk that is full). */
static const struct {
	const char *name;
	enum counter counter;
	int once;
} faults[] = {
	[FAULT_NONE] = { "none", COUNTERS, 0 },
	[FAULT_IOERR] = { "writes (I/O error)", COUNT_WRITES, 0 },
	[FAULT_FULL] = { "writes (disk full)", COUNT_WRITES, 0 },
	[FAULT_SQLITE_MALLOC] = { "SQLite's allocations", COUNT_SQLITE, 0 },
	[FAULT_SQLITE_MALLOC_ONCE] = { "one of SQLite's allocations", COUNT_SQLITE, 1 },
	[FAULT_MALLOC] = { "every allocation", COUNT_ALL, 0 },
	[FAULT_MALLOC_ONCE] = { "one allocation", COUNT_ALL, 1 },
	[FAULT_STATEMENT] = { "one statement", COUNT_STATEMENTS, 1 },
};

/* Armed only in a child, from just before engine_batch to its exit. */
static struct {
	atomic_int armed;
	enum fault fault;
	long n; /* the first call that fails */
	atomic_long calls[COUNTERS];
	atomic_int fired;
} fault;

static int fail_now(enum counter c)
{
	if (!atomic_load(&fault.armed))
		return 0;
	long k = atomic_fetch_add(&fault.calls[c], 1) + 1;
	if (faults[fault.fault].counter != c || k < fault.n ||
	    (k > fault.n && faults[fault.fault].once))
		return 0;
	atomic_store(&fault.fired, 1);
	return 1;
}

/* The VFS shim: every file is the default VFS's, behind methods that count
 * (and fail) writes, syncs and truncations and pass the rest through. */
struct shim_file {
	sqlite3_file base;
	sqlite3_file *real; /* just after this struct, szOsFile of the default VFS */
};

static sqlite3_vfs *real_vfs;

#define REAL(f) (((struct shim_file *)(f))->real)

static int shim_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int shim_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	if (fail_now(COUNT_WRITES)) {
		if (fault.fault == FAULT_IOERR)
			return SQLITE_IOERR_WRITE;
		/* the disk filled in the middle of this write */
		REAL(f)->pMethods->xWrite(REAL(f), buf, n / 2, off);
		return SQLITE_FULL;
	}
	return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	if (fail_now(COUNT_WRITES))
		return fault.fault == FAULT_IOERR ? SQLITE_IOERR_TRUNCATE : SQLITE_FULL;
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
	if (fail_now(COUNT_WRITES))
		return fault.fault == FAULT_IOERR ? SQLITE_IOERR_FSYNC : SQLITE_FULL;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int shim_lock(sqlite3_file *f, int level)
{
	return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int shim_unlock(sqlite3_file *f, int level)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int shim_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int shim_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int shim_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int shim_device(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int shim_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), page, size, extend, p);
}

static int shim_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int shim_shm_unmap(sqlite3_file *f, int delete)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), delete);
}

static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, p);
}

static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_io = {
	3,
	shim_close,
	shim_read,
	shim_write,
	shim_truncate,
	shim_sync,
	shim_file_size,
	shim_lock,
	shim_unlock,
	shim_check_reserved,
	shim_file_control,
	shim_sector_size,
	shim_device,
	shim_shm_map,
	shim_shm_lock,
	shim_shm_barrier,
	shim_shm_unmap,
	shim_fetch,
	shim_unfetch,
};

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out)
{
	(void)vfs;
	struct shim_file *f = (struct shim_file *)file;
	f->real = (sqlite3_file *)(f + 1);
	int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out);
	f->base.pMethods = f->real->pMethods ? &shim_io : NULL;
	return rc;
}

static int shim_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int shim_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int shim_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static int shim_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return real_vfs->xRandomness(real_vfs, n, out);
}

static int shim_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return real_vfs->xSleep(real_vfs, us);
}

static int shim_current_time(sqlite3_vfs *vfs, double *t)
{
	(void)vfs;
	return real_vfs->xCurrentTime(real_vfs, t);
}

static int shim_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return real_vfs->xGetLastError(real_vfs, n, out);
}

static int shim_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
	(void)vfs;
	return real_vfs->xCurrentTimeInt64(real_vfs, t);
}

static sqlite3_vfs shim_vfs = {
	.iVersion = 2,
	.zName = "rollcall-faults",
	.xOpen = shim_open,
	.xDelete = shim_delete,
	.xAccess = shim_access,
	.xFullPathname = shim_full_pathname,
	.xRandomness = shim_randomness,
	.xSleep = shim_sleep,
	.xCurrentTime = shim_current_time,
	.xGetLastError = shim_last_error,
	.xCurrentTimeInt64 = shim_current_time_int64,
};

/* SQLite's allocator: glibc's, counted. */
static void *sq_malloc(int n)
{
	return fail_now(COUNT_SQLITE) ? NULL : malloc((size_t)n);
}

static void sq_free(void *p)
{
	free(p);
}

static void *sq_realloc(void *p, int n)
{
	if ((size_t)n > malloc_usable_size(p) && fail_now(COUNT_SQLITE))
		return NULL;
	return realloc(p, (size_t)n);
}

static int sq_size(void *p)
{
	return (int)malloc_usable_size(p);
}

static int sq_roundup(int n)
{
	return (n + 7) & ~7;
}

static int sq_init(void *arg)
{
	(void)arg;
	return SQLITE_OK;
}

static void sq_shutdown(void *arg)
{
	(void)arg;
}

static const sqlite3_mem_methods sq_methods = {
	sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup, sq_init, sq_shutdown, NULL,
};

/* Every allocation of the process: malloc, calloc and realloc replaced in
 * this program over glibc's own (glibc documents replacing them; memalign
 * and free stay glibc's, which is the same allocator). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define REPLACE_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
	__has_feature(memory_sanitizer)
#define REPLACE_MALLOC 0
#endif
#endif
#if !defined(REPLACE_MALLOC) && defined(__GLIBC__)
#define REPLACE_MALLOC 1
#endif
#ifndef REPLACE_MALLOC
#define REPLACE_MALLOC 0
#endif

#if REPLACE_MALLOC
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);

void *malloc(size_t n)
{
	if (fail_now(COUNT_ALL)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	if (fail_now(COUNT_ALL)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	if (n > (p ? malloc_usable_size(p) : 0) && fail_now(COUNT_ALL)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, n);
}
#endif

/* Statements: each one the engine's connection starts is counted (a trace
 * callback) and the Nth alone is interrupted at its first check (the
 * progress handler, called at every check): it fails with
 * SQLITE_INTERRUPT, and SQLite rolls the transaction back if it was an
 * INSERT, UPDATE or DELETE, as it may on any failure. Every statement of
 * the batch fails in turn, whatever it allocates or writes. */
static atomic_int interrupting;

static int on_statement(unsigned type, void *arg, void *stmt, void *sql)
{
	(void)type;
	(void)arg;
	(void)stmt;
	(void)sql;
	atomic_store(&interrupting, fail_now(COUNT_STATEMENTS));
	return 0;
}

static int on_progress(void *arg)
{
	(void)arg;
	return atomic_load(&interrupting);
}

/* ---- the scenario ---- */

static struct e2e *e;
static char db_path[PATH_MAX + 32], conf_path[PATH_MAX + 32], log_path[PATH_MAX + 32];
static char *before_bytes; /* the database file before the batch */
static size_t before_size;
static char *ref[3]; /* dumps: before, stored (first transaction only), after */
static const char *const ref_names[] = { "before the batch", "stored, not yet evaluated",
					 "after the batch" };
enum { BEFORE, STORED, AFTER };

/* Council 355's policy: a pupil with an open case has it closed; one
 * without is sent a letter (which opens a case) and referred (no referral
 * endpoint: no_endpoint); each is alerted with figures in its data. So the
 * batch writes marks, registers, a mark's history, a reject, changes, the
 * cursor, actions of every kind, cases opened and closed, deliveries
 * pending and without an endpoint, and policy_health. */
static const char policy[] =
	"policy { org = 'la:355', name = 'Faults', endpoints = { alert = 'hook', legal = 'hook' "
	"} }\n"
	"function on_pupil(p)\n"
	"  local w = p:window{ school_weeks = 2 }\n"
	"  alert(p, 'seen', { severity = 'low', cooldown_days = 0,\n"
	"    data = { possible = w.possible, unauthorised = w.unauthorised } })\n"
	"  if p.case then\n"
	"    close_case(p, 'attendance reviewed')\n"
	"  else\n"
	"    legal_step(p, 'letter', { reason = '10 unauthorised sessions' })\n"
	"    refer_mentor(p, { message = 'persistent absence' })\n"
	"  end\n"
	"end\n";

/* The rows the batch takes from incoming: a day for three of 355's pupils
 * (H for the first time: a case opens; J and Y have one: it closes), one
 * for 846's (no policy), an amendment of one of J's marks (its history), and
 * a row that is refused. */
static const char incoming[] = "INSERT INTO incoming(upn, urn, date, session, code) VALUES "
			       "('J355400120001', 135001, '2025-09-15', 'AM', 'O'),"
			       "('J355400120001', 135001, '2025-09-15', 'PM', 'O'),"
			       "('Y355400120002', 135001, '2025-09-15', 'AM', '/'),"
			       "('Y355400120002', 135001, '2025-09-15', 'PM', '\\'),"
			       "('H355210120003', 105210, '2025-09-15', 'AM', 'N'),"
			       "('H355210120003', 105210, '2025-09-15', 'PM', 'G'),"
			       "('V846410120004', 146410, '2025-09-15', 'AM', '/'),"
			       "('J355400120001', 135001, '2025-09-12', 'AM', 'O'),"
			       "('J355400120001', 135001, '2025-09-16', 'AM', 'Q9');";

/* Columns whose values are a clock reading (SQLite's 'now', time()) or
 * random (webhook ids): compared as NULL or not. */
static const char *const masked[] = {
	"received_at", "rejected_at", "replaced_at",	"created_at", "webhook_id", "delivered_at",
	"since",       "set_at",      "last_failed_at", "cut_off",    "updated_at", "first_loaded",
	"last_loaded", NULL,
};

static int is_masked(const char *column)
{
	for (int i = 0; masked[i]; i++)
		if (!strcmp(masked[i], column))
			return 1;
	return 0;
}

struct text {
	char *s;
	size_t len, cap;
};

static void put(struct text *t, const char *s)
{
	size_t n = strlen(s);
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		assert_non_null(t->s);
	}
	memcpy(t->s + t->len, s, n + 1);
	t->len += n;
}

static void put_rows(struct text *t, sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row = (const char *)sqlite3_column_text(st, 0);
		put(t, row ? row : "NULL");
		put(t, "\n");
	}
	if (rc != SQLITE_DONE)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

/* The database as text: its version, its schema, and every row of every
 * table in key order. Checks integrity first. The caller frees it. */
static char *dump(void)
{
	sqlite3 *db;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		fail_msg("%s: %s", db_path, sqlite3_errmsg(db));
	struct text t = { 0 };
	put_rows(&t, db, "PRAGMA integrity_check");
	if (strcmp(t.s, "ok\n") != 0)
		fail_msg("%s: integrity_check says:\n%s", db_path, t.s);
	t.len = 0;
	put_rows(&t, db, "SELECT 'user_version ' || user_version FROM pragma_user_version");
	put_rows(&t, db,
		 "SELECT type || ' ' || name || ' ' || tbl_name || ' ' || coalesce(sql, '') FROM "
		 "sqlite_master ORDER BY type, name");
	sqlite3_stmt *tables;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT name FROM sqlite_master WHERE type = 'table' "
					    "AND name NOT LIKE 'sqlite_%' ORDER BY name",
					    -1, &tables, NULL),
			 SQLITE_OK);
	while (sqlite3_step(tables) == SQLITE_ROW) {
		const char *table = (const char *)sqlite3_column_text(tables, 0);
		struct text q = { 0 }, order = { 0 };
		char part[512];
		snprintf(part, sizeof part, "SELECT '%s:'", table);
		put(&q, part);
		sqlite3_stmt *cols;
		snprintf(part, sizeof part, "SELECT name, pk FROM pragma_table_info('%s')", table);
		assert_int_equal(sqlite3_prepare_v2(db, part, -1, &cols, NULL), SQLITE_OK);
		int pk = 0;
		while (sqlite3_step(cols) == SQLITE_ROW) {
			const char *c = (const char *)sqlite3_column_text(cols, 0);
			if (is_masked(c))
				snprintf(part, sizeof part,
					 " || ' %s=' || CASE WHEN \"%s\" IS NULL THEN 'NULL' ELSE "
					 "'*' END",
					 c, c);
			else if (!strcmp(table, "meta") && !strcmp(c, "value"))
				snprintf(part, sizeof part,
					 " || ' value=' || CASE WHEN key = 'evaluated_at' THEN '*' "
					 "ELSE quote(value) END");
			else
				snprintf(part, sizeof part, " || ' %s=' || quote(\"%s\")", c, c);
			put(&q, part);
			if (sqlite3_column_int(cols, 1)) {
				snprintf(part, sizeof part, "%s\"%s\"", pk++ ? ", " : "", c);
				put(&order, part);
			}
		}
		sqlite3_finalize(cols);
		/* WITHOUT ROWID tables have none: their key orders them */
		snprintf(part, sizeof part, "SELECT rowid FROM \"%s\"", table);
		sqlite3_stmt *probe;
		int rowid = sqlite3_prepare_v2(db, part, -1, &probe, NULL) == SQLITE_OK;
		sqlite3_finalize(probe);
		snprintf(part, sizeof part, " FROM \"%s\" ORDER BY %s", table,
			 rowid ? "rowid" : order.s);
		put(&q, part);
		put_rows(&t, db, q.s);
		free(q.s);
		free(order.s);
	}
	sqlite3_finalize(tables);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return t.s;
}

/* The database file as it was before the batch, written back over the
 * same file (its device and inode are in meta: the same file, then), and
 * no write-ahead log. */
static void restore(void)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s-wal", db_path);
	unlink(path);
	snprintf(path, sizeof path, "%s-shm", db_path);
	unlink(path);
	int fd = open(db_path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, before_bytes, before_size), (ssize_t)before_size);
	assert_int_equal(close(fd), 0);
}

static void quiet(const char *path, const char *err, int kept)
{
	(void)path;
	(void)kept;
	fprintf(stderr, "policy not loaded: %s\n", err);
}

static int interrupt_always(void *arg)
{
	(void)arg;
	return 1;
}

/* What a child said before it exited (nothing if it was stopped). */
struct report {
	int said;  /* 1 if it got as far as saying it */
	int batch; /* engine_batch's result */
	long calls[COUNTERS];
	int fired;  /* a call was failed */
	int signal; /* that stopped it, or 0 */
};

/* In the child: the service's batch, with fault armed just before it. */
static int child_batch(enum fault f, long n, int interrupt)
{
	struct config cfg;
	struct db db;
	struct engine en;
	struct batch_stats st;
	/* as `rollcall --config rollcall.conf run` in its directory: the
	 * policies' paths, in policy_health, are those the setup's run kept */
	if (chdir(e->dir) < 0 || config_load(&cfg, "rollcall.conf", 0) < 0 ||
	    db_open(&db, "rollcall.db", DB_EXISTING) < 0 || db_check_version(&db) < 0 ||
	    engine_open(&en, &db, &cfg) < 0)
		return 100;
	if (engine_load_policies(&en, NULL, 0, quiet) != 0 || en.set.npolicies != 1)
		return 101;
	if (interrupt)
		en.interrupted = interrupt_always;
	/* a page cache this small spills to the log in the middle of a
	 * transaction, so that writes fail inside statements too, not only
	 * at COMMIT, as they do in a batch bigger than the cache */
	if (sqlite3_exec(db.h, "PRAGMA cache_size = 4", NULL, NULL, NULL) != SQLITE_OK)
		return 102;
	sqlite3_trace_v2(db.h, SQLITE_TRACE_STMT, on_statement, NULL);
	sqlite3_progress_handler(db.h, 1, on_progress, NULL);
	fault.fault = f;
	fault.n = n;
	atomic_store(&fault.armed, 1);
	int rc = engine_batch(&en, &st);
	engine_close(&en);
	db_close(&db);
	atomic_store(&fault.armed, 0);
	config_free(&cfg);
	return rc;
}

static struct report run_child(enum fault f, long n, int interrupt)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		struct rlimit none = { 0, 0 };
		setrlimit(RLIMIT_CORE, &none); /* a stop is an outcome, not a core file */
		alarm(30);		       /* a hang fails the run */
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		close(fd);
		struct report r = { .said = 1 };
		r.batch = child_batch(f, n, interrupt);
		for (int c = 0; c < COUNTERS; c++)
			r.calls[c] = atomic_load(&fault.calls[c]);
		r.fired = atomic_load(&fault.fired);
		if (write(p[1], &r, sizeof r) != (ssize_t)sizeof r)
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	struct report r = { 0 };
	if (read(p[0], &r, sizeof r) != (ssize_t)sizeof r)
		memset(&r, 0, sizeof r);
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	if (r.signal == SIGALRM)
		fail_msg("%s, N = %ld: the batch hung (see %s)", faults[f].name, n, log_path);
	/* A stop is abort(): xmalloc's on out of memory, or Lua's panic. A
	 * NULL followed (SIGSEGV) or a sanitizer's report is a bug. */
	char log[8192] = "";
	FILE *fl = fopen(log_path, "r");
	if (fl) {
		log[fread(log, 1, sizeof log - 1, fl)] = '\0';
		fclose(fl);
	}
	if ((!r.said && r.signal != SIGABRT) || strstr(log, "Sanitizer") ||
	    strstr(log, "runtime error:"))
		fail_msg("%s, N = %ld: the child %s %d:\n%s", faults[f].name, n,
			 r.signal ? "was stopped by signal" : "exited with",
			 r.signal ? r.signal : WEXITSTATUS(status), log);
	if (r.said && r.batch >= 100)
		fail_msg("%s, N = %ld: the child could not set the batch up (%d)", faults[f].name,
			 n, r.batch);
	return r;
}

/* Which reference state the database is in, or -1. */
static int state_now(char **got)
{
	*got = dump();
	for (int i = BEFORE; i <= AFTER; i++)
		if (!strcmp(*got, ref[i]))
			return i;
	return -1;
}

/* Where got differs from the reference state closest to it, as diff -u
 * gives it (its first lines), for the failure message. */
static void difference(const char *got, char *out, size_t size)
{
	int closest = BEFORE;
	size_t best = (size_t)-1;
	for (int i = BEFORE; i <= AFTER; i++) {
		size_t k = 0; /* the length of the common beginning */
		while (got[k] && got[k] == ref[i][k])
			k++;
		size_t rest = strlen(got) - k + strlen(ref[i]) - k;
		if (rest < best) {
			best = rest;
			closest = i;
		}
	}
	char a[PATH_MAX + 64], b[PATH_MAX + 64], cmd[PATH_MAX * 3];
	snprintf(a, sizeof a, "%s/want.txt", e->dir);
	snprintf(b, sizeof b, "%s/got.txt", e->dir);
	write_file(a, ref[closest]);
	write_file(b, got);
	snprintf(cmd, sizeof cmd, "diff -u '%s' '%s' | head -40", a, b);
	int n = snprintf(out, size, "closest to the state %s:\n", ref_names[closest]);
	FILE *p = popen(cmd, "r");
	if (p) {
		out[n + fread(out + n, 1, size - (size_t)n - 1, p)] = '\0';
		pclose(p);
	}
}

static void fail_state(enum fault f, long n, const struct report *r, const char *got,
		       const char *what)
{
	char diff[8192], log[4096] = "";
	difference(got, diff, sizeof diff);
	FILE *fl = fopen(log_path, "r");
	if (fl) {
		log[fread(log, 1, sizeof log - 1, fl)] = '\0';
		fclose(fl);
	}
	fail_msg("%s, N = %ld (the batch said %d): %s; %s\nthe child's log:\n%s", faults[f].name, n,
		 r->said ? r->batch : 0, what, diff, log);
}

struct tally {
	long runs, fired, state[3], stopped, said_failed_but_committed;
};

/* One run with the Nth call failing, then the checks. */
static void one_run(enum fault f, long n, struct tally *t)
{
	restore();
	struct report r = run_child(f, n, 0);
	char *got;
	int s = state_now(&got);
	if (s < 0)
		fail_state(f, n, &r, got, "the database is in none of the three states");
	t->runs++;
	t->fired += r.said ? r.fired : 1;
	t->state[s]++;
	t->stopped += !r.said;
	/* a batch that says it succeeded has left the state after it, and
	 * there is work to do: one that says there was none is wrong */
	if (r.said && r.batch > 0 && s != AFTER)
		fail_state(f, n, &r, got,
			   "it said it succeeded, and the database is not as after it");
	if (r.said && r.batch == 0)
		fail_state(f, n, &r, got, "it said there was nothing to do");
	/* a full disk is said to be one, wherever the write failed: the
	 * service shrinks its batches for it, and stops for anything else */
	if (f == FAULT_FULL && r.said && r.batch < 0 && r.batch != DB_FULL)
		fail_state(f, n, &r, got, "a full disk was not said to be one (DB_FULL)");
	/* a write the batch was told failed may still be in the log: a failed
	 * fsync after the commit frame was written */
	t->said_failed_but_committed += r.said && r.batch < 0 && s == AFTER;
	free(got);
	if (s == AFTER)
		return;
	/* and a clean batch takes it to the state after, whatever was left */
	struct report again = run_child(FAULT_NONE, 0, 0);
	assert_true(again.said);
	assert_int_equal(again.batch, 1);
	s = state_now(&got);
	if (s != AFTER)
		fail_state(f, n, &again, got,
			   "a clean batch after it did not reach the state after");
	free(got);
}

static double seconds_since(long long t0)
{
	return (double)(e2e_now_ms() - t0) / 1000;
}

static void sweep(enum fault f, long total)
{
	long long t0 = e2e_now_ms();
	int all = getenv("ROLLCALL_FAULTS_ALL") && *getenv("ROLLCALL_FAULTS_ALL") == '1';
	/* every N up to one past the last call (which fails nothing), or a
	 * spread of them */
	long last = total + 1, runs = all || last <= FAULTS_SWEEP_MAX ? last : FAULTS_SWEEP_MAX;
	struct tally t = { 0 };
	for (long i = 0; i < runs; i++)
		one_run(f, runs == last ? i + 1 : 1 + i * (last - 1) / (runs - 1), &t);
	print_message("%s: %ld calls in a clean batch, %ld runs (%ld failed a call): %ld before, "
		      "%ld stored, %ld after (%ld of them said it failed), %ld stopped by abort(); "
		      "%.1f s\n",
		      faults[f].name, total, t.runs, t.fired, t.state[BEFORE], t.state[STORED],
		      t.state[AFTER], t.said_failed_but_committed, t.stopped, seconds_since(t0));
	/* the sweep reached each outcome it is there to check */
	assert_true(t.fired >= t.runs * 9 / 10); /* a batch's calls vary a little */
	assert_true(t.state[AFTER] >= 1);
	assert_true(t.state[BEFORE] + t.state[STORED] >= 1);
}

static struct report clean;

static void failing_writes_leave_a_state_of_the_batch(void **state)
{
	(void)state;
	sweep(FAULT_IOERR, clean.calls[COUNT_WRITES]);
}

static void a_full_disk_leaves_a_state_of_the_batch(void **state)
{
	(void)state;
	sweep(FAULT_FULL, clean.calls[COUNT_WRITES]);
}

static void failing_sqlite_allocations_leave_a_state_of_the_batch(void **state)
{
	(void)state;
	sweep(FAULT_SQLITE_MALLOC, clean.calls[COUNT_SQLITE]);
}

static void one_failing_sqlite_allocation_leaves_a_state_of_the_batch(void **state)
{
	(void)state;
	sweep(FAULT_SQLITE_MALLOC_ONCE, clean.calls[COUNT_SQLITE]);
}

static void one_failing_allocation_leaves_a_state_of_the_batch(void **state)
{
	(void)state;
	if (!REPLACE_MALLOC) {
		print_message("skipped: malloc is the sanitizer's here\n");
		skip();
	}
	sweep(FAULT_MALLOC_ONCE, clean.calls[COUNT_ALL]);
}

static void each_statement_failing_leaves_a_state_of_the_batch(void **state)
{
	(void)state;
	sweep(FAULT_STATEMENT, clean.calls[COUNT_STATEMENTS]);
}

static void failing_allocations_anywhere_leave_a_state_of_the_batch(void **state)
{
	(void)state;
	if (!REPLACE_MALLOC) {
		print_message("skipped: malloc is the sanitizer's here\n");
		skip();
	}
	sweep(FAULT_MALLOC, clean.calls[COUNT_ALL]);
}

static long long count_in(const char *dumped, const char *table)
{
	long long n = 0;
	size_t len = strlen(table);
	for (const char *l = dumped; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0))
		n += !strncmp(l, table, len) && l[len] == ':';
	return n;
}

static long long count_with(const char *dumped, const char *table, const char *what)
{
	long long n = 0;
	size_t len = strlen(table);
	for (const char *l = dumped; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0)) {
		size_t line = strcspn(l, "\n");
		char *copy = strndup(l, line);
		n += !strncmp(l, table, len) && l[len] == ':' && strstr(copy, what);
		free(copy);
	}
	return n;
}

/* The pupils, the marks of J and Y, and one batch: J and Y have cases.
 * Then the rows of incoming: the state before. Then the two other
 * reference states, from runs with nothing failing. */
static int group_setup(void **state)
{
	(void)state;
	char path[PATH_MAX + 64], cmd[PATH_MAX * 3];
	e = e2e_new();
	snprintf(db_path, sizeof db_path, "%s/rollcall.db", e->dir);
	snprintf(conf_path, sizeof conf_path, "%s/rollcall.conf", e->dir);
	snprintf(log_path, sizeof log_path, "%s/child.log", e->dir);
	snprintf(path, sizeof path, "%s/policies", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/policies/la-355.lua", e->dir);
	write_file(path, policy);
	snprintf(cmd, sizeof cmd,
		 "policies = 'policies'\nscripts = '%s/scripts'\n"
		 "endpoints = { hook = { url = 'http://127.0.0.1:9/hook', secret_env = "
		 "'HOOK_SECRET' } }\n",
		 e2e_root);
	write_file(conf_path, cmd);
	snprintf(cmd, sizeof cmd, "grep -v -e '^H' -e '^V' '%s/tests/data/marks.csv' >'%s/jy.csv'",
		 e2e_root, e->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	snprintf(cmd, sizeof cmd,
		 "import '%s/tests/data/schools.csv' '%s/tests/data/pupils.csv' jy.csv", e2e_root,
		 e2e_root);
	assert_int_equal(e2e_rollcall(e, cmd), 0);
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(e2e_query(e, "SELECT count(*) FROM cases WHERE closed IS NULL"), 2);
	e2e_exec(e, incoming);

	FILE *f = fopen(db_path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	before_size = (size_t)ftell(f);
	rewind(f);
	before_bytes = malloc(before_size);
	assert_int_equal(fread(before_bytes, 1, before_size, f), before_size);
	fclose(f);

	restore();
	ref[BEFORE] = dump();
	restore();
	struct report r = run_child(FAULT_NONE, 0, 1);
	assert_true(r.said && r.batch == 1);
	ref[STORED] = dump();
	restore();
	clean = run_child(FAULT_NONE, 0, 0);
	assert_true(clean.said && clean.batch == 1 && !clean.fired);
	ref[AFTER] = dump();
	/* three states, and the batch does what the sweep is there to break */
	assert_string_not_equal(ref[BEFORE], ref[STORED]);
	assert_string_not_equal(ref[STORED], ref[AFTER]);
	assert_int_equal(count_in(ref[BEFORE], "incoming"), 9);
	assert_int_equal(count_in(ref[STORED], "incoming"), 0);
	assert_int_equal(count_in(ref[STORED], "rejected"), count_in(ref[BEFORE], "rejected") + 1);
	assert_int_equal(count_in(ref[STORED], "mark_history"), 1);
	assert_int_equal(count_in(ref[STORED], "actions"), count_in(ref[BEFORE], "actions"));
	assert_int_equal(count_with(ref[AFTER], "actions", "action='case_closed'"), 2);
	assert_int_equal(count_with(ref[AFTER], "actions", "action='legal_step'"), 3);
	assert_int_equal(count_with(ref[AFTER], "cases", "closed=NULL"), 1);
	assert_int_equal(count_with(ref[AFTER], "deliveries", "state='no_endpoint'"), 3);
	assert_true(count_with(ref[AFTER], "policy_health", "calls=3") == 1);
	print_message("a clean batch: %ld writes, syncs and truncations; %ld SQLite "
		      "allocations; %ld allocations in all; %ld statements\n",
		      clean.calls[COUNT_WRITES], clean.calls[COUNT_SQLITE], clean.calls[COUNT_ALL],
		      clean.calls[COUNT_STATEMENTS]);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		free(ref[i]);
	free(before_bytes);
	e2e_free(e);
	return 0;
}

int main(void)
{
	/* before SQLite initialises: its allocator, then the shim as the
	 * default VFS for every connection, the engine's included */
	if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sq_methods) != SQLITE_OK)
		return 1;
	real_vfs = sqlite3_vfs_find(NULL);
	if (!real_vfs)
		return 1;
	shim_vfs.szOsFile = (int)sizeof(struct shim_file) + real_vfs->szOsFile;
	shim_vfs.mxPathname = real_vfs->mxPathname;
	if (sqlite3_vfs_register(&shim_vfs, 1) != SQLITE_OK)
		return 1;
	if (e2e_init() < 0) {
		fprintf(stderr, "test_faults: build/rollcall and build/receiver are needed "
				"(make)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(failing_writes_leave_a_state_of_the_batch),
		cmocka_unit_test(a_full_disk_leaves_a_state_of_the_batch),
		cmocka_unit_test(failing_sqlite_allocations_leave_a_state_of_the_batch),
		cmocka_unit_test(one_failing_sqlite_allocation_leaves_a_state_of_the_batch),
		cmocka_unit_test(each_statement_failing_leaves_a_state_of_the_batch),
		cmocka_unit_test(failing_allocations_anywhere_leave_a_state_of_the_batch),
		cmocka_unit_test(one_failing_allocation_leaves_a_state_of_the_batch),
	};
	return cmocka_run_group_tests_name("faults", tests, group_setup, group_teardown);
}
