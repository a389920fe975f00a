/*
 * deliver.c — the libcurl multi loop (curl's docs/examples/multi-*.c shape):
 * fill free slots with due deliveries, let curl drive the transfers, record
 * each result in a short transaction.
 *
 * Slots are bounded overall (delivery.concurrency) and per endpoint
 * (delivery.per_endpoint), so an endpoint that hangs holds at most its own
 * share while the others go on; a failing endpoint's retries are scheduled
 * later and take no slot while they wait. An endpoint with rate_per_second
 * draws a token from its own bucket for every transfer started, so it is
 * slowed and nothing else is; one that has failed every attempt for
 * disable_after_hours is disabled (endpoint_state) and skipped until
 * `rollcall endpoint enable`.
 *
 * Each delivery's body is kept (deliveries.body) when it is first sent, and
 * every retry sends those bytes again; each attempt is one row of
 * delivery_attempts.
 */
#include "deliver.h"

#include "actions.h"
#include "log.h"
#include "sign.h"
#include "util.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Times here are wall-clock milliseconds (wall_ms): they are stored as
 * next_attempt_at, and must mean the same after a restart. */
#define LEASE_MARGIN_MS 5000 /* beyond the request timeout */
#define LOCK_WAIT_MS	50   /* the sender's busy timeout */
#define ERROR_TEXT	200  /* bytes of a response kept as last_error */

/* The columns of a due delivery (d->due): its own, then its action's. */
enum due_column {
	DUE_ID,
	DUE_ENDPOINT,
	DUE_WEBHOOK_ID,
	DUE_ATTEMPTS,
	DUE_EVENT,
	DUE_BODY,
	DUE_ACTION
};

/* An endpoint's rate_per_second as a token bucket (monotonic ms): a token
 * a transfer, refilled at the rate, holding at most a tenth of a second's
 * worth (at least one), so an idle endpoint gets no burst past its rate
 * and a fast one is not held to the sender's turns. It starts empty: N
 * deliveries take N / rate seconds from the sender's start. */
struct bucket {
	double tokens;
	long long at;
};

/* What the sender knows of an endpoint beside its configuration. */
struct endpoint_run {
	int inflight;	  /* transfers in flight */
	int failing;	  /* -1 not known, 0 its last attempt succeeded, 1 failed */
	int disabled;	  /* endpoint_state.disabled_at is set (read each fill) */
	int no_key_noted; /* logged that no secret of it is valid now */
	struct bucket bucket;
};

struct transfer {
	CURL *easy;
	long long id;
	int endpoint; /* index in cfg->endpoints */
	int attempts; /* before this one */
	char *body;
	int body_new;	    /* made now, not read from deliveries.body: to be kept */
	long long began_ms; /* wall-clock start of this attempt */
	struct curl_slist *headers;
	char head[ERROR_TEXT + 1]; /* the start of the response body */
	char retry_after[64];	   /* the response's Retry-After, trimmed */
	size_t got;		   /* response bytes seen */
	int cut;		   /* we stopped reading a long response */
	char errbuf[CURL_ERROR_SIZE];
	int done; /* finished; its result not yet recorded */
	CURLcode result;
};

struct deliver {
	struct db *db;
	const struct config *cfg;
	CURLM *multi;
	struct transfer *slots;
	int nslots, inflight;
	struct endpoint_run *run; /* one per endpoint of cfg */
	int turn, swept;	  /* which endpoint fill reads first; orphans marked */
	int busy;		  /* fill or collect found the write lock taken */
	long long throttled;	  /* ms until a rate-limited endpoint has a token; -1 none */
	long long horizon;	  /* the longest wait rollcall chooses: retry or lease */
	sqlite3_stmt *any_due, *due, *lease, *result, *orphan, *next_due, *step_back;
	sqlite3_stmt *attempt, *failing, *recovered, *disable, *disabled;
	uint64_t rng;
};

static uint64_t next_random(uint64_t *rng) /* xorshift64*: jitter, not secrets */
{
	*rng ^= *rng >> 12;
	*rng ^= *rng << 25;
	*rng ^= *rng >> 27;
	return *rng * 2685821657736338717u;
}

/* A libcurl multi call that failed: reported. The multi handle is the
 * sender's whole state, so no such failure is worth trying again. */
static int multi_failed(CURLMcode mc, const char *what)
{
	if (mc == CURLM_OK)
		return 0;
	error("libcurl: %s: %s", what, curl_multi_strerror(mc));
	return 1;
}

struct deliver *deliver_new(struct db *db, const struct config *cfg)
{
	static int curl_ready;
	if (!curl_ready++ && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		error("cannot initialise libcurl");
		return NULL;
	}
	struct deliver *d = xcalloc(1, sizeof *d);
	d->db = db;
	/* The sender never waits long for the write lock (evaluation may hold
	 * it for a whole batch): curl's transfers must keep moving, and what
	 * could not be written is written on a later turn. */
	sqlite3_busy_timeout(db->h, LOCK_WAIT_MS);
	d->cfg = cfg;
	d->horizon = cfg->delivery.timeout_ms + LEASE_MARGIN_MS;
	if (d->horizon < cfg->delivery.backoff_max_ms)
		d->horizon = cfg->delivery.backoff_max_ms;
	d->nslots = (int)cfg->delivery.concurrency;
	d->slots = xcalloc((size_t)d->nslots, sizeof *d->slots);
	deliver_use(d, cfg);
	d->rng = (uint64_t)wall_ms() ^ ((uint64_t)(uintptr_t)d << 16) ^ 0x9e3779b97f4a7c15u;
	/* An outbox update lost to a power cut only means a delivery is sent
	 * again with its webhook-id: the fsync per commit that evaluation pays
	 * (synchronous=FULL) buys nothing here. The sender's commits are many
	 * and small, rewriting the same few pages of `deliveries` (and, with
	 * the bodies kept, rows a few times larger): checkpointed every 1,000
	 * WAL pages (SQLite's default) each hot page was copied back, with an
	 * fsync, over and over, which cost a third of the delivery rate once
	 * bodies were kept; every 10,000 (40 MB of WAL at most, when the sender
	 * is the only writer: evaluation's commits checkpoint at the default),
	 * each is copied once where it was copied ten times. */
	if (db_exec(db, "PRAGMA synchronous=NORMAL") < 0 ||
	    db_exec(db, "PRAGMA wal_autocheckpoint=10000") < 0) {
		deliver_free(d);
		return NULL;
	}
	d->multi = curl_multi_init();
	if (d->multi && multi_failed(curl_multi_setopt(d->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
						       (long)d->nslots),
				     "setting the connection limit")) {
		deliver_free(d);
		return NULL;
	}
	d->due =
		db_prepare(db, "SELECT d.id, d.endpoint, d.webhook_id, d.attempts, d.event, "
			       "d.body, " ACTIONS_COLUMNS
			       " FROM deliveries d JOIN actions ON actions.id = d.action_id "
			       "WHERE d.state = 'pending' AND d.endpoint = ?2 AND "
			       "d.next_attempt_at <= ?1 ORDER BY d.next_attempt_at, d.id LIMIT ?3");
	/* Two searches of the due index, not one OR that scans it all. */
	d->any_due = db_prepare(db, "SELECT 1 WHERE EXISTS (SELECT 1 FROM deliveries WHERE state "
				    "= 'pending' AND next_attempt_at <= ?1) OR EXISTS (SELECT 1 "
				    "FROM deliveries WHERE state = 'pending' AND next_attempt_at > "
				    "?2)");
	d->step_back = db_prepare(db, "UPDATE deliveries SET next_attempt_at = ?1 WHERE state = "
				      "'pending' AND next_attempt_at > ?2");
	d->next_due = db_prepare(db, "SELECT min(next_attempt_at) FROM deliveries WHERE state = "
				     "'pending'");
	d->lease = db_prepare(db, "UPDATE deliveries SET next_attempt_at = ? WHERE id = ?");
	d->attempt = db_prepare(db, "INSERT INTO delivery_attempts(delivery, at, status, "
				    "duration_ms, response) VALUES (?, ?, ?, ?, ?)");
	/* A run of failures is attempts that all failed with no gap longer
	 * than ?3 between them: an endpoint that sent nothing for a holiday
	 * (its last delivery dead before it) starts a new run with its next
	 * failure, not one as old as the holiday. */
	d->failing = db_prepare(db, "INSERT INTO endpoint_state(name, failing_since, last_failure) "
				    "VALUES (?1, ?2, ?2) ON CONFLICT(name) DO UPDATE SET "
				    "failing_since = CASE WHEN failing_since IS NULL OR "
				    "last_failure IS NULL OR last_failure < ?2 - ?3 THEN "
				    "excluded.failing_since ELSE failing_since END, last_failure = "
				    "max(coalesce(last_failure, 0), excluded.last_failure)");
	d->recovered = db_prepare(db, "UPDATE endpoint_state SET failing_since = NULL WHERE "
				      "name = ? AND failing_since IS NOT NULL");
	d->disable = db_prepare(db, "UPDATE endpoint_state SET disabled_at = ?3, disabled_why = "
				    "?4 WHERE name = ?1 AND disabled_at IS NULL AND failing_since "
				    "<= ?2 RETURNING failing_since");
	d->disabled = db_prepare(db, "SELECT name FROM endpoint_state WHERE disabled_at IS NOT "
				     "NULL");
	d->result = db_prepare(
		db, "UPDATE deliveries SET state = ?, attempts = ?, last_status = ?, "
		    "last_error = ?, next_attempt_at = ?, delivered_at = CASE WHEN ? "
		    "THEN strftime('%Y-%m-%dT%H:%M:%SZ','now') END, body = coalesce(body, "
		    "?8) WHERE id = ?7");
	d->orphan = db_prepare(db, "UPDATE deliveries SET state = 'no_endpoint', last_error = "
				   "'endpoint ' || endpoint || ' is not in the configuration' "
				   "WHERE state = 'pending' AND endpoint NOT IN "
				   "(SELECT value FROM json_each(?))");
	if (!d->multi)
		error("cannot start libcurl's multi interface (out of memory?)");
	if (!d->multi || !d->any_due || !d->due || !d->next_due || !d->lease || !d->result ||
	    !d->orphan || !d->step_back || !d->attempt || !d->failing || !d->recovered ||
	    !d->disable || !d->disabled) {
		deliver_free(d);
		return NULL;
	}
	return d;
}

void deliver_use(struct deliver *d, const struct config *cfg)
{
	d->cfg = cfg;
	free(d->run);
	d->run = xcalloc((size_t)cfg->nendpoints + 1, sizeof *d->run);
	for (int i = 0; i < cfg->nendpoints; i++) {
		d->run[i].failing = -1;
		d->run[i].bucket.at = monotonic_ms();
	}
	d->swept = 0; /* deliveries for an endpoint now gone are marked on the next fill */
}

int deliver_inflight(const struct deliver *d)
{
	return d->inflight;
}

static void release(struct deliver *d, struct transfer *t)
{
	/* fails only for a handle not in the multi: nothing then to undo */
	multi_failed(curl_multi_remove_handle(d->multi, t->easy), "removing a transfer");
	curl_slist_free_all(t->headers);
	free(t->body);
	t->headers = NULL;
	t->body = NULL;
	t->id = 0;
	t->done = 0;
	d->inflight--;
	d->run[t->endpoint].inflight--;
}

void deliver_free(struct deliver *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->nslots; i++) {
		if (d->slots[i].id)
			release(d, &d->slots[i]);
		if (d->slots[i].easy)
			curl_easy_cleanup(d->slots[i].easy);
	}
	if (d->multi)
		curl_multi_cleanup(d->multi);
	sqlite3_finalize(d->any_due);
	sqlite3_finalize(d->due);
	sqlite3_finalize(d->next_due);
	sqlite3_finalize(d->lease);
	sqlite3_finalize(d->result);
	sqlite3_finalize(d->orphan);
	sqlite3_finalize(d->step_back);
	sqlite3_finalize(d->attempt);
	sqlite3_finalize(d->failing);
	sqlite3_finalize(d->recovered);
	sqlite3_finalize(d->disable);
	sqlite3_finalize(d->disabled);
	free(d->slots);
	free(d->run);
	free(d);
}

/* Keep the start of the response for last_error; read at most
 * DELIVER_RESPONSE_MAX, then hang up: a huge or endless body never grows
 * memory. */
static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
	struct transfer *t = userp;
	size_t len = size * n;
	if (t->got < ERROR_TEXT) {
		size_t keep = len < ERROR_TEXT - t->got ? len : ERROR_TEXT - t->got;
		memcpy(t->head + t->got, data, keep);
		t->head[t->got + keep] = '\0';
	}
	t->got += len;
	if (t->got > DELIVER_RESPONSE_MAX) {
		t->cut = 1;
		return 0; /* CURLE_WRITE_ERROR: the status line is what counts */
	}
	return len;
}

/* Keep the Retry-After of the response. A value longer than the buffer is
 * cut: digits stay a wait past any backoff_max_ms, a date stops parsing. */
static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
	static const char name[] = "retry-after:";
	struct transfer *t = userp;
	size_t len = size * n;
	if (len >= 5 && !memcmp(data, "HTTP/", 5)) {
		t->retry_after[0] = '\0'; /* a new response's head begins */
	} else if (len >= sizeof name - 1 && !strncasecmp(data, name, sizeof name - 1)) {
		const char *v = data + sizeof name - 1, *end = data + len;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v &&
		       (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
			end--;
		size_t keep = (size_t)(end - v);
		if (keep > sizeof t->retry_after - 1)
			keep = sizeof t->retry_after - 1;
		memcpy(t->retry_after, v, keep);
		t->retry_after[keep] = '\0';
	}
	return len;
}

/* The webhook body: {"type", "timestamp", "data"} around the action, or
 * NULL if memory ran out. The type is the delivery's event (a legal step
 * has one for its proposal and one for its decision or expiry; a delivery
 * from before schema version 7 has none: the action's own type), and data
 * the action as that event shows it. Stored text reaches jansson only
 * through column_json: a created_at that is not UTF-8 must not lose the
 * webhook (json_pack refused it, and the NULL body crashed the sender). */
static char *webhook_body(sqlite3_stmt *row, int event, int first)
{
	struct action_row a;
	actions_row(row, first, &a);
	const char *type = (const char *)sqlite3_column_text(row, event);
	if (!type)
		type = actions_webhook_type(a.action.s ? a.action.s : "");
	json_t *body = json_object();
	json_object_set_new(body, "type", text_json(type, strlen(type), NULL));
	/* when the action was recorded, or the decision or expiry it tells of */
	int decision = !strcmp(type, EVENT_DECIDED) || !strcmp(type, EVENT_EXPIRED);
	struct action_text at = decision && a.decided_at.s ? a.decided_at : a.created_at;
	json_object_set_new(body, "timestamp", text_json(at.s, at.len, NULL));
	json_object_set_new(body, "data", actions_event_payload(&a, type));
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	return text;
}

/* Append line to *list; -1 if memory ran out (the list is then freed). */
static int add_header(struct curl_slist **list, const char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);
	if (!l) {
		curl_slist_free_all(*list);
		*list = NULL;
		return -1;
	}
	*list = l;
	return 0;
}

/* Start the delivery of row in the free slot t. DB_FAILED (reported) if
 * memory ran out or libcurl refused the transfer: the sender stops. */
static int start(struct deliver *d, struct transfer *t, sqlite3_stmt *row, int endpoint,
		 long long now)
{
	const struct endpoint_conf *e = &d->cfg->endpoints[endpoint];
	const char *webhook_id = (const char *)sqlite3_column_text(row, DUE_WEBHOOK_ID);
	char header[320], signatures[32 + ENDPOINT_SECRETS_MAX * SIGN_SIGNATURE_MAX];
	const struct sign_key *keys[ENDPOINT_SECRETS_MAX];
	long long ts = now / 1000;
	CURLMcode mc;

	memset(t->head, 0, sizeof t->head);
	t->retry_after[0] = '\0';
	t->got = 0;
	t->cut = 0;
	t->errbuf[0] = '\0';
	t->id = sqlite3_column_int64(row, DUE_ID);
	t->attempts = sqlite3_column_int(row, DUE_ATTEMPTS);
	t->endpoint = endpoint;
	t->began_ms = now;
	/* the bytes first sent, else the body made now (kept with the result) */
	const char *kept = (const char *)sqlite3_column_text(row, DUE_BODY);
	t->body_new = !kept;
	t->body = kept ? strdup(kept) : webhook_body(row, DUE_EVENT, DUE_ACTION);
	if (!t->body) {
		error("delivery %lld: out of memory making its body", t->id);
		goto fail;
	}
	size_t len = strlen(t->body);
	/* Standard Webhooks: one v1 signature per secret valid now,
	 * space-separated; a receiver accepts the request if any matches, so
	 * one that knows only the old secret, or only the new, accepts it
	 * while a rotation is under way. fill starts nothing for an endpoint
	 * with no valid secret. */
	int nkeys = config_signing_keys(e, now, keys, NULL); /* fill's now: can_sign saw one */
	size_t used = (size_t)snprintf(signatures, sizeof signatures, "webhook-signature:");
	for (int k = 0; k < nkeys; k++) {
		signatures[used++] = ' ';
		sign_webhook(keys[k], webhook_id, ts, t->body, len, signatures + used);
		used += strlen(signatures + used);
	}

	t->headers = NULL;
	int bad = add_header(&t->headers, "content-type: application/json") ||
		  add_header(&t->headers, "expect:"); /* no 100-continue round trip */
	snprintf(header, sizeof header, "webhook-id: %s", webhook_id);
	bad = bad || add_header(&t->headers, header);
	snprintf(header, sizeof header, "webhook-timestamp: %lld", ts);
	bad = bad || add_header(&t->headers, header);
	bad = bad || add_header(&t->headers, signatures);
	if (bad) {
		error("delivery %lld: out of memory making its headers", t->id);
		goto fail;
	}

	if (!t->easy)
		t->easy = curl_easy_init();
	else
		curl_easy_reset(t->easy);
	if (!t->easy) {
		error("delivery %lld: libcurl cannot make a transfer (out of memory?)", t->id);
		goto fail;
	}
	CURL *c = t->easy;
	curl_easy_setopt(c, CURLOPT_URL, e->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Straight to the endpoint, never through a proxy named in the
	 * environment (http_proxy, HTTPS_PROXY, ALL_PROXY): it would see
	 * plain-http deliveries that were allowed only because they stay on
	 * this machine, and every payload's pupil data. */
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "rollcall/1");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, d->cfg->delivery.timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* a 3xx is a failed attempt */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(c, CURLOPT_PRIVATE, t);
	if ((mc = curl_multi_add_handle(d->multi, c)) != CURLM_OK) {
		error("delivery %lld: libcurl: starting a transfer: %s", t->id,
		      curl_multi_strerror(mc));
		goto fail;
	}
	d->inflight++;
	d->run[endpoint].inflight++;
	return DB_DONE;
fail:
	curl_slist_free_all(t->headers);
	free(t->body);
	t->headers = NULL;
	t->body = NULL;
	t->id = 0;
	return DB_FAILED;
}

/* Deliveries waiting for an endpoint the configuration no longer has can
 * never be sent: say so once, where `rollcall deliveries --failed` shows it. */
static int sweep_orphans(struct deliver *d)
{
	json_t *names = json_array();
	for (int i = 0; i < d->cfg->nendpoints; i++)
		json_array_append_new(names, json_string(d->cfg->endpoints[i].name));
	char *text = json_dumps(names, JSON_COMPACT);
	json_decref(names);
	sqlite3_bind_text(d->orphan, 1, text, -1, SQLITE_TRANSIENT);
	free(text);
	return db_step_done(d->db, d->orphan, "marking deliveries without an endpoint");
}

/* Is delivery id in a slot (in flight, or finished and not yet recorded)? */
static int in_slot(const struct deliver *d, long long id)
{
	for (int i = 0; i < d->nslots; i++)
		if (d->slots[i].id == id)
			return 1;
	return 0;
}

/* Which endpoints are disabled now: endpoint_state, which `rollcall
 * endpoint enable` changes from another process, read on every fill (a
 * table of a row an endpoint). */
static int read_disabled(struct deliver *d)
{
	int rc;
	for (int i = 0; i < d->cfg->nendpoints; i++)
		d->run[i].disabled = 0;
	while ((rc = sqlite3_step(d->disabled)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(d->disabled, 0);
		for (int i = 0; name && i < d->cfg->nendpoints; i++)
			if (!strcmp(d->cfg->endpoints[i].name, name))
				d->run[i].disabled = 1;
	}
	sqlite3_reset(d->disabled);
	return rc == SQLITE_DONE ? 0 : db_fail(d->db, "reading the endpoints' state");
}

/* How many transfers endpoint e may start now under its rate_per_second
 * (at most want); when none, d->throttled says how soon one may. */
static long tokens(struct deliver *d, int e, long want)
{
	long rate = d->cfg->endpoints[e].rate_per_second;
	if (!rate)
		return want;
	struct bucket *b = &d->run[e].bucket;
	long long now = monotonic_ms();
	double cap = rate / 10.0 < 1 ? 1 : rate / 10.0;
	b->tokens += (double)(now - b->at) * (double)rate / 1000.0;
	if (b->tokens > cap)
		b->tokens = cap;
	b->at = now;
	long have = (long)b->tokens;
	if (have < 1) {
		long long wait = (long long)((1 - b->tokens) * 1000.0 / (double)rate) + 1;
		if (d->throttled < 0 || wait < d->throttled)
			d->throttled = wait;
	}
	return have < want ? have : want;
}

/* Can endpoint e sign now? An endpoint whose every secret has expired
 * since the configuration was read sends nothing (its deliveries wait for
 * a reload with a new secret): said once. */
static int can_sign(struct deliver *d, int e, long long now)
{
	const struct sign_key *keys[ENDPOINT_SECRETS_MAX];
	if (config_signing_keys(&d->cfg->endpoints[e], now, keys, NULL) > 0)
		return 1;
	if (!d->run[e].no_key_noted++)
		log_event(LOG_ERROR,
			  "endpoint has no secret valid now: its deliveries wait for a new "
			  "one (rollcall endpoint rotate, then SIGHUP)",
			  "endpoint", d->cfg->endpoints[e].name, NULL);
	return 0;
}

/* Start due deliveries in free slots, leasing each. Endpoints are read one
 * at a time, each up to its own limit and starting from a different one
 * each turn, so a backlog for one endpoint never hides the others' due
 * deliveries. Returns the number started, or the failure (DB_BUSY only
 * from a write; the lock taken is d->busy, not a failure). */
static int fill(struct deliver *d)
{
	int free_slots = d->nslots - d->inflight, started = 0, rc;
	d->throttled = -1;
	if (free_slots <= 0)
		return 0;
	long long now = wall_ms();
	long long lease = now + d->cfg->delivery.timeout_ms + LEASE_MARGIN_MS;
	/* Look before taking the write lock: most turns find nothing due, and
	 * the lock is shared with evaluation and with other writers. */
	sqlite3_bind_int64(d->any_due, 1, now);
	sqlite3_bind_int64(d->any_due, 2, now + d->horizon);
	int any = sqlite3_step(d->any_due);
	sqlite3_reset(d->any_due);
	if (any != SQLITE_ROW)
		return any == SQLITE_DONE ? 0 : db_fail(d->db, "reading the outbox");
	if ((rc = db_try_begin(d->db)) == DB_BUSY)
		d->busy = 1;
	if (rc < 0)
		return rc == DB_BUSY ? 0 : rc; /* evaluation holds the lock: next turn */
	if (!d->swept++ && (rc = sweep_orphans(d)) < 0)
		goto fail;
	/* Due times are wall-clock times. One further ahead than any wait
	 * rollcall chooses (a lease, a retry, a Retry-After within
	 * backoff_max_ms) was set before the clock was stepped back, or under
	 * a configuration allowing longer waits: it is due now, not after the
	 * step as well. */
	sqlite3_bind_int64(d->step_back, 1, now);
	sqlite3_bind_int64(d->step_back, 2, now + d->horizon);
	rc = db_step_done(d->db, d->step_back, "rescheduling deliveries due too far ahead");
	if (rc < 0)
		goto fail;
	if ((rc = read_disabled(d)) < 0)
		goto fail;
	int n = d->cfg->nendpoints, first = d->turn++ % (n ? n : 1);
	for (int k = 0; k < n && started < free_slots; k++) {
		int e = (first + k) % n;
		long room = d->cfg->delivery.per_endpoint - d->run[e].inflight;
		if (room > free_slots - started)
			room = free_slots - started;
		if (room <= 0 || d->run[e].disabled || !can_sign(d, e, now))
			continue;
		if ((room = tokens(d, e, room)) <= 0)
			continue;
		sqlite3_bind_int64(d->due, 1, now);
		sqlite3_bind_text(d->due, 2, d->cfg->endpoints[e].name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(d->due, 3, room);
		int step;
		while ((step = sqlite3_step(d->due)) == SQLITE_ROW) {
			if (in_slot(d, sqlite3_column_int64(d->due, DUE_ID)))
				continue; /* its result waits to be recorded */
			struct transfer *t = d->slots;
			while (t->id)
				t++;
			if ((rc = start(d, t, d->due, e, now)) < 0)
				goto fail;
			sqlite3_bind_int64(d->lease, 1, lease);
			sqlite3_bind_int64(d->lease, 2, t->id);
			if ((rc = db_step_done(d->db, d->lease, "leasing a delivery")) < 0)
				goto fail;
			if (d->cfg->endpoints[e].rate_per_second)
				d->run[e].bucket.tokens -= 1;
			started++;
		}
		sqlite3_reset(d->due);
		if (step != SQLITE_DONE) {
			rc = db_fail(d->db, "reading the outbox");
			goto fail;
		}
	}
	if ((rc = db_commit(d->db)) < 0)
		return rc;
	return started;
fail:
	sqlite3_reset(d->due);
	db_rollback(d->db);
	return rc;
}

long long deliver_backoff(long long base, long long cap, int k, uint64_t *rng)
{
	long long ceiling = base;
	for (int i = 1; i < k && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	return (long long)(next_random(rng) % (uint64_t)(ceiling + 1));
}

/* Wait before retry k: the configured backoff, from the sender's draws. */
static long long backoff(struct deliver *d, int k)
{
	return deliver_backoff(d->cfg->delivery.backoff_ms, d->cfg->delivery.backoff_max_ms, k,
			       &d->rng);
}

/* The wait in ms, at most cap, that a Retry-After value asks for at now:
 * delay-seconds (any number of digits, counted without overflowing) or an
 * HTTP-date (RFC 9110 10.2.3, as curl parses dates). 0 if it asks for no
 * wait or is neither. */
static long long retry_after_ms(const char *v, long long cap, long long now)
{
	if (*v >= '0' && *v <= '9') {
		long long seconds = 0;
		for (; *v >= '0' && *v <= '9'; v++)
			if (seconds <= cap / 1000) /* beyond that only the cap matters */
				seconds = seconds * 10 + (*v - '0');
		if (*v)
			return 0;
		return seconds > cap / 1000 ? cap : seconds * 1000;
	}
	time_t date = curl_getdate(v, NULL);
	if (date == -1 || (long long)date < now / 1000)
		return 0;
	if ((long long)date > (now + cap) / 1000)
		return cap;
	long long wait = (long long)date * 1000 - now;
	return wait < 0 ? 0 : wait > cap ? cap : wait;
}

/* n, less a UTF-8 character that cutting s at n left incomplete: the cut
 * is ours, not the receiver's. Whatever else is not text is text_safe's. */
static size_t whole_characters(const char *s, size_t n)
{
	size_t i = n;
	while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return n;
	unsigned c = (unsigned char)s[i - 1];
	size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	return c >= 0xc2 && c <= 0xf4 && n - (i - 1) < need ? i - 1 : n;
}

/* A wall-clock time in ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC). */
static void iso_ms(long long ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* The attempt's row in delivery_attempts: when it began, the status (NULL:
 * no response), how long it took, and the start of what came back. */
static int record_attempt(struct deliver *d, struct transfer *t, long status, const char *response)
{
	char at[32];
	curl_off_t us = 0;
	curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &us);
	iso_ms(t->began_ms, at);
	sqlite3_stmt *s = d->attempt;
	sqlite3_bind_int64(s, 1, t->id);
	sqlite3_bind_text(s, 2, at, -1, SQLITE_TRANSIENT);
	if (status)
		sqlite3_bind_int64(s, 3, status);
	else
		sqlite3_bind_null(s, 3);
	sqlite3_bind_int64(s, 4, (long long)(us / 1000));
	if (response)
		sqlite3_bind_text(s, 5, response, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 5);
	return db_step_done(d->db, s, "recording an attempt");
}

/* An endpoint's run of failures (endpoint_state): a success ends it; a
 * failure starts it, or, once it has lasted disable_after_hours, disables
 * the endpoint (its deliveries wait, pending, until `rollcall endpoint
 * enable`), which is logged as an error. */
static int endpoint_result(struct deliver *d, struct transfer *t, int ok)
{
	const struct endpoint_conf *e = &d->cfg->endpoints[t->endpoint];
	struct endpoint_run *run = &d->run[t->endpoint];
	int rc;
	if (ok) {
		if (run->failing == 0)
			return 0; /* the common case: no write */
		sqlite3_bind_text(d->recovered, 1, e->name, -1, SQLITE_STATIC);
		if ((rc = db_step_done(d->db, d->recovered, "recording an endpoint's state")) < 0)
			return rc;
		run->failing = 0;
		return 0;
	}
	run->failing = 1;
	sqlite3_bind_text(d->failing, 1, e->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(d->failing, 2, t->began_ms);
	/* the longest a failing endpoint with deliveries to send waits between
	 * attempts is backoff_max_ms: twice that with none is a quiet gap */
	sqlite3_bind_int64(d->failing, 3, 2 * d->cfg->delivery.backoff_max_ms);
	if ((rc = db_step_done(d->db, d->failing, "recording an endpoint's state")) < 0)
		return rc;
	char at[32], why[160];
	long long limit = (long long)(e->disable_after_hours * 3600000.0);
	iso_ms(wall_ms(), at);
	at[19] = 'Z', at[20] = '\0'; /* to the second, as audit and actions are */
	snprintf(why, sizeof why, "every attempt failed for %g hours (disable_after_hours)",
		 e->disable_after_hours);
	sqlite3_stmt *s = d->disable;
	sqlite3_bind_text(s, 1, e->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, t->began_ms - limit);
	sqlite3_bind_text(s, 3, at, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, why, -1, SQLITE_TRANSIENT);
	int step = sqlite3_step(s);
	long long since = step == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	while (step == SQLITE_ROW)
		step = sqlite3_step(s);
	sqlite3_reset(s);
	if (step != SQLITE_DONE)
		return db_fail(d->db, "disabling an endpoint");
	if (since) {
		char from[32];
		iso_ms(since, from);
		run->disabled = 1;
		log_event(LOG_ERROR,
			  "endpoint disabled: its deliveries wait until rollcall endpoint enable",
			  "endpoint", e->name, "failing_since", from, "why", why, NULL);
	}
	return 0;
}

/* Record how a transfer ended. */
static int finish(struct deliver *d, struct transfer *t, CURLcode result, struct deliver_stats *st)
{
	long status = 0;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	int ok = (result == CURLE_OK || (result == CURLE_WRITE_ERROR && t->cut)) && status >= 200 &&
		 status < 300;
	int attempts = t->attempts + 1;
	char *error_text = NULL;
	const char *state = "delivered";
	long long next = 0;

	st->sent++;
	if (ok) {
		st->delivered++;
	} else {
		/* The receiver's body as text: valid UTF-8 without control
		 * characters (each byte that is not becomes U+FFFD, so at most
		 * three times the ERROR_TEXT bytes kept), or `deliveries --json`
		 * and the log could not show it. */
		char text[CURL_ERROR_SIZE + ERROR_TEXT + 32];
		size_t len;
		if (result != CURLE_OK && !(result == CURLE_WRITE_ERROR && t->cut)) {
			len = (size_t)snprintf(text, sizeof text, "%s",
					       t->errbuf[0] ? t->errbuf
							    : curl_easy_strerror(result));
			if (len >= sizeof text)
				len = sizeof text - 1;
		} else {
			size_t kept = t->got < ERROR_TEXT ? t->got : ERROR_TEXT;
			if (t->got > kept)
				kept = whole_characters(t->head, kept);
			len = (size_t)snprintf(text, sizeof text, "HTTP %ld%s", status,
					       kept ? ": " : "");
			memcpy(text + len, t->head, kept);
			len += kept;
		}
		error_text = text_safe(text, len, NULL);
		long long now = wall_ms(), wait = backoff(d, attempts);
		/* Honoured within backoff_max_ms. Read here, not through
		 * CURLINFO_RETRY_AFTER: curl reports 2^63 - 1 seconds as is (in
		 * milliseconds it overflowed and every attempt was spent at
		 * once) and more digits than that as no wait. */
		if ((status == 429 || status == 503) && t->retry_after[0]) {
			long long asked = retry_after_ms(t->retry_after,
							 d->cfg->delivery.backoff_max_ms, now);
			if (asked > 0)
				wait = asked;
		}
		if (attempts >= d->cfg->delivery.max_attempts) {
			state = "dead";
			st->dead++;
		} else {
			state = "pending";
			next = now + wait;
			st->retried++;
		}
		char id[24];
		snprintf(id, sizeof id, "%lld", t->id);
		log_event(LOG_WARN, "delivery failed", "delivery", id, "endpoint",
			  d->cfg->endpoints[t->endpoint].name, "state", state, "error", error_text,
			  NULL);
	}
	sqlite3_stmt *s = d->result;
	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, attempts);
	if (status)
		sqlite3_bind_int64(s, 3, status);
	else
		sqlite3_bind_null(s, 3);
	if (error_text)
		sqlite3_bind_text(s, 4, error_text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 4);
	sqlite3_bind_int64(s, 5, next);
	sqlite3_bind_int(s, 6, ok);
	sqlite3_bind_int64(s, 7, t->id);
	/* The body is kept with the first attempt's result, not its lease: one
	 * write of the row with it, not two (it is most of the row). After a
	 * crash mid-attempt it is made again from the action, which gives the
	 * same bytes for the same event. */
	if (t->body_new)
		sqlite3_bind_text(s, 8, t->body, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 8);
	int rc = db_step_done(d->db, s, "recording a delivery");
	sqlite3_bind_null(s, 8);
	if (rc == 0 && ok && t->got) {
		size_t kept = t->got < ERROR_TEXT ? t->got : ERROR_TEXT;
		if (t->got > kept)
			kept = whole_characters(t->head, kept);
		error_text = text_safe(t->head, kept, NULL);
	}
	if (rc == 0)
		rc = record_attempt(d, t, status, error_text);
	if (rc == 0)
		rc = endpoint_result(d, t, ok);
	free(error_text);
	return rc;
}

/* Record every finished transfer in one transaction. A finished transfer
 * keeps its slot until its result is committed: if the write lock cannot be
 * had now (evaluation holds it), the result waits for the next try, rather
 * than the webhook being sent again when its lease runs out. */
static int collect(struct deliver *d, struct deliver_stats *st)
{
	CURLMsg *msg;
	int left, done = 0, rc = 0;
	while ((msg = curl_multi_info_read(d->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct transfer *t;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		t->done = 1;
		t->result = msg->data.result;
	}
	for (int i = 0; i < d->nslots; i++)
		done += d->slots[i].id && d->slots[i].done;
	if (!done)
		return 0;
	if ((rc = db_try_begin(d->db)) == DB_BUSY)
		d->busy = 1;
	if (rc < 0)
		return rc == DB_BUSY ? 0 : rc; /* the results wait in their slots */
	struct deliver_stats counted = { 0 };
	for (int i = 0; i < d->nslots && rc == 0; i++)
		if (d->slots[i].id && d->slots[i].done)
			rc = finish(d, &d->slots[i], d->slots[i].result, &counted);
	if (rc < 0 || (rc = db_commit(d->db)) < 0) {
		db_rollback(d->db);
		/* what endpoint_result noted of them was not written */
		for (int i = 0; i < d->cfg->nendpoints; i++)
			d->run[i].failing = -1;
		return rc;
	}
	for (int i = 0; i < d->nslots; i++)
		if (d->slots[i].id && d->slots[i].done)
			release(d, &d->slots[i]);
	st->sent += counted.sent;
	st->delivered += counted.delivered;
	st->retried += counted.retried;
	st->dead += counted.dead;
	return 0;
}

/* How long to wait for the next retry to come due, at most cap: none if
 * it is due now, or so far ahead that fill makes it due now. */
static int until_due(struct deliver *d, int cap)
{
	long long wait = cap, now = wall_ms();
	if (sqlite3_step(d->next_due) == SQLITE_ROW &&
	    sqlite3_column_type(d->next_due, 0) != SQLITE_NULL) {
		long long next = sqlite3_column_int64(d->next_due, 0);
		wait = next <= now || next - now > d->horizon ? 0 : next - now;
	}
	sqlite3_reset(d->next_due);
	return wait < cap ? (int)wait : cap;
}

/* Wait up to wait_ms for the network or deliver_wake. */
static int wait_for(struct deliver *d, int wait_ms)
{
	return multi_failed(curl_multi_poll(d->multi, NULL, 0, wait_ms, NULL), "waiting")
		       ? DB_FAILED
		       : DB_DONE;
}

/* Let curl work, record the transfers that ended, and wait up to wait_ms
 * for the network. */
static int drive(struct deliver *d, int wait_ms, struct deliver_stats *st)
{
	int running, rc;
	if (multi_failed(curl_multi_perform(d->multi, &running), "driving the transfers"))
		return DB_FAILED;
	if ((rc = collect(d, st)) < 0)
		return rc;
	return running && wait_ms > 0 ? wait_for(d, wait_ms) : DB_DONE;
}

int deliver_step(struct deliver *d, int start_new, int wait_ms, struct deliver_stats *st)
{
	int rc;
	d->busy = 0;
	if (start_new && (rc = fill(d)) < 0)
		return rc;
	int wait = wait_ms;
	if (start_new) {
		/* Something due now that fill could not start waits for a free
		 * slot, which network activity brings: no need to spin; or for
		 * the write lock (a short nap); or for its endpoint's next token;
		 * or its endpoint is disabled or has no valid secret, and the
		 * idle wait is soon enough to see it enabled or reloaded. */
		wait = until_due(d, wait_ms);
		if (wait == 0)
			wait = d->inflight ? wait_ms : d->busy ? 10 : wait_ms;
		if (d->throttled >= 0 && d->throttled < wait)
			wait = (int)d->throttled;
	}
	if (d->inflight == 0)
		return wait_for(d, wait);
	if ((rc = drive(d, wait, st)) < 0)
		return rc;
	return d->inflight;
}

void deliver_log(const struct deliver_stats *st)
{
	char sent[24], delivered[24], retrying[24], dead[24];
	snprintf(sent, sizeof sent, "%ld", st->sent);
	snprintf(delivered, sizeof delivered, "%ld", st->delivered);
	snprintf(retrying, sizeof retrying, "%ld", st->retried);
	snprintf(dead, sizeof dead, "%ld", st->dead);
	log_event(LOG_INFO, "delivered", "sent", sent, "delivered", delivered, "retrying", retrying,
		  "dead", dead, NULL);
}

void deliver_wake(struct deliver *d)
{
	/* if it fails, the sender's wait still ends within its timeout */
	multi_failed(curl_multi_wakeup(d->multi), "waking the sender");
}

int deliver_abandon(struct deliver *d)
{
	int rc = 0, began = 0;
	sqlite3_busy_timeout(d->db->h, DB_BUSY_MS); /* stopping: worth the wait */
	for (int i = 0; i < d->nslots && rc == 0; i++) {
		struct transfer *t = &d->slots[i];
		if (!t->id)
			continue;
		if (!began++ && (rc = db_begin(d->db)) < 0)
			return rc;
		sqlite3_bind_int64(d->lease, 1, 0);
		sqlite3_bind_int64(d->lease, 2, t->id);
		rc = db_step_done(d->db, d->lease, "giving back a lease");
		release(d, t);
	}
	if (began && rc < 0)
		db_rollback(d->db);
	else if (began)
		rc = db_commit(d->db);
	return rc;
}

int deliver_until_idle(struct deliver *d, struct deliver_stats *st)
{
	memset(st, 0, sizeof *st);
	for (int naps = 0, rc;;) {
		d->busy = 0;
		if ((rc = fill(d)) < 0)
			return rc;
		if (d->inflight == 0 && !d->busy && d->throttled < 0)
			return DB_DONE; /* nothing due now that may start, nothing in flight */
		if (d->inflight == 0 && !d->busy) {
			/* due, waiting for its endpoint's rate_per_second */
			if ((rc = wait_for(d, (int)d->throttled)) < 0)
				return rc;
			continue;
		}
		if (d->inflight > 0 &&
		    (rc = drive(d,
				d->throttled >= 0 && d->throttled < 100 ? (int)d->throttled : 100,
				st)) < 0)
			return rc;
		if (!d->busy) {
			naps = 0;
			continue;
		}
		/* another process holds the write lock: wait as long as any other
		 * command would, then say so (what was sent is sent again later,
		 * with its webhook-id) */
		if (++naps * 50 > DB_BUSY_MS) {
			error("%s: the database stayed locked: deliveries left pending",
			      d->db->path);
			return DB_BUSY;
		}
		if (d->inflight == 0 && (rc = wait_for(d, 50)) < 0)
			return rc;
	}
}
