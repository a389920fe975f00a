/*
 * engine.c — batches: incoming -> marks -> changed pupils -> policies.
 *
 * The cursor over `changes` lives in meta ('evaluated_seq') and moves in the
 * batch's transaction. Rows of `changes` below the cursor are pruned, but the
 * row at the cursor is kept so that SQLite's next seq (max + 1) stays above
 * it.
 */
#include "engine.h"

#include "date.h"
#include "log.h"
#include "util.h"
#include "versions.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- what the evaluator knows of its policies, for `rollcall status` ---- */

static void tally_free(struct engine *e, int n)
{
	for (int i = 0; e->tally && i < n; i++)
		free(e->tally[i].error);
	free(e->tally);
	e->tally = NULL;
}

/* The org (prefix + code) if its policy file is there but no version of it
 * runs, else NULL. */
static const char *unloaded_org(struct engine *e, const char *prefix, const char *code)
{
	if (!e->set.nunloaded || !code || !*code)
		return NULL;
	char org[24];
	snprintf(org, sizeof org, "%s%s", prefix, code);
	return policy_set_unloaded(&e->set, org);
}

/* The tally of a loaded policy (the same index as in e->set.policies). */
static struct policy_tally *tally_of(struct engine *e, const struct policy *p)
{
	int i = e->tally ? policy_set_index(&e->set, p->org) : -1;
	return i < 0 ? NULL : &e->tally[i];
}

static void bind_or_null(sqlite3_stmt *st, int i, const char *text)
{
	if (text)
		sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* In the caller's write transaction: what the last load from the
 * directory found, one row of policy_health per named file (none for the
 * files that are gone), and which file the connection has open (device
 * and inode: a backup restored over it is another file, whatever it
 * holds). Returns 0 or -1. */
static int health_write_files(struct engine *e)
{
	sqlite3_stmt *st = e->health_load;
	size_t cap = 64 + (size_t)e->set.nfiles * 28, len = 1;
	char *orgs = xmalloc(cap); /* a JSON array: orgs are letters, digits and ':' */
	int rc = SQLITE_DONE;
	orgs[0] = '[';
	for (int i = 0; rc == SQLITE_DONE && i < e->set.nfiles; i++) {
		const struct policy_file *f = &e->set.files[i];
		sqlite3_bind_text(st, 1, f->org, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, f->path, -1, SQLITE_STATIC);
		bind_or_null(st, 3, f->running ? f->running->sha256 : NULL);
		sqlite3_bind_int(st, 4, f->running != NULL);
		bind_or_null(st, 5, f->error);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		len += (size_t)snprintf(orgs + len, cap - len, "%s\"%s\"", i ? "," : "", f->org);
	}
	snprintf(orgs + len, cap - len, "]");
	if (rc != SQLITE_DONE) {
		free(orgs);
		return db_fail(e->db, "keeping policy health");
	}
	sqlite3_stmt *prune = db_prepare(e->db, "DELETE FROM policy_health WHERE org NOT IN "
						"(SELECT value FROM json_each(?))");
	sqlite3_stmt *file = db_prepare(e->db, "INSERT INTO meta(key, value) VALUES "
					       "('evaluator_file', ?) ON CONFLICT(key) DO UPDATE "
					       "SET value = excluded.value");
	struct stat sb;
	char id[64] = "";
	if (stat(e->db->path, &sb) == 0)
		snprintf(id, sizeof id, "%" PRIuMAX ":%" PRIuMAX, (uintmax_t)sb.st_dev,
			 (uintmax_t)sb.st_ino);
	rc = prune && file ? SQLITE_DONE : SQLITE_ERROR;
	if (prune) {
		sqlite3_bind_text(prune, 1, orgs, -1, SQLITE_STATIC);
		rc = sqlite3_step(prune);
	}
	if (rc == SQLITE_DONE && *id) {
		sqlite3_bind_text(file, 1, id, -1, SQLITE_STATIC);
		rc = sqlite3_step(file);
	}
	/* the failure as db_fail says what it was (busy, full): the batch that
	 * writes this decides from it whether to try again */
	int failed = rc == SQLITE_DONE ? 0
		     : !prune || !file ? -1
				       : db_fail(e->db, "keeping policy health");
	sqlite3_finalize(prune);
	sqlite3_finalize(file);
	free(orgs);
	return failed;
}

/* In the caller's write transaction: every loaded policy whose text is
 * not kept yet, in policy_versions (versions.h), so that what it decides
 * can be read and re-run years after its file changed (`rollcall
 * explain`). Its text is let go once that commits (versions_forget).
 * Returns 0 or the failure. */
static int versions_record(struct engine *e)
{
	for (int i = 0; i < e->set.npolicies; i++) {
		const struct policy *p = e->set.policies[i];
		int rc = p->text ? versions_keep(e->db, p->org, p->path, p->text, p->text_len,
						 p->sha256, NULL)
				 : 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* After the transaction of versions_record committed: the texts are kept. */
static void versions_forget(struct engine *e)
{
	for (int i = 0; i < e->set.npolicies; i++) {
		free(e->set.policies[i]->text);
		e->set.policies[i]->text = NULL;
	}
}

/* After a load: written at once, in a short transaction of its own, so that
 * `rollcall status` tells of a file that does not load even if no batch
 * runs. If the database stays locked, the next batch's record step writes
 * it instead. */
static void health_write_load(struct engine *e)
{
	if (db_begin(e->db) == 0) {
		if (health_write_files(e) == 0 && versions_record(e) == 0 &&
		    db_commit(e->db) == 0) {
			e->health_dirty = 0;
			versions_forget(e);
			return;
		}
		db_rollback(e->db);
	}
	e->health_dirty = 1;
	log_event(LOG_WARN, "policy health not written yet: the next batch writes it", "db",
		  e->db->path, NULL);
}

/* In a batch's recording transaction: each policy called in it (its calls,
 * how many failed, the latest failure) or cut off. Returns 0 or -1. */
static int health_record(struct engine *e)
{
	if (!e->health)
		return 0;
	int rc;
	if (e->health_dirty && (rc = health_write_files(e)) < 0)
		return rc;
	sqlite3_stmt *st = e->health_batch;
	for (int i = 0; i < e->set.npolicies; i++) {
		const struct policy *p = e->set.policies[i];
		const struct policy_tally *t = &e->tally[i];
		if (!t->calls && !p->cut_off)
			continue;
		sqlite3_bind_text(st, 1, p->org, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, p->path, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, p->sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, t->calls);
		sqlite3_bind_int64(st, 5, t->failed);
		bind_or_null(st, 6, t->error);
		bind_or_null(st, 7, t->error ? t->upn : NULL);
		sqlite3_bind_int(st, 8, p->cut_off);
		int rc = db_step_done(e->db, st, "keeping policy health");
		if (rc < 0)
			return rc;
	}
	return 0;
}

int engine_load_policies(struct engine *e, char **files, int nfiles, policy_error_fn on_error)
{
	int nold = e->set.npolicies;
	int failed = policy_set_load(&e->set, e->cfg, files, nfiles, on_error);
	if (failed < 0)
		return -1;
	tally_free(e, nold);
	e->tally = xcalloc((size_t)e->set.npolicies + 1, sizeof *e->tally);
	if (nfiles == 0) { /* the service, run --once */
		for (int i = 0; i < e->set.nfiles; i++)
			if (!e->set.files[i].running)
				log_event(LOG_WARN,
					  "no version of this policy runs: its pupils wait in "
					  "deferred until one loads",
					  "org", e->set.files[i].org, "file", e->set.files[i].path,
					  NULL);
		e->health = 1;
		health_write_load(e);
	}
	return failed;
}

int engine_open(struct engine *e, struct db *db, const struct config *cfg)
{
	memset(e, 0, sizeof *e);
	e->db = db;
	e->cfg = cfg;
	e->dir.version = -1;
	pthread_mutexattr_t recursive;
	pthread_mutexattr_init(&recursive);
	pthread_mutexattr_settype(&recursive, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&e->lock, &recursive);
	pthread_mutexattr_destroy(&recursive);
	if (ingest_open(&e->in, db) < 0 || actions_open(&e->actions, db, cfg) < 0)
		goto fail;
	e->changes = db_prepare(db, "SELECT seq, pupil FROM changes WHERE seq > ? ORDER BY seq "
				    "LIMIT ?");
	e->facts = db_prepare(db, "SELECT p.upn, p.urn, p.year_group, p.social_worker, p.sen, "
				  "p.fsm, s.la_code, s.trust_id FROM pupils p JOIN schools s ON "
				  "s.urn = p.urn WHERE p.id = ?");
	e->params = db_prepare(db, "SELECT name, value FROM params WHERE org = ?");
	e->cursor_get = db_prepare(db, "SELECT value FROM meta WHERE key = 'evaluated_seq'");
	e->cursor_set = db_prepare(db, "INSERT INTO meta(key, value) VALUES ('evaluated_seq', ?), "
				       "('evaluated_at', CAST(strftime('%s', 'now') AS INTEGER)) "
				       "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
	e->pending =
		db_prepare(db, "SELECT EXISTS (SELECT 1 FROM incoming) OR "
			       "(SELECT coalesce(max(seq), 0) FROM changes) > "
			       "coalesce((SELECT value FROM meta WHERE key = 'evaluated_seq'), 0)");
	e->prune = db_prepare(db, "DELETE FROM changes WHERE seq < ?");
	e->has_incoming = db_prepare(
		db,
		"SELECT EXISTS (SELECT 1 FROM incoming) AND (SELECT coalesce(max(seq), 0) FROM "
		"changes) <= coalesce((SELECT value FROM meta WHERE key = 'evaluated_seq'), 0)");
	e->deferred =
		db_prepare(db, "SELECT pupil FROM deferred WHERE org = ? ORDER BY pupil LIMIT ?");
	e->any_deferred = db_prepare(db, "SELECT EXISTS (SELECT 1 FROM deferred)");
	e->defer = db_prepare(db, "INSERT OR IGNORE INTO deferred(org, pupil) VALUES (?, ?)");
	e->undefer = db_prepare(db, "DELETE FROM deferred WHERE org = ? AND pupil = ?");
	e->data_version = db_prepare(db, "PRAGMA data_version");
	e->deferred_after =
		db_prepare(db, "SELECT org FROM deferred WHERE org > ? ORDER BY org LIMIT 1");
	/* A new version (another sha256) starts with a clean record. */
	e->health_load = db_prepare(
		db, "INSERT INTO policy_health(org, file, sha256, loaded, load_error, updated_at) "
		    "VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')) ON "
		    "CONFLICT(org) DO UPDATE SET file = excluded.file, loaded = excluded.loaded, "
		    "load_error = excluded.load_error, updated_at = excluded.updated_at, calls = "
		    "CASE WHEN sha256 IS excluded.sha256 THEN calls ELSE 0 END, failed = CASE "
		    "WHEN sha256 IS excluded.sha256 THEN failed ELSE 0 END, last_error = CASE "
		    "WHEN sha256 IS excluded.sha256 THEN last_error END, last_pupil = CASE WHEN "
		    "sha256 IS excluded.sha256 THEN last_pupil END, last_failed_at = CASE WHEN "
		    "sha256 IS excluded.sha256 THEN last_failed_at END, cut_off = CASE WHEN "
		    "sha256 IS excluded.sha256 THEN cut_off END, sha256 = excluded.sha256");
	/* calls and failed: of the last batch that called it (a batch in
	 * which it only waited keeps them); the latest failure stays until a
	 * newer one or a new version */
	e->health_batch = db_prepare(
		db, "INSERT INTO policy_health(org, file, sha256, loaded, calls, failed, "
		    "last_error, last_pupil, last_failed_at, cut_off, updated_at) VALUES (?1, ?2, "
		    "?3, 1, ?4, ?5, ?6, ?7, CASE WHEN ?6 IS NOT NULL THEN strftime('%Y-%m-%dT%H:%M:"
		    "%SZ', 'now') END, CASE WHEN ?8 THEN strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
		    "END, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')) ON CONFLICT(org) DO UPDATE SET "
		    "file = excluded.file, sha256 = excluded.sha256, loaded = 1, calls = CASE "
		    "WHEN excluded.calls > 0 THEN excluded.calls ELSE calls END, failed = CASE "
		    "WHEN excluded.calls > 0 THEN excluded.failed ELSE failed END, last_error = "
		    "coalesce(excluded.last_error, last_error), last_pupil = CASE WHEN "
		    "excluded.last_error IS NULL THEN last_pupil ELSE excluded.last_pupil END, "
		    "last_failed_at = coalesce(excluded.last_failed_at, last_failed_at), cut_off = "
		    "CASE WHEN ?8 THEN coalesce(cut_off, excluded.cut_off) END, updated_at = "
		    "excluded.updated_at");
	if (!e->changes || !e->facts || !e->params || !e->cursor_get || !e->cursor_set ||
	    !e->prune || !e->data_version || !e->pending || !e->has_incoming || !e->deferred ||
	    !e->any_deferred || !e->defer || !e->undefer || !e->deferred_after || !e->health_load ||
	    !e->health_batch)
		goto fail;
	return 0;
fail:
	engine_close(e);
	return -1;
}

void engine_close(struct engine *e)
{
	tally_free(e, e->set.npolicies);
	policy_set_free(&e->set);
	sqlite3_stmt *st[] = { e->changes,	e->facts,      e->params,
			       e->cursor_get,	e->cursor_set, e->prune,
			       e->data_version, e->pending,    e->has_incoming };
	sqlite3_stmt *fair[] = { e->deferred,	    e->any_deferred, e->defer,	     e->undefer,
				 e->deferred_after, e->health_load,  e->health_batch };
	for (size_t i = 0; i < sizeof fair / sizeof *fair; i++)
		sqlite3_finalize(fair[i]);
	for (size_t i = 0; i < sizeof st / sizeof *st; i++)
		sqlite3_finalize(st[i]);
	if (e->in.db)
		ingest_close(&e->in);
	if (e->actions.db)
		actions_close(&e->actions);
	directory_free(&e->dir);
	for (size_t i = 0; i < e->evcap; i++) {
		history_free(&e->ev[i].h[0]);
		history_free(&e->ev[i].h[1]);
		actions_draft_free(&e->ev[i].draft[0]);
		actions_draft_free(&e->ev[i].draft[1]);
	}
	free(e->ev);
	pthread_mutex_destroy(&e->lock);
	memset(e, 0, sizeof *e);
}

/* Thresholds from `rollcall params`, within the policy's bounds. */
static int apply_params(struct engine *e, struct policy *p)
{
	for (int i = 0; i < p->nparams; i++)
		p->params[i].value = p->params[i].def;
	sqlite3_bind_text(e->params, 1, p->org, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(e->params)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(e->params, 0);
		double v = sqlite3_column_double(e->params, 1);
		int i = policy_param(p, name);
		if (i < 0)
			continue; /* a param the policy no longer declares */
		const char *why = policy_param_refuses(&p->params[i], v);
		if (why) { /* the policy's bounds changed since it was set */
			char value[32];
			snprintf(value, sizeof value, "%g", v);
			log_event(LOG_WARN, "stored param not in force: using the default", "org",
				  p->org, "param", name, "value", value, "why", why, NULL);
			continue;
		}
		p->params[i].value = v;
	}
	sqlite3_reset(e->params);
	return rc == SQLITE_DONE ? 0 : db_fail(e->db, "reading params");
}

static int by_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Read what the engine knows of a pupil into v (its strings live until the
 * facts statement is reset, or the directory reloads). 1 found, 0 no such
 * pupil, -1 on error. */
static int pupil_facts(struct engine *e, uint32_t pupil, struct history *h, struct pupil_view *v)
{
	if (e->dir.pupil) {
		const struct dir_pupil *p = directory_pupil(&e->dir, pupil);
		if (!p)
			return 0;
		const struct dir_school *s = &e->dir.school[p->school];
		*v = (struct pupil_view){
			.id = pupil,
			.upn = p->upn,
			.urn = (int)s->urn,
			.year_group = p->year_group,
			.social_worker = p->social_worker,
			.sen = p->sen,
			.fsm = p->fsm,
			.la_code = s->la_code,
			.trust_id = s->trust_id[0] ? s->trust_id : NULL,
			.h = h,
		};
		return 1;
	}
	sqlite3_stmt *f = e->facts;
	sqlite3_bind_int64(f, 1, pupil);
	int rc = sqlite3_step(f);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(f);
		return rc == SQLITE_DONE ? 0 : db_fail(e->db, "reading a pupil");
	}
	*v = (struct pupil_view){
		.id = pupil,
		.upn = (const char *)sqlite3_column_text(f, 0),
		.urn = sqlite3_column_int(f, 1),
		.year_group = (const char *)sqlite3_column_text(f, 2),
		.social_worker = sqlite3_column_int(f, 3),
		.sen = *(const char *)sqlite3_column_text(f, 4),
		.fsm = sqlite3_column_int(f, 5),
		.la_code = (const char *)sqlite3_column_text(f, 6),
		.trust_id = (const char *)sqlite3_column_text(f, 7),
		.h = h,
	};
	return 1;
}

/* Run one policy for one pupil, deciding into draft. Returns 0 (a policy
 * error is counted; the first ENGINE_ERRORS_LOGGED a batch are logged, each
 * naming its pupil, and the rest counted), or -1 on a database error. */
static int run_policy(struct engine *e, struct policy *p, struct pupil_view *v,
		      struct actions_draft *draft, struct batch_stats *st)
{
	char err[4096];
	struct policy_tally *t = tally_of(e, p);
	st->calls++;
	int rc = policy_evaluate(p, v, &e->actions, draft, err, sizeof err);
	if (rc == -2)
		return -1;
	if (t)
		t->calls++;
	if (rc < 0) {
		st->errors++;
		if (p->errors++ < ENGINE_ERRORS_LOGGED)
			log_event(LOG_ERROR, "policy error", "org", p->org, "file", p->path,
				  "pupil", v->upn, "error", err, NULL);
		if (t) { /* for policy_health: what `rollcall status` says */
			t->failed++;
			free(t->error);
			size_t len = strnlen(err, ENGINE_ERROR_KEPT);
			t->error = xmalloc(len + 1);
			memcpy(t->error, err, len);
			t->error[len] = '\0';
			snprintf(t->upn, sizeof t->upn, "%s", v->upn);
		}
	}
	return 0;
}

/* The loaded policy for prefix + code ("la:" + "355"), or NULL. */
static struct policy *policy_for(struct engine *e, const char *prefix, const char *code)
{
	char org[24];
	snprintf(org, sizeof org, "%s%s", prefix, code);
	return policy_set_find(&e->set, org);
}

/* Deal the loaded policies out to the batch's threads, one per core (at
 * most EVAL_THREADS_MAX); returns how many threads. */
static int deal_policies(struct engine *e, size_t pupils)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int threads = cpus < 1 ? 1 : cpus > EVAL_THREADS_MAX ? EVAL_THREADS_MAX : (int)cpus;
	if (threads > e->set.npolicies)
		threads = e->set.npolicies > 0 ? e->set.npolicies : 1;
	if (pupils < 2)
		threads = 1;
	for (int i = 0; i < e->set.npolicies; i++)
		e->set.policies[i]->owner = i % threads;
	return threads;
}

/* Each distinct pupil of the batch's sorted list, read before any policy
 * runs: its facts, its history and the policies that cover it. Returns the
 * number read (pupils no longer known are left out), or -1. */
static long read_pupils(struct engine *e, const uint32_t *pupils, size_t n,
			const struct retry *retry, size_t nretry)
{
	if (!e->dir.pupil) { /* each view's strings point into the directory */
		error("%s: the pupils directory is not loaded", e->db->path);
		return -1;
	}
	struct registers *reg = &e->in.reg;
	int year = reg->nyears ? reg->years[reg->nyears - 1] : 0;
	if (n + nretry > e->evcap) {
		e->ev = xrealloc(e->ev, (n + nretry) * sizeof *e->ev);
		memset(e->ev + e->evcap, 0, (n + nretry - e->evcap) * sizeof *e->ev);
		e->evcap = n + nretry;
	}
	long m = 0;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && pupils[i] == pupils[i - 1])
			continue;
		struct evaluation *x = &e->ev[m];
		int rc = pupil_facts(e, pupils[i], &x->h[0], &x->v[0]);
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		if (register_history(reg, pupils[i], year, &x->h[0]) < 0)
			return -1;
		x->policy[0] = policy_for(e, "la:", x->v[0].la_code);
		x->policy[1] = x->v[0].trust_id ? policy_for(e, "trust:", x->v[0].trust_id) : NULL;
		/* the trust's own copy, if another thread runs it */
		int apart =
			x->policy[0] && x->policy[1] && x->policy[0]->owner != x->policy[1]->owner;
		if (apart && history_copy(&x->h[1], &x->h[0]) < 0) {
			error("%s: out of memory for pupil %u's history", e->db->path, pupils[i]);
			return -1;
		}
		x->v[1] = x->v[0];
		if (apart)
			x->v[1].h = &x->h[1];
		x->retried = NULL;
		x->defer[0] = x->defer[1] = 0;
		/* an organisation whose file does not load keeps the pupil */
		x->unloaded[0] = x->policy[0] ? NULL : unloaded_org(e, "la:", x->v[0].la_code);
		x->unloaded[1] = x->policy[1] ? NULL : unloaded_org(e, "trust:", x->v[0].trust_id);
		m++;
	}
	/* Pupils waiting for a policy that was cut off, now retried: that
	 * policy alone, unless the pupil changed and is evaluated above. */
	for (size_t i = 0; i < nretry; i++) {
		struct evaluation *x = &e->ev[m];
		x->v[0].id = retry[i].pupil;
		if (n && bsearch(&retry[i].pupil, pupils, n, sizeof *pupils, by_id)) {
			x->retried = retry[i].policy; /* only to leave `deferred` */
			x->policy[0] = x->policy[1] = NULL;
			x->defer[0] = x->defer[1] = 0;
			x->unloaded[0] = x->unloaded[1] = NULL;
			m++;
			continue;
		}
		int rc = pupil_facts(e, retry[i].pupil, &x->h[0], &x->v[0]);
		if (rc < 0)
			return -1;
		x->v[0].id = retry[i].pupil;
		if (rc > 0 && register_history(reg, retry[i].pupil, year, &x->h[0]) < 0)
			return -1;
		x->retried = retry[i].policy;
		/* a pupil gone, or moved to a school the policy does not cover,
		 * just leaves `deferred` */
		int covers =
			rc > 0 && (retry[i].policy == policy_for(e, "la:", x->v[0].la_code) ||
				   (x->v[0].trust_id &&
				    retry[i].policy == policy_for(e, "trust:", x->v[0].trust_id)));
		x->policy[0] = covers ? retry[i].policy : NULL;
		x->policy[1] = NULL;
		x->defer[0] = x->defer[1] = 0;
		x->unloaded[0] = x->unloaded[1] = NULL;
		m++;
	}
	return m;
}

struct worker {
	struct engine *e;
	long n;
	int k;
	struct batch_stats st;
	atomic_int *failed;  /* 1: a database error; 2: interrupted */
	atomic_int *running; /* threads other than the first still working */
	double ask_at;	     /* the first thread: when to ask about SIGTERM again */
	pthread_t thread;
};

#define INTERRUPT_EVERY 0.05 /* seconds between looks for SIGTERM during a batch */

/* Run, for every pupil read, the policies that thread k owns. */
static void *work(void *arg)
{
	struct worker *w = arg;
	struct engine *e = w->e;
	for (long i = 0; i < w->n && !atomic_load(w->failed); i++) {
		if (w->k == 0 && e->interrupted && monotonic_seconds() >= w->ask_at) {
			w->ask_at = monotonic_seconds() + INTERRUPT_EVERY;
			if (e->interrupted(e->interrupt_arg))
				atomic_store(w->failed, 2);
		}
		for (int j = 0; j < 2; j++) {
			struct evaluation *x = &e->ev[i];
			struct policy *p = x->policy[j];
			if (!p || p->owner != w->k)
				continue;
			if (p->cut_off) {
				x->defer[j] = 1;
				continue;
			}
			if (run_policy(e, p, &x->v[j], &x->draft[j], &w->st) < 0)
				atomic_store(w->failed, 1);
			/* One policy that keeps going over its budget must not take
			 * the batch's time from the others: cut it off. The pupil of
			 * a stopped call waits for it too (a loaded machine may have
			 * stopped an honest call at its deadline). */
			if (p->sb.last_stopped) {
				x->defer[j] = 1;
				if (++p->stops >= ENGINE_STOPS_MAX)
					p->cut_off = 1;
			}
		}
	}
	if (w->k > 0)
		atomic_fetch_sub(w->running, 1);
	return NULL;
}

/* Run the policies over the n pupils read. A Lua state belongs to one
 * thread at a time, so policies are dealt out to the threads
 * (deal_policies), and each thread runs its own for every pupil; what they
 * record goes through the one connection, under its lock. A pupil's
 * actions for one organisation come from one thread in pupil order, so
 * what is recorded does not depend on the threads; only the order of the
 * rows of different organisations does. Returns 0, 1 if interrupted, or
 * -1. */
static int run_policies(struct engine *e, long n, int threads, struct batch_stats *st)
{
	struct worker w[EVAL_THREADS_MAX];
	atomic_int failed = 0, running = 0;
	if (threads > 1)
		e->db->shared = &e->lock;
	int started = 0;
	for (int k = 0; k < threads; k++) {
		w[k] = (struct worker){
			.e = e, .n = n, .k = k, .failed = &failed, .running = &running
		};
		if (k > 0)
			atomic_fetch_add(&running, 1);
		if (k > 0 && pthread_create(&w[k].thread, NULL, work, &w[k]) != 0) {
			atomic_fetch_sub(&running, 1);
			error("cannot start an evaluation thread");
			atomic_store(&failed, 1);
			break;
		}
		started++;
	}
	work(&w[0]);
	/* the first thread's pupils are done: it keeps listening for SIGTERM
	 * while the others finish theirs */
	while (atomic_load(&running) > 0 && !atomic_load(&failed)) {
		struct timespec nap = { 0, 10 * 1000000L };
		nanosleep(&nap, NULL);
		if (e->interrupted && e->interrupted(e->interrupt_arg))
			atomic_store(&failed, 2);
	}
	for (int k = 1; k < started; k++)
		pthread_join(w[k].thread, NULL);
	e->db->shared = NULL;
	for (int k = 0; k < started; k++) {
		st->calls += w[k].st.calls;
		st->errors += w[k].st.errors;
	}
	st->pupils = n;
	int f = atomic_load(&failed);
	return f == 2 ? 1 : f ? -1 : 0;
}

/* One replayed call: run_policy's work, and the first failures kept for
 * the replay's last word, each from a pupil not kept before it. */
static int replay_call(struct engine *e, struct policy *p, struct pupil_view *v,
		       struct actions_draft *draft, struct replay *r)
{
	char err[4096];
	r->calls++;
	int rc = policy_evaluate(p, v, &e->actions, draft, err, sizeof err);
	if (rc == -2)
		return -1;
	if (rc == 0)
		return actions_commit(&e->actions, draft) < 0 ? -1 : 0;
	r->errors++;
	if (p->errors++ < ENGINE_ERRORS_LOGGED)
		log_event(LOG_ERROR, "policy error", "org", p->org, "file", p->path, "pupil",
			  v->upn, "error", err, NULL);
	if (r->nkept < REPLAY_ERRORS_KEPT &&
	    (!r->nkept || strcmp(r->kept[r->nkept - 1].upn, v->upn) != 0)) {
		snprintf(r->kept[r->nkept].upn, sizeof r->kept[0].upn, "%s", v->upn);
		snprintf(r->kept[r->nkept].error, sizeof r->kept[0].error, "%.*s",
			 (int)strcspn(err, "\n"), err);
		r->nkept++;
	}
	return 0;
}

int engine_replay(struct engine *e, struct policy *p, struct replay *r)
{
	int trust = !strncmp(p->org, "trust:", 6);
	sqlite3_stmt *list = db_prepare(
		e->db, trust ? "SELECT p.id FROM pupils p JOIN schools s ON s.urn = p.urn WHERE "
			       "s.trust_id = ?1 AND (?2 IS NULL OR p.upn = ?2) ORDER BY p.id"
			     : "SELECT p.id FROM pupils p JOIN schools s ON s.urn = p.urn WHERE "
			       "s.la_code = ?1 AND (?2 IS NULL OR p.upn = ?2) ORDER BY p.id");
	uint32_t *pupils = NULL;
	size_t n = 0, cap = 0;
	struct history h = { 0 };
	struct actions_draft draft = { 0 };
	int rc = list ? 0 : -1;

	r->pupils = r->calls = r->errors = r->nkept = 0;
	if (list) {
		sqlite3_bind_text(list, 1, strchr(p->org, ':') + 1, -1, SQLITE_STATIC);
		if (r->upn)
			sqlite3_bind_text(list, 2, r->upn, -1, SQLITE_STATIC);
	}
	while (rc == 0 && sqlite3_step(list) == SQLITE_ROW) {
		if (n == cap)
			pupils = xrealloc(pupils, (cap = cap ? cap * 2 : 1024) * sizeof *pupils);
		pupils[n++] = (uint32_t)sqlite3_column_int64(list, 0);
	}
	sqlite3_finalize(list);
	p->errors = p->logs = 0;
	if (rc == 0)
		rc = apply_params(e, p);
	for (int k = 0; rc == 0 && k < r->nparams; k++) {
		r->params[k].in_force = p->params[r->params[k].index].value;
		p->params[r->params[k].index].value = r->params[k].value;
	}
	/* Each pupil's sessions in order: repeats, cases and the framework's
	 * limits are per pupil, so pupil by pupil gives what day by day would. */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (i % 1000 == 0 && ((i && db_commit(e->db) < 0) || db_exec(e->db, "BEGIN") < 0)) {
			rc = -1;
			break;
		}
		if (r->progress && i % 1000 == 0)
			r->progress((long)i, (long)n);
		struct pupil_view v;
		int found = pupil_facts(e, pupils[i], &h, &v);
		if (found <= 0) {
			rc = found;
			continue;
		}
		r->pupils++;
		rc = register_history(&e->in.reg, pupils[i], 0, &h);
		int all = h.nslots;
		/* As live, where each register may come in a batch of its own: after
		 * the AM, seeing the AM alone, then after the PM. The history is cut
		 * after the session (nslots), so p, its windows and today() are what
		 * the live engine saw then; nothing is copied or allocated. */
		for (int s = 0; rc == 0 && s < all; s++) {
			if (!h.slot[s])
				continue;
			if (h.first_day + s / 2 > r->to)
				break;
			h.nslots = s + 1;
			rc = replay_call(e, p, &v, &draft, r);
		}
		h.nslots = all;
		sqlite3_reset(e->facts);
	}
	if (n && rc == 0 && db_commit(e->db) < 0)
		rc = -1;
	db_rollback(e->db);
	if (r->progress && rc == 0)
		r->progress((long)n, (long)n);
	if (p->errors > ENGINE_ERRORS_LOGGED) {
		char more[32];
		snprintf(more, sizeof more, "%ld", p->errors - ENGINE_ERRORS_LOGGED);
		log_event(LOG_WARN, "more policy errors in this replay", "org", p->org, "file",
			  p->path, "count", more, NULL);
	}
	free(pupils);
	history_free(&h);
	actions_draft_free(&draft);
	return rc;
}

int engine_sample(struct engine *e, struct policy *p, int max, engine_call_fn each, void *arg,
		  long *pupils, long *calls)
{
	int trust = !strncmp(p->org, "trust:", 6);
	sqlite3_stmt *list =
		db_prepare(e->db, trust ? "SELECT p.id FROM pupils p JOIN schools s ON "
					  "s.urn = p.urn WHERE s.trust_id = ? ORDER BY p.id"
					: "SELECT p.id FROM pupils p JOIN schools s ON "
					  "s.urn = p.urn WHERE s.la_code = ? ORDER BY p.id");
	/* the pupil's own actions and case, into the caller's TEMP copies */
	sqlite3_stmt *copy[2] = {
		db_prepare(e->db, "INSERT INTO temp.actions SELECT * FROM main.actions WHERE "
				  "org = ?1 AND pupil = ?2"),
		db_prepare(e->db, "INSERT INTO temp.cases SELECT * FROM main.cases WHERE org = ?1 "
				  "AND pupil = ?2"),
	};
	uint32_t *ids = NULL;
	size_t n = 0, cap = 0;
	struct history h = { 0 };
	struct actions_draft draft = { 0 };
	char err[4096];
	int rc = list && copy[0] && copy[1] ? 0 : -1, step;

	*pupils = *calls = 0;
	if (rc == 0) {
		sqlite3_bind_text(list, 1, strchr(p->org, ':') + 1, -1, SQLITE_STATIC);
		while ((step = sqlite3_step(list)) == SQLITE_ROW) {
			if (n == cap)
				ids = xrealloc(ids, (cap = cap ? cap * 2 : 1024) * sizeof *ids);
			ids[n++] = (uint32_t)sqlite3_column_int64(list, 0);
		}
		if (step != SQLITE_DONE)
			rc = db_fail(e->db, "listing pupils");
	}
	p->errors = p->logs = 0;
	if (rc == 0 && (apply_params(e, p) < 0 || db_exec(e->db, "BEGIN") < 0))
		rc = -1;
	struct registers *reg = &e->in.reg;
	int year = reg->nyears ? reg->years[reg->nyears - 1] : 0;
	size_t take = n < (size_t)max ? n : (size_t)max;
	int enough = 0; /* the caller has heard enough */
	for (size_t k = 0; rc == 0 && !enough && k < take; k++) {
		/* spread over the id range: every (n / max)-th */
		uint32_t id =
			ids[n <= (size_t)max ? k : (size_t)((unsigned long long)k * n / take)];
		struct pupil_view v;
		int found = pupil_facts(e, id, &h, &v), day, session, code;
		if (found <= 0) {
			rc = found;
			continue;
		}
		if (register_history(reg, id, year, &h) < 0)
			rc = -1;
		for (int c = 0; rc == 0 && c < 2; c++) {
			sqlite3_bind_text(copy[c], 1, p->org, -1, SQLITE_STATIC);
			sqlite3_bind_int64(copy[c], 2, id);
			if (sqlite3_step(copy[c]) != SQLITE_DONE)
				rc = db_fail(e->db, "reading a pupil's actions");
			sqlite3_reset(copy[c]);
		}
		++*pupils;
		if (rc == 0 && stats_latest(&h, &day, &session, &code)) {
			++*calls;
			double t0 = monotonic_seconds();
			int r = policy_evaluate(p, &v, &e->actions, &draft, err, sizeof err);
			actions_draft_reset(&draft); /* decided, never recorded */
			if (r == -2)
				rc = -1;
			else
				enough = each(&v, day, r < 0 ? err : NULL, monotonic_seconds() - t0,
					      arg);
		}
		sqlite3_reset(e->facts);
	}
	db_rollback(e->db); /* the copies go with it */
	sqlite3_finalize(list);
	sqlite3_finalize(copy[0]);
	sqlite3_finalize(copy[1]);
	free(ids);
	history_free(&h);
	actions_draft_free(&draft);
	return rc;
}

/* Move the cursor to seq and prune the changes below it. The prune runs
 * only if the move succeeded: SQLite may roll the whole transaction back
 * when a statement fails (out of memory, a full disk, an I/O error), and a
 * statement run after that is in autocommit mode and commits on its own.
 * Run regardless, the prune deleted the batch's changes while its actions
 * and the cursor were rolled back: those pupils were never evaluated
 * (found by tests/test_faults.c, one allocation failing in SQLite). */
static int set_cursor(struct engine *e, long long seq)
{
	sqlite3_bind_int64(e->cursor_set, 1, seq);
	int rc = sqlite3_step(e->cursor_set);
	if (rc == SQLITE_DONE) {
		sqlite3_bind_int64(e->prune, 1, seq);
		rc = sqlite3_step(e->prune);
	}
	int failed = rc == SQLITE_DONE ? 0 : db_fail(e->db, "moving the cursor");
	sqlite3_reset(e->cursor_set);
	sqlite3_reset(e->prune);
	return failed;
}

void engine_log_batch(const struct batch_stats *st)
{
	char marks[24], rejected[24], pupils[24], calls[24], actions[24], errors[24], secs[24],
		locked[24];
	snprintf(marks, sizeof marks, "%ld", st->marks);
	snprintf(rejected, sizeof rejected, "%ld", st->rejected);
	snprintf(pupils, sizeof pupils, "%ld", st->pupils);
	snprintf(calls, sizeof calls, "%ld", st->calls);
	snprintf(actions, sizeof actions, "%ld", st->actions);
	snprintf(errors, sizeof errors, "%ld", st->errors);
	snprintf(secs, sizeof secs, "%.3f", st->seconds);
	snprintf(locked, sizeof locked, "%.3f", st->locked);
	log_event(LOG_INFO, "batch", "marks", marks, "rejected", rejected, "pupils", pupils,
		  "policy_calls", calls, "actions", actions, "policy_errors", errors, "seconds",
		  secs, "locked_seconds", locked, NULL);
}

/* 1 if `deferred` holds pupils for a loaded policy that is not waiting
 * out a cut-off: queued by `rollcall reevaluate`, or left by a version
 * that did not load. One look per organisation that has rows, from the
 * table's key. */
static int deferred_due(struct engine *e)
{
	double now = monotonic_seconds();
	char *org = xstrdup(""); /* any text another writer stored */
	int rc, due = 0;
	sqlite3_stmt *st = e->deferred_after;
	for (;;) {
		sqlite3_bind_text(st, 1, org, -1, SQLITE_TRANSIENT);
		if ((rc = sqlite3_step(st)) != SQLITE_ROW)
			break;
		free(org);
		org = xstrdup(sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
							 : "");
		sqlite3_reset(st);
		struct policy *p = policy_set_find(&e->set, org);
		if (p && p->retry_at <= now) {
			due = 1;
			break;
		}
	}
	sqlite3_reset(st);
	free(org);
	return due || rc == SQLITE_DONE ? due : db_fail(e->db, "looking for deferred pupils");
}

int engine_pending(struct engine *e)
{
	int rc = sqlite3_step(e->pending);
	int work = rc == SQLITE_ROW && sqlite3_column_int(e->pending, 0);
	sqlite3_reset(e->pending);
	if (rc != SQLITE_ROW)
		return db_fail(e->db, "looking for work");
	return work ? 1 : deferred_due(e);
}

/* A configured batch size, halved for each step of e->shrink (at least 1). */
static long batch_size(const struct engine *e, long configured)
{
	long n = configured >> e->shrink;
	return n > 0 ? n : 1;
}

int engine_shrink(struct engine *e)
{
	/* The write-ahead log may be what fills the disk: put what it holds
	 * into the database and cut it back to nothing (best effort). */
	sqlite3_exec(e->db->h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	if (batch_size(e, e->cfg->batch_rows) == 1 && batch_size(e, e->cfg->batch_pupils) == 1)
		return 0;
	e->shrink++;
	return 1;
}

long engine_batch_rows(const struct engine *e)
{
	return batch_size(e, e->cfg->batch_rows);
}

/* The evaluation cursor (0 before the first batch). A failure to read it
 * is a failure, never a cursor of 0: read as 0 in step 3 it looked like
 * another evaluator's work and the batch was dropped as done (found by
 * tests/test_faults.c, an allocation failing in SQLite). Returns 0 or the
 * failure. */
static int get_cursor(struct engine *e, long long *cursor)
{
	*cursor = 0;
	int rc = sqlite3_step(e->cursor_get);
	if (rc == SQLITE_ROW)
		*cursor = sqlite3_column_int64(e->cursor_get, 0);
	int failed =
		rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(e->db, "reading the cursor");
	sqlite3_reset(e->cursor_get);
	return failed;
}

/* Read what changed since the cursor, up to batch_pupils entries: the
 * pupils (sorted, with repeats) and the last seq read. */
static int read_changes(struct engine *e, uint32_t **pupils, size_t *n, long long *cursor,
			long long *last)
{
	size_t cap = 0;
	int rc = get_cursor(e, cursor);
	if (rc < 0)
		return rc;
	*last = *cursor;
	sqlite3_bind_int64(e->changes, 1, *cursor);
	sqlite3_bind_int64(e->changes, 2, batch_size(e, e->cfg->batch_pupils));
	while ((rc = sqlite3_step(e->changes)) == SQLITE_ROW) {
		if (*n == cap)
			*pupils = xrealloc(*pupils, (cap = cap ? cap * 2 : 1024) * sizeof **pupils);
		*last = sqlite3_column_int64(e->changes, 0);
		(*pupils)[(*n)++] = (uint32_t)sqlite3_column_int64(e->changes, 1);
	}
	sqlite3_reset(e->changes);
	if (rc != SQLITE_DONE)
		return db_fail(e->db, "reading changes");
	if (*n) /* id order is register order */
		qsort(*pupils, *n, sizeof **pupils, by_id);
	return 0;
}

/* Which policies run in this batch: one cut off waits until its retry
 * time. The pupils waiting in `deferred` for the others are read into
 * *retry. Returns how many, or -1. */
static long begin_fairness(struct engine *e, struct retry **retry)
{
	double now = monotonic_seconds();
	e->retry_at = 0;
	for (int i = 0; i < e->set.npolicies; i++) {
		struct policy *p = e->set.policies[i];
		struct policy_tally *t = &e->tally[i];
		free(t->error);
		*t = (struct policy_tally){ 0 };
		p->stops = 0;
		p->cut_off = p->retry_at > now;
		if (p->cut_off && (!e->retry_at || p->retry_at < e->retry_at))
			e->retry_at = p->retry_at;
	}
	long n = 0, cap = 0, room = batch_size(e, e->cfg->batch_pupils);
	int rc = sqlite3_step(e->any_deferred);
	int any = rc == SQLITE_ROW && sqlite3_column_int(e->any_deferred, 0);
	sqlite3_reset(e->any_deferred);
	if (rc != SQLITE_ROW)
		return db_fail(e->db, "reading deferred pupils");
	/* Each policy's own, so that rows left by a policy that is gone, or
	 * one still waiting, never crowd out another's. */
	for (int i = 0; any && i < e->set.npolicies && n < room; i++) {
		struct policy *p = e->set.policies[i];
		if (p->cut_off)
			continue;
		sqlite3_bind_text(e->deferred, 1, p->org, -1, SQLITE_STATIC);
		sqlite3_bind_int64(e->deferred, 2, room - n);
		while ((rc = sqlite3_step(e->deferred)) == SQLITE_ROW) {
			if (n == cap)
				*retry = xrealloc(*retry, (size_t)(cap = cap ? 2 * cap : 256) *
								  sizeof **retry);
			(*retry)[n++] =
				(struct retry){ p, (uint32_t)sqlite3_column_int64(e->deferred, 0) };
		}
		sqlite3_reset(e->deferred);
		if (rc != SQLITE_DONE)
			return db_fail(e->db, "reading deferred pupils");
	}
	return n;
}

static int defer_step(struct engine *e, sqlite3_stmt *st, const char *org, uint32_t pupil)
{
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, pupil);
	return db_step_done(e->db, st, "keeping deferred pupils");
}

/* In the recording transaction, first: the pupil of a retried
 * evaluation leaves `deferred`. If it was no longer there, another
 * evaluator (a `run --once` beside the service) took it first: what was
 * decided for it is dropped. Returns 0 or -1. */
static int undefer(struct engine *e, struct evaluation *x)
{
	if (!x->retried)
		return 0;
	if (defer_step(e, e->undefer, x->retried->org, x->v[0].id) < 0)
		return -1;
	if (sqlite3_changes(e->db->h) == 0)
		actions_draft_reset(&x->draft[0]);
	return 0;
}

/* Then, once every retried pupil has left: the pupils a cut-off policy
 * did not see, or stopped on, wait in `deferred` (again), and so do those
 * of an organisation whose policy file is there but does not load. One
 * row per organisation and pupil (its key): at most the organisation's
 * pupils, however many batches they change in. Last, policy_health takes
 * what the batch's calls came to: all in the recording transaction. */
static int defer_all(struct engine *e, long n)
{
	for (long i = 0; i < n; i++) {
		struct evaluation *x = &e->ev[i];
		for (int j = 0; j < 2; j++) {
			if (x->defer[j] &&
			    defer_step(e, e->defer, x->policy[j]->org, x->v[j].id) < 0)
				return -1;
			if (x->unloaded[j] &&
			    defer_step(e, e->defer, x->unloaded[j], x->v[0].id) < 0)
				return -1;
		}
	}
	return health_record(e);
}

/* After the batch: a policy cut off in it waits, longer each time in a
 * row; one that ran it through starts afresh. Logged once a cut-off. */
static void end_fairness(struct engine *e)
{
	double now = monotonic_seconds();
	e->health_dirty = 0; /* committed with the batch (health_record) */
	for (int i = 0; i < e->set.npolicies; i++) {
		struct policy *p = e->set.policies[i];
		if (!p->cut_off) {
			p->backoff = 0;
			continue;
		}
		if (p->retry_at > now)
			continue; /* was waiting, still is */
		int wait = ENGINE_RETRY_SECONDS << (p->backoff < 6 ? p->backoff : 6);
		if (wait > ENGINE_RETRY_MAX_SECONDS)
			wait = ENGINE_RETRY_MAX_SECONDS;
		p->backoff++;
		p->retry_at = now + wait;
		if (!e->retry_at || p->retry_at < e->retry_at)
			e->retry_at = p->retry_at;
		char stops[16], secs[16];
		snprintf(stops, sizeof stops, "%d", p->stops);
		snprintf(secs, sizeof secs, "%d", wait);
		log_event(LOG_WARN,
			  "policy cut off: its calls keep going over their budget; its pupils wait "
			  "in deferred",
			  "org", p->org, "file", p->path, "stopped_calls", stops, "retry_in_s",
			  secs, NULL);
	}
}

double engine_retry_at(const struct engine *e)
{
	return e->retry_at;
}

/* data_version moves when another connection commits: then cached pupils
 * and the list of register years may be out of date. */
static int refresh(struct engine *e)
{
	long long version = -1;
	if (sqlite3_step(e->data_version) == SQLITE_ROW)
		version = sqlite3_column_int64(e->data_version, 0);
	sqlite3_reset(e->data_version);
	e->in.dir = &e->dir; /* the service keeps every pupil in memory */
	if ((version != e->seen_version || !e->dir.pupil) && ingest_refresh(&e->in) < 0)
		return -1;
	e->seen_version = version;
	return 0;
}

/* What the first n evaluations decided, left unrecorded. */
static void drop_drafts(struct engine *e, long n)
{
	for (long i = 0; i < n; i++)
		for (int j = 0; j < 2; j++)
			actions_draft_reset(&e->ev[i].draft[j]);
}

/*
 * One batch, in three steps, so that no policy runs while the write lock
 * is held (a slow or hostile policy must not stall the other writers):
 *
 *  1. store: rows taken from incoming become marks (or rejects) and
 *     changes, in one short write transaction;
 *  2. decide: on a read snapshot, every pupil changed past the cursor is
 *     read and its policies run, each call deciding into a draft;
 *  3. record: in one write transaction, every draft is recorded with each
 *     rule checked again, and the cursor moves past what was decided.
 *
 * A crash after 1 leaves the marks stored and their changes past the
 * cursor: evaluated on restart. The cursor and the actions commit
 * together in 3, so nothing is lost or recorded twice whatever moment the
 * process dies.
 */
int engine_batch(struct engine *e, struct batch_stats *st)
{
	double t0 = monotonic_seconds();
	uint32_t *pupils = NULL;
	struct retry *retry = NULL;
	long long cursor = 0, last = 0;
	size_t n = 0;
	long taken = 0;
	int rc; /* a failure is that of the call that failed: busy, full or failed */

	memset(st, 0, sizeof *st);
	/* Rows are taken from incoming only once every change stored before is
	 * evaluated: after a crash (or SIGTERM) between storing and recording,
	 * the stored rows are evaluated on their own, at the same point an
	 * uninterrupted run evaluated them, so it decides the same. */
	int incoming = 0;
	if ((rc = sqlite3_step(e->has_incoming)) == SQLITE_ROW)
		incoming = sqlite3_column_int(e->has_incoming, 0);
	/* A failure to look is a failure, never "nothing waits": read as that,
	 * the batch said it had nothing to do and the service sat on the rows
	 * until another writer committed (tests/test_faults.c, an allocation
	 * failing in SQLite). */
	rc = rc == SQLITE_ROW ? DB_DONE : db_fail(e->db, "looking for incoming rows");
	sqlite3_reset(e->has_incoming);
	if (rc < 0)
		return rc;
	if (incoming) {
		double l0 = monotonic_seconds();
		if ((rc = db_begin(e->db)) < 0)
			return rc;
		ingest_begin(&e->in);
		if ((rc = refresh(e)) < 0)
			goto fail;
		taken = ingest_incoming(&e->in, (int)batch_size(e, e->cfg->batch_rows),
					&st->rejected);
		rc = taken < 0 ? (int)taken : taken > 0 ? ingest_store(&e->in) : DB_DONE;
		if (rc < 0 || (rc = db_commit(e->db)) < 0)
			goto fail;
		st->marks = taken - st->rejected;
		st->locked += monotonic_seconds() - l0;
	}

	if ((rc = db_exec(e->db, "BEGIN")) < 0)
		return rc;
	long nretry = 0;
	if ((rc = refresh(e)) < 0 || (rc = read_changes(e, &pupils, &n, &cursor, &last)) < 0)
		goto fail;
	/* the pupils this snapshot decides for: if they change before the
	 * decisions are recorded (a pupil erased, `rollcall erase`), the
	 * batch is decided again rather than recorded for a pupil now gone */
	long long pupils_version = directory_version(e->db);
	if (pupils_version < 0) {
		rc = DB_FAILED;
		goto fail;
	}
	if ((nretry = begin_fairness(e, &retry)) < 0) {
		rc = (int)nretry;
		goto fail;
	}
	if (n == 0 && nretry == 0) {
		db_rollback(e->db);
		free(pupils);
		free(retry);
		st->seconds = monotonic_seconds() - t0;
		return taken > 0;
	}
	for (int i = 0; i < e->set.npolicies; i++) {
		e->set.policies[i]->errors = e->set.policies[i]->logs = 0;
		if ((rc = apply_params(e, e->set.policies[i])) < 0)
			goto fail;
	}
	int threads = deal_policies(e, n + (size_t)nretry);
	long read = read_pupils(e, pupils, n, retry, (size_t)nretry);
	rc = read < 0 ? (int)read : run_policies(e, read, threads, st);
	free(pupils);
	free(retry);
	pupils = NULL;
	retry = NULL;
	if (rc < 0)
		goto fail;
	db_rollback(e->db); /* the snapshot: nothing was written */
	if (rc > 0) {	    /* interrupted: decided again after a restart */
		drop_drafts(e, read);
		st->seconds = monotonic_seconds() - t0;
		return taken > 0;
	}

	double l3 = monotonic_seconds();
	if ((rc = db_begin(e->db)) < 0)
		goto fail;
	/* Another evaluator (a `run --once` beside the service) has recorded
	 * these changes since the snapshot: leave them to it. */
	long long now_at = cursor;
	if (n && (rc = get_cursor(e, &now_at)) < 0)
		goto fail;
	if (now_at != cursor) {
		log_event(LOG_WARN, "another evaluator recorded this batch first: left to it", "db",
			  e->db->path, NULL);
		drop_drafts(e, read);
		db_rollback(e->db);
		return 1;
	}
	long long pupils_now = directory_version(e->db);
	if (pupils_now != pupils_version) {
		if (pupils_now >= 0)
			log_event(LOG_INFO,
				  "pupils changed while the batch was decided: decided again", "db",
				  e->db->path, NULL);
		drop_drafts(e, read);
		db_rollback(e->db);
		return pupils_now < 0 ? DB_FAILED : 1;
	}
	for (long i = 0; i < read; i++) {
		if ((rc = undefer(e, &e->ev[i])) < 0)
			goto fail;
		for (int j = 0; j < 2; j++) {
			long k = actions_commit(&e->actions, &e->ev[i].draft[j]);
			if (k < 0) {
				rc = (int)k;
				goto fail;
			}
			st->actions += k;
		}
	}
	if ((rc = defer_all(e, read)) < 0 || (rc = versions_record(e)) < 0 ||
	    (n && (rc = set_cursor(e, last)) < 0) || (rc = db_commit(e->db)) < 0)
		goto fail;
	st->locked += monotonic_seconds() - l3;
	versions_forget(e);
	end_fairness(e);
	if (e->shrink > 0)
		e->shrink--; /* committed: grow back a step at a time */
	for (int i = 0; i < e->set.npolicies; i++) {
		struct policy *p = e->set.policies[i];
		if (p->errors > ENGINE_ERRORS_LOGGED) {
			char more[32];
			snprintf(more, sizeof more, "%ld", p->errors - ENGINE_ERRORS_LOGGED);
			log_event(LOG_WARN, "more policy errors in this batch", "org", p->org,
				  "file", p->path, "count", more, NULL);
		}
	}
	st->seconds = monotonic_seconds() - t0;
	return 1;
fail:
	free(pupils);
	free(retry);
	drop_drafts(e, (long)e->evcap);
	db_rollback(e->db);
	return rc < 0 ? rc : DB_FAILED;
}
