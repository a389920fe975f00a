/*
 * directory.h — every pupil and school in memory, for the service: a pupil
 * by id (what evaluation reads) and by UPN (what each mark names).
 *
 * `rollcall run` reads the pupils and schools tables once, in one scan,
 * instead of a query per mark and another per evaluated pupil. The meta
 * counter 'directory_version' moves whenever `rollcall import` changes a
 * pupil or a school (ingest.c); the service reloads when it has moved.
 * About 32 bytes a pupil: 270 MB for the national 8.5 million.
 */
#ifndef ROLLCALL_DIRECTORY_H
#define ROLLCALL_DIRECTORY_H

#include "db.h"

#include <stdint.h>

struct dir_pupil {
	char upn[14]; /* upn[0] == 0: no pupil has this id */
	char sen;
	char year_group[3];
	uint8_t social_worker : 1, fsm : 1;
	uint32_t school; /* index into directory.school */
};

struct dir_school {
	uint32_t urn;
	char la_code[4];
	char trust_id[17]; /* "" if not an academy */
};

struct directory {
	struct dir_pupil *pupil; /* by id, npupils of them (the largest id + 1) */
	uint32_t npupils;
	uint32_t *by_upn; /* open addressing: pupil ids, 0 for an empty slot */
	uint32_t mask;
	struct dir_school *school; /* by urn */
	uint32_t nschools;
	long long version; /* 'directory_version' when loaded; -1: not loaded */
};

/* Load (or reload, if 'directory_version' moved since the last load).
 * Returns 1 if it (re)loaded, 0 if it was up to date, or -1 on a database
 * error (the directory is then empty). */
int directory_refresh(struct directory *d, struct db *db);

void directory_free(struct directory *d);

/* 'directory_version' as the database has it now (moved when pupils or
 * schools are imported, and when a pupil is erased), or -1 (reported). */
long long directory_version(struct db *db);

/* The id of the pupil with this 13-character UPN, or 0. */
uint32_t directory_find(const struct directory *d, const char *upn);

/* The pupil with this id, or NULL. */
static inline const struct dir_pupil *directory_pupil(const struct directory *d, uint32_t id)
{
	return id < d->npupils && d->pupil[id].upn[0] ? &d->pupil[id] : 0;
}

#endif
