/*
 * cmd_erase.c — `rollcall erase UPN --reason TEXT`: a pupil imported by
 * mistake (the wrong school's file) removed with everything rollcall
 * holds about them: marks, amendments, registers, actions, deliveries and
 * their attempts, the audit rows about those actions, cases, rows waiting
 * for them (changes, deferred, incoming), rows refused on import naming
 * them, the evaluator's last error if it names them, and the pupil.
 *
 * One BEGIN IMMEDIATE transaction: it all goes, with its audit row, or
 * nothing does. Refused, nothing changed, while a legal step is open for
 * the pupil — an open case at a legal stage (a letter or beyond), or a
 * proposal waiting for a decision — because that is a record a family or
 * a court may yet ask for: close the case or decide the proposal first.
 *
 * The audit row (what 'pupil.erase') keeps no more than it must to show
 * an erasure was made, by whom, why and of what: the school's URN, the
 * counts, the reason with the UPN taken out of it — never the UPN, which
 * would keep the very identifier the erasure removes.
 */
#include "cmd.h"
#include "actions.h"
#include "audit.h"
#include "date.h"
#include "register.h"
#include "signoff.h"
#include "upn.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define ERASE_REASON_MAX 2000

/* The steps of an erasure, in order (?1 the pupil's id, ?2 the UPN):
 * rows that point at others first. Marks are not here: they have no
 * index by pupil and go by their ids (erase_marks). */
static const struct {
	const char *name, *sql;
} erase_steps[] = {
	{ "delivery_attempts", "DELETE FROM delivery_attempts WHERE delivery IN (SELECT d.id FROM "
			       "deliveries d JOIN actions a ON a.id = d.action_id WHERE a.pupil = "
			       "?1)" },
	{ "deliveries", "DELETE FROM deliveries WHERE action_id IN (SELECT id FROM actions WHERE "
			"pupil = ?1)" },
	{ "audit", "DELETE FROM audit WHERE action_id IN (SELECT id FROM actions WHERE pupil = ?1) "
		   "OR (what = 'pupil.export' AND detail = ?2)" },
	{ "actions", "DELETE FROM actions WHERE pupil = ?1" },
	{ "cases", "DELETE FROM cases WHERE pupil = ?1" },
	/* past the cursor only: the row at it keeps SQLite's next seq above it
	 * (engine.c), and those below are the engine's to prune */
	{ "changes", "DELETE FROM changes WHERE pupil = ?1 AND seq > coalesce((SELECT value FROM "
		     "meta WHERE key = 'evaluated_seq'), 0)" },
	{ "deferred", "DELETE FROM deferred WHERE pupil = ?1" },
	{ "incoming", "DELETE FROM incoming WHERE upn = ?2" },
	{ "rejected", "DELETE FROM rejected WHERE instr(row, ?2) > 0" },
	{ "policy_errors", "UPDATE policy_health SET last_error = NULL, last_pupil = NULL, "
			   "last_failed_at = NULL WHERE last_pupil = ?2" },
	{ "pupils", "DELETE FROM pupils WHERE id = ?1" },
	/* the service's pupil directory is reloaded when this moves */
	{ NULL, "INSERT INTO meta(key, value) VALUES ('directory_version', 1) ON CONFLICT(key) DO "
		"UPDATE SET value = value + 1" },
};

/* Why the pupil may not be erased now, into why; 0 if they may be. */
static int legal_step_open(struct db *db, long long pupil, char *why, size_t size)
{
	sqlite3_stmt *cases = db_prepare(db, "SELECT org, stage FROM cases WHERE pupil = ?1 AND "
					     "closed IS NULL ORDER BY org");
	sqlite3_stmt *waiting = db_prepare(db, "SELECT id, org, kind FROM actions WHERE pupil = "
					       "?1 AND state = 'proposed' ORDER BY id LIMIT 1");
	int rc = cases && waiting ? 0 : DB_FAILED;
	why[0] = '\0';
	if (rc == 0) {
		sqlite3_bind_int64(cases, 1, pupil);
		while (!why[0] && sqlite3_step(cases) == SQLITE_ROW) {
			const char *stage = (const char *)sqlite3_column_text(cases, 1);
			if (stage && actions_legal_step(stage) >= 0)
				snprintf(why, size,
					 "%s has a case open at a legal stage (%s): close it first",
					 sqlite3_column_text(cases, 0), stage);
		}
		sqlite3_bind_int64(waiting, 1, pupil);
		if (!why[0] && sqlite3_step(waiting) == SQLITE_ROW)
			snprintf(why, size,
				 "%s proposed a %s (action %lld) that waits for a decision: decide "
				 "it first (rollcall signoff)",
				 sqlite3_column_text(waiting, 1), sqlite3_column_text(waiting, 2),
				 (long long)sqlite3_column_int64(waiting, 0));
	}
	sqlite3_finalize(cases);
	sqlite3_finalize(waiting);
	return rc < 0 ? rc : why[0] != '\0';
}

/* The pupil's marks, amendments and registers: each year's register says
 * which sessions have a mark, and each mark goes by its id. */
static int erase_marks(struct db *db, uint32_t pupil, json_t *counts)
{
	struct registers reg;
	if (register_open(&reg, db) < 0)
		return DB_FAILED;
	sqlite3_stmt *history = db_prepare(db, "DELETE FROM mark_history WHERE mark = ?1");
	sqlite3_stmt *mark = db_prepare(db, "DELETE FROM marks WHERE id = ?1");
	sqlite3_stmt *year = db_prepare(db, "DELETE FROM registers WHERE id = ?1");
	long long n[3] = { 0, 0, 0 };
	uint8_t slots[REGISTER_SLOTS];
	int rc = history && mark && year ? 0 : DB_FAILED;
	for (int y = 0; rc == 0 && y < reg.nyears; y++) {
		int len = 0;
		if ((rc = register_get(&reg, reg.years[y], pupil, slots, &len)) < 0)
			break;
		int start = date_from_ymd(reg.years[y], 9, 1);
		for (int s = 0; rc == 0 && s < len; s++) {
			if (!slots[s])
				continue;
			int64_t id = (int64_t)(2 * (start + s / 2) + s % 2) << 32 | pupil;
			sqlite3_bind_int64(history, 1, id);
			sqlite3_bind_int64(mark, 1, id);
			if ((rc = db_step_done(db, history, "erasing a mark's amendments")) == 0) {
				n[1] += sqlite3_changes(db->h);
				rc = db_step_done(db, mark, "erasing a mark");
				n[0] += sqlite3_changes(db->h);
			}
		}
		sqlite3_bind_int64(year, 1, register_id(reg.years[y], pupil));
		if (rc == 0 && len && (rc = db_step_done(db, year, "erasing a register")) == 0)
			n[2] += sqlite3_changes(db->h);
	}
	json_object_set_new(counts, "marks", json_integer(n[0]));
	json_object_set_new(counts, "amendments", json_integer(n[1]));
	json_object_set_new(counts, "registers", json_integer(n[2]));
	sqlite3_finalize(history);
	sqlite3_finalize(mark);
	sqlite3_finalize(year);
	register_close(&reg);
	return rc;
}

/* reason with every copy of upn replaced: the audit row must not keep it. */
static char *without_upn(const char *reason, const char *upn)
{
	size_t len = strlen(reason);
	char *out = xmalloc(len + 1), *o = out;
	for (const char *s = reason; *s;) {
		if (!strncmp(s, upn, 13)) {
			memcpy(o, "[UPN]", 5); /* 5 bytes for 13: it always fits */
			o += 5;
			s += 13;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

int cmd_erase(struct cli *cli, int argc, char **argv)
{
	const char *upn = NULL, *reason = NULL;
	for (int i = 1, got; i < argc;) {
		if ((got = cmd_option(argc, argv, &i, "--reason", &reason)) != 0) {
			if (got < 0)
				return cmd_usage(cli);
		} else if (argv[i][0] == '-' || upn)
			return cmd_usage(cli);
		else
			upn = argv[i++];
	}
	if (!upn || !reason)
		return cmd_usage(cli);
	if (!upn_valid(upn, (int)strlen(upn))) {
		char *safe = text_safe(upn, strlen(upn), NULL);
		error("\"%s\" is not a valid UPN (13 characters with a matching check letter)",
		      safe);
		free(safe);
		return EXIT_USAGE;
	}
	const char *bad = signoff_text_refused(reason, ERASE_REASON_MAX);
	if (bad) {
		error("--reason: %s", bad);
		return EXIT_USAGE;
	}
	struct db *db = &cli->db;
	int status = EXIT_FAILURE, rc;
	json_t *counts = json_object();
	char *detail = NULL, *clean = NULL;
	sqlite3_stmt *st = NULL;
	if (db_begin(db) < 0)
		goto out;
	st = db_prepare(db, "SELECT p.id, 'la:' || s.la_code, printf('%06d', p.urn) FROM pupils p "
			    "JOIN schools s ON s.urn = p.urn WHERE p.upn = ?1");
	if (!st)
		goto out;
	sqlite3_bind_text(st, 1, upn, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc == SQLITE_DONE) {
			error("no pupil with upn %s", upn);
			status = EXIT_USAGE;
		} else {
			db_fail(db, "reading a pupil");
		}
		goto out;
	}
	long long pupil = sqlite3_column_int64(st, 0);
	char org[24], urn[8], why[512];
	snprintf(org, sizeof org, "%s", (const char *)sqlite3_column_text(st, 1));
	snprintf(urn, sizeof urn, "%s", (const char *)sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = legal_step_open(db, pupil, why, sizeof why)) != 0) {
		if (rc > 0) {
			error("%s: not erased: %s", upn, why);
			status = EXIT_USAGE;
		}
		goto out;
	}
	if (erase_marks(db, (uint32_t)pupil, counts) < 0)
		goto out;
	for (size_t i = 0; i < sizeof erase_steps / sizeof *erase_steps; i++) {
		if (!(st = db_prepare(db, erase_steps[i].sql)))
			goto out;
		/* a statement without ?2 refuses it (SQLITE_RANGE), as meant */
		sqlite3_bind_int64(st, 1, pupil);
		sqlite3_bind_text(st, 2, upn, -1, SQLITE_STATIC);
		if (db_step_done(db, st, "erasing a pupil") < 0)
			goto out;
		if (erase_steps[i].name)
			json_object_set_new(counts, erase_steps[i].name,
					    json_integer(sqlite3_changes(db->h)));
		sqlite3_finalize(st);
		st = NULL;
	}
	clean = without_upn(reason, upn);
	json_t *o =
		json_pack("{s:s, s:s, s:O}", "reason", clean, "school_urn", urn, "removed", counts);
	detail = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	char via[300];
	audit_cli_via(via, sizeof via);
	struct audit_entry e = {
		.who = via + 4, .via = via, .org = org, .what = "pupil.erase", .detail = detail
	};
	if (audit_add(db, &e) < 0 || db_commit(db) < 0)
		goto out;
	printf("erased %s: %lld marks, %lld actions, %lld cases, %lld deliveries\n", upn,
	       (long long)json_integer_value(json_object_get(counts, "marks")),
	       (long long)json_integer_value(json_object_get(counts, "actions")),
	       (long long)json_integer_value(json_object_get(counts, "cases")),
	       (long long)json_integer_value(json_object_get(counts, "deliveries")));
	status = EXIT_SUCCESS;
out:
	sqlite3_finalize(st);
	if (status != EXIT_SUCCESS)
		db_rollback(db);
	json_decref(counts);
	free(detail);
	free(clean);
	return status;
}
