/*
 * directory.c — the pupils and schools tables, read into memory in one scan.
 * 'directory_version' is moved by ingest.c (ST_DIRECTORY_MOVED), in the
 * transaction that changes a pupil or a school.
 */
#include "directory.h"

#include "upn.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long long directory_version(struct db *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT coalesce((SELECT value FROM meta WHERE key = "
					  "'directory_version'), 0)");
	long long v = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else if (st)
		db_fail(db, "reading directory_version");
	sqlite3_finalize(st);
	return v;
}

void directory_free(struct directory *d)
{
	free(d->pupil);
	free(d->by_upn);
	free(d->school);
	memset(d, 0, sizeof *d);
	d->version = -1;
}

static int by_urn(const void *a, const void *b)
{
	uint32_t x = ((const struct dir_school *)a)->urn, y = ((const struct dir_school *)b)->urn;
	return x < y ? -1 : x > y;
}

static int load_schools(struct directory *d, struct db *db)
{
	sqlite3_stmt *st = db_prepare(
		db, "SELECT urn, la_code, coalesce(trust_id, '') FROM schools ORDER BY urn");
	uint32_t cap = 0;
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (d->nschools == cap)
			d->school = xrealloc(d->school,
					     (cap = cap ? cap * 2 : 1024) * sizeof *d->school);
		struct dir_school *s = &d->school[d->nschools++];
		s->urn = (uint32_t)sqlite3_column_int64(st, 0);
		snprintf(s->la_code, sizeof s->la_code, "%s",
			 (const char *)sqlite3_column_text(st, 1));
		snprintf(s->trust_id, sizeof s->trust_id, "%s",
			 (const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "reading schools");
}

static int load_pupils(struct directory *d, struct db *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT coalesce(max(id), 0) FROM pupils");
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	long long max = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	if (max < 0 || max >= UINT32_MAX / 2)
		return db_fail(db, "reading pupils");
	d->npupils = (uint32_t)max + 1;
	d->pupil = xcalloc(d->npupils, sizeof *d->pupil);
	uint32_t slots = 1024;
	while (slots < 2 * d->npupils)
		slots *= 2;
	d->by_upn = xcalloc(slots, sizeof *d->by_upn);
	d->mask = slots - 1;

	st = db_prepare(db, "SELECT id, upn, urn, year_group, social_worker, sen, fsm FROM pupils");
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		long long id = sqlite3_column_int64(st, 0);
		struct dir_school key = { .urn = (uint32_t)sqlite3_column_int64(st, 2) };
		struct dir_school *s = bsearch(&key, d->school, d->nschools, sizeof key, by_urn);
		if (id <= 0 || id >= d->npupils || sqlite3_column_bytes(st, 1) != 13 || !s) {
			/* ingest.c never stores such a row: the database was edited */
			error("%s: pupil id %lld: not a pupil rollcall can read (its UPN or "
			      "school is wrong)",
			      db->path, id);
			sqlite3_finalize(st);
			return -1;
		}
		struct dir_pupil *p = &d->pupil[id];
		memcpy(p->upn, sqlite3_column_text(st, 1), 13);
		snprintf(p->year_group, sizeof p->year_group, "%s",
			 (const char *)sqlite3_column_text(st, 3));
		p->social_worker = sqlite3_column_int(st, 4) != 0;
		p->sen = *(const char *)sqlite3_column_text(st, 5);
		p->fsm = sqlite3_column_int(st, 6) != 0;
		p->school = (uint32_t)(s - d->school);
		uint32_t i = upn_hash(p->upn) & d->mask;
		while (d->by_upn[i])
			i = (i + 1) & d->mask;
		d->by_upn[i] = (uint32_t)id;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "reading pupils");
}

int directory_refresh(struct directory *d, struct db *db)
{
	long long version = directory_version(db);
	if (version < 0)
		return -1;
	if (d->pupil && version == d->version)
		return 0;
	directory_free(d);
	if (load_schools(d, db) < 0 || load_pupils(d, db) < 0) {
		directory_free(d);
		return -1;
	}
	d->version = version;
	return 1;
}

uint32_t directory_find(const struct directory *d, const char *upn)
{
	if (!d->by_upn)
		return 0;
	for (uint32_t i = upn_hash(upn) & d->mask; d->by_upn[i]; i = (i + 1) & d->mask)
		if (memcmp(d->pupil[d->by_upn[i]].upn, upn, 13) == 0)
			return d->by_upn[i];
	return 0;
}
