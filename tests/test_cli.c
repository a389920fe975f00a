/*
 * test_cli.c — end to end: the real rollcall binary against a real SQLite
 * file. Every hostile input in tests/hostile/ (NAME.csv with NAME.expect
 * holding the lines stderr must contain) is imported into a loaded database
 * and must exit 2 with those messages and leave every table as it was.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "e2e.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char data[PATH_MAX], hostile[PATH_MAX];

struct env {
	char *dir;
	char db[PATH_MAX];
};

struct result {
	int status;
	char out[1 << 16], err[1 << 16];
};

static void slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Run rollcall with args (a shell fragment) in directory cwd. */
static struct result *run_in(struct env *e, const char *cwd, const char *args)
{
	static struct result r;
	char cmd[5 * PATH_MAX + 4096], out[PATH_MAX + 8], err[PATH_MAX + 8];
	snprintf(out, sizeof out, "%s/out", e->dir);
	snprintf(err, sizeof err, "%s/err", e->dir);
	snprintf(cmd, sizeof cmd, "cd '%s' && %s '%s' --db '%s' %s >'%s' 2>'%s'", cwd, e2e_wrap,
		 e2e_bin, e->db, args, out, err);
	int st = system(cmd);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	slurp(out, r.out, sizeof r.out);
	slurp(err, r.err, sizeof r.err);
	return &r;
}

static struct result *run(struct env *e, const char *args)
{
	return run_in(e, e->dir, args);
}

static void loaded(struct env *e)
{
	char args[PATH_MAX * 4];
	assert_int_equal(run(e, "init")->status, 0);
	snprintf(args, sizeof args, "import '%s/marks.csv' '%s/pupils.csv' '%s/schools.csv'", data,
		 data, data);
	struct result *r = run(e, args);
	if (r->status)
		fail_msg("import failed: %s", r->err);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof *e);
	e->dir = temp_dir();
	snprintf(e->db, sizeof e->db, "%s/rollcall.db", e->dir);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	remove_tree(e->dir);
	free(e->dir);
	free(e);
	return 0;
}

/* A hash of every row of every table: equal means the database is as it was. */
static uint64_t fingerprint(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *tables, *rows;
	uint64_t h = 1469598103934665603u;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT name FROM sqlite_master WHERE type = "
					    "'table' ORDER BY name",
					    -1, &tables, NULL),
			 SQLITE_OK);
	while (sqlite3_step(tables) == SQLITE_ROW) {
		char sql[256];
		snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", sqlite3_column_text(tables, 0));
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &rows, NULL), SQLITE_OK);
		while (sqlite3_step(rows) == SQLITE_ROW)
			for (int c = 0; c < sqlite3_column_count(rows); c++) {
				const unsigned char *p = sqlite3_column_blob(rows, c);
				int n = sqlite3_column_bytes(rows, c);
				for (int i = 0; i < n; i++)
					h = (h ^ p[i]) * 1099511628211u;
				h = (h ^ (uint64_t)sqlite3_column_type(rows, c)) * 1099511628211u;
			}
		sqlite3_finalize(rows);
	}
	sqlite3_finalize(tables);
	sqlite3_close(db);
	return h;
}

static long long count(struct env *e, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(e->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void check_expectations(const char *name, const char *expect, const char *err)
{
	char line[1024];
	const char *p = expect;
	while (*p) {
		size_t n = strcspn(p, "\n");
		snprintf(line, sizeof line, "%.*s", (int)n, p);
		if (n && !strstr(err, line))
			fail_msg("%s: stderr lacks \"%s\"; it was:\n%s", name, line, err);
		p += n + (p[n] == '\n');
	}
}

static void hostile_inputs_are_refused_and_change_nothing(void **state)
{
	struct env *e = *state;
	loaded(e);
	uint64_t before = fingerprint(e->db);
	DIR *d = opendir(hostile);
	assert_non_null(d);
	struct dirent *de;
	int cases = 0;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".csv") != 0)
			continue;
		char expect_path[PATH_MAX + 300], expect[4096], args[600];
		snprintf(expect_path, sizeof expect_path, "%s/%.*s.expect", hostile, (int)n - 4,
			 de->d_name);
		slurp(expect_path, expect, sizeof expect);
		assert_true(expect[0] != '\0');
		snprintf(args, sizeof args, "import '%s'", de->d_name);
		struct result *r = run_in(e, hostile, args);
		if (r->status != 2)
			fail_msg("%s: exit %d, want 2; stderr:\n%s", de->d_name, r->status, r->err);
		check_expectations(de->d_name, expect, r->err);
		if (fingerprint(e->db) != before)
			fail_msg("%s: the database changed", de->d_name);
		cases++;
	}
	closedir(d);
	assert_true(cases >= 25);
}

static void a_ten_megabyte_field_is_refused(void **state)
{
	struct env *e = *state;
	loaded(e);
	uint64_t before = fingerprint(e->db);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/big.csv", e->dir);
	FILE *f = fopen(path, "w");
	fputs("urn,name,la_code\n135001,\"", f);
	for (int i = 0; i < 10 * 1024 * 1024; i++)
		fputc('x', f);
	fputs("\",355\n", f);
	fclose(f);
	struct result *r = run(e, "import big.csv");
	assert_int_equal(r->status, 2);
	check_expectations("big.csv", "big.csv:2: record longer than 65536 bytes", r->err);
	assert_true(fingerprint(e->db) == before);
}

static void import_counts_and_reimport_changes_nothing(void **state)
{
	struct env *e = *state;
	loaded(e);
	assert_int_equal(count(e, "SELECT count(*) FROM schools"), 3);
	assert_int_equal(count(e, "SELECT count(*) FROM pupils"), 5);
	assert_int_equal(count(e, "SELECT count(*) FROM marks"), 50);
	uint64_t before = fingerprint(e->db);
	char args[PATH_MAX * 4];
	snprintf(args, sizeof args, "import '%s/schools.csv' '%s/pupils.csv' '%s/marks.csv'", data,
		 data, data);
	struct result *r = run(e, args);
	assert_int_equal(r->status, 0);
	assert_non_null(
		strstr(r->out, "50 marks (0 new, 0 amended, 50 unchanged; 0 pupils changed)"));
	assert_true(fingerprint(e->db) == before);
	/* init again is harmless too */
	assert_int_equal(run(e, "init")->status, 0);
	assert_true(fingerprint(e->db) == before);
	/* the database is private */
	struct stat st;
	assert_int_equal(stat(e->db, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void skip_invalid_keeps_good_rows_and_every_bad_one(void **state)
{
	struct env *e = *state;
	loaded(e);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/mixed.csv", e->dir);
	write_file(path, "upn,urn,date,session,code\n"
			 "J355400120001,135001,2025-09-15,AM,/\n"
			 "J355400120001,135001,2025-09-15,PM,Q9\n"
			 "J355400120001,135001,2025-09-16,AM,\"x\"y\n"
			 "J355400120001,135001,2025-09-03,AM,I\n");
	struct result *r = run(e, "import --skip-invalid mixed.csv");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "2 marks (1 new, 1 amended, 0 unchanged; 1 pupils changed); "
				       "2 invalid rows kept in rejected"));
	assert_int_equal(count(e, "SELECT count(*) FROM marks"), 51);
	assert_int_equal(count(e, "SELECT count(*) FROM rejected WHERE source = 'mixed.csv'"), 2);
	assert_int_equal(count(e, "SELECT line FROM rejected WHERE reason LIKE 'code \"Q9\"%'"), 3);
	assert_int_equal(count(e, "SELECT count(*) FROM rejected WHERE line = 4 AND reason = "
				  "'text after a closing quote'"),
			 1);
	assert_int_equal(count(e, "SELECT count(*) FROM mark_history WHERE code = 'N'"), 1);
}

/* Importing the same file twice with --skip-invalid changes nothing: a
 * rejection identical to one stored (same source, line, row and reason) is
 * not stored again; a changed row on the same line is. */
static void skip_invalid_twice_keeps_each_rejection_once(void **state)
{
	struct env *e = *state;
	loaded(e);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/mixed.csv", e->dir);
	write_file(path, "upn,urn,date,session,code\n"
			 "J355400120001,135001,2025-09-15,AM,/\n"
			 "J355400120001,135001,2025-09-15,PM,Q9\n"
			 "J355400120001,135001,2025-09-16,AM,\"x\"y\n"
			 "B207000016049,135001,2025-09-16,PM,/\n");
	struct result *r = run(e, "import --skip-invalid mixed.csv");
	assert_int_equal(r->status, 0);
	assert_int_equal(count(e, "SELECT count(*) FROM rejected"), 3);
	uint64_t before = fingerprint(e->db);
	r = run(e, "import --skip-invalid mixed.csv");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "3 invalid rows kept in rejected (3 of them already were)"));
	assert_true(fingerprint(e->db) == before);
	/* the same file twice in one command */
	r = run(e, "import --skip-invalid mixed.csv mixed.csv");
	assert_int_equal(r->status, 0);
	assert_true(fingerprint(e->db) == before);

	/* the rows that are not the same are kept: another reason on line 3,
	 * and the same text under another file name */
	write_file(path, "upn,urn,date,session,code\n"
			 "J355400120001,135001,2025-09-15,AM,/\n"
			 "J355400120001,135001,2025-09-15,PM,Q8\n"
			 "J355400120001,135001,2025-09-16,AM,\"x\"y\n"
			 "B207000016049,135001,2025-09-16,PM,/\n");
	r = run(e, "import --skip-invalid mixed.csv");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "3 invalid rows kept in rejected (2 of them already were)"));
	assert_int_equal(count(e, "SELECT count(*) FROM rejected WHERE line = 3"), 2);
	assert_int_equal(count(e, "SELECT count(*) FROM rejected"), 4);
	r = run(e, "import --skip-invalid - < mixed.csv");
	assert_int_equal(r->status, 0);
	assert_int_equal(count(e, "SELECT count(*) FROM rejected WHERE source = '-'"), 3);
	assert_int_equal(count(e, "SELECT count(*) FROM rejected"), 7);
}

/* A line break inside a quoted school name or phase (a spreadsheet cell on
 * two lines) is folded into one space; identifiers still refuse one (see
 * tests/hostile/newline-in-trust-id.csv) and so do other control bytes. */
static void a_line_break_in_a_school_name_is_folded(void **state)
{
	struct env *e = *state;
	loaded(e);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/s.csv", e->dir);
	write_file(path, "urn,name,la_code,phase\r\n"
			 "135001,\"Eccles \r\nAcademy\",355,\"secondary\n\"\r\n"
			 "105210,\"\nIrlam\n\n  Primary\rSchool\r\n\",355,\"\r\n\"\r\n");
	struct result *r = run(e, "import s.csv");
	if (r->status != 0)
		fail_msg("import: %s", r->err);
	assert_int_equal(count(e, "SELECT count(*) FROM schools WHERE urn = 135001 AND name = "
				  "'Eccles Academy' AND phase = 'secondary'"),
			 1);
	assert_int_equal(count(e, "SELECT count(*) FROM schools WHERE urn = 105210 AND name = "
				  "'Irlam Primary School' AND phase IS NULL"),
			 1);
	uint64_t before = fingerprint(e->db);
	assert_int_equal(run(e, "import s.csv")->status, 0);
	assert_true(fingerprint(e->db) == before);

	/* a tab is still a control character, line break or not */
	write_file(path, "urn,name,la_code\n135001,\"Eccles\t\nAcademy\",355\n");
	r = run(e, "import s.csv");
	assert_int_equal(r->status, 2);
	assert_non_null(strstr(r->err, "s.csv:2: name: must be at most 200 bytes"));
	/* the 200 bytes are counted after folding: 149 + 1 + 50 fits, one more not */
	char big[600];
	snprintf(big, sizeof big, "urn,name,la_code\n135001,\"%0149d\r\n%050d\",355\n", 0, 0);
	write_file(path, big);
	assert_int_equal(run(e, "import s.csv")->status, 0);
	snprintf(big, sizeof big, "urn,name,la_code\n135001,\"%0149d\r\n%051d\",355\n", 0, 0);
	write_file(path, big);
	assert_int_equal(run(e, "import s.csv")->status, 2);
}

/* An option that needs a value and has none is a usage error (exit 2),
 * never a read past the arguments. */
static void options_without_their_value_are_usage_errors(void **state)
{
	struct env *e = *state;
	static const struct {
		const char *args, *want;
	} cases[] = {
		{ "actions --org", "--org needs a value" },
		{ "actions --since", "--since needs a value" },
		{ "actions --json --org", "--org needs a value" },
		{ "actions --org --json", "--org needs a value" },
		{ "actions --since --org la:355", "--since needs a value" },
		{ "actions --org la:355 --since", "--since needs a value" },
		{ "pupil J355400120001 --window", "--window needs a value" },
		{ "pupil --window", "--window needs a value" },
		{ "pupil J355400120001 --window --json", "--window needs a value" },
	};
	loaded(e);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct result *r = run(e, cases[i].args);
		if (r->status != 2 || !strstr(r->err, cases[i].want) ||
		    !strstr(r->err, "usage: rollcall "))
			fail_msg("%s: exit %d: %s", cases[i].args, r->status, r->err);
	}
	/* with their values they work */
	assert_int_equal(run(e, "actions --org la:355 --since 2025-09-01 --json")->status, 0);
	assert_int_equal(run(e, "pupil J355400120001 --window days=3")->status, 0);
}

/* A file that names one slot twice: the first import keeps the earlier row
 * as history, and importing it again changes nothing. */
static void a_slot_named_twice_imports_idempotently(void **state)
{
	struct env *e = *state;
	loaded(e);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/twice.csv", e->dir);
	write_file(path, "upn,urn,date,session,code\n"
			 "J355400120001,135001,2025-09-15,AM,/\n"
			 "J355400120001,135001,2025-09-15,AM,N\n");
	struct result *r = run(e, "import twice.csv");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "(1 new, 1 amended, 0 unchanged; 1 pupils changed)"));
	uint64_t before = fingerprint(e->db);
	for (int i = 0; i < 2; i++) {
		r = run(e, "import twice.csv");
		assert_non_null(
			strstr(r->out, "(0 new, 0 amended, 2 unchanged; 0 pupils changed)"));
	}
	assert_true(fingerprint(e->db) == before);
	assert_int_equal(count(e, "SELECT count(*) FROM mark_history"), 1);
}

/* An unterminated quote swallows every row after it: even --skip-invalid
 * refuses the file rather than drop those rows unseen. */
static void an_unterminated_quote_refuses_the_file_even_when_skipping(void **state)
{
	struct env *e = *state;
	loaded(e);
	uint64_t before = fingerprint(e->db);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/open.csv", e->dir);
	write_file(path, "upn,urn,date,session,code\n"
			 "J355400120001,135001,2025-09-15,\"AM,/\n"
			 "J355400120001,135001,2025-09-15,PM,/\n"
			 "J355400120001,135001,2025-09-16,AM,/\n");
	struct result *r = run(e, "import --skip-invalid open.csv");
	assert_int_equal(r->status, 2);
	assert_non_null(strstr(r->err, "open.csv:2: unterminated quoted field (opened on line 2)"));
	assert_non_null(strstr(r->err, "nothing imported"));
	assert_true(fingerprint(e->db) == before);
}

static void sql_in_a_name_is_just_text(void **state)
{
	struct env *e = *state;
	loaded(e);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/s.csv", e->dir);
	write_file(path, "urn,name,la_code\n105210,\"Irlam'); DROP TABLE marks; --\",355\n");
	assert_int_equal(run(e, "import s.csv")->status, 0);
	assert_int_equal(count(e, "SELECT count(*) FROM marks"), 50);
	assert_int_equal(count(e, "SELECT count(*) FROM schools WHERE name = 'Irlam''); DROP "
				  "TABLE marks; --'"),
			 1);
}

static void standard_input_and_missing_files(void **state)
{
	struct env *e = *state;
	assert_int_equal(run(e, "init")->status, 0);
	char args[PATH_MAX * 2];
	snprintf(args, sizeof args, "import - < '%s/schools.csv'", data);
	struct result *r = run(e, args);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "-: 3 schools"));
	r = run(e, "import nowhere.csv");
	assert_int_equal(r->status, 2);
	assert_non_null(strstr(r->err, "nowhere.csv: No such file or directory"));
	r = run(e, "import");
	assert_int_equal(r->status, 2);
	assert_non_null(strstr(r->err, "usage: rollcall import"));
	r = run(e, "frobnicate");
	assert_int_equal(r->status, 2);
	e->db[strlen(e->db) - 3] = 'x'; /* a database that does not exist */
	r = run(e, "pupil J355400120001");
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "no such database (create it with: rollcall init)"));
}

static json_t *window_named(json_t *pupil, const char *name)
{
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(pupil, "windows"), i, w)
	{
		if (!strcmp(json_string_value(json_object_get(w, "window")), name))
			return w;
	}
	fail_msg("no window %s", name);
	return NULL;
}

static long num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	assert_true(json_is_integer(v));
	return (long)json_integer_value(v);
}

/* tests/data/marks.csv for J355400120001, 1-12 Sep 2025:
 *   week 1  Mon / \  Tue / \  Wed N N  Thu I I  Fri / L
 *   week 2  Mon O O  Tue O O  Wed # #  Thu G G  Fri G G */
static void pupil_figures_as_json(void **state)
{
	struct env *e = *state;
	loaded(e);
	struct result *r = run(e, "pupil J355400120001 --json --window sessions=10 --window "
				  "school_weeks=1 --window academic_year --window days=3");
	assert_int_equal(r->status, 0);
	json_error_t jerr;
	json_t *p = json_loads(r->out, 0, &jerr);
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "urn")), "135001");
	assert_string_equal(json_string_value(json_object_get(p, "trust_id")), "TR00092");
	assert_string_equal(json_string_value(json_object_get(p, "la_code")), "355");
	/* Fri G, Thu G, (Wed closed), Tue O, Mon O, then Friday's presence */
	assert_int_equal(num(p, "consecutive_absent_days"), 4);
	assert_int_equal(num(p, "consecutive_unauthorised_days"), 4);
	json_t *last = json_object_get(p, "last");
	assert_string_equal(json_string_value(json_object_get(last, "date")), "2025-09-12");
	assert_string_equal(json_string_value(json_object_get(last, "code")), "G");

	json_t *w = window_named(p, "academic_year");
	assert_int_equal(num(w, "possible"), 18);
	assert_int_equal(num(w, "present"), 6);
	assert_int_equal(num(w, "authorised"), 2);
	assert_int_equal(num(w, "unauthorised"), 10);
	assert_int_equal(num(w, "not_counted"), 2);
	assert_int_equal(num(w, "late"), 1);
	assert_true(json_real_value(json_object_get(w, "rate")) == 6.0 / 18);
	assert_string_equal(json_string_value(json_object_get(w, "from")), "2025-09-01");
	assert_int_equal(num(json_object_get(w, "codes"), "G"), 4);

	w = window_named(p, "sessions=10");
	assert_int_equal(num(w, "possible"), 10);
	assert_int_equal(num(w, "unauthorised"), 8);
	assert_int_equal(num(w, "present"), 2);
	assert_string_equal(json_string_value(json_object_get(w, "from")), "2025-09-05");

	w = window_named(p, "school_weeks=1");
	assert_int_equal(num(w, "possible"), 8);
	assert_string_equal(json_string_value(json_object_get(w, "from")), "2025-09-08");

	w = window_named(p, "days=3");
	assert_int_equal(num(w, "possible"), 4);
	json_decref(p);

	/* a days window reaching before 2000 starts at 2000-01-01 */
	r = run(e, "pupil J355400120001 --json --window days=30000");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "\"from\":\"2000-01-01\",\"to\":\"2025-09-12\""));

	r = run(e, "pupil J355400120001 --window fortnights=2");
	assert_int_equal(r->status, 2);
	r = run(e, "pupil B207000016049");
	assert_int_equal(r->status, 2);
	r = run(e, "pupil P207000016049");
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "no pupil with upn P207000016049"));
}

/* The bundled example data is exactly what the generator makes. */
static void example_data_is_reproducible(void **state)
{
	struct env *e = *state;
	char cmd[PATH_MAX * 4];
	snprintf(cmd, sizeof cmd,
		 "sh examples/regen '%s/gen' && for f in schools pupils marks; do "
		 "cmp -s examples/data/$f.csv '%s/gen/'$f.csv || exit 1; done",
		 e->dir, e->dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	if (e2e_init() < 0 || !realpath("tests/data", data) ||
	    !realpath("tests/hostile", hostile)) {
		fprintf(stderr, "run from the top of the repository after make\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hostile_inputs_are_refused_and_change_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_ten_megabyte_field_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(import_counts_and_reimport_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(skip_invalid_keeps_good_rows_and_every_bad_one,
						setup, teardown),
		cmocka_unit_test_setup_teardown(sql_in_a_name_is_just_text, setup, teardown),
		cmocka_unit_test_setup_teardown(skip_invalid_twice_keeps_each_rejection_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_line_break_in_a_school_name_is_folded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(options_without_their_value_are_usage_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_slot_named_twice_imports_idempotently, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			an_unterminated_quote_refuses_the_file_even_when_skipping, setup, teardown),
		cmocka_unit_test_setup_teardown(standard_input_and_missing_files, setup, teardown),
		cmocka_unit_test_setup_teardown(pupil_figures_as_json, setup, teardown),
		cmocka_unit_test_setup_teardown(example_data_is_reproducible, setup, teardown),
	};
	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
