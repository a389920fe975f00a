/*
 * api.c — the tenant API (api.h): one route table, one gate every request
 * passes before a handler, and the handlers, which are thin: each reads
 * what listing.h, params.h, signoff.h, outbox.h and publish.h already do
 * for the command line, with the token's organisation as the scope.
 *
 * The gate, in order: the path's syntax (400: only /api/v1/ and segments
 * of letters, digits, '_', '-', '.' and ':', no '.' or '..' segment, no
 * '%' — nothing is percent-decoded, so no encoding can smuggle a '/' or a
 * '..' past it); the address's failed authentications (429); the token
 * (401); the route (404); every id in the path belongs to the token's
 * organisation (404, never 403, so that what exists elsewhere does not
 * leak); the role (403); the query's names and values, the body's type
 * and size (400, 413); then the handler.
 */
#define _DEFAULT_SOURCE
#include "api.h"

#include "audit.h"
#include "codes.h"
#include "console.h"
#include "db.h"
#include "export.h"
#include "listing.h"
#include "log.h"
#include "date.h"
#include "outbox.h"
#include "params.h"
#include "publish.h"
#include "register.h"
#include "report.h"
#include "signoff.h"
#include "token.h"
#include "upn.h"
#include "util.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PAGE_DEFAULT 100
#define PAGE_MAX     1000

/* Failed authentications are counted per address over a minute; an
 * address past cfg->serve.auth_failures is answered 429 until the minute
 * ends, before its token is even looked at. */
#define LIMITER_SLOTS	  1024
#define LIMITER_WINDOW_MS 60000

struct limiter_slot {
	char addr[64];
	long long window_start;
	long failures;
};

struct api {
	atomic_int replaying; /* previews and checks running now (HEAVY_MAX at most) */
	const struct config *cfg;
	char *db_path;
	pthread_key_t conn;
	pthread_mutex_t lock; /* the limiter's */
	struct limiter_slot slots[LIMITER_SLOTS];
};

/* What a path's ids must belong to (the gate checks each before the
 * handler runs). */
enum id_kind { ID_NONE, ID_PUPIL, ID_ACTION, ID_PROPOSAL, ID_CASE, ID_DELIVERY };

/* The body a route takes. */
enum body_kind { BODY_NONE, BODY_JSON, BODY_LUA };

struct ctx;
typedef int (*handler_fn)(struct ctx *c);

struct route {
	const char *method, *pattern;
	enum token_role role;
	enum id_kind id; /* the kind of the pattern's {id} or {upn}, if any */
	enum body_kind body;
	const char *query;  /* the query's names, space-separated */
	const char *fields; /* a JSON body's names, space-separated */
	handler_fn run;
};

struct ctx {
	struct api *api;
	const struct api_request *rq;
	struct api_response *rs;
	struct db *db;
	struct token token;
	struct listing_scope scope; /* the token's organisation, its pupils */
	const struct route *route;
	char arg[64]; /* the pattern's one {...} segment */
	json_t *body; /* a JSON body, parsed */
	char via[48]; /* "api:token N", for the audit trail */
};

/* ---- answers ---- */

static void answer_json(struct ctx *c, int status, json_t *o)
{
	c->rs->status = status;
	c->rs->body = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
	c->rs->len = strlen(c->rs->body);
	c->rs->content_type = "application/json";
	json_decref(o);
}

/* {"error": message, "field": field or null} */
static int answer_error(struct ctx *c, int status, const char *field, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
static int answer_error(struct ctx *c, int status, const char *field, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	answer_json(c, status,
		    json_pack("{s:o, s:o}", "error", text_json(msg, strlen(msg), NULL), "field",
			      field ? text_json(field, strlen(field), NULL) : json_null()));
	return 0;
}

static int answer_failure(struct ctx *c, int rc)
{
	if (rc == DB_BUSY)
		return answer_error(c, 503, NULL, "the database is busy: try again shortly");
	return answer_error(c, 500, NULL, "rollcall could not do this (its log says why)");
}

/* ---- the connection of this thread ---- */

static void close_conn(void *p)
{
	db_close(p);
	free(p);
}

static struct db *thread_db(struct api *api)
{
	struct db *db = pthread_getspecific(api->conn);
	if (db)
		return db;
	db = xcalloc(1, sizeof *db);
	/* a request reads a page or a pupil, not a batch: 8 MiB of page cache a
	 * thread, not the evaluator's 128, so the server leaves it the memory */
	if (db_open(db, api->db_path, DB_EXISTING) < 0 || db_check_version(db) < 0 ||
	    db_exec(db, "PRAGMA cache_size=-8192") < 0) {
		db_close(db);
		free(db);
		return NULL;
	}
	pthread_setspecific(api->conn, db);
	return db;
}

/* ---- the rate limit ---- */

/* The slot of addr, its minute begun again if the last one is over. An
 * address whose slot another holds within that one's minute shares its
 * count: a collision can make an address wait sooner, never let it guess
 * more. */
static struct limiter_slot *slot_of(struct api *api, const char *addr, long long now)
{
	unsigned h = 2166136261u; /* FNV-1a */
	for (const char *p = addr; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	struct limiter_slot *s = &api->slots[h % LIMITER_SLOTS];
	if (!s->addr[0] || now - s->window_start >= LIMITER_WINDOW_MS) {
		snprintf(s->addr, sizeof s->addr, "%s", addr);
		s->window_start = now;
		s->failures = 0;
	}
	return s;
}

/* Seconds until addr may try again, 0 if it may now. */
static int limited(struct api *api, const char *addr)
{
	long long now = monotonic_ms();
	pthread_mutex_lock(&api->lock);
	struct limiter_slot *s = slot_of(api, addr, now);
	int wait = s->failures >= api->cfg->serve.auth_failures
			   ? (int)((s->window_start + LIMITER_WINDOW_MS - now) / 1000) + 1
			   : 0;
	pthread_mutex_unlock(&api->lock);
	return wait;
}

static void failed_auth(struct api *api, const char *addr)
{
	pthread_mutex_lock(&api->lock);
	slot_of(api, addr, monotonic_ms())->failures++;
	pthread_mutex_unlock(&api->lock);
}

/* ---- requests ---- */

static const char *query_value(const struct ctx *c, const char *name)
{
	for (int i = 0; i < c->rq->nquery && i < API_QUERY_MAX; i++)
		if (!strcmp(c->rq->query[i].name, name))
			return c->rq->query[i].value;
	return NULL;
}

/* A whole number from min to max in s; -1 if it is not. */
static long long whole(const char *s, long long min, long long max)
{
	size_t len = strlen(s);
	if (!len || len > 18 || strspn(s, "0123456789") != len)
		return -1;
	long long v = strtoll(s, NULL, 10);
	return v >= min && v <= max ? v : -1;
}

/* The page the query asks for (after, limit), or 0 with a 400 answered. */
static int page_of(struct ctx *c, struct listing_page *page)
{
	const char *after = query_value(c, "after"), *limit = query_value(c, "limit");
	page->after = 0;
	page->limit = PAGE_DEFAULT;
	page->next = 0;
	if (after && (page->after = whole(after, 0, (1LL << 62))) < 0) {
		answer_error(c, 400, "after", "after: expected the cursor a page gave as next");
		return 0;
	}
	if (limit && (page->limit = (long)whole(limit, 1, PAGE_MAX)) < 0) {
		answer_error(c, 400, "limit", "limit: expected a whole number from 1 to %d",
			     PAGE_MAX);
		return 0;
	}
	return 1;
}

struct items {
	json_t *list;
};

static int add_item(json_t *item, void *arg)
{
	json_array_append(((struct items *)arg)->list, item);
	return 0;
}

static int add_action(const struct action_row *row, json_t *item, void *arg)
{
	(void)row;
	return add_item(item, arg);
}

/* {"items": [...], "next": cursor or null} */
static void answer_page(struct ctx *c, json_t *items, const struct listing_page *page)
{
	char next[32];
	snprintf(next, sizeof next, "%lld", page->next);
	answer_json(c, 200,
		    json_pack("{s:o, s:o}", "items", items, "next",
			      page->next ? json_string(next) : json_null()));
}

/* ---- handlers ---- */

static int get_me(struct ctx *c)
{
	answer_json(c, 200,
		    json_pack("{s:s, s:s, s:o, s:I}", "org", c->token.org, "role",
			      token_role_names[c->token.role], "name",
			      text_json(c->token.name, strlen(c->token.name), NULL), "token_id",
			      (json_int_t)c->token.id));
	return 0;
}

static int get_actions(struct ctx *c)
{
	struct listing_page page;
	struct listing_actions_filter f = { query_value(c, "since"), query_value(c, "kind"),
					    query_value(c, "state"), 0 };
	if (f.since && date_parse(f.since, (int)strlen(f.since)) < 0)
		return answer_error(c, 400, "since", "since: expected a date YYYY-MM-DD");
	if (!page_of(c, &page))
		return 0;
	struct items it = { json_array() };
	if (listing_actions(c->db, &c->scope, &f, &page, add_action, &it) < 0) {
		json_decref(it.list);
		return answer_failure(c, DB_FAILED);
	}
	answer_page(c, it.list, &page);
	return 0;
}

static int get_action(struct ctx *c)
{
	struct listing_actions_filter f = { .id = strtoll(c->arg, NULL, 10) };
	struct items it = { json_array() };
	if (listing_actions(c->db, &c->scope, &f, NULL, add_action, &it) < 0 ||
	    json_array_size(it.list) != 1) {
		json_decref(it.list);
		return answer_failure(c, DB_FAILED);
	}
	json_t *o = json_incref(json_array_get(it.list, 0));
	json_decref(it.list);
	answer_json(c, 200, o);
	return 0;
}

static int in_scope(struct ctx *c, enum id_kind kind);

static int get_cases(struct ctx *c)
{
	struct listing_page page;
	const char *open = query_value(c, "open");
	int want = -1;
	if (open && strcmp(open, "true") != 0 && strcmp(open, "false") != 0)
		return answer_error(c, 400, "open", "open: expected true or false");
	if (open)
		want = !strcmp(open, "true");
	/* one pupil's: one of the organisation's, as for /pupils/{upn} */
	const char *upn = query_value(c, "upn");
	long long pupil = 0;
	if (upn) {
		snprintf(c->arg, sizeof c->arg, "%s", upn);
		int in = in_scope(c, ID_PUPIL);
		if (in < 0)
			return answer_failure(c, in);
		if (!in)
			return answer_error(c, 404, "upn", "no such pupil");
		sqlite3_stmt *st = db_prepare(c->db, "SELECT id FROM pupils WHERE upn = ?");
		if (!st)
			return answer_failure(c, DB_FAILED);
		sqlite3_bind_text(st, 1, upn, -1, SQLITE_STATIC);
		pupil = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_finalize(st);
	}
	if (!page_of(c, &page))
		return 0;
	struct items it = { json_array() };
	if (listing_cases(c->db, &c->scope, want, pupil, 0, &page, 0, NULL, add_item, &it) < 0) {
		json_decref(it.list);
		return answer_failure(c, DB_FAILED);
	}
	answer_page(c, it.list, &page);
	return 0;
}

static int get_case(struct ctx *c)
{
	struct items it = { json_array() };
	if (listing_cases(c->db, &c->scope, -1, 0, strtoll(c->arg, NULL, 10), NULL, 1, NULL,
			  add_item, &it) < 0 ||
	    json_array_size(it.list) != 1) {
		json_decref(it.list);
		return answer_failure(c, DB_FAILED);
	}
	json_t *o = json_incref(json_array_get(it.list, 0));
	json_decref(it.list);
	answer_json(c, 200, o);
	return 0;
}

static int get_pupil(struct ctx *c)
{
	int found;
	json_t *o = listing_pupil(c->db, c->api->cfg, &c->scope, c->arg, NULL, 0, &found);
	if (!o && !found) /* the gate saw it; it left since */
		return answer_error(c, 404, NULL, "no such pupil");
	if (!o)
		return answer_failure(c, DB_FAILED);
	answer_json(c, 200, o);
	return 0;
}

static int report_figures_json(struct ctx *c);

/* GET /api/v1/pupils/{upn}/export: everything the organisation holds
 * about the pupil, for a subject access request (export.h) — a
 * disclosure, audited under the token's person before it is sent. */
static int get_export(struct ctx *c)
{
	json_t *doc = NULL;
	int rc = export_pupil(c->db, c->arg, c->token.org, &doc);
	if (rc == EXPORT_NOT_FOUND) /* the gate saw them; they left since */
		return answer_error(c, 404, NULL, "no such pupil");
	if (rc < 0)
		return answer_failure(c, rc);
	if ((rc = export_audit(c->db, c->arg, c->token.org, c->token.name, c->via)) < 0) {
		json_decref(doc);
		return answer_failure(c, rc);
	}
	answer_json(c, 200, doc);
	return 0;
}
static int media_type(const char *content_type, const char *types);

static int get_report(struct ctx *c)
{
	if (media_type(c->rq->accept, "application/json"))
		return report_figures_json(c);
	char *page = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&page, &size);
	if (!mem)
		return answer_failure(c, DB_FAILED);
	int rc = report_page(c->db, c->token.org, mem);
	fclose(mem);
	if (rc) {
		free(page);
		if (rc > 0)
			return answer_error(c, 404, NULL, "no school belongs to %s", c->token.org);
		return answer_failure(c, DB_FAILED);
	}
	c->rs->status = 200;
	c->rs->body = page;
	c->rs->len = size;
	c->rs->content_type = "text/html; charset=utf-8";
	c->rs->csp = REPORT_CSP;
	return 0;
}

static int get_signoff(struct ctx *c)
{
	struct listing_page page;
	if (!page_of(c, &page))
		return 0;
	struct items it = { json_array() };
	if (listing_signoff(c->db, &c->scope, &page, add_action, &it) < 0) {
		json_decref(it.list);
		return answer_failure(c, DB_FAILED);
	}
	answer_page(c, it.list, &page);
	return 0;
}

static int decide(struct ctx *c, int approve)
{
	const char *key = approve ? "note" : "reason";
	json_t *v = json_object_get(c->body, key);
	if (v && !json_is_string(v) && !(approve && json_is_null(v)))
		return answer_error(c, 422, key, "%s: expected text", key);
	const char *text = json_string_value(v);
	if (!approve && !text)
		return answer_error(c, 422, "reason", "reason: a decline needs one");
	const char *why = text ? signoff_text_refused(text, SIGNOFF_TEXT_MAX) : NULL;
	if (why)
		return answer_error(c, 422, key, "%s: %s", key, why);
	struct signoff_decision d = { .id = strtoll(c->arg, NULL, 10),
				      .approve = approve,
				      .by = c->token.name,
				      .text = text,
				      .via = c->via };
	char msg[3072];
	int rc = signoff_decide(c->db, c->api->cfg, &d, msg, sizeof msg);
	if (rc < 0)
		return answer_failure(c, rc);
	if (rc == SIGNOFF_REFUSED)
		return answer_error(c, 409, NULL, "%s", msg);
	struct items it = { json_array() };
	struct listing_actions_filter f = { .id = d.id };
	if (listing_actions(c->db, &c->scope, &f, NULL, add_action, &it) < 0 ||
	    json_array_size(it.list) != 1) {
		json_decref(it.list);
		return answer_failure(c, DB_FAILED);
	}
	json_t *o = json_pack("{s:o, s:O}", "message", text_json(msg, strlen(msg), NULL), "action",
			      json_array_get(it.list, 0));
	json_decref(it.list);
	answer_json(c, 200, o);
	return 0;
}

static int post_approve(struct ctx *c)
{
	decide(c, 1);
	return 0;
}

static int post_decline(struct ctx *c)
{
	decide(c, 0);
	return 0;
}

/* The outbox of the organisation: its actions' deliveries, of pupils at its
 * schools. (`rollcall deliveries` lists every organisation's, its own way.) */
static const char *const deliveries_sql =
	"SELECT d.id, d.action_id, d.endpoint, d.webhook_id, d.state, d.attempts, d.last_status, "
	"d.last_error, d.next_attempt_at, d.event, d.created_at FROM deliveries d JOIN actions ON "
	"actions.id = d.action_id WHERE actions.org = ?1 AND (?2 IS NULL OR d.state = ?2) AND "
	"d.id > ?5 AND " LISTING_AT_SCHOOLS("actions.pupil") " ORDER BY d.id LIMIT ?6";

static int get_deliveries(struct ctx *c)
{
	static const char *const states[] = { "pending", "delivered", "dead", "no_endpoint" };
	struct listing_page page;
	const char *state = query_value(c, "state");
	int known = !state;
	for (size_t i = 0; state && i < sizeof states / sizeof *states; i++)
		known |= !strcmp(state, states[i]);
	if (!known)
		return answer_error(c, 400, "state",
				    "state: expected pending, delivered, dead or no_endpoint");
	if (!page_of(c, &page))
		return 0;
	sqlite3_stmt *st = db_prepare(c->db, deliveries_sql);
	if (!st)
		return answer_failure(c, DB_FAILED);
	listing_bind_scope(st, &c->scope);
	if (state)
		sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, page.after);
	sqlite3_bind_int64(st, 6, page.limit + 1);
	json_t *items = json_array();
	long n = 0;
	long long last = 0;
	int rc;
	static const char *const keys[] = { "id",	   "action_id",	 "endpoint",
					    "webhook_id",  "state",	 "attempts",
					    "last_status", "last_error", "next_attempt_at_ms",
					    "event",	   "created_at" };
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == page.limit) {
			page.next = last;
			break;
		}
		json_t *o = json_object();
		for (int k = 0; k < 11; k++) {
			int number = k <= 1 || k == 5 || k == 6 || k == 8;
			json_object_set_new(o, keys[k],
					    sqlite3_column_type(st, k) == SQLITE_NULL ? json_null()
					    : number ? json_integer(sqlite3_column_int64(st, k))
						     : column_json(st, k, NULL));
		}
		json_array_append_new(items, o);
		last = sqlite3_column_int64(st, 0);
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_fail(c->db, "reading deliveries");
		json_decref(items);
		return answer_failure(c, DB_FAILED);
	}
	answer_page(c, items, &page);
	return 0;
}

static int post_redeliver(struct ctx *c)
{
	char why[512];
	/* the change and its audit row in one transaction, as the CLI's */
	int rc = db_begin(c->db);
	if (rc == DB_DONE) {
		rc = outbox_redeliver(c->db, c->api->cfg, strtoll(c->arg, NULL, 10), c->token.org,
				      c->token.name, c->via, why, sizeof why);
		if (rc != DB_DONE || (rc = db_commit(c->db)) < 0)
			db_rollback(c->db);
	}
	if (rc < 0)
		return answer_failure(c, rc);
	if (rc == OUTBOX_NOT_FOUND)
		return answer_error(c, 404, NULL, "no such delivery");
	if (rc != DB_DONE)
		return answer_error(c, 409, NULL, "%s", why);
	answer_json(c, 200,
		    json_pack("{s:I, s:s}", "id", (json_int_t)strtoll(c->arg, NULL, 10), "state",
			      "pending"));
	return 0;
}

/* POST /api/v1/deliveries/redeliver {"endpoint", "since"}: every dead
 * delivery of the organisation's to the endpoint since a time queued
 * again (outbox_redeliver_since: bounded, each its webhook-id, audited),
 * in one transaction. */
static int post_redeliver_since(struct ctx *c)
{
	const char *endpoint = json_string_value(json_object_get(c->body, "endpoint"));
	const char *since = json_string_value(json_object_get(c->body, "since"));
	long long ms;
	if (!endpoint || !*endpoint)
		return answer_error(c, 422, "endpoint", "endpoint: expected an endpoint's name");
	if (!since || config_parse_time(since, &ms) < 0)
		return answer_error(c, 422, "since",
				    "since: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)");
	char why[256];
	long queued = 0;
	int rc = db_begin(c->db);
	if (rc == DB_DONE) {
		rc = outbox_redeliver_since(c->db, c->api->cfg, endpoint, since, "dead",
					    c->token.org, c->token.name, c->via, &queued, why,
					    sizeof why);
		if (rc != DB_DONE || (rc = db_commit(c->db)) < 0)
			db_rollback(c->db);
	}
	if (rc < 0)
		return answer_failure(c, rc);
	if (rc > 0)
		return answer_error(c, 422, rc == OUTBOX_NO_ENDPOINT ? "endpoint" : "since", "%s",
				    why);
	answer_json(c, 200,
		    json_pack("{s:s, s:s, s:I}", "endpoint", endpoint, "since", since, "queued",
			      (json_int_t)queued));
	return 0;
}

/* GET /api/v1/endpoints: the endpoints the organisation's deliveries go
 * to, each with its state (ok, failing since, disabled since and why) and
 * the organisation's own deliveries to it waiting and dead. An endpoint
 * serves every organisation whose policy names it: its state is shared,
 * its counts are the organisation's. */
static int get_endpoints(struct ctx *c)
{
	sqlite3_stmt *st = db_prepare(
		c->db,
		"SELECT d.endpoint, sum(d.state = 'pending'), sum(d.state = 'dead'), "
		"strftime('%Y-%m-%dT%H:%M:%SZ', s.failing_since / 1000, 'unixepoch'), "
		"s.disabled_at, s.disabled_why FROM deliveries d JOIN actions "
		"ON actions.id = d.action_id LEFT JOIN endpoint_state s ON s.name = d.endpoint "
		"WHERE actions.org = ?1 AND d.endpoint IS NOT NULL AND d.state IN ('pending', "
		"'dead') AND " LISTING_AT_SCHOOLS("actions.pupil") " GROUP BY d.endpoint "
								   "ORDER BY d.endpoint");
	if (!st)
		return answer_failure(c, DB_FAILED);
	listing_bind_scope(st, &c->scope);
	json_t *items = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *failing = (const char *)sqlite3_column_text(st, 3);
		const char *disabled = (const char *)sqlite3_column_text(st, 4);
		json_array_append_new(items,
				      json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o}", "name",
						(const char *)sqlite3_column_text(st, 0), "state",
						disabled  ? "disabled"
						: failing ? "failing"
							  : "ok",
						"pending", (json_int_t)sqlite3_column_int64(st, 1),
						"dead", (json_int_t)sqlite3_column_int64(st, 2),
						"failing_since", column_json(st, 3, NULL),
						"disabled_at", column_json(st, 4, NULL),
						"disabled_why", column_json(st, 5, NULL)));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(items);
		return answer_failure(c, db_fail(c->db, "reading endpoints"));
	}
	answer_json(c, 200, json_pack("{s:o, s:n}", "items", items, "next"));
	return 0;
}

static int get_audit(struct ctx *c)
{
	struct listing_page page;
	const char *since = query_value(c, "since");
	if (since && date_parse(since, (int)strlen(since)) < 0)
		return answer_error(c, 400, "since", "since: expected a date YYYY-MM-DD (UTC)");
	if (!page_of(c, &page))
		return 0;
	struct items it = { json_array() };
	if (listing_audit(c->db, &c->scope, since, &page, add_item, &it) < 0) {
		json_decref(it.list);
		return answer_failure(c, DB_FAILED);
	}
	answer_page(c, it.list, &page);
	return 0;
}

/* ---- params ---- */

static void no_policy_error(const char *path, const char *err, int kept)
{
	(void)kept;
	log_event(LOG_WARN, "policy does not load", "file", path, "error", err, NULL);
}

/* The org's policy in set, or NULL with a 404 answered. */
static struct policy *org_policy(struct ctx *c, struct policy_set *set)
{
	struct policy *p = params_policy(set, c->api->cfg, c->token.org, no_policy_error);
	if (!p)
		answer_error(c, 404, NULL, "%s has no policy that loads", c->token.org);
	return p;
}

static int answer_params(struct ctx *c, const struct policy *p)
{
	json_t *o = params_json(c->db, p, c->token.org);
	if (!o)
		return answer_failure(c, DB_FAILED);
	snprintf(c->rs->etag, sizeof c->rs->etag, "%s",
		 json_string_value(json_object_get(o, "etag")));
	answer_json(c, 200, o);
	return 0;
}

static int get_params(struct ctx *c)
{
	struct policy_set set = { 0 };
	struct policy *p = org_policy(c, &set);
	if (p)
		answer_params(c, p);
	policy_set_free(&set);
	return 0;
}

static int change_param(struct ctx *c, int reset)
{
	struct policy_set set = { 0 };
	struct policy *p = org_policy(c, &set);
	if (!p)
		goto out;
	int k = policy_param(p, c->arg);
	if (k < 0) {
		answer_error(c, 404, NULL, "%s declares no param \"%s\"", p->file, c->arg);
		goto out;
	}
	struct params_change ch = { .index = k, .reset = reset };
	if (!reset) {
		json_t *v = json_object_get(c->body, "value");
		char why[256], field[64];
		snprintf(field, sizeof field, "value");
		if (!json_is_number(v)) {
			answer_error(c, 422, field, "value: %s is a number (%s declares it)",
				     p->params[k].name, p->file);
			goto out;
		}
		ch.value = json_number_value(v);
		if (params_refuses(p, &p->params[k], ch.value, why, sizeof why)) {
			answer_error(c, 422, field, "value: %s=%g: %s", p->params[k].name, ch.value,
				     why);
			goto out;
		}
	}
	int rc = params_store(c->db, p, c->token.org, &ch, 1, c->rq->if_match, c->token.name,
			      c->via);
	if (rc == PARAMS_CONFLICT) {
		char etag[PARAMS_ETAG_SIZE];
		if (params_etag(c->db, c->token.org, etag) == 0)
			snprintf(c->rs->etag, sizeof c->rs->etag, "%s", etag);
		answer_error(c, 409, NULL,
			     "the params changed since they were read (If-Match is not their "
			     "ETag): read them again");
		goto out;
	}
	if (rc < 0) {
		answer_failure(c, rc);
		goto out;
	}
	answer_params(c, p);
out:
	policy_set_free(&set);
	return 0;
}

static int put_param(struct ctx *c)
{
	change_param(c, 0);
	return 0;
}

static int delete_param(struct ctx *c)
{
	change_param(c, 1);
	return 0;
}

/* ---- policy (publish.h) ---- */

/* publish.h's result as the answer: its status, and with live (a publish
 * or a rollback done, or a conflict) the live version as the ETag. */
static int answer_publish(struct ctx *c, int rc, json_t *out, int live)
{
	static const int status[] = { [PUBLISH_DONE] = 200,
				      [PUBLISH_REFUSED] = 422,
				      [PUBLISH_CONFLICT] = 409,
				      [PUBLISH_NOT_FOUND] = 404 };
	if (rc < 0 || rc > PUBLISH_NOT_FOUND || !out) {
		json_decref(out);
		return answer_failure(c, rc < 0 ? rc : DB_FAILED);
	}
	const char *sha = json_string_value(json_object_get(out, "sha256"));
	if (sha && (live || rc == PUBLISH_CONFLICT))
		snprintf(c->rs->etag, sizeof c->rs->etag, "\"%s\"", sha);
	if (rc != PUBLISH_DONE && !json_object_get(out, "error"))
		json_object_set_new(out, "error", json_string("refused"));
	if (rc != PUBLISH_DONE && !json_object_get(out, "field"))
		json_object_set_new(out, "field", json_null());
	answer_json(c, status[rc], out);
	return 0;
}

/* If-Match for a policy: its ETag, a quoted sha256 (or "none"), unquoted
 * into buf; NULL when none was sent. */
static const char *policy_if_match(const struct ctx *c, char buf[72])
{
	const char *m = c->rq->if_match;
	if (!m)
		return NULL;
	size_t len = strlen(m);
	if (len >= 2 && m[0] == '"' && m[len - 1] == '"')
		snprintf(buf, 72, "%.*s", (int)(len - 2), m + 1);
	else
		snprintf(buf, 72, "%s", m);
	return buf;
}

/* GET /api/v1/policy: the ETag is the live version, "none" before any */
static int get_policy(struct ctx *c)
{
	json_t *out = NULL;
	int rc = publish_show(c->db, c->api->cfg, c->token.org, NULL, &out);
	answer_publish(c, rc, out, 1);
	if (rc == PUBLISH_DONE && !c->rs->etag[0])
		snprintf(c->rs->etag, sizeof c->rs->etag, "\"none\"");
	return 0;
}

/* POST /api/v1/policy/check */
/* A preview or a check replays the organisation's history twice, on a
 * request thread: at most HEAVY_MAX at once in the whole server, so that
 * no organisation's viewers can take every thread (or the evaluator's
 * cores) from the others. 1 and counted if one may start now, else 0
 * answered 503 with Retry-After. */
#define HEAVY_MAX 1

static int heavy_start(struct ctx *c)
{
	if (atomic_fetch_add(&c->api->replaying, 1) < HEAVY_MAX)
		return 1;
	atomic_fetch_sub(&c->api->replaying, 1);
	c->rs->retry_after = 5;
	answer_error(c, 503, NULL,
		     "another replay (a params preview or a policy check) is running: try again "
		     "in a few seconds");
	return 0;
}

static void heavy_end(struct ctx *c)
{
	atomic_fetch_sub(&c->api->replaying, 1);
}

static int post_policy_check(struct ctx *c)
{
	json_t *out = NULL;
	const char *days = query_value(c, "days");
	long long n = days ? whole(days, 1, PUBLISH_DAYS_MAX) : 0;
	if (n < 0)
		return answer_error(c, 400, "days", "days: expected a whole number from 1 to %d",
				    PUBLISH_DAYS_MAX);
	if (!heavy_start(c))
		return 0;
	int rc = publish_check(c->db, c->api->cfg, c->token.org, NULL, c->rq->body, c->rq->body_len,
			       (int)n, &out);
	heavy_end(c);
	return answer_publish(c, rc, out, 0);
}

/* PUT /api/v1/policy */
static int put_policy(struct ctx *c)
{
	json_t *out = NULL;
	char match[72];
	struct publish_actor by = { c->token.name, c->via };
	int rc = publish_policy(c->db, c->api->cfg, c->token.org, NULL, c->rq->body,
				c->rq->body_len, policy_if_match(c, match), &by, &out);
	return answer_publish(c, rc, out, 1);
}

/* POST /api/v1/policy/rollback {"sha256": ...} */
static int post_policy_rollback(struct ctx *c)
{
	json_t *out = NULL;
	char match[72];
	const char *sha = json_string_value(json_object_get(c->body, "sha256"));
	if (!sha || strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64)
		return answer_error(c, 422, "sha256",
				    "sha256: expected a kept version's SHA-256, 64 hex digits");
	struct publish_actor by = { c->token.name, c->via };
	int rc = publish_rollback(c->db, c->api->cfg, c->token.org, sha, policy_if_match(c, match),
				  &by, &out);
	return answer_publish(c, rc, out, 1);
}

/* POST /api/v1/params/preview {"params": {...}, "days": N} */
static int post_params_preview(struct ctx *c)
{
	json_t *out = NULL, *params = json_object_get(c->body, "params"),
	       *days = json_object_get(c->body, "days");
	if (params && !json_is_object(params))
		return answer_error(c, 422, "params", "params: expected an object, name: value");
	if (days && (!json_is_integer(days) || json_integer_value(days) < 1 ||
		     json_integer_value(days) > PUBLISH_DAYS_MAX))
		return answer_error(c, 422, "days", "days: expected a whole number from 1 to %d",
				    PUBLISH_DAYS_MAX);
	if (!heavy_start(c))
		return 0;
	json_t *none = params ? NULL : json_object();
	int rc = publish_preview(c->db, c->api->cfg, c->token.org, params ? params : none,
				 days ? (int)json_integer_value(days) : 0, &out);
	json_decref(none);
	heavy_end(c);
	return answer_publish(c, rc, out, 0);
}

/* GET /api/v1/pupils/{upn}/marks: the pupil's sessions over the last
 * MARKS_DAYS days to their latest mark, oldest first, each {date,
 * session, code, category} (no mark: not listed) — read from registers,
 * a pupil's year in one row, as the figures are. */
#define MARKS_DAYS 98 /* 14 weeks: a term at a glance */

static int get_marks(struct ctx *c)
{
	sqlite3_stmt *st = db_prepare(c->db, "SELECT id FROM pupils WHERE upn = ?");
	if (!st)
		return answer_failure(c, DB_FAILED);
	sqlite3_bind_text(st, 1, c->arg, -1, SQLITE_STATIC);
	long long pupil = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	struct registers regs;
	struct history h = { 0 };
	if (!pupil || register_open(&regs, c->db) < 0)
		return answer_failure(c, DB_FAILED);
	int rc = register_history(&regs, (uint32_t)pupil,
				  regs.nyears ? regs.years[regs.nyears - 1] - 1 : 0, &h);
	json_t *items = json_array();
	int last_day, last_session, code;
	if (rc == 0 && stats_latest(&h, &last_day, &last_session, &code)) {
		int from = last_day - MARKS_DAYS + 1;
		for (int i = 0; i < h.nslots; i++) {
			int day = h.first_day + i / 2;
			const struct code *k = codes_get(h.slot[i]);
			if (day < from || !k)
				continue;
			char date[11];
			date_format(day, date);
			json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s}", "date", date,
							       "session", i % 2 ? "PM" : "AM",
							       "code", k->text, "category",
							       codes_category_name(k->category)));
		}
	}
	free(h.slot);
	register_close(&regs);
	if (rc < 0) {
		json_decref(items);
		return answer_failure(c, DB_FAILED);
	}
	answer_json(c, 200, json_pack("{s:o, s:n}", "items", items, "next"));
	return 0;
}

/* GET /api/v1/report: the page, or with Accept: application/json the
 * figures it is drawn from (the console's overview). */
static int report_figures_json(struct ctx *c)
{
	json_t *figures = NULL;
	int rc = report_figures(c->db, c->token.org, &figures);
	if (rc > 0)
		return answer_error(c, 404, NULL, "no school belongs to %s", c->token.org);
	if (rc < 0)
		return answer_failure(c, DB_FAILED);
	answer_json(c, 200, figures);
	return 0;
}

/* ---- the web console (console.h) ---- */

/* Does the request come from a page of this server? Its Origin must be
 * this server as the browser reached it: the scheme, and the Host it sent
 * (RFC 6454 §7: a browser sends Origin with every POST, PUT and DELETE). */
static int same_origin(const struct api *api, const struct api_request *rq)
{
	char self[320];
	if (!rq->origin)
		return 0;
	const char *url = api->cfg->serve.url;
	if (url) { /* reached through a proxy: its origin, scheme://host[:port] */
		const char *host = strstr(url, "://") + 3;
		size_t n = (size_t)(host - url) + strcspn(host, "/");
		return strlen(rq->origin) == n && strncmp(rq->origin, url, n) == 0;
	}
	if (!rq->host)
		return 0;
	snprintf(self, sizeof self, "%s://%s", rq->tls ? "https" : "http", rq->host);
	return strcmp(rq->origin, self) == 0;
}

/* The session cookie is Secure when people reach the server over TLS:
 * its own, or a proxy's (serve.url https://). */
static const char *secure(const struct ctx *c)
{
	const char *url = c->api->cfg->serve.url;
	return c->rq->tls || (url && !strncmp(url, "https://", 8)) ? "; Secure" : "";
}

static void answer_session(struct ctx *c, int signed_in);

/* POST /console/session {"token": ...} or {"link": ...}: signing in. */
static int open_session(struct ctx *c)
{
	json_error_t err;
	json_t *body = json_loadb(c->rq->body ? c->rq->body : "", c->rq->body_len,
				  JSON_REJECT_DUPLICATES, &err);
	const char *token = json_string_value(json_object_get(body, "token"));
	const char *link = json_string_value(json_object_get(body, "link"));
	if (!media_type(c->rq->content_type, "application/json") || !json_is_object(body) ||
	    json_object_size(body) != 1 || (!token && !link)) {
		json_decref(body);
		return answer_error(
			c, 400, NULL,
			"expected a JSON object {\"token\": TOKEN} or {\"link\": CODE}");
	}
	char cookie[CONSOLE_SECRET_CHARS + 1];
	long long id = console_session_open(c->db, token, token ? NULL : link, cookie);
	json_decref(body);
	if (id < 0)
		return answer_failure(c, (int)id);
	if (!id) {
		failed_auth(c->api, c->rq->client ? c->rq->client : "");
		return answer_error(
			c, 401, token ? "token" : NULL,
			token ? "the token is not valid (wrong, revoked or expired)"
			      : "this link has been used, has expired, or is not valid: "
				"ask for another");
	}
	snprintf(c->rs->set_cookie, sizeof c->rs->set_cookie,
		 CONSOLE_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", cookie, secure(c));
	OPENSSL_cleanse(cookie, sizeof cookie);
	if (token_get(c->db, id, &c->token) <= 0) /* revoked the moment after */
		return answer_failure(c, DB_FAILED);
	answer_session(c, 1);
	return 0;
}

/* DELETE /console/session: signing out. */
static int close_session(struct ctx *c)
{
	if (c->rq->session) {
		int rc = console_session_close(c->db, c->rq->session);
		if (rc < 0)
			return answer_failure(c, rc);
	}
	snprintf(c->rs->set_cookie, sizeof c->rs->set_cookie,
		 CONSOLE_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s", secure(c));
	answer_session(c, 0);
	return 0;
}

/* The session's person: as GET /api/v1/me, with "signed_in": true; or
 * {"signed_in": false}. */
static void answer_session(struct ctx *c, int signed_in)
{
	if (!signed_in) {
		answer_json(c, 200, json_pack("{s:b}", "signed_in", 0));
		return;
	}
	get_me(c);
	json_t *me = json_loadb(c->rs->body, c->rs->len, 0, NULL);
	free(c->rs->body);
	c->rs->body = NULL;
	json_object_set_new(me, "signed_in", json_true());
	answer_json(c, 200, me);
}

/* The token the request's session cookie stands for, into c->token: 1,
 * 0 if there is no cookie or it stands for none (ended, idle too long,
 * its token revoked or expired), or a failure. */
static int session_of(struct ctx *c)
{
	if (!c->rq->session)
		return 0;
	long long id = console_session_token(c->db, c->rq->session);
	return id > 0 ? token_get(c->db, id, &c->token) : (int)id;
}

/* GET /console/session: who the session cookie stands for (not signed
 * in is not an error for the page that asks). */
static void who_is_signed_in(struct ctx *c)
{
	if (!(c->db = thread_db(c->api))) {
		answer_failure(c, DB_FAILED);
		return;
	}
	int found = session_of(c);
	if (found < 0)
		answer_failure(c, found);
	else
		answer_session(c, found);
}

/* The console's paths: its page and assets, and its session. 1 if path is
 * one (answered), else 0. */
static int console_answer(struct ctx *c)
{
	const struct api_request *rq = c->rq;
	if (strcmp(rq->path, "/") != 0 && strncmp(rq->path, "/console/", 9) != 0)
		return 0;
	struct console_asset a;
	if (console_asset(rq->path, &a) && !strcmp(rq->method, "GET")) {
		c->rs->status = 200;
		c->rs->body = xmalloc(a.len + 1);
		memcpy(c->rs->body, a.data, a.len);
		c->rs->len = a.len;
		c->rs->content_type = a.type;
		return 1;
	}
	if (strcmp(rq->path, "/console/session") != 0) {
		answer_error(c, 404, NULL, "no such page");
		return 1;
	}
	if (!strcmp(rq->method, "GET")) {
		who_is_signed_in(c);
		return 1;
	}
	if (strcmp(rq->method, "POST") && strcmp(rq->method, "DELETE")) {
		answer_error(c, 404, NULL, "%s is not a method of this path", rq->method);
		return 1;
	}
	/* signing in from another site's page (login CSRF), or out */
	if (!same_origin(c->api, rq)) {
		answer_error(c, 403, "Origin", "a request from another site's page is refused");
		return 1;
	}
	int wait = limited(c->api, rq->client ? rq->client : "");
	if (wait) {
		c->rs->retry_after = wait;
		answer_error(c, 429, NULL,
			     "too many failed authentications from this address: try again in %d s",
			     wait);
		return 1;
	}
	if (!(c->db = thread_db(c->api))) {
		answer_failure(c, DB_FAILED);
		return 1;
	}
	if (!strcmp(rq->method, "POST"))
		open_session(c);
	else
		close_session(c);
	return 1;
}

/* ---- the route table ---- */

static const struct route routes[] = {
	{ "GET", "/api/v1/me", ROLE_VIEWER, ID_NONE, BODY_NONE, "", "", get_me },
	{ "GET", "/api/v1/params", ROLE_VIEWER, ID_NONE, BODY_NONE, "", "", get_params },
	{ "PUT", "/api/v1/params/{name}", ROLE_THRESHOLDS, ID_NONE, BODY_JSON, "", "value",
	  put_param },
	{ "DELETE", "/api/v1/params/{name}", ROLE_THRESHOLDS, ID_NONE, BODY_NONE, "", "",
	  delete_param },
	{ "POST", "/api/v1/params/preview", ROLE_VIEWER, ID_NONE, BODY_JSON, "", "params days",
	  post_params_preview },
	{ "GET", "/api/v1/actions", ROLE_VIEWER, ID_NONE, BODY_NONE, "since kind state after limit",
	  "", get_actions },
	{ "GET", "/api/v1/actions/{id}", ROLE_VIEWER, ID_ACTION, BODY_NONE, "", "", get_action },
	{ "GET", "/api/v1/cases", ROLE_VIEWER, ID_NONE, BODY_NONE, "open upn after limit", "",
	  get_cases },
	{ "GET", "/api/v1/cases/{id}", ROLE_VIEWER, ID_CASE, BODY_NONE, "", "", get_case },
	{ "GET", "/api/v1/pupils/{upn}", ROLE_VIEWER, ID_PUPIL, BODY_NONE, "", "", get_pupil },
	{ "GET", "/api/v1/pupils/{upn}/marks", ROLE_VIEWER, ID_PUPIL, BODY_NONE, "", "",
	  get_marks },
	{ "GET", "/api/v1/pupils/{upn}/export", ROLE_OFFICER, ID_PUPIL, BODY_NONE, "", "",
	  get_export },
	{ "GET", "/api/v1/report", ROLE_VIEWER, ID_NONE, BODY_NONE, "", "", get_report },
	{ "GET", "/api/v1/signoff", ROLE_VIEWER, ID_NONE, BODY_NONE, "after limit", "",
	  get_signoff },
	{ "POST", "/api/v1/signoff/{id}/approve", ROLE_OFFICER, ID_PROPOSAL, BODY_JSON, "", "note",
	  post_approve },
	{ "POST", "/api/v1/signoff/{id}/decline", ROLE_OFFICER, ID_PROPOSAL, BODY_JSON, "",
	  "reason", post_decline },
	{ "GET", "/api/v1/policy", ROLE_VIEWER, ID_NONE, BODY_NONE, "", "", get_policy },
	{ "POST", "/api/v1/policy/check", ROLE_AUTHOR, ID_NONE, BODY_LUA, "days", "",
	  post_policy_check },
	{ "PUT", "/api/v1/policy", ROLE_AUTHOR, ID_NONE, BODY_LUA, "", "", put_policy },
	{ "POST", "/api/v1/policy/rollback", ROLE_AUTHOR, ID_NONE, BODY_JSON, "", "sha256",
	  post_policy_rollback },
	{ "GET", "/api/v1/deliveries", ROLE_OFFICER, ID_NONE, BODY_NONE, "state after limit", "",
	  get_deliveries },
	{ "POST", "/api/v1/deliveries/redeliver", ROLE_OFFICER, ID_NONE, BODY_JSON, "",
	  "endpoint since", post_redeliver_since },
	{ "GET", "/api/v1/endpoints", ROLE_OFFICER, ID_NONE, BODY_NONE, "", "", get_endpoints },
	{ "POST", "/api/v1/deliveries/{id}/redeliver", ROLE_OFFICER, ID_DELIVERY, BODY_NONE, "", "",
	  post_redeliver },
	{ "GET", "/api/v1/audit", ROLE_VIEWER, ID_NONE, BODY_NONE, "since after limit", "",
	  get_audit },
};
enum { ROUTES = sizeof routes / sizeof *routes };

int api_routes(const struct api_route_info **out)
{
	static struct api_route_info info[ROUTES];
	for (int i = 0; i < ROUTES; i++) /* the same every time: harmless to race */
		info[i] = (struct api_route_info){ routes[i].method, routes[i].pattern,
						   token_role_names[routes[i].role] };
	*out = info;
	return ROUTES;
}

/* Does path match pattern? The {...} segment's text into arg. */
static int matches(const char *pattern, const char *path, char *arg, size_t size)
{
	while (*pattern && *path) {
		if (*pattern == '{') {
			size_t n = strcspn(path, "/");
			if (!n || n >= size)
				return 0;
			memcpy(arg, path, n);
			arg[n] = '\0';
			path += n;
			pattern = strchr(pattern, '}') + 1;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	return !*pattern && !*path;
}

/* Is the path one the gate lets through to the route table? */
static const char *path_refused(const char *path)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789_-.:";
	if (strncmp(path, "/api/v1/", 8) != 0)
		return "paths begin /api/v1/";
	if (strlen(path) > 256)
		return "the path is too long";
	for (const char *seg = path + 1; *seg;) {
		size_t n = strcspn(seg, "/");
		if (n == 0)
			return "an empty segment ('//' or a '/' at the end)";
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return "a '.' or '..' segment";
		if (strspn(seg, allowed) < n)
			return seg[strspn(seg, allowed)] == '%'
				       ? "percent-encoding: no path of this API needs it"
				       : "a character no path of this API has";
		seg += n;
		if (*seg == '/')
			seg++;
		if (*(seg - 1) == '/' && !*seg)
			return "an empty segment ('//' or a '/' at the end)";
	}
	return NULL;
}

/* Does the id in the path belong to the token's organisation (and its
 * pupils)? 1 yes, 0 no, or a failure. ?1 the org, ?2 the id, ?9 the org. */
static int in_scope(struct ctx *c, enum id_kind kind)
{
	static const char *const sql[] = {
		[ID_PUPIL] = "SELECT 1 FROM pupils p JOIN schools s ON s.urn = p.urn WHERE p.upn "
			     "= ?2 AND ('la:' || s.la_code = ?1 OR 'trust:' || s.trust_id = ?1)",
		[ID_ACTION] = "SELECT 1 FROM actions WHERE id = ?2 AND org = ?1 AND "
			      "" LISTING_AT_SCHOOLS("actions.pupil"),
		[ID_PROPOSAL] = "SELECT 1 FROM actions WHERE id = ?2 AND org = ?1 AND action = "
				"'legal_step' AND " LISTING_AT_SCHOOLS("actions.pupil"),
		[ID_CASE] = "SELECT 1 FROM cases c WHERE c.id = ?2 AND c.org = ?1 AND "
			    "" LISTING_AT_SCHOOLS("c.pupil"),
		[ID_DELIVERY] = "SELECT 1 FROM deliveries d JOIN actions ON actions.id = "
				"d.action_id WHERE d.id = ?2 AND actions.org = ?1 AND "
				"" LISTING_AT_SCHOOLS("actions.pupil"),
	};
	if (kind == ID_PUPIL ? !upn_valid(c->arg, (int)strlen(c->arg))
			     : whole(c->arg, 1, (1LL << 62)) < 0)
		return 0;
	sqlite3_stmt *st = db_prepare(c->db, sql[kind]);
	if (!st)
		return DB_FAILED;
	listing_bind_scope(st, &c->scope);
	sqlite3_bind_text(st, 1, c->token.org, -1, SQLITE_STATIC);
	if (kind == ID_PUPIL)
		sqlite3_bind_text(st, 2, c->arg, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, strtoll(c->arg, NULL, 10));
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(c->db, "checking scope");
}

/* Is name one of the space-separated names in list? */
static int listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		size_t k = strcspn(p, " ");
		if (k == n && !strncmp(p, name, n))
			return 1;
		p += k;
		p += *p == ' ';
	}
	return 0;
}

/* Is the media type of content_type (before any ';') one of types? */
static int media_type(const char *content_type, const char *types)
{
	if (!content_type)
		return 0;
	char type[64];
	size_t n = strcspn(content_type, "; \t");
	if (n >= sizeof type)
		return 0;
	for (size_t i = 0; i < n; i++)
		type[i] = (char)(content_type[i] >= 'A' && content_type[i] <= 'Z'
					 ? content_type[i] + 32
					 : content_type[i]);
	type[n] = '\0';
	return listed(types, type);
}

/* The query's names and values, and the body: 1 if the route may run,
 * else 0 with the answer given. */
static int request_valid(struct ctx *c)
{
	const struct route *r = c->route;
	const struct api_request *rq = c->rq;
	if (rq->nquery > API_QUERY_MAX)
		return answer_error(c, 400, NULL, "too many query arguments"), 0;
	for (int i = 0; i < rq->nquery; i++) {
		const char *name = rq->query[i].name, *value = rq->query[i].value;
		if (!listed(r->query, name)) {
			answer_error(c, 400, name, "%s: not a query argument of %s %s", name,
				     r->method, r->pattern);
			return 0;
		}
		for (int k = 0; k < i; k++)
			if (!strcmp(rq->query[k].name, name))
				return answer_error(c, 400, name, "%s: given twice", name), 0;
		/* nothing is decoded: no value of this API needs encoding */
		if (!value || !*value || strlen(value) > 64 ||
		    strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				  "_-.:") != strlen(value)) {
			answer_error(
				c, 400, name,
				"%s: expected letters, digits, '_', '-', '.' or ':' (up to 64)",
				name);
			return 0;
		}
	}
	const struct config *cfg = c->api->cfg;
	size_t max = r->body == BODY_LUA ? (size_t)cfg->serve.policy_max_kb << 10
					 : (size_t)cfg->serve.json_max_kb << 10;
	if (rq->body_over || rq->body_len > max) {
		answer_error(c, 413, NULL, "the body is longer than the %zu bytes %s %s takes", max,
			     r->method, r->pattern);
		return 0;
	}
	if (r->body == BODY_NONE) {
		if (rq->body_len)
			return answer_error(c, 400, NULL, "%s %s takes no body", r->method,
					    r->pattern),
			       0;
		return 1;
	}
	if (r->body == BODY_LUA) {
		if (!media_type(rq->content_type, "text/x-lua text/plain"))
			return answer_error(c, 400, "Content-Type",
					    "Content-Type: expected text/x-lua (a policy's text)"),
			       0;
		return 1;
	}
	if (!media_type(rq->content_type, "application/json"))
		return answer_error(c, 400, "Content-Type",
				    "Content-Type: expected application/json"),
		       0;
	json_error_t err;
	c->body = json_loadb(rq->body ? rq->body : "", rq->body_len, JSON_REJECT_DUPLICATES, &err);
	if (!c->body) {
		answer_error(c, 400, NULL, "the body is not JSON: line %d, column %d: %s", err.line,
			     err.column, err.text);
		return 0;
	}
	if (!json_is_object(c->body))
		return answer_error(c, 400, NULL, "the body must be a JSON object"), 0;
	const char *key;
	json_t *v;
	json_object_foreach(c->body, key, v)
	{
		if (!listed(r->fields, key)) {
			answer_error(c, 400, key, "%s: not a field of %s %s (fields: %s)", key,
				     r->method, r->pattern, *r->fields ? r->fields : "none");
			return 0;
		}
	}
	return 1;
}

/* Note the token's use, at most once a minute and never waiting for the
 * write lock: a busy database skips it. */
static void note_use(struct db *db, long long id)
{
	sqlite3_stmt *st = db_prepare(
		db, "UPDATE tokens SET last_used_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE "
		    "id = ? AND (last_used_at IS NULL OR last_used_at < strftime('%Y-%m-%dT%H:%M:"
		    "%SZ', 'now', '-60 seconds'))");
	if (!st)
		return;
	sqlite3_busy_timeout(db->h, 0);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_step(st);
	sqlite3_finalize(st);
	sqlite3_busy_timeout(db->h, DB_BUSY_MS);
}

static int handle(struct ctx *c_);

void api_handle(struct api *api, const struct api_request *rq, struct api_response *rs)
{
	struct ctx c = { .api = api, .rq = rq, .rs = rs };
	memset(rs, 0, sizeof *rs);
	handle(&c);
	json_decref(c.body);
	if (!rs->body)
		answer_failure(&c, DB_FAILED);
}

/* The gate, then the route's handler. */
static int handle(struct ctx *c_)
{
	struct ctx c = *c_;
	struct api *api = c.api;
	const struct api_request *rq = c.rq;
	struct api_response *rs = c.rs;
	if (console_answer(&c))
		return 0;
	const char *why = path_refused(rq->path);
	if (why)
		return answer_error(&c, 400, NULL, "%s", why);
	const char *client = rq->client ? rq->client : "";
	int wait = limited(api, client);
	if (wait) {
		rs->retry_after = wait;
		return answer_error(&c, 429, NULL,
				    "too many failed authentications from this address: try "
				    "again in %d s",
				    wait);
	}
	if (!(c.db = thread_db(api)))
		return answer_failure(&c, DB_FAILED);
	/* "Bearer" is case-insensitive (RFC 6750 §2.1, RFC 9110 §11.1) */
	const char *auth = rq->authorization;
	int found = 0;
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		const char *t = auth + 7;
		while (*t == ' ')
			t++;
		size_t len = strlen(t);
		while (len && t[len - 1] == ' ')
			len--;
		found = token_find(c.db, t, len, &c.token);
		if (found < 0)
			return answer_failure(&c, found);
	} else if (rq->session) { /* the console's session stands for a token */
		found = session_of(&c);
		if (found < 0)
			return answer_failure(&c, found);
		/* a change made with the cookie must come from a page of this
		 * server: another site's page could have the browser send it */
		if (found && strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD") &&
		    !same_origin(api, rq))
			return answer_error(&c, 403, "Origin",
					    "a change from another site's page is refused");
	}
	if (!found) {
		failed_auth(api, client);
		return answer_error(&c, 401, "Authorization",
				    auth ? "the token is not valid (wrong, revoked or expired)"
					 : "no token: send Authorization: Bearer TOKEN");
	}
	note_use(c.db, c.token.id);
	c.scope = (struct listing_scope){ .org = c.token.org, .at_schools = 1 };
	snprintf(c.via, sizeof c.via, "api:token %lld", c.token.id);

	int path_known = 0;
	for (int i = 0; i < ROUTES && !c.route; i++) {
		char arg[64] = "";
		if (!matches(routes[i].pattern, rq->path, arg, sizeof arg))
			continue;
		path_known = 1;
		if (strcmp(routes[i].method, rq->method) != 0)
			continue;
		c.route = &routes[i];
		snprintf(c.arg, sizeof c.arg, "%s", arg);
	}
	if (!c.route)
		return answer_error(&c, 404, NULL,
				    path_known ? "%s is not a method of this path"
					       : "no such path (%s)",
				    rq->method);
	if (c.route->id != ID_NONE) {
		int in = in_scope(&c, c.route->id);
		if (in < 0)
			return answer_failure(&c, in);
		if (!in)
			return answer_error(&c, 404, NULL, "no such %s",
					    c.route->id == ID_PUPIL	 ? "pupil"
					    : c.route->id == ID_CASE	 ? "case"
					    : c.route->id == ID_DELIVERY ? "delivery"
					    : c.route->id == ID_PROPOSAL ? "proposal"
									 : "action");
	}
	if (c.token.role < c.route->role)
		return answer_error(&c, 403, NULL, "%s %s needs the role %s; this token is %s",
				    c.route->method, c.route->pattern,
				    token_role_names[c.route->role],
				    token_role_names[c.token.role]);
	int valid = request_valid(&c);
	c_->body = c.body; /* api_handle frees it */
	return valid ? c.route->run(&c) : 0;
}

size_t api_body_max(const struct api *api)
{
	long kb = api->cfg->serve.policy_max_kb > api->cfg->serve.json_max_kb
			  ? api->cfg->serve.policy_max_kb
			  : api->cfg->serve.json_max_kb;
	return (size_t)kb << 10;
}

struct api *api_new(const struct config *cfg, const char *db_path)
{
	struct api *api = xcalloc(1, sizeof *api);
	api->cfg = cfg;
	api->db_path = xstrdup(db_path);
	pthread_key_create(&api->conn, close_conn);
	pthread_mutex_init(&api->lock, NULL);
	return api;
}

void api_free(struct api *api)
{
	if (!api)
		return;
	struct db *db = pthread_getspecific(api->conn);
	if (db)
		close_conn(db);
	pthread_key_delete(api->conn);
	pthread_mutex_destroy(&api->lock);
	free(api->db_path);
	free(api);
}
