/*
 * audit.c — writing the audit trail (audit.h). One INSERT a change, in the
 * change's transaction; the reading side is cmd_audit.c.
 */
#include "audit.h"

#include <pwd.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

int audit_add(struct db *db, const struct audit_entry *e)
{
	sqlite3_stmt *st = db_prepare(
		db, "INSERT INTO audit(at, who, via, org, what, action_id, before, after, detail) "
		    "VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?, ?, ?, ?, ?, ?, ?, ?)");
	if (!st)
		return DB_FAILED;
	const char *text[] = { e->who, e->via, e->org, e->what };
	for (int i = 0; i < 4; i++)
		sqlite3_bind_text(st, i + 1, text[i], -1, SQLITE_STATIC);
	if (e->action_id)
		sqlite3_bind_int64(st, 5, e->action_id);
	const char *more[] = { e->before, e->after, e->detail };
	for (int i = 0; i < 3; i++)
		if (more[i])
			sqlite3_bind_text(st, i + 6, more[i], -1, SQLITE_STATIC);
	int rc = db_step_done(db, st, "writing the audit trail");
	sqlite3_finalize(st);
	return rc;
}

const char *audit_cli_via(char *buf, size_t size)
{
	struct passwd pw, *found = NULL;
	char names[1024];
	uid_t uid = geteuid();
	if (getpwuid_r(uid, &pw, names, sizeof names, &found) == 0 && found && found->pw_name)
		snprintf(buf, size, "cli:%s", found->pw_name);
	else
		snprintf(buf, size, "cli:uid %ld", (long)uid);
	return buf;
}
