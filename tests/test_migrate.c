/*
 * test_migrate.c — `rollcall init` migrates a database of every schema
 * version rollcall has shipped to this one, keeping every row, and the
 * commands then work on it; end to end, the real binary on a real file.
 *
 * Each database in tests/data/migrate/ was made by the rollcall of its
 * version, built from this repository's history (tests/data/migrate/make.sh
 * says how, and remakes them): its schema is the text that version
 * created, its rows what that version wrote — marks, registers, an
 * amendment, a reject, rows left in incoming, and from version 2 actions
 * of every kind, cases open and closed, deliveries pending and with no
 * endpoint, a param set; from version 4 a pupil waiting in deferred; from
 * version 6 the service's policy_health; from version 7 a letter proposed
 * and approved (its audit row) and another still proposed. For
 * each, in the table below:
 *
 * - every command but init refuses it, naming its version;
 * - init migrates it to DB_SCHEMA_VERSION in one go: PRAGMA integrity_check
 *   ok; every row of every table it had is still there with every value it
 *   had (the columns it had, row by row); the schema is exactly that of a
 *   fresh database (the two early forms of version 3, made before it
 *   gained three indexes, get them in version 8); init again changes
 *   nothing;
 * - `run --once` takes the rows it left in incoming and evaluates their
 *   pupils with its params still in force (a pupil it left waiting in
 *   deferred among them), closes the cases it left open, and keeps
 *   policy_health; `actions`, `cases` and `status` list what it holds,
 *   old rows and new, with actions from before version 5 showing params
 *   null.
 *
 * One form of version 2 cannot be migrated: the schema version 2 had for
 * its first nine minutes in this history (commit 8bf31f7, before the outbox
 * was added to it without a new version number) has no deliveries table,
 * which version 3 indexes. init refuses it, naming the table, and leaves it
 * exactly as it was.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "e2e.h"

#include "db.h"

#include <jansson.h>
#include <sys/stat.h>

static const struct old_database {
	const char *file; /* in tests/data/migrate */
	int version;
	const char *made_by; /* the commit whose rollcall made it */
	int migrates;	     /* 0: init refuses it, and leaves it as it was */
} olds[] = {
	/* clang-format off */
	{ "v1.sql", 1, "b1e87fc", 1 },
	{ "v2-first.sql", 2, "8bf31f7", 0 },
	{ "v2.sql", 2, "0b32385", 1 },
	{ "v3-first.sql", 3, "8b387c5", 1 },
	{ "v3-second.sql", 3, "07b01e8", 1 },
	{ "v3.sql", 3, "6802597", 1 },
	{ "v4.sql", 4, "54bdfd2", 1 },
	{ "v5.sql", 5, "73ce8dd", 1 },
	{ "v6.sql", 6, "0075873", 1 },
	{ "v7.sql", 7, "8c0342d", 1 },
	/* clang-format on */
};

#define NOLDS (sizeof olds / sizeof *olds)

/* What runs on every migrated database: an alert for each pupil it sees,
 * and the pupil's open case closed; gap is the param the old versions set
 * to 14 (a whole number within these bounds: still in force). */
static const char policy[] =
	"policy { org = 'la:355', name = 'Now', endpoints = { alert = 'hook' },\n"
	"  params = { gap = { default = 28, min = 7, max = 90, integer = true,\n"
	"    doc = 'days between steps' } } }\n"
	"function on_pupil(p)\n"
	"  alert(p, 'migrated', { severity = 'low', cooldown_days = 0 })\n"
	"  if p.case then close_case(p, 'reviewed after the migration') end\n"
	"end\n";

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: cannot read", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *s = malloc((size_t)n + 1);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* The text of every row sql gives (one column), one a line. */
static char *rows(struct e2e *e, const char *sql)
{
	sqlite3 *db = e2e_db(e);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	size_t len = 0, cap = 1024;
	char *out = malloc(cap);
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		size_t n = t ? strlen(t) : 4;
		while (len + n + 2 > cap)
			out = realloc(out, cap *= 2);
		memcpy(out + len, t ? t : "NULL", n);
		len += n;
		out[len++] = '\n';
		out[len] = '\0';
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

/* For each table the database has now, a query giving its rows as text:
 * the columns it has now, in key order. Run again after a migration, the
 * queries read the same columns: every row and value must still be there. */
struct snapshot {
	char *query[32];
	int n;
};

static void snapshot_take(struct e2e *e, struct snapshot *s)
{
	char *tables = rows(e, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
			       "LIKE 'sqlite_%' ORDER BY name");
	s->n = 0;
	for (char *t = strtok(tables, "\n"); t; t = strtok(NULL, "\n")) {
		char sql[512];
		snprintf(
			sql, sizeof sql,
			"SELECT group_concat(printf('quote(\"%%w\")', name), \" || '|' || \") FROM "
			"pragma_table_info('%s')",
			t);
		char *cols = rows(e, sql);
		cols[strcspn(cols, "\n")] = '\0';
		/* WITHOUT ROWID tables are ordered by their key, the others by rowid */
		snprintf(sql, sizeof sql,
			 "SELECT coalesce(group_concat(name, ', '), 'rowid') FROM (SELECT name "
			 "FROM pragma_table_info('%s') WHERE pk > 0 ORDER BY pk) WHERE (SELECT wr "
			 "FROM pragma_table_list('%s'))",
			 t, t);
		char *order = rows(e, sql);
		order[strcspn(order, "\n")] = '\0';
		size_t size = strlen(cols) + strlen(order) + strlen(t) + 64;
		assert_true(s->n < 32);
		s->query[s->n] = malloc(size);
		snprintf(s->query[s->n++], size, "SELECT '%s: ' || %s FROM \"%s\" ORDER BY %s", t,
			 cols, t, order);
		free(cols);
		free(order);
	}
	free(tables);
}

static char *snapshot_rows(struct e2e *e, const struct snapshot *s)
{
	size_t len = 0;
	char *all = calloc(1, 1);
	for (int i = 0; i < s->n; i++) {
		char *r = rows(e, s->query[i]);
		all = realloc(all, len + strlen(r) + 1);
		memcpy(all + len, r, strlen(r) + 1);
		len += strlen(r);
		free(r);
	}
	return all;
}

static void snapshot_free(struct snapshot *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->query[i]);
}

/* Every row of every table, and the schema and version. */
static char *everything(struct e2e *e)
{
	struct snapshot s;
	snapshot_take(e, &s);
	char *data = snapshot_rows(e, &s);
	snapshot_free(&s);
	char *schema = rows(e, "SELECT type || ' ' || name || ' ' || sql FROM sqlite_master WHERE "
			       "sql IS NOT NULL ORDER BY type, name");
	char *all = malloc(strlen(data) + strlen(schema) + 32);
	sprintf(all, "%lld\n%s%s", e2e_query(e, "PRAGMA user_version"), schema, data);
	free(data);
	free(schema);
	return all;
}

/* got is want, or the first line where they differ is the failure. */
static void same_text(const char *got, const char *want, const char *file, const char *what)
{
	const char *g = got, *w = want;
	while (*g && *w) {
		size_t ng = strcspn(g, "\n"), nw = strcspn(w, "\n");
		if (ng != nw || memcmp(g, w, ng))
			break;
		g += ng + (g[ng] != 0);
		w += nw + (w[nw] != 0);
	}
	if (*g || *w)
		fail_msg("%s: %s:\n  now:    %.*s\n  before: %.*s", file, what,
			 (int)strcspn(g, "\n"), g, (int)strcspn(w, "\n"), w);
}

static long long count(struct e2e *e, const char *sql)
{
	return e2e_query(e, sql);
}

static void must_say(const char *text, const char *what)
{
	if (!strstr(text, what))
		fail_msg("wanted \"%s\" in:\n%s", what, text);
}

/* The last run's standard output or error, whole (the caller frees). */
static char *output(struct e2e *e, const char *name)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", e->dir, name);
	return slurp(path);
}

/* One JSON value a line, as an array (the caller frees). */
static json_t *json_lines(const char *text)
{
	json_t *all = json_array();
	for (const char *l = text; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0)) {
		json_error_t err;
		json_t *v = json_loadb(l, strcspn(l, "\n"), 0, &err);
		if (!v)
			fail_msg("not JSON: %.*s (%s)", (int)strcspn(l, "\n"), l, err.text);
		json_array_append_new(all, v);
	}
	return all;
}

/* The schema of a fresh database, as "type name sql" lines. */
static char *fresh_schema(void)
{
	struct e2e *f = e2e_new();
	char conf[PATH_MAX + 32];
	snprintf(conf, sizeof conf, "%s/rollcall.conf", f->dir);
	write_file(conf, "");
	assert_int_equal(e2e_rollcall(f, "init"), 0);
	char *schema = rows(f, "SELECT type || ' ' || name || ' ' || sql FROM sqlite_master "
			       "WHERE sql IS NOT NULL ORDER BY type, name");
	e2e_free(f);
	return schema;
}

static int has_line(const char *text, const char *line, size_t len)
{
	for (const char *l = text; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0))
		if (strcspn(l, "\n") == len && !memcmp(l, line, len))
			return 1;
	return 0;
}

/* The migrated schema is a fresh one's, line for line. */
static void schema_is_fresh(struct e2e *e, const struct old_database *o)
{
	char *fresh = fresh_schema(),
	     *now = rows(e, "SELECT type || ' ' || name || ' ' || sql FROM "
			    "sqlite_master WHERE sql IS NOT NULL ORDER "
			    "BY type, name");
	for (const char *l = fresh; *l; l += strcspn(l, "\n") + 1) {
		size_t len = strcspn(l, "\n");
		if (!has_line(now, l, len))
			fail_msg("%s: missing or different after the migration: %.*s", o->file,
				 (int)len, l);
	}
	for (const char *l = now; *l; l += strcspn(l, "\n") + 1)
		if (!has_line(fresh, l, strcspn(l, "\n")))
			fail_msg("%s: not in a fresh database: %.*s", o->file,
				 (int)strcspn(l, "\n"), l);
	free(fresh);
	free(now);
}

/* A directory with the old database as rollcall.db, the policy and a
 * config with one endpoint. */
static struct e2e *old_database(const struct old_database *o)
{
	struct e2e *e = e2e_new();
	char path[PATH_MAX + 64], conf[PATH_MAX * 2];
	snprintf(path, sizeof path, "%s/policies", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/policies/la-355.lua", e->dir);
	write_file(path, policy);
	snprintf(path, sizeof path, "%s/rollcall.conf", e->dir);
	snprintf(conf, sizeof conf,
		 "policies = 'policies'\nscripts = '%s/scripts'\n"
		 "endpoints = { hook = { url = 'http://127.0.0.1:9/hook', secret_env = "
		 "'HOOK_SECRET' } }\n",
		 e2e_root);
	write_file(path, conf);

	snprintf(path, sizeof path, "%s/tests/data/migrate/%s", e2e_root, o->file);
	char *sql = slurp(path);
	snprintf(path, sizeof path, "%s/rollcall.db", e->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *msg = NULL;
	/* the old init put it in WAL mode, which a dump does not say */
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", o->file, msg);
	sqlite3_close(db);
	free(sql);
	assert_int_equal(e2e_query(e, "PRAGMA user_version"), o->version);
	return e;
}

static void is_refused(struct e2e *e, const struct old_database *o, const char *command)
{
	char want[128];
	snprintf(want, sizeof want,
		 "schema version %d is older than %d (run: rollcall init to migrate)", o->version,
		 DB_SCHEMA_VERSION);
	assert_int_equal(e2e_rollcall(e, command), 1);
	char *err = output(e, "err");
	must_say(err, want);
	free(err);
}

/* One old database: refused, migrated (or refused by init), then used. */
static void migrates(void **state)
{
	const struct old_database *o = *state;
	struct e2e *e = old_database(o);
	is_refused(e, o, "status");
	is_refused(e, o, "actions --json");
	is_refused(e, o, "run --once --no-deliver");

	struct snapshot old;
	snapshot_take(e, &old);
	char *before = snapshot_rows(e, &old), *whole = everything(e);
	int v2 = o->version >= 2; /* it has actions, cases, params, deliveries */
	long long marks = count(e, "SELECT count(*) FROM marks");
	long long actions = v2 ? count(e, "SELECT count(*) FROM actions") : 0;
	long long open = v2 ? count(e, "SELECT count(*) FROM cases WHERE closed IS NULL") : 0;
	long long cases = v2 ? count(e, "SELECT count(*) FROM cases") : 0;
	assert_int_equal(count(e, "SELECT count(*) FROM incoming"), 3);
	/* council 355's pupils it stored changes for and never evaluated
	 * (version 1 had no evaluation): evaluated first, then incoming's */
	long long waiting = count(e, "SELECT count(DISTINCT c.pupil) FROM changes c JOIN pupils p "
				     "ON p.id = c.pupil JOIN schools s ON s.urn = p.urn WHERE "
				     "s.la_code = '355' AND c.seq > coalesce((SELECT value FROM "
				     "meta WHERE key = 'evaluated_seq'), 0)");
	assert_int_equal(waiting, o->version == 1 ? 2 : 0);

	if (!o->migrates) {
		assert_int_equal(e2e_rollcall(e, "init"), 1);
		char *err = output(e, "err");
		must_say(err, "no such table: main.deliveries");
		free(err);
		char *now = everything(e);
		same_text(now, whole, o->file, "init changed a database it refused");
		free(now);
		is_refused(e, o, "status");
		goto out;
	}

	assert_int_equal(e2e_rollcall(e, "init"), 0);
	assert_int_equal(count(e, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	char *ok = e2e_text(e, "PRAGMA integrity_check");
	assert_string_equal(ok, "ok");
	free(ok);
	char *after = snapshot_rows(e, &old);
	same_text(after, before, o->file, "a row or a value is not as it was");
	free(after);
	schema_is_fresh(e, o);
	/* actions from before version 5 kept no params */
	if (v2 && o->version < 5)
		assert_int_equal(count(e, "SELECT count(*) FROM actions WHERE params IS NOT NULL"),
				 0);
	/* from version 6, what the old service knew of its policy is kept */
	assert_int_equal(count(e, "SELECT count(*) FROM policy_health"), o->version >= 6);
	/* init again: nothing changes */
	char *once = everything(e);
	assert_int_equal(e2e_rollcall(e, "init"), 0);
	char *twice = everything(e);
	same_text(twice, once, o->file, "init again changed it");
	free(once);
	free(twice);

	/* the rows it left in incoming, its pupils, its param, its cases */
	assert_int_equal(e2e_rollcall(e, "run --once --no-deliver"), 0);
	assert_int_equal(count(e, "SELECT count(*) FROM incoming"), 0);
	assert_int_equal(count(e, "SELECT count(*) FROM marks"), marks + 3);
	assert_int_equal(count(e, "SELECT count(*) FROM changes WHERE seq > (SELECT value FROM "
				  "meta WHERE key = 'evaluated_seq')"),
			 0);
	assert_int_equal(count(e, "SELECT count(*) FROM actions WHERE kind = 'migrated'"),
			 3 + waiting);
	char *params = e2e_text(e, "SELECT group_concat(DISTINCT params) FROM actions WHERE kind = "
				   "'migrated'");
	assert_string_equal(params, v2 ? "{\"gap\":14}" : "{\"gap\":28}");
	free(params);
	/* J's, Y's and H's: every case it left open is one of theirs */
	assert_int_equal(count(e, "SELECT count(*) FROM actions WHERE action = 'case_closed' AND "
				  "message = 'reviewed after the migration'"),
			 open);
	assert_int_equal(count(e, "SELECT count(*) FROM cases WHERE closed IS NULL"), 0);
	assert_int_equal(count(e, "SELECT count(*) FROM deferred"), 0);
	assert_int_equal(count(e, "SELECT count(*) FROM policy_health WHERE org = 'la:355' AND "
				  "loaded = 1 AND calls = 3 AND failed = 0"),
			 1);
	long long now_actions = count(e, "SELECT count(*) FROM actions");
	assert_int_equal(now_actions, actions + 3 + waiting + open);

	/* actions: old and new, the old without params before version 5 */
	assert_int_equal(e2e_rollcall(e, "actions --json"), 0);
	char *out = output(e, "out");
	json_t *list = json_lines(out);
	free(out);
	assert_int_equal((long long)json_array_size(list), now_actions);
	size_t i;
	json_t *a;
	long long without = 0;
	json_array_foreach(list, i, a)
	{
		without += json_is_null(json_object_get(a, "params"));
	}
	assert_int_equal(without, o->version < 5 ? actions : 0);
	json_decref(list);

	/* cases: the old ones, now all closed */
	assert_int_equal(e2e_rollcall(e, "cases --json"), 0);
	out = output(e, "out");
	list = json_lines(out);
	free(out);
	assert_int_equal((long long)json_array_size(list), cases);
	json_decref(list);

	/* status: what is there, whatever it says of it */
	int status = e2e_rollcall(e, "status --json");
	assert_true(status == 0 || status == 1);
	char *err = output(e, "err");
	assert_string_equal(err, "");
	free(err);
	out = output(e, "out");
	json_t *s = json_loads(out, 0, NULL);
	assert_non_null(s);
	free(out);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(s, "incoming"), "rows")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "evaluation"),
							    "pupils_waiting")),
			 0);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(s, "deliveries"), "pending")),
		count(e, "SELECT count(*) FROM deliveries WHERE state = 'pending'"));
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(s, "deliveries"), "no_endpoint")),
			 count(e, "SELECT count(*) FROM deliveries WHERE state = 'no_endpoint'"));
	json_t *p = json_array_get(json_object_get(s, "policies"), 0);
	assert_true(json_is_true(json_object_get(p, "loaded")));
	json_decref(s);
out:
	free(before);
	free(whole);
	snapshot_free(&old);
	e2e_free(e);
}

int main(void)
{
	if (e2e_init() < 0) {
		fprintf(stderr,
			"test_migrate: build/rollcall and build/receiver are needed (make)\n");
		return 1;
	}
	static char names[NOLDS][96];
	struct CMUnitTest tests[NOLDS];
	for (size_t i = 0; i < NOLDS; i++) {
		snprintf(names[i], sizeof names[i], "%s_version_%d_made_by_%s",
			 olds[i].migrates ? "migrates" : "is_refused_unchanged", olds[i].version,
			 olds[i].made_by);
		tests[i] = (struct CMUnitTest){ names[i], migrates, NULL, NULL, (void *)&olds[i] };
	}
	return cmocka_run_group_tests_name("migrate", tests, NULL, NULL);
}
