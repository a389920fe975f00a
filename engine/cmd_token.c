/*
 * cmd_token.c — the API's tokens from the command line (token.h):
 *
 *   rollcall token add --org ORG --role ROLE --name PERSON [--expires DATE] [--link]
 *   rollcall token list [--org ORG] [--json]
 *   rollcall token revoke ID
 *
 * add prints the token once, on standard output and nowhere else: only its
 * SHA-256 is stored. With --link it prints instead a one-time link to the
 * web console that signs the person in (console.h): the token is then
 * never shown at all. add and revoke are audited, who the local user.
 */
#include "audit.h"
#include "cmd.h"
#include "console.h"
#include "date.h"
#include "policy.h"
#include "signoff.h"
#include "token.h"
#include "util.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

/* "YYYY-MM-DD" (the token works until that day begins, UTC) or
 * "YYYY-MM-DDTHH:MM:SSZ", into out as the latter. */
static int parse_expiry(const char *s, char out[21])
{
	size_t len = strlen(s);
	if (len == 10 && date_parse(s, 10) >= 0) {
		snprintf(out, 21, "%sT00:00:00Z", s);
		return 0;
	}
	int h, m, sec;
	char tail;
	if (len == 20 && date_parse(s, 10) >= 0 && s[10] == 'T' &&
	    sscanf(s + 11, "%2d:%2d:%2d%c", &h, &m, &sec, &tail) == 4 && tail == 'Z' && h < 24 &&
	    m < 60 && sec < 60 && strspn(s + 11, "0123456789:") == 8) {
		memcpy(out, s, 21);
		return 0;
	}
	return -1;
}

/* A one-time sign-in link for token id: the console's address (serve.url,
 * else what serve.listen serves), then "/#/link/" and the code, which a
 * browser keeps to itself (a fragment is never sent in a request). */
static int print_link(struct cli *cli, long long id, const char *org, const char *role,
		      const char *name)
{
	char code[CONSOLE_SECRET_CHARS + 1];
	if (console_link_new(&cli->db, id, code) < 0)
		return EXIT_FAILURE;
	const struct config *c = &cli->cfg;
	if (c->serve.url) {
		size_t n = strlen(c->serve.url);
		printf("%.*s/#/link/%s\n", (int)(n - (c->serve.url[n - 1] == '/')), c->serve.url,
		       code);
	} else
		printf("%s://%s/#/link/%s\n", c->serve.tls_cert ? "https" : "http", c->serve.listen,
		       code);
	fflush(stdout);
	OPENSSL_cleanse(code, sizeof code);
	if (cli->verbosity >= 0)
		fprintf(stderr,
			"token %lld for %s, %s, %s: a link to sign in once, within 24 hours, to "
			"the web console; only its SHA-256 is kept\n",
			id, org, role, name);
	return EXIT_SUCCESS;
}

static int add(struct cli *cli, int argc, char **argv)
{
	const char *org = NULL, *role = NULL, *name = NULL, *expires = NULL;
	int link = 0;
	for (int i = 2, got; i < argc;) {
		if (cmd_flag(argv, &i, "--link"))
			link = 1;
		else if ((got = cmd_option(argc, argv, &i, "--org", &org)) != 0 ||
			 (got = cmd_option(argc, argv, &i, "--role", &role)) != 0 ||
			 (got = cmd_option(argc, argv, &i, "--name", &name)) != 0 ||
			 (got = cmd_option(argc, argv, &i, "--expires", &expires)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
		} else
			return cmd_usage(cli);
	}
	if (!org || !role || !name)
		return cmd_usage(cli);
	if (!policy_org_valid(org) || strlen(org) >= sizeof((struct token *)0)->org) {
		char *safe = text_safe(org, strlen(org), NULL);
		error("--org %s: expected la:NNN (an LA code) or trust:ID", safe);
		free(safe);
		return EXIT_USAGE;
	}
	int r = token_role(role);
	if (r < 0) {
		char *safe = text_safe(role, strlen(role), NULL);
		error("--role %s: expected viewer, thresholds, officer or author", safe);
		free(safe);
		return EXIT_USAGE;
	}
	const char *why = signoff_text_refused(name, TOKEN_NAME_MAX);
	if (why) {
		error("--name: %s", why);
		return EXIT_USAGE;
	}
	char expiry[21], via[300], token[TOKEN_LEN + 1];
	if (expires && parse_expiry(expires, expiry) < 0) {
		char *safe = text_safe(expires, strlen(expires), NULL);
		error("--expires %s: expected a date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)",
		      safe);
		free(safe);
		return EXIT_USAGE;
	}
	audit_cli_via(via, sizeof via);
	long long id;
	if (token_add(&cli->db, org, (enum token_role)r, name, expires ? expiry : NULL, via + 4,
		      via, token, &id) < 0)
		return EXIT_FAILURE;
	if (link) {
		OPENSSL_cleanse(token, sizeof token);
		return print_link(cli, id, org, role, name);
	}
	printf("%s\n", token);
	fflush(stdout);
	OPENSSL_cleanse(token, sizeof token);
	if (cli->verbosity >= 0)
		fprintf(stderr, "token %lld for %s, %s, %s: shown once; only its SHA-256 is kept\n",
			id, org, role, name);
	return EXIT_SUCCESS;
}

static int list(struct cli *cli, int argc, char **argv)
{
	const char *org = NULL;
	int json = 0, rc;
	for (int i = 2, got; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if ((got = cmd_option(argc, argv, &i, "--org", &org)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
		} else
			return cmd_usage(cli);
	}
	sqlite3_stmt *st = db_prepare(
		&cli->db, "SELECT id, org, role, name, created_at, created_by, expires_at, "
			  "revoked_at, last_used_at FROM tokens WHERE ?1 IS NULL OR org = ?1 "
			  "ORDER BY id");
	if (!st)
		return EXIT_FAILURE;
	if (org)
		sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	static const char *const keys[] = { "id",	  "org",	"role",
					    "name",	  "created_at", "created_by",
					    "expires_at", "revoked_at", "last_used_at" };
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
			for (int k = 1; k < 9; k++)
				json_object_set_new(o, keys[k], column_json(st, k, NULL));
			char *line = json_dumps(o, JSON_COMPACT);
			puts(line);
			free(line);
			json_decref(o);
			continue;
		}
		char *t[9];
		for (int k = 1; k < 9; k++)
			t[k] = column_safe(st, k, NULL);
		printf("%-5lld %-14s %-10s %-24s created %s by %s, %s%s%s\n",
		       (long long)sqlite3_column_int64(st, 0), t[1] ? t[1] : "", t[2] ? t[2] : "",
		       t[3] ? t[3] : "", t[4] ? t[4] : "", t[5] ? t[5] : "",
		       t[7]   ? "revoked "
		       : t[6] ? "expires "
			      : "does not expire",
		       t[7]   ? t[7]
		       : t[6] ? t[6]
			      : "",
		       "");
		for (int k = 1; k < 9; k++)
			free(t[k]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_fail(&cli->db, "reading tokens");
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

static int revoke(struct cli *cli, int argc, char **argv)
{
	if (argc != 3)
		return cmd_usage(cli);
	size_t len = strlen(argv[2]);
	if (!len || len > 18 || strspn(argv[2], "0123456789") != len) {
		char *safe = text_safe(argv[2], len, NULL);
		error("token revoke: \"%s\" is not a token's id (a whole number, as token list "
		      "shows)",
		      safe);
		free(safe);
		return EXIT_USAGE;
	}
	char via[300];
	audit_cli_via(via, sizeof via);
	long long id = strtoll(argv[2], NULL, 10);
	int rc = token_revoke(&cli->db, id, via + 4, via);
	if (rc < 0)
		return EXIT_FAILURE;
	if (rc > 0) {
		error("token revoke: no token %lld that is not revoked already", id);
		return EXIT_USAGE;
	}
	if (cli->verbosity >= 0)
		printf("token %lld revoked\n", id);
	return EXIT_SUCCESS;
}

int cmd_token(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "add"))
		return add(cli, argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "list"))
		return list(cli, argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "revoke"))
		return revoke(cli, argc, argv);
	return cmd_usage(cli);
}
