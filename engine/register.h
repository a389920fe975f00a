/*
 * register.h — pupils' registers: one row per pupil per academic year holding
 * a byte per session (a code index, 0 for no mark), trimmed after the latest
 * mark. This is what figures are computed from; marks keeps the full record.
 */
#ifndef ROLLCALL_REGISTER_H
#define ROLLCALL_REGISTER_H

#include "db.h"
#include "stats.h"

#include <stdint.h>

#define REGISTER_SLOTS 732 /* 366 days x 2 sessions */

struct registers {
	struct db *db;
	sqlite3_stmt *get, *put, *add, *below;
	int years[128]; /* academic years that have any register, ascending */
	int nyears;
};

int register_open(struct registers *r, struct db *db);
void register_close(struct registers *r);

/* Re-read which academic years have registers (after another process wrote). */
int register_refresh(struct registers *r);

static inline int64_t register_id(int year, uint32_t pupil)
{
	return (int64_t)year << 32 | pupil;
}

/* Read one year's slots into buf (zero-filled to REGISTER_SLOTS); *len is
 * the stored length (0 if none). Returns 0 or -1. */
int register_get(struct registers *r, int year, uint32_t pupil, uint8_t *buf, int *len);

/* Store one year's slots; trailing empty slots are not stored. */
int register_put(struct registers *r, int year, uint32_t pupil, const uint8_t *buf);

/* Load pupil's history from academic year from_year (0: from the first) up to
 * the latest mark. Earlier years load on demand through h->extend, so the
 * history must not outlive r. */
int register_history(struct registers *r, uint32_t pupil, int from_year, struct history *h);

#endif
