/*
 * register.c — loading and storing registers, and building a pupil's history
 * from them for stats.c.
 */
#include "register.h"

#include "codes.h"
#include "date.h"
#include "util.h"

#include <string.h>

/* Find the academic years present by skipping down the year-major keys: one
 * B-tree seek a year, however many rows there are. */
static int load_years(struct registers *r)
{
	int64_t below = (int64_t)(date_academic_year(DATE_MAX) + 1) << 32;
	int found[128], n = 0;
	for (;;) {
		sqlite3_bind_int64(r->below, 1, below);
		int rc = sqlite3_step(r->below);
		int null = rc != SQLITE_ROW || sqlite3_column_type(r->below, 0) == SQLITE_NULL;
		int64_t id = null ? 0 : sqlite3_column_int64(r->below, 0);
		sqlite3_reset(r->below);
		if (rc != SQLITE_ROW)
			return db_fail(r->db, "reading registers");
		if (null || n == 128)
			break;
		found[n++] = (int)(id >> 32);
		below = id >> 32 << 32;
	}
	r->nyears = n;
	for (int i = 0; i < n; i++)
		r->years[i] = found[n - 1 - i];
	return 0;
}

int register_open(struct registers *r, struct db *db)
{
	memset(r, 0, sizeof *r);
	r->db = db;
	r->get = db_prepare(db, "SELECT slots FROM registers WHERE id = ?");
	r->put = db_prepare(db, "UPDATE registers SET slots = ?2 WHERE id = ?1");
	r->add = db_prepare(db, "INSERT INTO registers(id, slots) VALUES (?, ?)");
	r->below = db_prepare(db, "SELECT max(id) FROM registers WHERE id < ?");
	if (!r->get || !r->put || !r->add || !r->below || load_years(r) < 0) {
		register_close(r);
		return -1;
	}
	return 0;
}

int register_refresh(struct registers *r)
{
	return load_years(r);
}

void register_close(struct registers *r)
{
	sqlite3_finalize(r->get);
	sqlite3_finalize(r->put);
	sqlite3_finalize(r->add);
	sqlite3_finalize(r->below);
	memset(r, 0, sizeof *r);
}

int register_get(struct registers *r, int year, uint32_t pupil, uint8_t *buf, int *len)
{
	memset(buf, 0, REGISTER_SLOTS);
	*len = 0;
	sqlite3_bind_int64(r->get, 1, register_id(year, pupil));
	int rc = sqlite3_step(r->get);
	if (rc == SQLITE_ROW) {
		int n = sqlite3_column_bytes(r->get, 0);
		*len = n < REGISTER_SLOTS ? n : REGISTER_SLOTS;
		if (*len)
			memcpy(buf, sqlite3_column_blob(r->get, 0), (size_t)*len);
	}
	sqlite3_reset(r->get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(r->db, "reading a register");
	/* every byte indexes a table of counts: a foreign one must not */
	for (int i = 0; i < *len; i++)
		if (buf[i] > CODES_COUNT) {
			error("%s: the register of pupil %u for %d holds an unknown code %d at "
			      "slot %d: the database is damaged",
			      r->db->path, pupil, year, buf[i], i);
			return -1;
		}
	return 0;
}

static void note_year(struct registers *r, int year)
{
	int i = r->nyears;
	for (int k = 0; k < r->nyears; k++)
		if (r->years[k] == year)
			return;
	if (r->nyears == 128)
		return;
	while (i > 0 && r->years[i - 1] > year) {
		r->years[i] = r->years[i - 1];
		i--;
	}
	r->years[i] = year;
	r->nyears++;
}

int register_put(struct registers *r, int year, uint32_t pupil, const uint8_t *buf)
{
	int len = REGISTER_SLOTS;
	while (len > 0 && !buf[len - 1])
		len--;
	/* Most registers exist (a pupil's year is rewritten day by day): an
	 * UPDATE, and an INSERT only when it changed nothing. */
	int rc = SQLITE_DONE;
	for (int k = 0; k < 2 && rc == SQLITE_DONE; k++) {
		sqlite3_stmt *st = k == 0 ? r->put : r->add;
		sqlite3_bind_int64(st, 1, register_id(year, pupil));
		sqlite3_bind_blob(st, 2, buf, len, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE && sqlite3_changes(r->db->h) > 0)
			break;
	}
	if (rc != SQLITE_DONE)
		return db_fail(r->db, "storing a register");
	note_year(r, year);
	return 0;
}

/* Place year's slots into h, which already starts at or before its 1 Sep. */
static int place_year(struct registers *r, uint32_t pupil, int year, struct history *h)
{
	uint8_t buf[REGISTER_SLOTS];
	int len;
	if (register_get(r, year, pupil, buf, &len) < 0)
		return -1;
	if (len == 0)
		return 0;
	int at = 2 * (date_from_ymd(year, 9, 1) - h->first_day);
	if (at < 0 || history_reserve(h, (size_t)(at + len)) < 0)
		return -1; /* a year before the history's start is never placed */
	if (at > h->nslots)
		memset(h->slot + h->nslots, 0, (size_t)(at - h->nslots));
	memcpy(h->slot + at, buf, (size_t)len);
	if (at + len > h->nslots)
		h->nslots = at + len;
	return 0;
}

/* h->extend: prepend the nearest earlier year that has registers. */
static int extend_locked(struct history *h, void *ctx)
{
	struct registers *r = ctx;
	int current = date_academic_year(h->first_day), year = 0;
	for (int i = r->nyears - 1; i >= 0; i--)
		if (r->years[i] < current) {
			year = r->years[i];
			break;
		}
	if (!year) {
		h->complete = 1;
		return 0;
	}
	int first = date_from_ymd(year, 9, 1), shift = 2 * (h->first_day - first);
	if (h->nslots > 0) {
		if (history_reserve(h, (size_t)(h->nslots + shift)) < 0)
			return -1;
		memmove(h->slot + shift, h->slot, (size_t)h->nslots);
		memset(h->slot, 0, (size_t)shift);
		h->nslots += shift;
	}
	h->first_day = first;
	return place_year(r, h->pupil, year, h);
}

/* A policy's window may reach back on any thread of a batch. */
static int extend(struct history *h, void *ctx)
{
	struct registers *r = ctx;
	db_lock(r->db);
	int rc = extend_locked(h, ctx);
	db_unlock(r->db);
	return rc;
}

int register_history(struct registers *r, uint32_t pupil, int from_year, struct history *h)
{
	int first = 0;
	for (int i = 0; i < r->nyears && !first; i++)
		if (r->years[i] >= from_year)
			first = r->years[i];
	/* With no year from from_year on, start empty at from_year: extend
	 * reaches back to earlier years below. */
	h->nslots = 0;
	h->first_day = date_from_ymd(first ? first : from_year ? from_year : DATE_MIN_YEAR, 9, 1);
	h->complete = r->nyears == 0 || (first && r->years[0] >= first);
	h->pupil = pupil;
	h->extend = extend;
	h->ctx = r;
	for (int i = 0; first && i < r->nyears; i++)
		if (r->years[i] >= first && place_year(r, pupil, r->years[i], h) < 0)
			return -1;
	/* A pupil with no marks in those years (one who has left) still has
	 * a latest mark: reach back to it. */
	while (h->nslots == 0 && !h->complete)
		if (extend_locked(h, r) < 0)
			return -1;
	return 0;
}
