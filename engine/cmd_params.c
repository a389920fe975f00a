/*
 * cmd_params.c — `rollcall params ORG [NAME=VALUE | --reset NAME]...`: show
 * an organisation's thresholds, or set them within the bounds its policy
 * declares (whole numbers where it says integer = true), or put them back
 * to the default. Values live in the database (table params), so a trust
 * can tune its alerts without editing code; the engine reads them each
 * batch. A stored value the policy's current bounds no longer allow is
 * shown as not in force: the engine uses the default instead. Every change
 * is audited, who the local user (params.c, which the API shares).
 */
#include "audit.h"
#include "cmd.h"
#include "log.h"
#include "params.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHANGES 64

static void print_params(const char *org, const struct policy *p, json_t *list)
{
	size_t i;
	json_t *o;
	printf("%s  %s (%s)\n", org, p->name, p->file);
	json_array_foreach(json_object_get(list, "items"), i, o)
	{
		const struct param *q = &p->params[i];
		double v = json_number_value(json_object_get(o, "value"));
		int stored = json_is_true(json_object_get(o, "set"));
		if (!json_is_true(json_object_get(o, "in_force"))) {
			double s = json_number_value(json_object_get(o, "stored"));
			printf("  %-24s %-10g (default %g, %g..%g%s; stored %g is %s: not in "
			       "force)  "
			       "%s\n",
			       q->name, q->def, q->def, q->min, q->max, q->integer ? ", whole" : "",
			       s, policy_param_refuses(q, s), q->doc);
		} else
			printf("  %-24s %-10g (default %g, %g..%g%s%s)  %s\n", q->name, v, q->def,
			       q->min, q->max, q->integer ? ", whole" : "", stored ? ", set" : "",
			       q->doc);
	}
}

int cmd_params(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-')
		return cmd_usage(cli);
	const char *org = argv[1];
	struct policy_set policies = { 0 };
	int status = EXIT_USAGE;
	json_t *list = NULL;

	struct policy *p = params_policy(&policies, &cli->cfg, org, cmd_policy_error);
	if (!p) {
		error("%s: no policy loaded for this organisation in %s", org, cli->cfg.policies);
		goto out;
	}
	/* Check every assignment before storing any. */
	struct params_change changes[MAX_CHANGES];
	int n = 0;
	char why[256];
	if (argc - 2 > MAX_CHANGES) {
		error("too many assignments");
		goto out;
	}
	for (int i = 2; i < argc; i++, n++) {
		if (!strcmp(argv[i], "--reset")) {
			if (++i == argc) {
				error("--reset needs a param name");
				goto out;
			}
			if ((changes[n].index = policy_param(p, argv[i])) < 0) {
				error("%s: %s declares no param \"%s\"", org, p->file, argv[i]);
				goto out;
			}
			changes[n].reset = 1;
			continue;
		}
		char *eq = strchr(argv[i], '='), *end;
		if (!eq) {
			error("%s: expected NAME=VALUE", argv[i]);
			goto out;
		}
		*eq = '\0';
		int k = policy_param(p, argv[i]);
		double v = strtod(eq + 1, &end);
		if (k < 0) {
			error("%s: %s declares no param \"%s\"", org, p->file, argv[i]);
			goto out;
		}
		if (end == eq + 1 || *end || !isfinite(v)) {
			error("%s=%s: not a number", argv[i], eq + 1);
			goto out;
		}
		if (params_refuses(p, &p->params[k], v, why, sizeof why)) {
			error("%s=%s: %s", argv[i], eq + 1, why);
			goto out;
		}
		changes[n] = (struct params_change){ .index = k, .value = v };
	}
	status = EXIT_FAILURE;
	if (n) {
		char via[300];
		audit_cli_via(via, sizeof via);
		if (params_store(&cli->db, p, org, changes, n, NULL, via + 4, via) != DB_DONE)
			goto out;
	}
	if (!(list = params_json(&cli->db, p, org)))
		goto out;
	print_params(org, p, list);
	status = EXIT_SUCCESS;
out:
	json_decref(list);
	policy_set_free(&policies);
	return status;
}
