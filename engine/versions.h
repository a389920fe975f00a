/*
 * versions.h — every policy version kept, by the SHA-256 of its text
 * (`policy_versions`): what a policy decided can be read, and re-run,
 * years after its file changed (an action names its version by
 * actions.policy_sha256). A version is kept when it loads and when it is
 * published; its text never changes, so keeping it again only moves its
 * last_loaded (and records a publisher it did not have).
 */
#ifndef ROLLCALL_VERSIONS_H
#define ROLLCALL_VERSIONS_H

#include "db.h"

#include <stddef.h>

/* Keep the version sha256 (hex) of org's policy: its text (len bytes), the
 * file it came from, now as its first (if new) and last load, and who
 * published it (the person, or NULL when it came from the file). In the
 * caller's transaction, or one of its own. Returns DB_DONE or the failure
 * (reported). */
int versions_keep(struct db *db, const char *org, const char *file, const char *text, size_t len,
		  const char *sha256, const char *published_by);

/* The text of version sha256 of org's policy (org NULL: any), malloc'd, its
 * length in *len; NULL if it was never kept (or on failure, reported). */
char *versions_text(struct db *db, const char *org, const char *sha256, size_t *len);

#endif
