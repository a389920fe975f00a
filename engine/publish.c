/*
 * publish.c — an organisation's policy read, checked, previewed,
 * published and rolled back (publish.h has the contract and the order of
 * a publish's steps).
 *
 * A text to check or publish is first written to a hidden file in the
 * policies directory (".la-355.lua.XXXXXX": it does not end in .lua, so
 * neither the service's watch nor `rollcall check` takes it for a policy)
 * and loaded from there: the bytes checked are the bytes that go live, by
 * a rename in the same directory. Errors name the text as the caller
 * knows it (the draft's file, or la-355.lua), never that temporary file.
 * A crash may leave one behind: it is never loaded, and safe to delete.
 */
#include "publish.h"

#include "audit.h"
#include "date.h"
#include "file.h"
#include "policy.h"
#include "policycheck.h"
#include "synthetic.h"
#include "util.h"
#include "versions.h"
#include "whatif.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_BYTES 4200

/* The error result: {"error": message, "field": field, "errors": errors}
 * (field and errors left out when NULL; errors is taken). */
static json_t *refusal(const char *field, json_t *errors, const char *fmt, ...) PRINTF_LIKE(3, 4);
static json_t *refusal(const char *field, json_t *errors, const char *fmt, ...)
{
	char message[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	json_t *o = json_object();
	json_object_set_new(o, "error", text_json(message, strlen(message), NULL));
	if (field)
		json_object_set_new(o, "field", json_string(field));
	if (errors)
		json_object_set_new(o, "errors", errors);
	return o;
}

/* A failure already reported on stderr, as the caller's result. */
static int failure(json_t **out, int rc, const char *what)
{
	json_decref(*out);
	*out = refusal(NULL, NULL, "%s failed (see the service's log)", what);
	return rc < 0 ? rc : DB_FAILED;
}

static void sha256_hex(const char *text, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	EVP_Digest(text, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int publish_path(const struct config *cfg, const char *org, char *buf, size_t size)
{
	/* policy_org_valid allows digits, and letters in a trust id, only:
	 * nothing that could climb out of the directory */
	if (!org || !policy_org_valid(org))
		return -1;
	int la = !strncmp(org, "la:", 3);
	int n = snprintf(buf, size, "%s/%s%s.lua", cfg->policies, la ? "la-" : "trust-",
			 strchr(org, ':') + 1);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* The live file at path: 1 with its text (malloc'd), length, mode and
 * sha256; 0 if there is none (sha256 ""); DB_FAILED if it cannot be read
 * (reported). */
static int read_live(const char *path, char **text, size_t *len, mode_t *mode, char sha256[65])
{
	struct stat st;
	char err[PATH_BYTES + 200];
	sha256[0] = '\0';
	*text = NULL;
	*len = 0;
	if (stat(path, &st) < 0 && errno == ENOENT)
		return 0;
	if (!(*text = file_read(path, POLICY_FILE_MAX, len, &st, err, sizeof err))) {
		error("%s", err);
		return DB_FAILED;
	}
	if (mode)
		*mode = st.st_mode & 07777;
	sha256_hex(*text, *len, sha256);
	return 1;
}

int publish_live_sha256(const struct config *cfg, const char *org, char sha256[65])
{
	char path[PATH_BYTES], *text;
	size_t len;
	sha256[0] = '\0';
	if (publish_path(cfg, org, path, sizeof path) < 0) {
		error("%s: not an organisation (la:NNN or trust:ID)", org ? org : "(none)");
		return DB_FAILED;
	}
	int rc = read_live(path, &text, &len, NULL, sha256);
	free(text);
	return rc;
}

/* ---- the versions kept ---- */

/* org's kept versions, newest first, live marking the one whose sha256 is
 * live; NULL on a database error (reported). */
static json_t *versions_json(struct db *db, const char *org, const char *live)
{
	sqlite3_stmt *st = db_prepare(
		db, "SELECT sha256, first_loaded, last_loaded, published_by, "
		    "published_at FROM policy_versions WHERE org = ? ORDER BY "
		    "coalesce(published_at, first_loaded) DESC, first_loaded DESC, sha256");
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	static const char *const keys[] = { "sha256", "first_loaded", "last_loaded", "published_by",
					    "published_at" };
	json_t *list = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_object();
		for (int k = 0; k < 5; k++)
			json_object_set_new(o, keys[k], column_json(st, k, NULL));
		json_object_set_new(
			o, "live",
			json_boolean(!strcmp((const char *)sqlite3_column_text(st, 0), live)));
		json_array_append_new(list, o);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_fail(db, "reading the policy versions");
		json_decref(list);
		return NULL;
	}
	return list;
}

/* A policy's text as a JSON string: the text exactly when it is UTF-8,
 * as the API carries it. */
static json_t *policy_text_json(const char *text, size_t len)
{
	return text ? text_json(text, len, "\n\t\r") : json_null();
}

int publish_show(struct db *db, const struct config *cfg, const char *org, const char *sha256,
		 json_t **out)
{
	char path[PATH_BYTES], live[65];
	char *text = NULL, *kept = NULL;
	size_t len = 0, kept_len = 0;
	*out = NULL;
	if (publish_path(cfg, org, path, sizeof path) < 0) {
		*out = refusal("org", NULL, "%s: not an organisation (la:NNN or trust:ID)", org);
		return PUBLISH_REFUSED;
	}
	int rc = read_live(path, &text, &len, NULL, live);
	if (rc < 0)
		return failure(out, rc, "reading the policy");
	json_t *versions = versions_json(db, org, live);
	if (!versions) {
		free(text);
		return failure(out, DB_FAILED, "reading the policy versions");
	}
	if (sha256 && !(kept = versions_text(db, org, sha256, &kept_len))) {
		free(text);
		json_decref(versions);
		*out = refusal("sha256", NULL, "%s: no kept version of %s's policy has this sha256",
			       sha256, org);
		return PUBLISH_NOT_FOUND;
	}
	const char *shown = kept ? sha256 : live;
	*out = json_pack("{s:s, s:s, s:o, s:o, s:b, s:o}", "org", org, "file", base_name(path),
			 "sha256", shown[0] ? json_string(shown) : json_null(), "text",
			 kept ? policy_text_json(kept, kept_len)
			      : policy_text_json(rc ? text : NULL, len),
			 "live", !strcmp(shown, live) && shown[0], "versions", versions);
	free(text);
	free(kept);
	return PUBLISH_DONE;
}

int publish_versions(struct db *db, const struct config *cfg, const char *org, json_t **out)
{
	char path[PATH_BYTES], live[65], *text;
	size_t len;
	*out = NULL;
	if (publish_path(cfg, org, path, sizeof path) < 0) {
		*out = refusal("org", NULL, "%s: not an organisation (la:NNN or trust:ID)", org);
		return PUBLISH_REFUSED;
	}
	int rc = read_live(path, &text, &len, NULL, live);
	free(text);
	if (rc < 0)
		return failure(out, rc, "reading the policy");
	json_t *versions = versions_json(db, org, live);
	if (!versions)
		return failure(out, DB_FAILED, "reading the policy versions");
	*out = json_pack("{s:s, s:o}", "org", org, "items", versions);
	return PUBLISH_DONE;
}

/* ---- a draft: staged, loaded, checked ---- */

struct draft {
	char path[PATH_BYTES];	 /* the org's file */
	char staged[PATH_BYTES]; /* the temporary file beside it; "" once gone */
	const char *name;	 /* what errors call the text */
	char sha256[65];
	struct policy p;
	int loaded;
	json_t *check; /* what the check found, when it passed */
};

/* Is text[0..len) UTF-8, with no control character but tabs and line
 * breaks? The API carries it as a JSON string, and a terminal shows it. */
static int utf8(const char *text, size_t len)
{
	char *safe = text_safe(text, len, "\n\t\r\f\v");
	int same = strlen(safe) == len && !memcmp(safe, text, len);
	free(safe);
	return same;
}

/* Validate org and text into d, and write text to d->staged (mode),
 * fsync'd. DONE, REFUSED (*out), or DB_FAILED (reported). */
static int stage(struct draft *d, const struct config *cfg, const char *org, const char *name,
		 const char *text, size_t len, mode_t mode, json_t **out)
{
	memset(d, 0, sizeof *d);
	if (publish_path(cfg, org, d->path, sizeof d->path) < 0) {
		*out = refusal("org", NULL, "%s: not an organisation (la:NNN or trust:ID)", org);
		return PUBLISH_REFUSED;
	}
	d->name = name ? name : base_name(d->path);
	if (len > PUBLISH_TEXT_MAX) {
		*out = refusal("text", NULL, "%s: %zu bytes: a policy is at most %d bytes", d->name,
			       len, PUBLISH_TEXT_MAX);
		return PUBLISH_REFUSED;
	}
	if (!utf8(text, len)) {
		*out = refusal("text", NULL,
			       "%s: not UTF-8 text, or a control character other than a tab or a "
			       "line break",
			       d->name);
		return PUBLISH_REFUSED;
	}
	sha256_hex(text, len, d->sha256);
	int n = snprintf(d->staged, sizeof d->staged, "%s/.%s.XXXXXX", cfg->policies,
			 base_name(d->path));
	int fd = n > 0 && (size_t)n < sizeof d->staged ? mkstemp(d->staged)
						       : (errno = ENAMETOOLONG, -1);
	if (fd < 0) {
		error("%s: cannot create a file in the policies directory: %s", d->staged,
		      strerror(errno));
		d->staged[0] = '\0';
		return DB_FAILED;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t wrote = write(fd, text + done, len - done);
		if (wrote < 0 && errno == EINTR)
			continue;
		if (wrote < 0)
			break;
		done += (size_t)wrote;
	}
	if (done < len || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		error("%s: %s", d->staged, strerror(errno));
		close(fd);
		unlink(d->staged);
		d->staged[0] = '\0';
		return DB_FAILED;
	}
	if (close(fd) < 0) {
		error("%s: %s", d->staged, strerror(errno));
		unlink(d->staged);
		d->staged[0] = '\0';
		return DB_FAILED;
	}
	return PUBLISH_DONE;
}

static void draft_free(struct draft *d)
{
	if (d->staged[0])
		unlink(d->staged);
	d->staged[0] = '\0';
	if (d->loaded)
		policy_free(&d->p);
	d->loaded = 0;
	json_decref(d->check);
	d->check = NULL;
}

/* The warnings a check hands on, as errors are given: {"file", "line",
 * "message"}. */
struct warnings {
	json_t *list;
	const struct draft *d;
};

static void keep_warning(const char *text, void *arg)
{
	struct warnings *w = arg;
	const char *prefix = "warning: ";
	if (!strncmp(text, prefix, strlen(prefix)))
		text += strlen(prefix);
	json_array_append_new(w->list, policycheck_error_json(text, w->d->staged, w->d->name));
}

/* Load d->staged as org's policy and check it as `rollcall check` does,
 * the stored pupils through w. DONE (d->check set), REFUSED with every
 * error (*out), or a failure (reported). */
static int check(struct draft *d, struct whatif *w, const struct config *cfg, const char *org,
		 json_t **out)
{
	char err[PATH_BYTES + 1024];
	if (policy_load(&d->p, d->staged, cfg->scripts, cfg->policy_memory,
			cfg->policy_instructions, err, sizeof err) < 0) {
		err[strcspn(err, "\n")] = '\0'; /* the first line: FILE:LINE: reason */
		json_t *errors = json_array();
		json_array_append_new(errors, policycheck_error_json(err, d->staged, d->name));
		*out = refusal("text", errors, "%s does not load", d->name);
		return PUBLISH_REFUSED;
	}
	d->loaded = 1;
	/* An author can write no organisation's file but their own: the path
	 * is org's, and so must the text say. */
	if (strcmp(d->p.org, org)) {
		char message[256];
		snprintf(message, sizeof message,
			 "policy{} says org \"%s\", but this is %s's policy: a policy speaks only "
			 "for the organisation it is published for",
			 d->p.org, org);
		json_t *errors = json_array();
		json_array_append_new(errors, json_pack("{s:s, s:i, s:s}", "file", d->name, "line",
							d->p.line, "message", message));
		*out = refusal("text", errors, "%s: %s", d->name, message);
		return PUBLISH_REFUSED;
	}
	struct synthetic s;
	if (synthetic_open(&s, cfg) < 0)
		return DB_FAILED;
	struct warnings warned = { json_array(), d };
	struct policycheck c = {
		.cfg = cfg, .p = &d->p, .warn = keep_warning, .warn_arg = &warned
	};
	int rc = policycheck_run(&c, &s, &w->e);
	synthetic_close(&s);
	if (rc < 0) {
		policycheck_free(&c);
		json_decref(warned.list);
		return DB_FAILED;
	}
	if (c.nfound) {
		*out = refusal("text", policycheck_json(&c, d->name),
			       "%s does not pass check: %d %s", d->name, c.nfound,
			       c.nfound == 1 ? "error" : "errors");
		json_object_set_new(*out, "warnings", warned.list);
		policycheck_free(&c);
		return PUBLISH_REFUSED;
	}
	d->check =
		json_pack("{s:o, s:i, s:I, s:I, s:I}", "warnings", warned.list, "synthetic_pupils",
			  c.synthetic_pupils, "synthetic_calls", (json_int_t)c.synthetic_calls,
			  "stored_pupils", (json_int_t)c.stored_pupils, "stored_calls",
			  (json_int_t)c.stored_calls);
	policycheck_free(&c);
	return PUBLISH_DONE;
}

/* ---- replays side by side ---- */

/* The days a preview covers: the last days days up to the latest stored
 * school day, into *from and *to (INT_MIN and INT_MAX, all, when nothing
 * is stored). Returns 0 or -1. */
static int window(struct whatif *w, int days, int *from, int *to)
{
	int latest;
	*from = INT_MIN;
	*to = INT_MAX;
	if (whatif_latest_day(w, &latest) < 0)
		return -1;
	if (latest >= 0) {
		*to = latest;
		*from = latest - days + 1;
	}
	return 0;
}

static json_t *day_json(int day)
{
	char d[11];
	return day == INT_MIN || day == INT_MAX ? json_null() : json_string(date_format(day, d));
}

/* One side's figures: whatif_side_json's, with its sha256 and calls. */
static json_t *side_json(struct whatif *w, int first, const char *sha256, const struct replay *r)
{
	json_t *o = whatif_side_json(w, first);
	if (!o)
		return NULL;
	json_t *failed = json_array();
	for (int i = 0; i < r->nkept; i++)
		json_array_append_new(
			failed,
			json_pack("{s:s, s:o}", "upn", r->kept[i].upn, "error",
				  text_json(r->kept[i].error, strlen(r->kept[i].error), NULL)));
	json_object_set_new(o, "sha256", json_string(sha256));
	json_object_set_new(o, "policy_calls",
			    json_pack("{s:I, s:I, s:o}", "made", (json_int_t)r->calls, "failed",
				      (json_int_t)r->errors, "first_failed", failed));
	return o;
}

/* The differences, listed up to PUBLISH_DIFFERENCES_MAX. */
struct differences {
	json_t *items;
	const char *names[2]; /* what "only_in" calls side 1 and side 2 */
};

static int list_difference(int side, const char *date, const char *upn, const char *action,
			   const char *kind, void *arg)
{
	struct differences *d = arg;
	if (json_array_size(d->items) >= PUBLISH_DIFFERENCES_MAX)
		return 1;
	json_array_append_new(d->items,
			      json_pack("{s:s, s:s, s:s, s:s, s:s}", "only_in", d->names[side - 1],
					"date", date, "upn", upn, "action", action, "kind", kind));
	return 0;
}

/* The difference between the kept first replay (side 1, called one) and
 * the last (two): {"only_ONE", "only_TWO", "pupils", "items",
 * "truncated"}. NULL on a database error. */
static json_t *difference_json(struct whatif *w, const char *one, const char *two)
{
	struct differences d = { json_array(), { one, two } };
	long only[3], pupils = 0;
	if (whatif_compare(w, list_difference, &d, only, &pupils) < 0) {
		json_decref(d.items);
		return NULL;
	}
	char k1[64], k2[64];
	snprintf(k1, sizeof k1, "only_%s", one);
	snprintf(k2, sizeof k2, "only_%s", two);
	return json_pack("{s:I, s:I, s:I, s:o, s:b}", k1, (json_int_t)only[1], k2,
			 (json_int_t)only[2], "pupils", (json_int_t)pupils, "items", d.items,
			 "truncated", (json_int_t)(only[1] + only[2]) > PUBLISH_DIFFERENCES_MAX);
}

static int days_refused(int *days, json_t **out)
{
	if (*days == 0)
		*days = PUBLISH_DAYS_DEFAULT;
	if (*days >= 1 && *days <= PUBLISH_DAYS_MAX)
		return 0;
	*out = refusal("days", NULL, "days %d: expected 1 to %d", *days, PUBLISH_DAYS_MAX);
	return 1;
}

/* The draft d (loaded) replayed over the window, then the live file
 * beside it: publish_check's "replay". NULL on a failure (reported). */
static json_t *replay_beside_live(struct whatif *w, struct draft *d, const struct config *cfg,
				  int days)
{
	int from, to;
	struct replay rd = { 0 }, rl = { 0 };
	if (window(w, days, &from, &to) < 0 || whatif_replay(w, &d->p, &rd, from, to) < 0 ||
	    whatif_keep_first(w) < 0)
		return NULL;
	json_t *draft = side_json(w, 0, d->sha256, &rd);
	if (!draft)
		return NULL;
	json_t *o = json_pack("{s:o, s:o, s:i, s:o}", "from", day_json(from), "to", day_json(to),
			      "days", days, "draft", draft);
	char live_sha[65], *text, err[PATH_BYTES + 1024];
	size_t len;
	int rc = read_live(d->path, &text, &len, NULL, live_sha);
	free(text);
	if (rc < 0) {
		json_decref(o);
		return NULL;
	}
	struct policy live;
	if (rc == 0 || policy_load(&live, d->path, cfg->scripts, cfg->policy_memory,
				   cfg->policy_instructions, err, sizeof err) < 0) {
		/* nothing live to compare with: the draft alone */
		json_object_set_new(o, "live", json_null());
		json_object_set_new(o, "difference", json_null());
		if (rc) {
			err[strcspn(err, "\n")] = '\0';
			json_object_set_new(o, "live_error", text_json(err, strlen(err), NULL));
		}
		return o;
	}
	json_t *side = NULL, *diff = NULL;
	if (whatif_replay(w, &live, &rl, from, to) == 0 &&
	    (side = side_json(w, 0, live.sha256, &rl)))
		diff = difference_json(w, "draft", "live");
	policy_free(&live);
	if (!diff) {
		json_decref(side);
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "live", side);
	json_object_set_new(o, "difference", diff);
	return o;
}

int publish_check(struct db *db, const struct config *cfg, const char *org, const char *name,
		  const char *text, size_t len, int days, json_t **out)
{
	struct draft d;
	struct db own;
	struct whatif w;
	*out = NULL;
	if (days_refused(&days, out))
		return PUBLISH_REFUSED;
	int rc = stage(&d, cfg, org, name, text, len, 0600, out);
	if (rc != PUBLISH_DONE)
		return rc < 0 ? failure(out, rc, "checking the policy") : rc;
	if (whatif_open(&w, &own, db->path, cfg) < 0) {
		draft_free(&d);
		return failure(out, DB_FAILED, "checking the policy");
	}
	rc = check(&d, &w, cfg, org, out);
	json_t *replay = NULL;
	if (rc == PUBLISH_DONE && !(replay = replay_beside_live(&w, &d, cfg, days)))
		rc = DB_FAILED;
	if (rc == PUBLISH_DONE)
		*out = json_pack("{s:s, s:s, s:s, s:O, s:o}", "org", org, "file", base_name(d.path),
				 "sha256", d.sha256, "check", d.check, "replay", replay);
	whatif_close(&w);
	draft_free(&d);
	return rc < 0 ? failure(out, rc, "checking the policy") : rc;
}

/* ---- publishing ---- */

/* Does the caller's if_sha256 name the live version ("" or "none": no
 * file)? */
static int is_live(const char *if_sha256, const char *live)
{
	if (!*if_sha256 || !strcmp(if_sha256, "none"))
		return !*live;
	return strcasecmp(if_sha256, live) == 0;
}

/* Check text as org's, then under the directory's lock, if if_sha256 is
 * live: keep it and the version it replaces, audit what (policy.publish,
 * policy.rollback) in the same transaction, and rename it live. */
static int put(struct db *db, const struct config *cfg, const char *org, const char *name,
	       const char *text, size_t len, const char *if_sha256, const struct publish_actor *by,
	       const char *what, json_t **out)
{
	struct draft d;
	struct db own;
	struct whatif w;
	char live[65], path[PATH_BYTES];
	char *previous = NULL;
	size_t previous_len = 0;
	mode_t mode = 0644;
	int lock = -1, rc;
	*out = NULL;

	/* a new file takes the mode of the one it replaces */
	if (publish_path(cfg, org, path, sizeof path) == 0) {
		struct stat st;
		if (stat(path, &st) == 0)
			mode = st.st_mode & 0777;
	}
	if ((rc = stage(&d, cfg, org, name, text, len, mode, out)) != PUBLISH_DONE)
		goto out;
	if (whatif_open(&w, &own, db->path, cfg) < 0) {
		rc = DB_FAILED;
		goto out;
	}
	rc = check(&d, &w, cfg, org, out);
	whatif_close(&w);
	if (rc != PUBLISH_DONE)
		goto out;

	/* From here to the rename, one publisher of this directory at a time:
	 * the live version compared with if_sha256 is the one replaced. flock,
	 * not fcntl: its lock belongs to the open directory, so two threads of
	 * one process (the API's) exclude each other too. */
	lock = open(cfg->policies, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		error("%s: cannot lock the policies directory: %s", cfg->policies, strerror(errno));
		rc = DB_FAILED;
		goto out;
	}
	int had = read_live(d.path, &previous, &previous_len, NULL, live);
	if (had < 0) {
		rc = had;
		goto out;
	}
	if (if_sha256 && !is_live(if_sha256, live)) {
		*out = refusal("if_sha256", NULL,
			       "%s's live policy is %s, not %s: it changed since it was read", org,
			       live[0] ? live : "none (no file)", if_sha256);
		json_object_set_new(*out, "sha256", live[0] ? json_string(live) : json_null());
		rc = PUBLISH_CONFLICT;
		goto out;
	}
	/* The version and its audit row commit before the file goes live: a
	 * crash in between leaves a kept version that is not live (the file is
	 * the previous one, whole), never a live file whose version is not
	 * kept. */
	struct audit_entry e = { .who = by->who,
				 .via = by->via,
				 .org = org,
				 .what = what,
				 .before = live[0] ? live : NULL,
				 .after = d.sha256,
				 .detail = base_name(d.path) };
	if ((rc = db_begin(db)) < 0)
		goto out;
	if ((had &&
	     (rc = versions_keep(db, org, d.path, previous, previous_len, live, NULL)) < 0) ||
	    (rc = versions_keep(db, org, d.path, text, len, d.sha256, by->who)) < 0 ||
	    (rc = audit_add(db, &e)) < 0 || (rc = db_commit(db)) < 0) {
		db_rollback(db);
		goto out;
	}
	if (rename(d.staged, d.path) < 0) {
		error("%s: kept as version %s and audited, but not made live: %s", d.path, d.sha256,
		      strerror(errno));
		rc = DB_FAILED;
		goto out;
	}
	d.staged[0] = '\0';
	/* the rename is durable once the directory is */
	if (fsync(lock) < 0)
		error("%s: fsync: %s (the new policy is live, but may not survive a power cut)",
		      cfg->policies, strerror(errno));
	*out = json_pack("{s:s, s:s, s:s, s:o, s:s, s:O}", "org", org, "file", base_name(d.path),
			 "sha256", d.sha256, "previous", live[0] ? json_string(live) : json_null(),
			 "published_by", by->who, "check", d.check);
	rc = PUBLISH_DONE;
out:
	if (lock >= 0)
		close(lock); /* and the lock with it */
	free(previous);
	draft_free(&d);
	return rc < 0 ? failure(out, rc, "publishing the policy") : rc;
}

int publish_policy(struct db *db, const struct config *cfg, const char *org, const char *name,
		   const char *text, size_t len, const char *if_sha256,
		   const struct publish_actor *by, json_t **out)
{
	return put(db, cfg, org, name, text, len, if_sha256, by, "policy.publish", out);
}

int publish_rollback(struct db *db, const struct config *cfg, const char *org, const char *sha256,
		     const char *if_sha256, const struct publish_actor *by, json_t **out)
{
	char path[PATH_BYTES];
	size_t len;
	*out = NULL;
	if (publish_path(cfg, org, path, sizeof path) < 0) {
		*out = refusal("org", NULL, "%s: not an organisation (la:NNN or trust:ID)", org);
		return PUBLISH_REFUSED;
	}
	char *text = versions_text(db, org, sha256, &len);
	if (!text) {
		*out = refusal("sha256", NULL, "%s: no kept version of %s's policy has this sha256",
			       sha256, org);
		return PUBLISH_NOT_FOUND;
	}
	int rc = put(db, cfg, org, NULL, text, len, if_sha256, by, "policy.rollback", out);
	free(text);
	return rc;
}

/* ---- params preview ---- */

#define PREVIEW_PARAMS_MAX 64

int publish_preview(struct db *db, const struct config *cfg, const char *org, json_t *params,
		    int days, json_t **out)
{
	char path[PATH_BYTES], live[65], err[PATH_BYTES + 1024], *text;
	struct replay_param values[PREVIEW_PARAMS_MAX];
	char names[PREVIEW_PARAMS_MAX][sizeof((struct param *)0)->name];
	struct policy p;
	size_t len;
	*out = NULL;
	if (publish_path(cfg, org, path, sizeof path) < 0) {
		*out = refusal("org", NULL, "%s: not an organisation (la:NNN or trust:ID)", org);
		return PUBLISH_REFUSED;
	}
	if (days_refused(&days, out))
		return PUBLISH_REFUSED;
	if (params && !json_is_object(params)) {
		*out = refusal("params", NULL, "params: expected an object of NAME: number");
		return PUBLISH_REFUSED;
	}
	int rc = read_live(path, &text, &len, NULL, live);
	free(text);
	if (rc < 0)
		return failure(out, rc, "reading the policy");
	if (rc == 0) {
		*out = refusal(NULL, NULL, "%s has no policy (%s)", org, base_name(path));
		return PUBLISH_NOT_FOUND;
	}
	if (policy_load(&p, path, cfg->scripts, cfg->policy_memory, cfg->policy_instructions, err,
			sizeof err) < 0) {
		err[strcspn(err, "\n")] = '\0';
		*out = refusal(NULL, NULL, "%s's policy does not load: %s", org, err);
		return PUBLISH_NOT_FOUND;
	}
	/* Every value checked against the declaration before anything runs. */
	int n = 0;
	const char *key;
	json_t *v;
	rc = PUBLISH_DONE;
	json_object_foreach(params, key, v)
	{
		char field[128];
		snprintf(field, sizeof field, "params.%s", key);
		int k = policy_param(&p, key);
		if (k < 0) {
			*out = refusal(field, NULL, "%s: %s declares no param \"%s\"", field,
				       base_name(path), key);
			rc = PUBLISH_REFUSED;
			break;
		}
		const struct param *q = &p.params[k];
		if (!json_is_number(v)) {
			*out = refusal(field, NULL,
				       "%s: not a number (%s declares %s within %g..%g)", field,
				       base_name(path), key, q->min, q->max);
			rc = PUBLISH_REFUSED;
			break;
		}
		double x = json_number_value(v);
		const char *why = policy_param_refuses(q, x);
		if (why && q->integer && x >= q->min && x <= q->max) {
			*out = refusal(
				field, NULL,
				"%s: %g is not a whole number (%s declares %s with integer = "
				"true)",
				field, x, base_name(path), key);
			rc = PUBLISH_REFUSED;
			break;
		}
		if (why) {
			*out = refusal(
				field, NULL,
				"%s: %g is outside the bounds %g..%g that %s declares for %s",
				field, x, q->min, q->max, base_name(path), key);
			rc = PUBLISH_REFUSED;
			break;
		}
		if (n == PREVIEW_PARAMS_MAX) {
			*out = refusal("params", NULL, "params: at most %d", PREVIEW_PARAMS_MAX);
			rc = PUBLISH_REFUSED;
			break;
		}
		values[n] = (struct replay_param){ .index = k, .value = x };
		snprintf(names[n++], sizeof names[0], "%s", q->name); /* p is freed first */
	}
	if (rc != PUBLISH_DONE) {
		policy_free(&p);
		return rc;
	}

	/* the proposed values first (kept), then those in force: as `rollcall
	 * replay --policy F --param ... --compare F` */
	struct db own;
	struct whatif w;
	struct replay proposed = { .params = values, .nparams = n }, in_force = { 0 };
	int from, to;
	json_t *a = NULL, *b = NULL, *diff = NULL;
	if (whatif_open(&w, &own, db->path, cfg) < 0) {
		policy_free(&p);
		return failure(out, DB_FAILED, "previewing params");
	}
	if (window(&w, days, &from, &to) == 0 && whatif_replay(&w, &p, &proposed, from, to) == 0 &&
	    whatif_keep_first(&w) == 0 && (a = side_json(&w, 1, live, &proposed)) &&
	    whatif_replay(&w, &p, &in_force, from, to) == 0 &&
	    (b = side_json(&w, 0, live, &in_force)))
		diff = difference_json(&w, "proposed", "in_force");
	whatif_close(&w);
	policy_free(&p);
	if (!diff) {
		json_decref(a);
		json_decref(b);
		return failure(out, DB_FAILED, "previewing params");
	}
	json_t *given = json_object();
	for (int i = 0; i < n; i++)
		json_object_set_new(given, names[i],
				    json_pack("{s:f, s:f}", "value", values[i].value, "in_force",
					      values[i].in_force));
	*out = json_pack("{s:s, s:s, s:o, s:o, s:i, s:o, s:o, s:o, s:o}", "org", org, "sha256",
			 live, "from", day_json(from), "to", day_json(to), "days", days, "params",
			 given, "proposed", a, "in_force", b, "difference", diff);
	return PUBLISH_DONE;
}
