/*
 * policyset.h — the loaded policies, by organisation: read from the
 * policies directory (la-NNN.lua, trust-ID.lua, each speaking only for the
 * organisation its name gives) or from files named on the command line,
 * and reloaded in place, a failing file keeping its previous version.
 * `rollcall check`, `params` and replay hold a set alone; the engine
 * holds one (the service, run --once, test's cases) and keeps what it
 * found in policy_health. Knows nothing of SQL.
 */
#ifndef ROLLCALL_POLICYSET_H
#define ROLLCALL_POLICYSET_H

#include "config.h"
#include "policy.h"

/* A file in the policies directory named for an organisation, as the last
 * load found it. */
struct policy_file {
	char org[24];
	char *path;
	char *error;		/* why its text does not load; NULL: it loaded */
	struct policy *running; /* the version that runs for org, or NULL */
};

/* Zeroed, it is an empty set. */
struct policy_set {
	struct policy **policies; /* sorted by org; never moved once loaded (the
				   * Lua state points into its struct policy) */
	int npolicies;
	/* Loaded from the policies directory (not from files named on the
	 * command line): the named files found, and the organisations among
	 * them for which no version runs (sorted). Their pupils wait. */
	struct policy_file *files;
	int nfiles;
	char (*unloaded)[24];
	int nunloaded;
};

/* Called for each policy that fails to load: path, "FILE:LINE: reason", and
 * whether the previous version from that file is kept running. */
typedef void (*policy_error_fn)(const char *path, const char *err, int kept);

/* Load the policies named in files (or, if nfiles is 0, every la-NNN.lua
 * and trust-ID.lua in c->policies, each refused unless its policy{ org }
 * is the one its name gives; on_error hears of every other *.lua there,
 * which is not loaded and not counted as failed), replacing those loaded
 * before: a reload. A policy that fails keeps its previous version if it
 * had one, else is left out; one that names an org an earlier file (in
 * name order) already has is left out. Policies whose files are gone are
 * dropped. From the directory, s->files and s->unloaded say what the load
 * found. Returns the number of files that failed, or -1 if the directory
 * cannot be read (the set stays as it was). */
int policy_set_load(struct policy_set *s, const struct config *c, char **files, int nfiles,
		    policy_error_fn on_error);

/* The loaded policy for org, or NULL; policy_set_index: its index in
 * s->policies, or -1. */
struct policy *policy_set_find(const struct policy_set *s, const char *org);
int policy_set_index(const struct policy_set *s, const char *org);

/* org, as s->unloaded holds it, if its file was found in the directory but
 * no version of it runs; else NULL. */
const char *policy_set_unloaded(const struct policy_set *s, const char *org);

/* The organisation a policy file's name lets it speak for: 1 and org
 * filled for la-NNN.lua and trust-ID.lua, 0 for any other name. */
int policy_set_file_org(const char *name, char *org, size_t size);

/* Call each for every *.lua in dir whose name speaks for no organisation
 * (drafts, backups): never loaded. Returns how many, or -1 if dir cannot
 * be read. */
int policy_set_unnamed_files(const char *dir, void (*each)(const char *path, void *arg), void *arg);

/* Free every policy and record in s, leaving it empty. */
void policy_set_free(struct policy_set *s);

#endif
