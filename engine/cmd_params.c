/*
 * cmd_params.c — `rollcall params ORG [NAME=VALUE...]`: show an
 * organisation's thresholds, or set them within the bounds its policy
 * declares. Values live in the database (table params), so a trust can
 * tune its alerts without editing code; the engine reads them each batch.
 */
#include "cmd.h"
#include "engine.h"
#include "log.h"
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
	struct engine e = { .cfg = &cli->cfg };
	int status = EXIT_USAGE;
	sqlite3_stmt *get = NULL, *set = NULL;

	engine_load_policies(&e, NULL, 0, cmd_policy_error);
	struct policy *p = engine_policy(&e, org);
	if (!p) {
		error("%s: no policy loaded for this organisation in %s", org, cli->cfg.policies);
		goto out;
	}
	/* Check every assignment before storing any. */
	double values[64];
	int index[64];
	if (argc - 2 > 64) {
		error("too many assignments");
		goto out;
	}
	for (int i = 2; i < argc; i++) {
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
		if (v < p->params[k].min || v > p->params[k].max) {
			error("%s=%g: outside the bounds %g..%g that %s declares", argv[i], v,
			      p->params[k].min, p->params[k].max, p->file);
			goto out;
		}
		index[i - 2] = k;
		values[i - 2] = v;
	}
	status = EXIT_FAILURE;
	set = db_prepare(&cli->db, "INSERT INTO params(org, name, value) VALUES (?, ?, ?) ON "
				   "CONFLICT(org, name) DO UPDATE SET value = excluded.value, "
				   "set_at = excluded.set_at");
	get = db_prepare(&cli->db, "SELECT value FROM params WHERE org = ? AND name = ?");
	if (!set || !get || db_begin(&cli->db) < 0)
		goto out;
	for (int i = 0; i < argc - 2; i++) {
		sqlite3_bind_text(set, 1, org, -1, SQLITE_STATIC);
		sqlite3_bind_text(set, 2, p->params[index[i]].name, -1, SQLITE_STATIC);
		sqlite3_bind_double(set, 3, values[i]);
		int rc = sqlite3_step(set);
		sqlite3_reset(set);
		if (rc != SQLITE_DONE) {
			db_fail(&cli->db, "storing a param");
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
		printf("  %-24s %-10g (default %g, %g..%g%s)  %s\n", q->name, v, q->def, q->min,
		       q->max, stored ? ", set" : "", q->doc);
	}
	status = EXIT_SUCCESS;
out:
	sqlite3_finalize(get);
	sqlite3_finalize(set);
	engine_close(&e);
	return status;
}
