/*
 * cmd_endpoint.c — the webhook endpoints of rollcall.conf, as an IT officer
 * runs them:
 *
 *   rollcall endpoint list [--json]     each endpoint's state and secrets
 *                                       (where each is read from and until
 *                                       when it signs; never a secret)
 *   rollcall endpoint enable NAME       send again to an endpoint disabled
 *                                       after disable_after_hours of failures
 *   rollcall endpoint rotate NAME --new-secret-file FILE [--overlap HOURS]
 *                                       the secrets = { ... } to put in
 *                                       rollcall.conf for a rotation
 *
 * Secrets live only in rollcall.conf's files and variables: rotate writes
 * nothing (not to the database, not to the config, which stays the
 * operator's); it checks the new secret and prints what the endpoint's
 * table must say, with the old secrets' expiry, for a reload (SIGHUP) to
 * take. Svix's rotation is the model: the old secret stays valid 24 hours
 * by default (0 to 7 days), and every delivery meanwhile is signed with
 * both, so the receiver may switch at any moment in between.
 */
#define _DEFAULT_SOURCE /* realpath */
#include "audit.h"
#include "cmd.h"
#include "util.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OVERLAP_DEFAULT_HOURS 24.0
#define OVERLAP_MAX_HOURS     168.0 /* 7 days, as Svix */

static void iso_seconds(long long ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- list ---- */

static int by_name(const void *a, const void *b)
{
	return strcmp((*(const struct endpoint_conf *const *)a)->name,
		      (*(const struct endpoint_conf *const *)b)->name);
}

static json_t *secrets_json(const struct endpoint_conf *e, long long now)
{
	json_t *list = json_array();
	for (int k = 0; k < e->nsecrets; k++) {
		const struct endpoint_secret *s = &e->secrets[k];
		char until[32] = "";
		if (s->expires_ms)
			iso_seconds(s->expires_ms, until);
		json_array_append_new(
			list, json_pack("{s:s, s:s, s:o, s:b}", "from", s->file ? "file" : "env",
					"name", s->file ? s->file : s->env, "valid_until",
					*until ? json_string(until) : json_null(), "expired",
					s->expires_ms && s->expires_ms <= now));
	}
	return list;
}

static int list(struct cli *cli, int json)
{
	sqlite3_stmt *st = db_prepare(
		&cli->db,
		"SELECT s.failing_since, s.disabled_at, s.disabled_why, (SELECT count(*) FROM "
		"deliveries WHERE endpoint = ?1 AND state = 'pending'), (SELECT count(*) FROM "
		"deliveries WHERE state = 'dead' AND endpoint = ?1) FROM (SELECT 1) LEFT JOIN "
		"endpoint_state s ON s.name = ?1");
	if (!st)
		return EXIT_FAILURE;
	long long now = wall_ms();
	int n = cli->cfg.nendpoints;
	/* by name: the file's order is not kept (a Lua table) */
	const struct endpoint_conf **sorted = xcalloc((size_t)n + 1, sizeof *sorted);
	for (int i = 0; i < n; i++)
		sorted[i] = &cli->cfg.endpoints[i];
	qsort(sorted, (size_t)n, sizeof *sorted, by_name);
	for (int i = 0; i < n; i++) {
		const struct endpoint_conf *e = sorted[i];
		sqlite3_bind_text(st, 1, e->name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_finalize(st);
			free(sorted);
			db_fail(&cli->db, "reading the endpoints' state");
			return EXIT_FAILURE;
		}
		char failing[32] = "";
		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			iso_seconds(sqlite3_column_int64(st, 0), failing);
		char *disabled = column_safe(st, 1, NULL), *why = column_safe(st, 2, NULL);
		long long pending = sqlite3_column_int64(st, 3), dead = sqlite3_column_int64(st, 4);
		sqlite3_reset(st);
		if (json) {
			json_t *o = json_pack(
				"{s:s, s:s, s:o, s:f, s:o, s:o, s:o, s:I, s:I, s:o}", "name",
				e->name, "url", e->url, "rate_per_second",
				e->rate_per_second ? json_integer(e->rate_per_second) : json_null(),
				"disable_after_hours", e->disable_after_hours, "failing_since",
				*failing ? json_string(failing) : json_null(), "disabled_at",
				disabled ? json_string(disabled) : json_null(), "disabled_why",
				why ? json_string(why) : json_null(), "pending",
				(json_int_t)pending, "dead", (json_int_t)dead, "secrets",
				secrets_json(e, now));
			char *line = json_dumps(o, JSON_COMPACT);
			puts(line);
			free(line);
			json_decref(o);
		} else {
			char state[400], rate[32] = "no rate limit";
			if (disabled)
				snprintf(state, sizeof state,
					 "DISABLED since %s: %s (rollcall endpoint enable %s)",
					 disabled, why ? why : "", e->name);
			else if (*failing)
				snprintf(state, sizeof state, "failing since %s", failing);
			else
				snprintf(state, sizeof state, "ok");
			if (e->rate_per_second)
				snprintf(rate, sizeof rate, "%ld/s", e->rate_per_second);
			printf("%s  %s  %s\n  %lld pending, %lld dead; %s; disabled after %g hours "
			       "of failures\n",
			       e->name, e->url, state, pending, dead, rate, e->disable_after_hours);
			for (int k = 0; k < e->nsecrets; k++) {
				const struct endpoint_secret *s = &e->secrets[k];
				char until[64] = "no expiry", at[32];
				if (s->expires_ms) {
					iso_seconds(s->expires_ms, at);
					snprintf(until, sizeof until, "%s %s",
						 s->expires_ms <= now ? "expired" : "valid until",
						 at);
				}
				printf("  secret %s %s: %s\n", s->file ? "file" : "env",
				       s->file ? s->file : s->env, until);
			}
		}
		free(disabled);
		free(why);
	}
	sqlite3_finalize(st);
	free(sorted);
	return EXIT_SUCCESS;
}

/* ---- enable ---- */

/* An endpoint removed from rollcall.conf while disabled can be enabled too:
 * `status` would otherwise name it for ever. */
static int enable(struct cli *cli, const char *name)
{
	char via[160];
	audit_cli_via(via, sizeof via);
	if (db_begin(&cli->db) < 0)
		return EXIT_FAILURE;
	sqlite3_stmt *get = db_prepare(&cli->db, "SELECT disabled_at, disabled_why FROM "
						 "endpoint_state WHERE name = ? AND disabled_at IS "
						 "NOT NULL");
	sqlite3_stmt *set = db_prepare(&cli->db, "UPDATE endpoint_state SET disabled_at = NULL, "
						 "disabled_why = NULL, failing_since = NULL WHERE "
						 "name = ?");
	/* what waited is due at once, not at the retry time it had */
	sqlite3_stmt *due = db_prepare(&cli->db, "UPDATE deliveries SET next_attempt_at = "
						 "strftime('%s', 'now') * 1000 WHERE endpoint = ? "
						 "AND state = 'pending'");
	int rc = DB_FAILED, status = EXIT_FAILURE;
	if (!get || !set || !due)
		goto out;
	sqlite3_bind_text(get, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(get);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE) {
			error("endpoint \"%s\" is not disabled%s", name,
			      config_endpoint(&cli->cfg, name) ? ""
							       : " (nor in the configuration)");
			status = EXIT_USAGE;
		} else {
			db_fail(&cli->db, "reading the endpoint's state");
		}
		rc = DB_FAILED;
		goto out;
	}
	char detail[512];
	snprintf(detail, sizeof detail, "endpoint %s, disabled at %s: %s", name,
		 sqlite3_column_text(get, 0),
		 sqlite3_column_text(get, 1) ? (const char *)sqlite3_column_text(get, 1) : "");
	sqlite3_bind_text(set, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(due, 1, name, -1, SQLITE_STATIC);
	/* An endpoint serves every organisation whose policy names it: its
	 * audit rows have the organisation "*". */
	struct audit_entry a = { .who = via + strlen("cli:"),
				 .via = via,
				 .org = "*",
				 .what = "endpoint.enable",
				 .before = "disabled",
				 .after = "enabled",
				 .detail = detail };
	if ((rc = db_step_done(&cli->db, set, "enabling the endpoint")) < 0 ||
	    (rc = db_step_done(&cli->db, due, "resuming its deliveries")) < 0 ||
	    (rc = audit_add(&cli->db, &a)) < 0)
		goto out;
	rc = db_commit(&cli->db);
	status = rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	if (rc == 0 && cli->verbosity >= 0)
		printf("endpoint %s enabled: its pending deliveries are due now\n", name);
out:
	if (rc < 0)
		db_rollback(&cli->db);
	sqlite3_finalize(get);
	sqlite3_finalize(set);
	sqlite3_finalize(due);
	return status;
}

/* ---- rotate ---- */

/* s as a Lua string literal: a path may hold a quote or a backslash. */
static void lua_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static int rotate(struct cli *cli, int argc, char **argv)
{
	const char *name = argc > 2 ? argv[2] : NULL, *file = NULL, *overlap_text = NULL;
	for (int i = 3, got; i < argc;) {
		if ((got = cmd_option(argc, argv, &i, "--new-secret-file", &file)) ||
		    (got = cmd_option(argc, argv, &i, "--overlap", &overlap_text))) {
			if (got < 0)
				return EXIT_USAGE;
			continue;
		}
		return cmd_usage(cli);
	}
	if (!name || !file)
		return cmd_usage(cli);
	double overlap = OVERLAP_DEFAULT_HOURS;
	if (overlap_text) {
		char *end;
		overlap = strtod(overlap_text, &end);
		if (*end || end == overlap_text || !(overlap >= 0) || overlap > OVERLAP_MAX_HOURS) {
			error("--overlap %s: hours from 0 to 168 (7 days)", overlap_text);
			return EXIT_USAGE;
		}
	}
	const struct endpoint_conf *e = config_endpoint(&cli->cfg, name);
	if (!e) {
		error("endpoint \"%s\" is not in %s", name,
		      cli->cfg.path ? cli->cfg.path : "the configuration");
		return EXIT_USAGE;
	}
	char path[PATH_MAX], why[700];
	if (!realpath(file, path)) {
		error("%s: no such file", file);
		return EXIT_USAGE;
	}
	if (strpbrk(path, "\r\n")) {
		error("%s: a secret file's path must be one line", file);
		return EXIT_USAGE;
	}
	struct endpoint_secret fresh = { .file = path };
	if (config_read_secret(&fresh, why, sizeof why) < 0) {
		error("%s", why);
		return EXIT_USAGE;
	}
	long long now = wall_ms(), until = now + (long long)(overlap * 3600000.0);
	int status = EXIT_SUCCESS;
	/* the secrets in use, each compared with the new (a secret already in
	 * the list is no rotation) */
	for (int k = 0; k < e->nsecrets && status == EXIT_SUCCESS; k++) {
		struct endpoint_secret old = e->secrets[k];
		old.loaded = 0;
		if (old.expires_ms && old.expires_ms <= now)
			continue;
		if (config_read_secret(&old, why, sizeof why) == 0 &&
		    old.key.len == fresh.key.len &&
		    !CRYPTO_memcmp(old.key.bytes, fresh.key.bytes, fresh.key.len)) {
			error("%s holds a secret endpoint %s already has (%s %s)", path, name,
			      old.file ? "file" : "env", old.file ? old.file : old.env);
			status = EXIT_USAGE;
		}
		OPENSSL_cleanse(&old.key, sizeof old.key);
	}
	OPENSSL_cleanse(&fresh.key, sizeof fresh.key);
	if (status != EXIT_SUCCESS)
		return status;

	char expires[32];
	iso_seconds(until, expires);
	printf("secrets = { { file = ");
	lua_quoted(stdout, path);
	printf(" }");
	for (int k = 0; k < e->nsecrets; k++) {
		const struct endpoint_secret *s = &e->secrets[k];
		long long ends = s->expires_ms && s->expires_ms < until ? s->expires_ms : until;
		char at[32];
		if (ends <= now)
			continue; /* expired, or the overlap is 0: no longer listed */
		iso_seconds(ends, at);
		printf(", { %s = ", s->file ? "file" : "env");
		lua_quoted(stdout, s->file ? s->file : s->env);
		printf(", expires = \"%s\" }", at);
	}
	printf(" },\n");
	if (cli->verbosity >= 0)
		fprintf(stderr,
			"Put that line in endpoint %s's table in %s (line %d), in place of its "
			"secret_file, secret_env or secrets; give the receiver the new secret; "
			"then "
			"reload the service (SIGHUP: systemctl reload rollcall). Until %s every "
			"delivery to %s carries a signature for the new secret and one for each "
			"old one; from then on, only the new one's, with no reload needed. "
			"Nothing was written.\n",
			name, cli->cfg.path ? cli->cfg.path : "rollcall.conf", e->line,
			overlap > 0 ? expires : "the reload", name);
	return EXIT_SUCCESS;
}

int cmd_endpoint(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "list")) {
		int json = 0;
		for (int i = 2; i < argc;) {
			if (cmd_flag(argv, &i, "--json"))
				json = 1;
			else
				return cmd_usage(cli);
		}
		return list(cli, json);
	}
	if (argc == 3 && !strcmp(argv[1], "enable"))
		return enable(cli, argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "rotate"))
		return rotate(cli, argc, argv);
	return cmd_usage(cli);
}
