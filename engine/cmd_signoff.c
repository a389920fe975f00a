/*
 * cmd_signoff.c — the legal steps waiting for a person, and their
 * decisions (signoff.c does the deciding):
 *
 *   rollcall signoff list [--org ORG] [--json]
 *   rollcall signoff approve ID --by NAME [--note TEXT]
 *   rollcall signoff decline ID --by NAME --reason TEXT
 *
 * list shows the proposals still waiting, the first to expire first, each
 * with its deadline and whether its pupil is still at one of the
 * organisation's schools; --json gives each as `actions --json` does. A
 * decision that cannot be made (unknown, expired or already decided, a
 * name or text out of bounds, a pupil who has left, the national
 * framework) says why and changes nothing: exit status 2.
 */
#include "actions.h"
#include "audit.h"
#include "cmd.h"
#include "date.h"
#include "listing.h"
#include "policy.h"
#include "signoff.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

struct printing {
	int json, n;
};

static int print_proposal(const struct action_row *row, json_t *o, void *arg)
{
	struct printing *pr = arg;
	const struct action_row a = *row;
	pr->n++;
	if (pr->json) {
		char *line = json_dumps(o, JSON_COMPACT);
		puts(line);
		free(line);
		return 0;
	}
	int at_org = json_is_true(json_object_get(o, "pupil_at_org"));
	int past = json_is_true(json_object_get(o, "past_decide_by"));
	if (pr->n == 1)
		printf("%-7s %-10s %-14s %-28s %-13s %-11s %s\n", "id", "proposed", "org", "step",
		       "pupil", "decide by", "reason");
	const struct action_text shown[] = { a.date, a.org, a.kind, a.upn, a.decide_by, a.message };
	enum { COLUMNS = sizeof shown / sizeof *shown };
	char *text[COLUMNS];
	for (int k = 0; k < COLUMNS; k++)
		text[k] = text_safe(shown[k].s ? shown[k].s : "", shown[k].len, NULL);
	printf("%-7lld %-10s %-14s %-28s %-13s %-11s %s%s%s\n", a.id, text[0], text[1], text[2],
	       text[3], text[4], at_org ? "" : "(the pupil has left) ",
	       past ? "(expired: past its day) " : "", text[5]);
	for (int k = 0; k < COLUMNS; k++)
		free(text[k]);
	return 0;
}

static int list(struct cli *cli, const char *org, int json)
{
	struct listing_scope scope = { .org = org };
	struct printing pr = { .json = json };
	if (listing_signoff(&cli->db, &scope, NULL, print_proposal, &pr) < 0)
		return EXIT_FAILURE;
	if (!json && pr.n == 0)
		printf("no legal steps waiting for a decision%s%s\n", org ? " for " : "",
		       org ? org : "");
	return EXIT_SUCCESS;
}

/* A proposal's id: a whole number from 1. */
static int parse_id(const char *s, long long *id)
{
	size_t len = strlen(s);
	if (len == 0 || len > 18 || strspn(s, "0123456789") != len)
		return -1;
	*id = strtoll(s, NULL, 10);
	return *id > 0 ? 0 : -1;
}

static int decide(struct cli *cli, int approve, int argc, char **argv)
{
	struct signoff_decision d = { .approve = approve };
	const char *id = NULL, *text = NULL;
	char via[300], msg[3072];
	int got;
	for (int i = 2; i < argc;) {
		if ((got = cmd_option(argc, argv, &i, "--by", &d.by)) != 0 ||
		    (got = cmd_option(argc, argv, &i, approve ? "--note" : "--reason", &text)) !=
			    0) {
			if (got < 0)
				return cmd_usage(cli);
		} else if (argv[i][0] == '-' || id)
			return cmd_usage(cli);
		else
			id = argv[i++];
	}
	if (!id || !d.by)
		return cmd_usage(cli);
	if (parse_id(id, &d.id) < 0) {
		char *safe = text_safe(id, strlen(id), NULL);
		error("signoff: \"%s\" is not a proposal's id (a whole number, as signoff list "
		      "shows)",
		      safe);
		free(safe);
		return EXIT_USAGE;
	}
	d.text = text;
	d.via = audit_cli_via(via, sizeof via);
	int rc = signoff_decide(&cli->db, &cli->cfg, &d, msg, sizeof msg);
	if (rc < 0)
		return EXIT_FAILURE;
	/* the message quotes what was typed: made safe for the terminal */
	char *safe = text_safe(msg, strlen(msg), NULL);
	if (rc == SIGNOFF_REFUSED)
		error("signoff: %s", safe);
	else
		printf("%s\n", safe);
	free(safe);
	return rc == SIGNOFF_REFUSED ? EXIT_USAGE : EXIT_SUCCESS;
}

int cmd_signoff(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return cmd_usage(cli);
	if (!strcmp(argv[1], "approve") || !strcmp(argv[1], "decline"))
		return decide(cli, !strcmp(argv[1], "approve"), argc, argv);
	if (strcmp(argv[1], "list") != 0)
		return cmd_usage(cli);
	const char *org = NULL;
	int json = 0, got;
	for (int i = 2; i < argc;) {
		if (cmd_flag(argv, &i, "--json"))
			json = 1;
		else if ((got = cmd_option(argc, argv, &i, "--org", &org)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
		} else
			return cmd_usage(cli);
	}
	if (org && !policy_org_valid(org)) {
		char *safe = text_safe(org, strlen(org), NULL);
		error("--org %s: expected la:NNN or trust:ID", safe);
		free(safe);
		return EXIT_USAGE;
	}
	return list(cli, org, json);
}
