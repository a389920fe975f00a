/*
 * policyset.c — the policies by organisation, loaded from files and
 * reloaded beside the running set (policyset.h). A file's name fixes the
 * organisation it speaks for; a file that stops loading keeps its
 * previous version, so a typo never switches a council's alerts off.
 */
#include "policyset.h"

#include "util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_org(const void *a, const void *b)
{
	return strcmp((*(struct policy *const *)a)->org, (*(struct policy *const *)b)->org);
}

static int lua_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 4 && d->d_name[0] != '.' && strcmp(d->d_name + n - 4, ".lua") == 0;
}

/* A policy file's name fixes the organisation it speaks for (docs/POLICIES.md):
 * la-NNN.lua for la:NNN, trust-ID.lua for trust:ID. */
static const struct {
	const char *file, *org;
} file_prefixes[] = { { "la-", "la:" }, { "trust-", "trust:" } };

int policy_set_file_org(const char *name, char *org, size_t size)
{
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	size_t n = strlen(base);
	if (n < 5 || strcmp(base + n - 4, ".lua") != 0)
		return 0;
	for (size_t i = 0; i < sizeof file_prefixes / sizeof *file_prefixes; i++) {
		size_t k = strlen(file_prefixes[i].file);
		if (strncmp(base, file_prefixes[i].file, k) != 0 || n - 4 - k >= 20)
			continue;
		char id[24];
		snprintf(id, sizeof id, "%s%.*s", file_prefixes[i].org, (int)(n - 4 - k), base + k);
		if (!policy_org_valid(id) || strlen(id) >= size)
			return 0;
		snprintf(org, size, "%s", id);
		return 1;
	}
	return 0;
}

int policy_set_unnamed_files(const char *dir, void (*each)(const char *path, void *arg), void *arg)
{
	struct dirent **list = NULL;
	int n = scandir(dir, &list, lua_file, alphasort), count = 0;
	for (int i = 0; i < n; i++) {
		char org[24], path[4096];
		if (!policy_set_file_org(list[i]->d_name, org, sizeof org)) {
			snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
			each(path, arg);
			count++;
		}
		free(list[i]);
	}
	free(list);
	return n < 0 ? -1 : count;
}

/* The policy loaded from path, or NULL. */
static struct policy *find_path(struct policy **set, int n, const char *path)
{
	for (int i = 0; i < n; i++)
		if (set[i] && !strcmp(set[i]->path, path))
			return set[i];
	return NULL;
}

/* Load the policy at path, and, when named is set, refuse it unless its
 * org is the one its file name gives. NULL with err on failure. */
static struct policy *load_policy(const struct config *c, const char *path, int named, char *err,
				  size_t errlen)
{
	struct policy *p = xmalloc(sizeof *p);
	char org[24];
	if (policy_load(p, path, c->scripts, c->policy_memory, c->policy_instructions, err,
			errlen) < 0) {
		free(p);
		return NULL;
	}
	if (named && (!policy_set_file_org(path, org, sizeof org) || strcmp(org, p->org) != 0)) {
		snprintf(err, errlen,
			 "%s:%d: policy{} says org \"%s\", but a file named %s speaks only for %s",
			 path, p->line, p->org, p->file, org);
		policy_free(p);
		free(p);
		return NULL;
	}
	return p;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void files_free(struct policy_set *s)
{
	for (int i = 0; i < s->nfiles; i++) {
		free(s->files[i].path);
		free(s->files[i].error);
	}
	free(s->files);
	free(s->unloaded);
	s->files = NULL;
	s->unloaded = NULL;
	s->nfiles = s->nunloaded = 0;
}

int policy_set_load(struct policy_set *s, const struct config *c, char **files, int nfiles,
		    policy_error_fn on_error)
{
	struct dirent **list = NULL;
	char **paths = files;
	int n = nfiles, failed = 0, named = nfiles == 0;
	char err[4608]; /* a path and a reason */

	if (named) {
		int all = scandir(c->policies, &list, lua_file, alphasort);
		if (all < 0) {
			snprintf(err, sizeof err, "%s: cannot read the policies directory",
				 c->policies);
			on_error(c->policies, err, 0);
			return -1;
		}
		paths = xcalloc((size_t)all + 1, sizeof *paths);
		for (int i = 0; i < all; i++) {
			char org[24], path[4096];
			snprintf(path, sizeof path, "%s/%s", c->policies, list[i]->d_name);
			free(list[i]);
			if (policy_set_file_org(path, org, sizeof org)) {
				paths[n++] = xstrdup(path);
				continue;
			}
			/* said, not counted as failed: drafts may sit there */
			snprintf(err, sizeof err,
				 "%s: not loaded: only la-NNN.lua and trust-ID.lua are policies (a "
				 "file speaks only for the organisation its name gives)",
				 path);
			on_error(path, err, 0);
		}
		free(list);
	}
	/* A reload builds the new set beside the old one: a file that no longer
	 * loads keeps its previous version, so a typo never switches a
	 * council's alerts off. */
	struct policy **old = s->policies;
	int nold = s->npolicies;
	struct policy_file *found = named ? xcalloc((size_t)n + 1, sizeof *found) : NULL;
	s->policies = xcalloc((size_t)n + 1, sizeof *s->policies);
	s->npolicies = 0;
	for (int i = 0; i < n; i++) {
		struct policy_file *f = found ? &found[i] : NULL;
		if (f) {
			policy_set_file_org(paths[i], f->org, sizeof f->org);
			f->path = xstrdup(paths[i]);
		}
		struct policy *p = load_policy(c, paths[i], named, err, sizeof err);
		if (!p) {
			p = find_path(old, nold, paths[i]);
			on_error(paths[i], err, p != NULL);
			if (f)
				f->error = xstrdup(err);
			failed++;
			if (!p)
				continue;
			for (int k = 0; k < nold; k++) /* the old set no longer owns it */
				if (old[k] == p)
					old[k] = NULL;
		}
		struct policy *twin = NULL;
		for (int k = 0; k < s->npolicies && !twin; k++)
			if (!strcmp(s->policies[k]->org, p->org))
				twin = s->policies[k];
		if (twin) {
			snprintf(err, sizeof err, "%s:%d: %s already has a policy in %s", paths[i],
				 p->line, p->org, twin->path);
			on_error(paths[i], err, 0);
			if (f && !f->error)
				f->error = xstrdup(err);
			policy_free(p);
			free(p);
			failed++;
			continue;
		}
		s->policies[s->npolicies++] = p;
		if (f)
			f->running = p;
	}
	qsort(s->policies, (size_t)s->npolicies, sizeof *s->policies, by_org);
	for (int k = 0; k < nold; k++) {
		if (!old[k])
			continue;
		policy_free(old[k]);
		free(old[k]);
	}
	free(old);
	if (named) {
		/* No evaluation is lost to a file that does not load: the engine
		 * keeps the pupils of the organisations with no version running
		 * waiting until one loads. */
		files_free(s);
		s->files = found;
		s->nfiles = n;
		s->unloaded = xcalloc((size_t)n + 1, sizeof *s->unloaded);
		for (int i = 0; i < n; i++)
			if (!found[i].running)
				memcpy(s->unloaded[s->nunloaded++], found[i].org,
				       sizeof found[i].org);
		qsort(s->unloaded, (size_t)s->nunloaded, sizeof *s->unloaded, by_name);
	}
	if (paths != files) {
		for (int i = 0; i < n; i++)
			free(paths[i]);
		free(paths);
	}
	return failed;
}

int policy_set_index(const struct policy_set *s, const char *org)
{
	struct policy key, *k = &key;
	snprintf(key.org, sizeof key.org, "%s", org);
	struct policy **found =
		bsearch(&k, s->policies, (size_t)s->npolicies, sizeof *s->policies, by_org);
	return found ? (int)(found - s->policies) : -1;
}

struct policy *policy_set_find(const struct policy_set *s, const char *org)
{
	int i = policy_set_index(s, org);
	return i < 0 ? NULL : s->policies[i];
}

const char *policy_set_unloaded(const struct policy_set *s, const char *org)
{
	if (!s->nunloaded)
		return NULL;
	char(*found)[24] =
		bsearch(org, s->unloaded, (size_t)s->nunloaded, sizeof *s->unloaded, by_name);
	return found ? *found : NULL;
}

void policy_set_free(struct policy_set *s)
{
	for (int i = 0; i < s->npolicies; i++) {
		policy_free(s->policies[i]);
		free(s->policies[i]);
	}
	free(s->policies);
	files_free(s);
	memset(s, 0, sizeof *s);
}
