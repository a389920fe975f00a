/*
 * cmd_status.c — `rollcall status [--json] [--max-age SECONDS] [--recent
 * SECONDS]`: the health of a rollcall service, for people and for
 * monitoring checks (cron, Nagios, systemd timers), read from the database
 * and the policies directory: it needs neither the service up nor a word
 * with it.
 *
 * What the evaluator knows of its policies — which files load, which
 * calls failed — it writes to policy_health (engine.c) when it loads them
 * and in each batch's recording transaction; status reads that. Exit
 * status 1, each reason saying what and where, when something needs
 * attention:
 *   - a policy file that does not load or is refused (with no version
 *     running its pupils wait in `deferred`), or a *.lua in the policies
 *     directory not named for an organisation (never loaded);
 *   - policy calls that failed in a policy's last batch, or within
 *     --recent (default a day): the count, the latest error (FILE:LINE)
 *     and its pupil;
 *   - a policy cut off for going over its budget, its pupils waiting;
 *   - rows from incoming rejected, or actions recorded with no endpoint to
 *     go to, within --recent;
 *   - a dead delivery; rows waiting in incoming, pupils waiting for
 *     evaluation, or deliveries due, for longer than --max-age (default
 *     300 s) — which is what a stopped or stuck `rollcall run` looks like
 *     from outside;
 *   - a proposed legal step past the last day it could be decided that
 *     has not expired: the service that expires them is not running;
 *   - a database file that is not the one rollcall run last opened (a
 *     file put in its place under the service).
 *
 * Proposals waiting for a decision are counted (and those due within
 * STATUS_DUE_DAYS), not reasons: deciding them is the officers' work.
 */
#include "cmd.h"
#include "policyset.h"
#include "util.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_AGE_DEFAULT 300
#define RECENT_DEFAULT	86400
#define STATUS_NAMED	10  /* organisations named for each kind of reason; the rest counted */
#define STATUS_ERROR	300 /* bytes of a stored error's first line in a reason */
#define STATUS_DUE_DAYS 2   /* days ahead a waiting proposal counts as due soon */

/* One row of policy_health, and its organisation's rows of `deferred`. */
struct org_health {
	char *org, *file, *sha256, *load_error, *last_error, *last_pupil, *last_failed_at, *cut_off,
		*updated_at;
	int loaded, failed_recently;
	long long calls, failed, deferred, deferred_age, updated_ago;
};

struct health {
	long long incoming, incoming_age; /* rows; seconds the oldest waited (-1: none) */
	long long waiting, evaluated_ago; /* pupils; seconds since the last batch (-1: never) */
	long long delivered, pending, retrying, dead, no_endpoint;
	long long overdue; /* seconds the most overdue pending delivery is late */
	long long oldest_id, oldest_attempts; /* the oldest pending delivery (0: none) */
	char oldest_created[32], oldest_endpoint[128];
	long long deferred;   /* pupils waiting in `deferred`, for any organisation */
	char *deferred_first; /* the first organisation they wait for */
	struct org_health *org;
	int norgs;
	long long orphans, orphan_orgs; /* rows for organisations with no policy file */
	char *orphan_org;
	long long rejected, rejected_line; /* from incoming, within --recent; the latest */
	char *rejected_reason, *rejected_at;
	long long unsent, unsent_id; /* no_endpoint deliveries of recent actions; the latest */
	char *unsent_endpoint, *unsent_org, *unsent_action;
	long long proposed, due_soon, overdue_proposals; /* legal steps waiting for sign-off */
	char *oldest_proposed, *next_decide_by;
	long long disabled;  /* endpoints disabled after disable_after_hours of failures */
	char *disabled_list; /* "NAME since TIME: why; ..." */
	int replaced;	     /* the file is not the one rollcall run last opened */
	char file_then[64], file_now[64];
};

static void health_free(struct health *h)
{
	for (int i = 0; i < h->norgs; i++) {
		struct org_health *o = &h->org[i];
		char *text[] = { o->org,	o->file,       o->sha256,	  o->load_error,
				 o->last_error, o->last_pupil, o->last_failed_at, o->cut_off,
				 o->updated_at };
		for (size_t k = 0; k < sizeof text / sizeof *text; k++)
			free(text[k]);
	}
	free(h->org);
	free(h->deferred_first);
	free(h->orphan_org);
	free(h->rejected_reason);
	free(h->rejected_at);
	free(h->unsent_endpoint);
	free(h->unsent_org);
	free(h->unsent_action);
	free(h->oldest_proposed);
	free(h->next_decide_by);
	free(h->disabled_list);
}

/* sql prepared, with ?1 bound to since when it has a parameter. */
static sqlite3_stmt *query(struct db *db, const char *sql, const char *since)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	if (st && sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_text(st, 1, since, -1, SQLITE_STATIC);
	return st;
}

static long long column_int(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, col);
}

/* Run sql, which yields one row, into the integer columns given (SQL NULL
 * is -1). */
static int row(struct db *db, const char *sql, const char *since, int n, long long *out[])
{
	sqlite3_stmt *st = query(db, sql, since);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	for (int i = 0; rc == SQLITE_ROW && i < n; i++)
		*out[i] = column_int(st, i);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : db_fail(db, "reading the status");
}

/* Run sql, which yields at most one row, into the text columns given (SQL
 * NULL, or no row, is NULL). */
static int text_row(struct db *db, const char *sql, long long arg, int n, char **out[])
{
	sqlite3_stmt *st = db_prepare(db, sql);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, arg);
	int rc = sqlite3_step(st);
	for (int i = 0; rc == SQLITE_ROW && i < n; i++)
		*out[i] = column_safe(st, i, NULL);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(db, "reading the status");
}

static int read_policies(struct db *db, struct health *h, const char *since)
{
	sqlite3_stmt *st = query(
		db,
		"SELECT h.org, h.file, h.sha256, h.loaded, h.load_error, h.calls, h.failed, "
		"h.last_error, h.last_pupil, h.last_failed_at, h.cut_off, h.updated_at, "
		"strftime('%s', 'now') - strftime('%s', h.updated_at), (SELECT count(*) FROM "
		"deferred d WHERE d.org = h.org), (SELECT strftime('%s', 'now') - strftime('%s', "
		"min(since)) FROM deferred d WHERE d.org = h.org), h.last_failed_at >= ?1 FROM "
		"policy_health h ORDER BY h.org",
		since);
	if (!st)
		return -1;
	int rc, cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (h->norgs == cap)
			h->org = xrealloc(h->org,
					  (size_t)(cap = cap ? 2 * cap : 16) * sizeof *h->org);
		struct org_health *o = &h->org[h->norgs++];
		*o = (struct org_health){
			.org = column_safe(st, 0, NULL),
			.file = column_safe(st, 1, NULL),
			.sha256 = column_safe(st, 2, NULL),
			.loaded = sqlite3_column_int(st, 3),
			.load_error = column_safe(st, 4, TEXT_KEEP_JSON),
			.calls = sqlite3_column_int64(st, 5),
			.failed = sqlite3_column_int64(st, 6),
			.last_error = column_safe(st, 7, TEXT_KEEP_JSON),
			.last_pupil = column_safe(st, 8, NULL),
			.last_failed_at = column_safe(st, 9, NULL),
			.cut_off = column_safe(st, 10, NULL),
			.updated_at = column_safe(st, 11, NULL),
			.updated_ago = column_int(st, 12),
			.deferred = sqlite3_column_int64(st, 13),
			.deferred_age = column_int(st, 14),
			.failed_recently = sqlite3_column_int(st, 15),
		};
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "reading policy health");
}

/* Which file rollcall run last opened (meta 'evaluator_file', device and
 * inode, written when it loads its policies) against what the path names
 * now: a backup restored in place, or another file renamed over it, is
 * another inode whatever it holds. */
static int read_file_identity(struct db *db, struct health *h)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT value FROM meta WHERE key = 'evaluator_file'");
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(h->file_then, sizeof h->file_then, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, "reading the status");
	struct stat sb;
	if (*h->file_then && stat(db->path, &sb) == 0) {
		snprintf(h->file_now, sizeof h->file_now, "%" PRIuMAX ":%" PRIuMAX,
			 (uintmax_t)sb.st_dev, (uintmax_t)sb.st_ino);
		h->replaced = strcmp(h->file_then, h->file_now) != 0;
	}
	return 0;
}

static int read_health(struct db *db, struct health *h, const char *since)
{
	long long total = 0;
	char *disabled = NULL;
	memset(h, 0, sizeof *h);
	/* Every query reads one snapshot: the figures agree with each other. */
	if (db_exec(db, "BEGIN") < 0)
		return -1;
	int rc = row(db,
		     "SELECT count(*), strftime('%s', 'now') - strftime('%s', min(received_at)) "
		     "FROM incoming",
		     NULL, 2, (long long *[]){ &h->incoming, &h->incoming_age });
	if (!rc)
		rc = row(db,
			 "SELECT (SELECT count(*) FROM changes WHERE seq > coalesce((SELECT value "
			 "FROM meta WHERE key = 'evaluated_seq'), 0)), strftime('%s', 'now') - "
			 "(SELECT value FROM meta WHERE key = 'evaluated_at')",
			 NULL, 2, (long long *[]){ &h->waiting, &h->evaluated_ago });
	/* A new delivery is due from 0 (at once): it has been due since its
	 * action was recorded, not since 1970. */
	if (!rc)
		rc = row(db,
			 "SELECT (SELECT count(*) FROM deliveries), count(*), "
			 "coalesce(sum(attempts > 0), 0), strftime('%s', 'now') - "
			 "min(max(d.next_attempt_at / 1000, CAST(strftime('%s', a.created_at) AS "
			 "INTEGER))) FROM "
			 "deliveries d JOIN actions a ON a.id = d.action_id WHERE d.state = "
			 "'pending'",
			 NULL, 4,
			 (long long *[]){ &total, &h->pending, &h->retrying, &h->overdue });
	if (!rc)
		rc = row(
			db,
			"SELECT coalesce(sum(state = 'dead'), 0), coalesce(sum(state = "
			"'no_endpoint'), 0) FROM deliveries WHERE state IN ('dead', 'no_endpoint')",
			NULL, 2, (long long *[]){ &h->dead, &h->no_endpoint });
	h->delivered = total - h->pending - h->dead - h->no_endpoint;
	sqlite3_stmt *st = NULL;
	if (!rc && !(st = db_prepare(db, "SELECT d.id, d.attempts, a.created_at, d.endpoint "
					 "FROM deliveries d JOIN actions a ON a.id = d.action_id "
					 "WHERE d.id = (SELECT min(id) FROM deliveries WHERE "
					 "state = 'pending')")))
		rc = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		h->oldest_id = sqlite3_column_int64(st, 0);
		h->oldest_attempts = sqlite3_column_int64(st, 1);
		char *created = column_safe(st, 2, NULL), *endpoint = column_safe(st, 3, NULL);
		snprintf(h->oldest_created, sizeof h->oldest_created, "%s", created ? created : "");
		snprintf(h->oldest_endpoint, sizeof h->oldest_endpoint, "%s",
			 endpoint ? endpoint : "-");
		free(created);
		free(endpoint);
	}
	sqlite3_finalize(st);
	long long id = 0;
	if (!rc)
		rc = row(db, "SELECT count(*) FROM deferred", NULL, 1,
			 (long long *[]){ &h->deferred });
	if (!rc && h->deferred)
		rc = text_row(db, "SELECT min(org) FROM deferred", 0, 1,
			      (char **[]){ &h->deferred_first });
	/* rows for organisations with no policy file: left by a file since
	 * removed; nothing will take them, and nothing is lost by that */
	if (!rc)
		rc = row(db,
			 "SELECT count(*), count(DISTINCT org) FROM deferred WHERE org NOT IN "
			 "(SELECT org FROM policy_health)",
			 NULL, 2, (long long *[]){ &h->orphans, &h->orphan_orgs });
	if (!rc && h->orphans)
		rc = text_row(db,
			      "SELECT min(org) FROM deferred WHERE org NOT IN (SELECT org FROM "
			      "policy_health)",
			      0, 1, (char **[]){ &h->orphan_org });
	if (!rc)
		rc = read_policies(db, h, since);
	if (!rc)
		rc = row(db,
			 "SELECT count(*), max(id) FROM rejected WHERE source = 'incoming' AND "
			 "rejected_at >= ?1",
			 since, 2, (long long *[]){ &h->rejected, &id });
	if (!rc && h->rejected) {
		char *line = NULL;
		rc = text_row(db, "SELECT line, reason, rejected_at FROM rejected WHERE id = ?", id,
			      3, (char **[]){ &line, &h->rejected_reason, &h->rejected_at });
		h->rejected_line = line ? atoll(line) : 0;
		free(line);
	}
	if (!rc)
		rc = row(db,
			 "SELECT count(*), max(d.id) FROM deliveries d JOIN actions a ON a.id = "
			 "d.action_id WHERE d.state = 'no_endpoint' AND a.created_at >= ?1",
			 since, 2, (long long *[]){ &h->unsent, &h->unsent_id });
	if (!rc && h->unsent)
		rc = text_row(
			db,
			"SELECT d.endpoint, a.org, a.action FROM deliveries d JOIN actions a "
			"ON a.id = d.action_id WHERE d.id = ?",
			h->unsent_id, 3,
			(char **[]){ &h->unsent_endpoint, &h->unsent_org, &h->unsent_action });
	char due[256];
	snprintf(due, sizeof due,
		 "SELECT count(*), coalesce(sum(decide_by <= date('now', '+%d days')), 0), "
		 "coalesce(sum(decide_by < date('now')), 0) FROM actions WHERE state = 'proposed'",
		 STATUS_DUE_DAYS);
	if (!rc)
		rc = row(db, due, NULL, 3,
			 (long long *[]){ &h->proposed, &h->due_soon, &h->overdue_proposals });
	if (!rc && h->proposed)
		rc = text_row(db,
			      "SELECT min(date), min(decide_by) FROM actions WHERE state = "
			      "'proposed'",
			      0, 2, (char **[]){ &h->oldest_proposed, &h->next_decide_by });
	if (!rc)
		rc = text_row(
			db,
			"SELECT count(*), group_concat(name || ' since ' || disabled_at || ': ' "
			"|| coalesce(disabled_why, ''), '; ') FROM endpoint_state WHERE "
			"disabled_at IS NOT NULL",
			0, 2, (char **[]){ &disabled, &h->disabled_list });
	h->disabled = disabled ? atoll(disabled) : 0;
	free(disabled);
	if (!rc)
		rc = read_file_identity(db, h);
	db_exec(db, "COMMIT");
	return rc;
}

/* ---- what needs attention ---- */

struct reasons {
	char **line;
	int n, cap;
};

static void say(struct reasons *r, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void say(struct reasons *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (r->n == r->cap)
		r->line = xrealloc(r->line,
				   (size_t)(r->cap = r->cap ? 2 * r->cap : 16) * sizeof *r->line);
	char *s = xmalloc((size_t)len + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)len + 1, fmt, ap);
	va_end(ap);
	r->line[r->n++] = s;
}

/* The first line of a stored error (FILE:LINE: message), bounded, for a
 * terminal: its tabs (kept for JSON) become spaces. */
static const char *first_line(const char *s, char *buf, size_t size)
{
	if (!s)
		return "";
	size_t n = strcspn(s, "\n"), cut = n < STATUS_ERROR ? n : STATUS_ERROR;
	while (cut < n && cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--; /* never inside a UTF-8 sequence: JSON takes only whole ones */
	snprintf(buf, size, "%.*s%s", (int)cut, s, cut < n ? "..." : "");
	for (char *t = buf; (t = strchr(t, '\t'));)
		*t = ' ';
	return buf;
}

/* "24 h", "90 min", "45 s" */
static const char *span(long s, char buf[32])
{
	if (s && s % 3600 == 0)
		snprintf(buf, 32, "%ld h", s / 3600);
	else if (s && s % 60 == 0)
		snprintf(buf, 32, "%ld min", s / 60);
	else
		snprintf(buf, 32, "%ld s", s);
	return buf;
}

/* Each organisation's reasons of one kind, the first STATUS_NAMED named. */
enum org_reason { NOT_LOADED, FAILED_CALLS, CUT_OFF, QUEUED };

static int org_has(const struct org_health *o, enum org_reason kind, long max_age)
{
	switch (kind) {
	case NOT_LOADED: return !o->loaded || o->load_error;
	case FAILED_CALLS: return o->failed > 0 || o->failed_recently;
	case CUT_OFF: return o->loaded && o->cut_off;
	case QUEUED: /* waiting for a policy that runs, and it has not run */
		return o->loaded && !o->cut_off && o->deferred && o->deferred_age > max_age &&
		       o->updated_ago > max_age;
	}
	return 0;
}

static void org_reason(struct reasons *r, const struct org_health *o, enum org_reason kind)
{
	char err[STATUS_ERROR + 8];
	switch (kind) {
	case NOT_LOADED:
		if (!o->loaded)
			say(r,
			    "%s: %s does not load, so no version of it runs; %lld pupils wait for "
			    "it: %s",
			    o->org, o->file, o->deferred,
			    first_line(o->load_error, err, sizeof err));
		else
			say(r,
			    "%s: %s does not load; the previous version (sha256 %.12s) keeps "
			    "running: %s",
			    o->org, o->file, o->sha256 ? o->sha256 : "",
			    first_line(o->load_error, err, sizeof err));
		break;
	case FAILED_CALLS:
		if (o->failed > 0)
			say(r,
			    "%s: %lld of %lld calls failed in its last batch; the latest, at %s "
			    "for pupil %s: %s",
			    o->org, o->failed, o->calls,
			    o->last_failed_at ? o->last_failed_at : "?",
			    o->last_pupil ? o->last_pupil : "?",
			    first_line(o->last_error, err, sizeof err));
		else
			say(r, "%s: a call failed at %s for pupil %s: %s", o->org,
			    o->last_failed_at ? o->last_failed_at : "?",
			    o->last_pupil ? o->last_pupil : "?",
			    first_line(o->last_error, err, sizeof err));
		break;
	case CUT_OFF:
		say(r,
		    "%s: cut off since %s for going over its budget (%s); %lld pupils wait for "
		    "it",
		    o->org, o->cut_off, o->file, o->deferred);
		break;
	case QUEUED:
		say(r,
		    "%s: %lld pupils queued for evaluation for %lld s, and its policy has not "
		    "run since %s: is rollcall run running?",
		    o->org, o->deferred, o->deferred_age, o->updated_at ? o->updated_at : "?");
		break;
	}
}

static void org_reasons(struct reasons *r, const struct health *h, enum org_reason kind,
			long max_age, const char *more)
{
	int n = 0;
	for (int i = 0; i < h->norgs; i++) {
		if (!org_has(&h->org[i], kind, max_age))
			continue;
		if (n++ < STATUS_NAMED)
			org_reason(r, &h->org[i], kind);
	}
	if (n > STATUS_NAMED)
		say(r, "and %d more organisations %s", n - STATUS_NAMED, more);
}

static void attention(struct reasons *r, const struct health *h, long max_age, long recent,
		      const char *since, json_t *unnamed, const char *db_path)
{
	char when[32];
	if (h->replaced)
		say(r,
		    "%s is not the file rollcall run last opened (device:inode %s then, %s now): "
		    "replaced under the service? It stops within seconds when its file is "
		    "replaced; once restarted it opens this one",
		    db_path, h->file_then, h->file_now);
	org_reasons(r, h, NOT_LOADED, max_age, "have a policy file that does not load");
	org_reasons(r, h, FAILED_CALLS, max_age, "have failed calls");
	org_reasons(r, h, CUT_OFF, max_age, "are cut off");
	org_reasons(r, h, QUEUED, max_age, "have pupils queued");
	size_t k;
	json_t *path;
	json_array_foreach(unnamed, k, path)
		say(r,
		    "%s is not loaded: only la-NNN.lua and trust-ID.lua are policies (keep drafts "
		    "outside the policies directory)",
		    json_string_value(path));
	if (h->dead)
		say(r,
		    "%lld dead deliveries (see: rollcall deliveries --failed; then rollcall "
		    "redeliver ID...)",
		    h->dead);
	if (h->disabled)
		say(r,
		    "%lld endpoints disabled, their deliveries waiting: %s (see: rollcall "
		    "endpoint list; then rollcall endpoint enable NAME)",
		    h->disabled, h->disabled_list ? h->disabled_list : "");
	if (h->incoming && h->incoming_age > max_age)
		say(r, "the oldest incoming row has waited %lld s: is rollcall run running?",
		    h->incoming_age);
	if (h->waiting && (h->evaluated_ago < 0 || h->evaluated_ago > max_age))
		say(r,
		    "%lld pupils wait for evaluation and no batch has committed for %s: is "
		    "rollcall run running?",
		    h->waiting, h->evaluated_ago < 0 ? "ever" : "too long");
	if (h->overdue_proposals)
		say(r,
		    "%lld proposed legal steps are past the last day they could be decided (the "
		    "earliest %s) and have not expired: is rollcall run running?",
		    h->overdue_proposals, h->next_decide_by ? h->next_decide_by : "?");
	if (h->pending && h->overdue > max_age)
		say(r, "a delivery has been due for %lld s: is rollcall run delivering?",
		    h->overdue);
	if (h->rejected)
		say(r,
		    "%lld rows from incoming rejected in the last %s; the latest, at %s, "
		    "incoming:%lld: %s (see: rollcall rejected --source incoming --since %.10s)",
		    h->rejected, span(recent, when), h->rejected_at ? h->rejected_at : "?",
		    h->rejected_line, h->rejected_reason ? h->rejected_reason : "", since);
	if (h->unsent) {
		char where[256];
		if (h->unsent_endpoint)
			snprintf(where, sizeof where, "endpoint \"%s\" is not configured",
				 h->unsent_endpoint);
		else
			snprintf(where, sizeof where, "its policy names no endpoint for it");
		say(r,
		    "%lld actions of the last %s have no endpoint to go to; the latest, delivery "
		    "%lld (%s's %s): %s (see: rollcall deliveries --failed)",
		    h->unsent, span(recent, when), h->unsent_id,
		    h->unsent_org ? h->unsent_org : "?", h->unsent_action ? h->unsent_action : "?",
		    where);
	}
}

/* ---- output ---- */

static void add_path(const char *path, void *arg)
{
	char *safe = text_safe(path, strlen(path), NULL); /* a file name is any bytes */
	json_array_append_new(arg, json_string(safe));
	free(safe);
}

static json_t *text_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *policies_json(const struct health *h)
{
	json_t *a = json_array();
	for (int i = 0; i < h->norgs; i++) {
		const struct org_health *o = &h->org[i];
		json_t *x = json_object();
		json_object_set_new(x, "org", text_or_null(o->org));
		json_object_set_new(x, "file", text_or_null(o->file));
		json_object_set_new(x, "sha256", text_or_null(o->sha256));
		json_object_set_new(x, "loaded", json_boolean(o->loaded));
		json_object_set_new(x, "load_error", text_or_null(o->load_error));
		json_object_set_new(x, "calls", json_integer(o->calls));
		json_object_set_new(x, "failed", json_integer(o->failed));
		json_object_set_new(x, "last_error", text_or_null(o->last_error));
		json_object_set_new(x, "last_pupil", text_or_null(o->last_pupil));
		json_object_set_new(x, "last_failed_at", text_or_null(o->last_failed_at));
		json_object_set_new(x, "cut_off", text_or_null(o->cut_off));
		json_object_set_new(x, "pupils_deferred", json_integer(o->deferred));
		json_object_set_new(x, "updated_at", text_or_null(o->updated_at));
		json_array_append_new(a, x);
	}
	return a;
}

static void print_json(const struct health *h, const struct reasons *r, json_t *unnamed,
		       long recent, const char *db_path)
{
	json_t *why = json_array();
	for (int i = 0; i < r->n; i++)
		json_array_append_new(why, json_string(r->line[i]));
	json_t *o = json_pack(
		"{s:s, s:o, s:o, s:{s:I, s:o}, s:{s:I, s:o, s:I}, s:{s:I, s:I, s:I, s:I, "
		"s:I}, s:o}",
		"status", r->n ? "attention" : "ok", "attention", why, "not_loaded", unnamed,
		"incoming", "rows", (json_int_t)h->incoming, "oldest_age_s",
		h->incoming ? json_integer(h->incoming_age) : json_null(), "evaluation",
		"pupils_waiting", (json_int_t)h->waiting, "last_batch_age_s",
		h->evaluated_ago < 0 ? json_null() : json_integer(h->evaluated_ago),
		"pupils_deferred", (json_int_t)h->deferred, "deliveries", "delivered",
		(json_int_t)h->delivered, "pending", (json_int_t)h->pending, "retrying",
		(json_int_t)h->retrying, "dead", (json_int_t)h->dead, "no_endpoint",
		(json_int_t)h->no_endpoint, "oldest_pending",
		h->oldest_id
			? json_pack("{s:I, s:s, s:s, s:I}", "id", (json_int_t)h->oldest_id,
				    "endpoint", h->oldest_endpoint, "created_at", h->oldest_created,
				    "attempts", (json_int_t)h->oldest_attempts)
			: json_null());
	json_object_set_new(json_object_get(o, "incoming"), "rejected_recently",
			    json_integer(h->rejected));
	json_object_set_new(json_object_get(o, "deliveries"), "no_endpoint_recently",
			    json_integer(h->unsent));
	json_object_set_new(json_object_get(o, "deliveries"), "endpoints_disabled",
			    json_integer(h->disabled));
	json_object_set_new(json_object_get(o, "evaluation"), "pupils_deferred_no_policy_file",
			    json_integer(h->orphans));
	json_object_set_new(o, "signoff",
			    json_pack("{s:I, s:I, s:I, s:o, s:o}", "proposed",
				      (json_int_t)h->proposed, "due_soon", (json_int_t)h->due_soon,
				      "past_deadline", (json_int_t)h->overdue_proposals,
				      "oldest_proposed", text_or_null(h->oldest_proposed),
				      "next_decide_by", text_or_null(h->next_decide_by)));
	json_object_set_new(o, "recent_s", json_integer(recent));
	json_object_set_new(o, "policies", policies_json(h));
	json_object_set_new(o, "database",
			    json_pack("{s:s, s:b}", "path", db_path, "replaced", h->replaced));
	char *line = json_dumps(o, JSON_COMPACT);
	puts(line);
	free(line);
	json_decref(o);
}

static void print_text(const struct health *h, const struct reasons *r, json_t *unnamed,
		       long recent)
{
	char when[32];
	size_t k;
	json_t *path;
	json_array_foreach(unnamed, k, path)
		printf("not loaded   %s: only la-NNN.lua and trust-ID.lua are policies\n",
		       json_string_value(path));
	if (h->norgs) {
		int running = 0, broken = 0, failing = 0, cut = 0;
		for (int i = 0; i < h->norgs; i++) {
			running += h->org[i].loaded;
			broken += h->org[i].load_error != NULL;
			failing += org_has(&h->org[i], FAILED_CALLS, 0);
			cut += org_has(&h->org[i], CUT_OFF, 0);
		}
		printf("policies     %d files: %d running, %d not loading, %d with failed calls, "
		       "%d cut off\n",
		       h->norgs, running, broken, failing, cut);
	} else
		printf("policies     none known yet (rollcall run writes what it loads)\n");
	printf("incoming     %lld rows waiting", h->incoming);
	if (h->incoming)
		printf(", the oldest for %lld s", h->incoming_age);
	printf("; %lld rejected in the last %s\n", h->rejected, span(recent, when));
	printf("evaluation   %lld pupils waiting, ", h->waiting);
	if (h->evaluated_ago < 0)
		printf("no batch yet\n");
	else
		printf("last batch %lld s ago\n", h->evaluated_ago);
	if (h->deferred)
		printf("             %lld pupils wait in deferred (%s first)\n", h->deferred,
		       h->deferred_first ? h->deferred_first : "");
	if (h->orphans)
		printf("             %lld of them for %lld organisations with no policy file (%s "
		       "first): evaluated if one is added\n",
		       h->orphans, h->orphan_orgs, h->orphan_org ? h->orphan_org : "");
	printf("deliveries   %lld delivered, %lld pending (%lld retrying), %lld dead, %lld with no "
	       "endpoint\n",
	       h->delivered, h->pending, h->retrying, h->dead, h->no_endpoint);
	if (h->oldest_id)
		printf("oldest pending delivery %lld to %s, action of %s, %lld attempts\n",
		       h->oldest_id, h->oldest_endpoint, h->oldest_created, h->oldest_attempts);
	printf("sign-off     %lld legal steps proposed", h->proposed);
	if (h->proposed)
		printf(" (the oldest on %s), %lld to be decided within %d days (the first by "
		       "%s)",
		       h->oldest_proposed ? h->oldest_proposed : "?", h->due_soon, STATUS_DUE_DAYS,
		       h->next_decide_by ? h->next_decide_by : "?");
	printf("\n");
	for (int i = 0; i < r->n; i++)
		printf("attention: %s\n", r->line[i]);
	if (!r->n)
		printf("ok\n");
}

static int seconds_option(const char *name, const char *text, long *out)
{
	char *end;
	long v = strtol(text, &end, 10);
	if (*end || end == text || v < 0) {
		error("%s: not a number of seconds: %s", name, text);
		return -1;
	}
	*out = v;
	return 0;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	int json = 0;
	long max_age = MAX_AGE_DEFAULT, recent = RECENT_DEFAULT;
	const char *age = NULL, *recent_text = NULL;
	for (int i = 1, got; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if ((got = cmd_option(argc, argv, &i, "--max-age", &age)) != 0 ||
			 (got = cmd_option(argc, argv, &i, "--recent", &recent_text)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
		} else
			return cmd_usage(cli);
	}
	if ((age && seconds_option("--max-age", age, &max_age) < 0) ||
	    (recent_text && seconds_option("--recent", recent_text, &recent) < 0))
		return EXIT_USAGE;
	/* "within --recent": from this moment, as the database's ISO text */
	char since[32];
	time_t from = time(NULL) - (time_t)recent;
	struct tm tm;
	gmtime_r(&from, &tm);
	strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);

	struct health h;
	if (read_health(&cli->db, &h, since) < 0) {
		health_free(&h);
		return EXIT_FAILURE;
	}
	/* drafts and backups in the policies directory: never loaded */
	json_t *unnamed = json_array();
	policy_set_unnamed_files(cli->cfg.policies, add_path, unnamed);
	struct reasons r = { 0 };
	char *db_path = text_safe(cli->db.path, strlen(cli->db.path), NULL);
	attention(&r, &h, max_age, recent, since, unnamed, db_path);

	if (json)
		print_json(&h, &r, json_incref(unnamed), recent, db_path);
	else if (cli->verbosity < 0) /* -q: only what needs attention */
		for (int i = 0; i < r.n; i++)
			printf("attention: %s\n", r.line[i]);
	else
		print_text(&h, &r, unnamed, recent);
	int status = r.n ? EXIT_FAILURE : EXIT_SUCCESS;
	json_decref(unnamed);
	for (int i = 0; i < r.n; i++)
		free(r.line[i]);
	free(r.line);
	health_free(&h);
	free(db_path);
	return status;
}
