/*
 * cmd_params.c — `rollcall params ORG [NAME=VALUE | --reset NAME]...`: show
 * an organisation's thresholds, or set them within the bounds its policy
 * declares (whole numbers where it says integer = true), or put them back
 * to the default. Values live in the database (table params), so a trust
 * can tune its alerts without editing code; the engine reads them each
 * batch. A stored value the policy's current bounds no longer allow is
 * shown as not in force: the engine uses the default instead.
 */
#include "cmd.h"
#include "log.h"
#include "policyset.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_params(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-')
		return cmd_usage(cli);
	const char *org = argv[1];
	struct policy_set policies = { 0 };
	int status = EXIT_USAGE;
	sqlite3_stmt *get = NULL, *set = NULL, *del = NULL;

	policy_set_load(&policies, &cli->cfg, NULL, 0, cmd_policy_error);
	struct policy *p = policy_set_find(&policies, org);
	if (!p) {
		error("%s: no policy loaded for this organisation in %s", org, cli->cfg.policies);
		goto out;
	}
	/* Check every assignment before storing any. */
	double values[64];
	int index[64], reset[64], n = 0;
	if (argc - 2 > 64) {
		error("too many assignments");
		goto out;
	}
	for (int i = 2; i < argc; i++, n++) {
		if (!strcmp(argv[i], "--reset")) {
			if (++i == argc) {
				error("--reset needs a param name");
				goto out;
			}
			if ((index[n] = policy_param(p, argv[i])) < 0) {
				error("%s: %s declares no param \"%s\"", org, p->file, argv[i]);
				goto out;
			}
			reset[n] = 1;
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
		const char *why = policy_param_refuses(&p->params[k], v);
		if (why && p->params[k].integer && v >= p->params[k].min && v <= p->params[k].max) {
			error("%s=%s: not a whole number (%s declares %s with integer = true)",
			      argv[i], eq + 1, p->file, argv[i]);
			goto out;
		}
		if (why) {
			error("%s=%s: outside the bounds %g..%g that %s declares", argv[i], eq + 1,
			      p->params[k].min, p->params[k].max, p->file);
			goto out;
		}
		index[n] = k;
		values[n] = v;
		reset[n] = 0;
	}
	status = EXIT_FAILURE;
	set = db_prepare(&cli->db, "INSERT INTO params(org, name, value) VALUES (?, ?, ?) ON "
				   "CONFLICT(org, name) DO UPDATE SET value = excluded.value, "
				   "set_at = excluded.set_at");
	get = db_prepare(&cli->db, "SELECT value FROM params WHERE org = ? AND name = ?");
	del = db_prepare(&cli->db, "DELETE FROM params WHERE org = ? AND name = ?");
	if (!set || !get || !del || db_begin(&cli->db) < 0)
		goto out;
	for (int i = 0; i < n; i++) {
		sqlite3_stmt *st = reset[i] ? del : set;
		sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, p->params[index[i]].name, -1, SQLITE_STATIC);
		if (!reset[i])
			sqlite3_bind_double(st, 3, values[i]);
		if (db_step_done(&cli->db, st, "storing a param") < 0) {
			db_rollback(&cli->db);
			goto out;
		}
	}
	if (db_commit(&cli->db) < 0)
		goto out;

	printf("%s  %s (%s)\n", org, p->name, p->file);
	for (int k = 0; k < p->nparams; k++) {
		const struct param *q = &p->params[k];
		double v = q->def;
		int stored = 0;
		sqlite3_bind_text(get, 1, org, -1, SQLITE_STATIC);
		sqlite3_bind_text(get, 2, q->name, -1, SQLITE_STATIC);
		if (sqlite3_step(get) == SQLITE_ROW) {
			v = sqlite3_column_double(get, 0);
			stored = 1;
		}
		sqlite3_reset(get);
		const char *why = stored ? policy_param_refuses(q, v) : NULL;
		if (why) /* the policy's bounds changed since it was set */
			printf("  %-24s %-10g (default %g, %g..%g%s; stored %g is %s: not in "
			       "force)  "
			       "%s\n",
			       q->name, q->def, q->def, q->min, q->max, q->integer ? ", whole" : "",
			       v, why, q->doc);
		else
			printf("  %-24s %-10g (default %g, %g..%g%s%s)  %s\n", q->name, v, q->def,
			       q->min, q->max, q->integer ? ", whole" : "", stored ? ", set" : "",
			       q->doc);
	}
	status = EXIT_SUCCESS;
out:
	sqlite3_finalize(get);
	sqlite3_finalize(set);
	sqlite3_finalize(del);
	policy_set_free(&policies);
	return status;
}
