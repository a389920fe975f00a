/*
 * params.c — reading, checking and storing an organisation's thresholds
 * (params.h). `rollcall params` and the API both come through here, so the
 * bounds, the listing and the audit trail are the same for both.
 */
#include "params.h"

#include "audit.h"
#include "token.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

struct policy *params_policy(struct policy_set *set, const struct config *cfg, const char *org,
			     policy_error_fn on_error)
{
	char path[4096], name[32];
	if (!policy_org_valid(org))
		return NULL;
	/* la:355 -> la-355.lua: the file that may speak for it (no ':' in names) */
	snprintf(name, sizeof name, "%s.lua", org);
	*strchr(name, ':') = '-';
	snprintf(path, sizeof path, "%s/%s", cfg->policies, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	fclose(f);
	char *files[] = { path };
	policy_set_load(set, cfg, files, 1, on_error);
	struct policy *p = policy_set_find(set, org);
	return p && !strcmp(p->org, org) ? p : NULL;
}

const char *params_refuses(const struct policy *p, const struct param *q, double v, char *why,
			   size_t size)
{
	if (!policy_param_refuses(q, v))
		return NULL;
	if (!isfinite(v))
		snprintf(why, size, "not a number");
	else if (q->integer && v >= q->min && v <= q->max)
		snprintf(why, size, "not a whole number (%s declares %s with integer = true)",
			 p->file, q->name);
	else
		snprintf(why, size, "outside the bounds %g..%g that %s declares", q->min, q->max,
			 p->file);
	return why;
}

static sqlite3_stmt *stored_query(struct db *db, const char *org)
{
	sqlite3_stmt *st =
		db_prepare(db, "SELECT name, value FROM params WHERE org = ? ORDER BY name");
	if (st)
		sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	return st;
}

int params_etag(struct db *db, const char *org, char etag[PARAMS_ETAG_SIZE])
{
	sqlite3_stmt *st = stored_query(db, org);
	if (!st)
		return DB_FAILED;
	/* the stored rows, as text, hashed: any change to any of them is a new tag */
	json_t *rows = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(rows, json_pack("[o, f]", column_json(st, 0, NULL),
						      sqlite3_column_double(st, 1)));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(rows);
		return db_fail(db, "reading params");
	}
	char *text = json_dumps(rows, JSON_COMPACT | JSON_REAL_PRECISION(17));
	char hash[TOKEN_HASH_HEX];
	token_hash(text, strlen(text), hash);
	snprintf(etag, PARAMS_ETAG_SIZE, "\"%s\"", hash);
	free(text);
	json_decref(rows);
	return DB_DONE;
}

/* Is the stored value of name in *v? 1 yes, 0 none stored, or a failure. */
static int stored_value(sqlite3_stmt *get, const char *org, const char *name, double *v)
{
	sqlite3_bind_text(get, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(get, 2, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(get), found = rc == SQLITE_ROW;
	if (found)
		*v = sqlite3_column_double(get, 0);
	sqlite3_reset(get);
	return found || rc == SQLITE_DONE ? found : DB_FAILED;
}

json_t *params_json(struct db *db, const struct policy *p, const char *org)
{
	sqlite3_stmt *get = db_prepare(db, "SELECT value FROM params WHERE org = ? AND name = ?");
	char etag[PARAMS_ETAG_SIZE];
	if (!get || params_etag(db, org, etag) < 0) {
		sqlite3_finalize(get);
		return NULL;
	}
	json_t *items = json_array();
	for (int k = 0; k < p->nparams; k++) {
		const struct param *q = &p->params[k];
		double v = q->def;
		int stored = stored_value(get, org, q->name, &v);
		if (stored < 0) {
			db_fail(db, "reading params");
			json_decref(items);
			sqlite3_finalize(get);
			return NULL;
		}
		/* the policy's bounds changed since it was set: the default runs */
		int in_force = !stored || !policy_param_refuses(q, v);
		json_t *o = json_pack(
			"{s:s, s:f, s:f, s:f, s:f, s:b, s:o, s:b, s:b}", "name", q->name, "value",
			in_force ? v : q->def, "default", q->def, "min", q->min, "max", q->max,
			"integer", q->integer, "doc",
			text_json(q->doc ? q->doc : "", q->doc ? strlen(q->doc) : 0, NULL), "set",
			stored, "in_force", in_force);
		json_object_set_new(o, "stored", stored ? json_real(v) : json_null());
		json_array_append_new(items, o);
	}
	sqlite3_finalize(get);
	return json_pack("{s:s, s:o, s:o, s:s, s:o}", "org", org, "policy",
			 text_json(p->name, strlen(p->name), NULL), "file",
			 text_json(p->file, strlen(p->file), NULL), "etag", etag, "items", items);
}

int params_store(struct db *db, const struct policy *p, const char *org,
		 const struct params_change *changes, int n, const char *if_match, const char *who,
		 const char *via)
{
	sqlite3_stmt *set = db_prepare(db, "INSERT INTO params(org, name, value) VALUES (?, ?, ?) "
					   "ON CONFLICT(org, name) DO UPDATE SET value = "
					   "excluded.value, set_at = excluded.set_at");
	sqlite3_stmt *get = db_prepare(db, "SELECT value FROM params WHERE org = ? AND name = ?");
	sqlite3_stmt *del = db_prepare(db, "DELETE FROM params WHERE org = ? AND name = ?");
	int rc = DB_FAILED;
	if (!set || !get || !del || (rc = db_begin(db)) < 0)
		goto out;
	if (if_match) {
		char etag[PARAMS_ETAG_SIZE];
		if ((rc = params_etag(db, org, etag)) < 0)
			goto fail;
		if (strcmp(etag, if_match) != 0) {
			rc = PARAMS_CONFLICT;
			goto fail;
		}
	}
	for (int i = 0; i < n; i++) {
		const struct param *q = &p->params[changes[i].index];
		char before[96] = "", after[96];
		double old;
		int had = stored_value(get, org, q->name, &old);
		if (had < 0) {
			rc = db_fail(db, "reading params");
			goto fail;
		}
		if (had)
			snprintf(before, sizeof before, "%s=%.15g", q->name, old);
		else
			snprintf(before, sizeof before, "%s=default", q->name);
		if (changes[i].reset)
			snprintf(after, sizeof after, "%s=default", q->name);
		else
			snprintf(after, sizeof after, "%s=%.15g", q->name, changes[i].value);
		sqlite3_stmt *st = changes[i].reset ? del : set;
		sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, q->name, -1, SQLITE_STATIC);
		if (!changes[i].reset)
			sqlite3_bind_double(st, 3, changes[i].value);
		struct audit_entry e = { .who = who,
					 .via = via,
					 .org = org,
					 .what = changes[i].reset ? "params.reset" : "params.set",
					 .before = before,
					 .after = after,
					 .detail = p->file };
		if ((rc = db_step_done(db, st, "storing a param")) < 0 ||
		    (rc = audit_add(db, &e)) < 0)
			goto fail;
	}
	rc = db_commit(db);
	goto out;
fail:
	db_rollback(db);
out:
	sqlite3_finalize(set);
	sqlite3_finalize(get);
	sqlite3_finalize(del);
	return rc;
}
