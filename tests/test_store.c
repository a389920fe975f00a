/*
 * test_store.c — the database side of ingest: schema migration, storing
 * marks, amendments and their history, repeats that change nothing, the
 * incoming table, rejects, and histories that span academic years.
 */
#include "testutil.h"
#include "db.h"
#include "ingest.h"
#include "register.h"

#include <unistd.h>

struct fixture {
	char *dir;
	char path[600];
	struct db db;
	struct ingest in;
};

static long long one(struct db *db, const char *sql)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static const char *text(struct db *db, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

static void row_of(struct row *r, const char *const *fields)
{
	memset(r, 0, sizeof *r);
	for (int i = 0; i < ROW_MAX_COLUMNS && fields[i]; i++) {
		r->s[i] = *fields[i] ? fields[i] : NULL;
		r->len[i] = (int)strlen(fields[i]);
	}
}

static int add(struct fixture *fx, enum row_kind kind, const char *const *fields)
{
	struct row r;
	char why[256] = "";
	row_of(&r, fields);
	int rc = ingest_row(&fx->in, kind, &r, why, sizeof why);
	if (rc)
		print_message("refused: %s\n", why);
	return rc;
}

#define ROW(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define PUPIL	 "B801200005001"

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	fx->dir = temp_dir();
	snprintf(fx->path, sizeof fx->path, "%s/t.db", fx->dir);
	assert_int_equal(db_open(&fx->db, fx->path, 1), 0);
	assert_int_equal(db_migrate(&fx->db), 0);
	assert_int_equal(ingest_open(&fx->in, &fx->db), 0);
	assert_int_equal(db_begin(&fx->db), 0);
	assert_int_equal(add(fx, KIND_SCHOOLS, ROW("100001", "Eccles High", "355", "TR00092", "")),
			 0);
	assert_int_equal(add(fx, KIND_SCHOOLS, ROW("100002", "Hove Park", "846", "", "")), 0);
	assert_int_equal(add(fx, KIND_PUPILS, ROW(PUPIL, "100001", "9", "0", "N", "1")), 0);
	assert_int_equal(db_commit(&fx->db), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	ingest_close(&fx->in);
	db_close(&fx->db);
	remove_tree(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

static void store(struct fixture *fx)
{
	fx->in.added = fx->in.amended = fx->in.unchanged = fx->in.pupils_changed = 0;
	assert_int_equal(db_begin(&fx->db), 0);
	ingest_begin(&fx->in);
	assert_int_equal(ingest_store(&fx->in), 0);
	assert_int_equal(db_commit(&fx->db), 0);
}

/* A file stored in several batches, with marks in two academic years, is
 * one change per pupil per transaction: evaluated once, not once a store. */
static void a_pupil_is_noted_once_per_transaction(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(db_begin(&fx->db), 0);
	ingest_begin(&fx->in);
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-07-01", "AM", "N")), 0);
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-09-01", "AM", "N")), 0);
	assert_int_equal(ingest_store(&fx->in), 0);
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-09-02", "AM", "/")), 0);
	assert_int_equal(ingest_store(&fx->in), 0);
	assert_int_equal(db_commit(&fx->db), 0);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM changes"), 1);
	assert_int_equal(fx->in.pupils_changed, 1);
	/* the next transaction notes it again */
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-09-03", "AM", "/")), 0);
	store(fx);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM changes"), 2);
}

static void init_is_versioned_wal_and_idempotent(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(one(&fx->db, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	char mode[16];
	assert_string_equal(text(&fx->db, "PRAGMA journal_mode", mode, sizeof mode), "wal");
	assert_int_equal(db_migrate(&fx->db), 0); /* again: harmless */
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM pupils"), 1);
	assert_int_equal(db_check_version(&fx->db), 0);
}

static void amendment_replaces_and_keeps_history(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-09-01", "AM", "N")), 0);
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-09-01", "PM", "N")), 0);
	store(fx);
	assert_int_equal(fx->in.added, 2);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM marks"), 2);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM changes"), 1);

	/* the same marks again change nothing */
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-09-01", "AM", "N")), 0);
	store(fx);
	assert_int_equal(fx->in.unchanged, 1);
	assert_int_equal(fx->in.pupils_changed, 0);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM mark_history"), 0);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM changes"), 1);

	/* N -> I: the reason was established */
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-09-01", "AM", "I")), 0);
	store(fx);
	assert_int_equal(fx->in.amended, 1);
	char code[8];
	assert_string_equal(text(&fx->db, "SELECT code FROM marks WHERE session = 'AM'", code, 8),
			    "I");
	assert_string_equal(text(&fx->db, "SELECT code FROM mark_history", code, 8), "N");
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM marks"), 2);

	/* and the figures follow the amendment */
	struct registers reg;
	struct history h = { 0 };
	struct figures f;
	struct window w = { .kind = WINDOW_ACADEMIC_YEAR };
	assert_int_equal(register_open(&reg, &fx->db), 0);
	assert_int_equal(register_history(&reg, 1, 0, &h), 0);
	assert_int_equal(stats_window(&h, &w, &f), 0);
	assert_int_equal(f.authorised, 1);
	assert_int_equal(f.unauthorised, 1);
	history_free(&h);
	register_close(&reg);
}

/* Two versions of one slot in a batch: the later one wins, the earlier one
 * is history, exactly as if they had come in two batches. */
static void later_row_in_a_batch_amends_the_earlier(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-09-02", "AM", "N")), 0);
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-09-02", "AM", "M")), 0);
	store(fx);
	char code[8];
	assert_string_equal(text(&fx->db, "SELECT code FROM marks", code, 8), "M");
	assert_string_equal(text(&fx->db, "SELECT code FROM mark_history", code, 8), "N");
	assert_int_equal(fx->in.added, 1);
	assert_int_equal(fx->in.amended, 1);
}

static void invalid_marks_say_why(void **state)
{
	struct fixture *fx = *state;
	struct {
		const char *const *fields;
		const char *why;
	} cases[] = {
		{ ROW("B207000016049", "100001", "2025-09-01", "AM", "/"), "wrong check letter" },
		{ ROW(PUPIL, "100001", "2025-02-29", "AM", "/"), "real calendar date" },
		{ ROW(PUPIL, "100001", "2025-09-01", "XX", "/"), "must be AM or PM" },
		{ ROW(PUPIL, "100001", "2025-09-01", "AM", "Q9"), "not a DfE attendance code" },
		{ ROW(PUPIL, "100001", "2024-09-02", "AM", "H"), "pre-2024 code" },
		{ ROW(PUPIL, "100001", "2024-08-16", "AM", "K"), "valid only from 2024-08-19" },
		{ ROW(PUPIL, "100001", "2025-09-01", "AM", "-"), "no mark yet" },
		{ ROW("P207000016049", "100001", "2025-09-01", "AM", "/"), "unknown pupil" },
		{ ROW(PUPIL, "999999", "2025-09-01", "AM", "/"), "unknown school" },
		{ ROW(PUPIL, "100002", "2025-09-01", "AM", "/"), "on roll at urn 100001" },
		{ ROW(PUPIL, "100001", "2025-09-01", "AM", "L", "-5"), "minutes_late" },
		{ ROW(PUPIL, "100001", "2025-09-01", "AM", "L", "5", "yesterday"), "recorded_at" },
		{ ROW(PUPIL, "100001", "2025-09-01", "AM", "L", "5", "2025-09-15T-1:-5"),
		  "recorded_at" },
		{ ROW(PUPIL, "100001", "2025-09-01", "AM", "L", "5", "2025-09-15T 8: 5"),
		  "recorded_at" },
		{ ROW(PUPIL, "100001", "2025-09-01", "AM", "L", "5", "2025-09-15T08:05+1:00"),
		  "recorded_at" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct row r;
		char why[256] = "";
		row_of(&r, cases[i].fields);
		assert_int_equal(ingest_row(&fx->in, KIND_MARKS, &r, why, sizeof why), 1);
		if (!strstr(why, cases[i].why))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, why, cases[i].why);
	}
	assert_int_equal(fx->in.nmarks, 0);
	/* pre-2024 codes are fine in their time */
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2023-09-04", "AM", "H")), 0);
	assert_int_equal(
		add(fx, KIND_MARKS,
		    ROW(PUPIL, "100001", "2025-09-01", "AM", "L", "12", "2025-09-01T08:52:00Z")),
		0);
}

static void incoming_rows_are_moved_or_rejected(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(db_exec(&fx->db,
				 "INSERT INTO incoming(upn, urn, date, session, code) VALUES"
				 "('" PUPIL "', 100001, '2025-09-01', 'AM', '/'),"
				 "('" PUPIL "', '100001', '2025-09-01', 'PM', 'Q9'),"
				 "('P207000016049', 100001, '2025-09-01', 'AM', '/'),"
				 "(NULL, NULL, NULL, NULL, NULL)"),
			 0);
	long rejected;
	assert_int_equal(db_begin(&fx->db), 0);
	assert_int_equal(ingest_incoming(&fx->in, 1000, &rejected), 4);
	assert_int_equal(rejected, 3);
	assert_int_equal(ingest_store(&fx->in), 0);
	assert_int_equal(db_commit(&fx->db), 0);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM incoming"), 0);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM marks"), 1);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM rejected WHERE source = 'incoming'"),
			 3);
	char why[256];
	assert_non_null(strstr(
		text(&fx->db, "SELECT reason FROM rejected WHERE line = 2", why, 256), "Q9"));
	assert_non_null(strstr(text(&fx->db, "SELECT row FROM rejected WHERE line = 2", why, 256),
			       PUPIL ",100001,2025-09-01,PM,Q9"));
	assert_non_null(
		strstr(text(&fx->db, "SELECT reason FROM rejected WHERE line = 4", why, 256),
		       "upn: missing"));
}

/* A file's rejection identical to a stored one (source, line, row, reason)
 * is not stored again, whichever process stored it; a rolled-back one does
 * not count. The incoming table's rejections are each kept: its ids are
 * reused once it empties, so the same text may be a new arrival. */
static void a_rejection_is_kept_once(void **state)
{
	struct fixture *fx = *state;
	struct ingest *in = &fx->in;
	assert_int_equal(db_begin(&fx->db), 0);
	assert_int_equal(ingest_reject_once(in, "a.csv", 3, "x,y", "bad"), 1);
	assert_int_equal(ingest_reject_once(in, "a.csv", 3, "x,y", "bad"), 0);
	assert_int_equal(ingest_reject_once(in, "a.csv", 3, "x,y", "worse"), 1);
	assert_int_equal(ingest_reject_once(in, "a.csv", 4, "x,y", "bad"), 1);
	assert_int_equal(ingest_reject_once(in, "a.csv", 3, "x,z", "bad"), 1);
	assert_int_equal(ingest_reject_once(in, "b.csv", 3, "x,y", "bad"), 1);
	assert_int_equal(ingest_reject_once(in, "a.csv", 3, "x,y", "bad"), 0);
	assert_int_equal(db_commit(&fx->db), 0);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM rejected"), 5);

	/* another run reads what is stored */
	ingest_close(in);
	assert_int_equal(ingest_open(in, &fx->db), 0);
	assert_int_equal(db_begin(&fx->db), 0);
	assert_int_equal(ingest_reject_once(in, "b.csv", 3, "x,y", "bad"), 0);
	assert_int_equal(ingest_reject_once(in, "a.csv", 4, "x,y", "bad"), 0);
	assert_int_equal(ingest_reject_once(in, "c.csv", 1, "q", "r"), 1);
	db_rollback(&fx->db);
	/* c.csv's was rolled back: it is stored the next time */
	assert_int_equal(db_begin(&fx->db), 0);
	assert_int_equal(ingest_reject_once(in, "c.csv", 1, "q", "r"), 1);
	assert_int_equal(db_commit(&fx->db), 0);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM rejected WHERE source = 'c.csv'"), 1);

	/* many rows of one file: the set grows and still finds each */
	char row[32];
	assert_int_equal(db_begin(&fx->db), 0);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 1000; i++) {
			snprintf(row, sizeof row, "row %d", i);
			assert_int_equal(ingest_reject_once(in, "d.csv", i + 2, row, "bad"),
					 round == 0);
		}
	assert_int_equal(db_commit(&fx->db), 0);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM rejected WHERE source = 'd.csv'"),
			 1000);

	assert_int_equal(db_begin(&fx->db), 0);
	assert_int_equal(ingest_reject(in, "incoming", 1, "x", "bad"), 0);
	assert_int_equal(ingest_reject(in, "incoming", 1, "x", "bad"), 0);
	assert_int_equal(db_commit(&fx->db), 0);
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM rejected WHERE source = 'incoming'"),
			 2);
}

/* A line break in a school's name or phase becomes one space; in an
 * identifier it is refused. */
static void line_breaks_in_free_text_fold_to_a_space(void **state)
{
	struct fixture *fx = *state;
	char name[256];
	assert_int_equal(db_begin(&fx->db), 0);
	assert_int_equal(
		add(fx, KIND_SCHOOLS,
		    ROW("100003", "Two \r\n\r\n Lines\rHigh\n", "355", "", "Secondary\r\n")),
		0);
	assert_int_equal(add(fx, KIND_SCHOOLS, ROW("100004", "\r\n", "355", "", "")), 1);
	assert_int_equal(add(fx, KIND_SCHOOLS, ROW("100004", "Four", "355", "TR\n1", "")), 1);
	assert_int_equal(add(fx, KIND_SCHOOLS, ROW("100004", "Four", "35\n", "", "")), 1);
	assert_int_equal(db_commit(&fx->db), 0);
	assert_string_equal(
		text(&fx->db, "SELECT name FROM schools WHERE urn = 100003", name, sizeof name),
		"Two Lines High");
	assert_string_equal(
		text(&fx->db, "SELECT phase FROM schools WHERE urn = 100003", name, sizeof name),
		"Secondary");
	assert_int_equal(one(&fx->db, "SELECT count(*) FROM schools WHERE urn = 100004"), 0);
}

/* The history is loaded from this academic year; a window reaching back into
 * the last one extends it from the registers on demand. */
static void history_extends_into_earlier_years(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2024-09-02", "AM", "/")), 0);
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-07-14", "AM", "G")), 0);
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-07-14", "PM", "G")), 0);
	assert_int_equal(add(fx, KIND_MARKS, ROW(PUPIL, "100001", "2025-09-01", "AM", "/")), 0);
	store(fx);
	struct registers reg;
	struct history h = { 0 };
	struct figures f;
	assert_int_equal(register_open(&reg, &fx->db), 0);
	assert_int_equal(reg.nyears, 2);
	assert_int_equal(register_history(&reg, 1, 2025, &h), 0);
	assert_int_equal(h.first_day, day_of("2025-09-01"));
	assert_false(h.complete);
	struct window w = { .kind = WINDOW_SCHOOL_WEEKS, .n = 2 };
	assert_int_equal(stats_window(&h, &w, &f), 0);
	assert_int_equal(f.from, day_of("2025-07-14"));
	assert_int_equal(f.unauthorised, 2);
	assert_int_equal(f.possible, 3);
	assert_int_equal(h.first_day, day_of("2024-09-01"));
	w.kind = WINDOW_SINCE;
	w.since = day_of("2024-09-01");
	assert_int_equal(stats_window(&h, &w, &f), 0);
	assert_int_equal(f.possible, 4);
	history_free(&h);

	/* asked from a year with no registers yet, it reaches back to the
	 * latest mark (a pupil who has left, or a new September) */
	memset(&h, 0, sizeof h);
	assert_int_equal(register_history(&reg, 1, 2027, &h), 0);
	int day, session, code;
	assert_int_equal(stats_latest(&h, &day, &session, &code), 1);
	assert_int_equal(day, day_of("2025-09-01"));
	assert_int_equal(stats_window(&h, &w, &f), 0);
	assert_int_equal(f.possible, 4);
	history_free(&h);
	register_close(&reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(init_is_versioned_wal_and_idempotent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(amendment_replaces_and_keeps_history, setup,
						teardown),
		cmocka_unit_test_setup_teardown(later_row_in_a_batch_amends_the_earlier, setup,
						teardown),
		cmocka_unit_test_setup_teardown(invalid_marks_say_why, setup, teardown),
		cmocka_unit_test_setup_teardown(incoming_rows_are_moved_or_rejected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(history_extends_into_earlier_years, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_rejection_is_kept_once, setup, teardown),
		cmocka_unit_test_setup_teardown(a_pupil_is_noted_once_per_transaction, setup,
						teardown),
		cmocka_unit_test_setup_teardown(line_breaks_in_free_text_fold_to_a_space, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
