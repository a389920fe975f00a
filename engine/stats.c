/*
 * stats.c — windows and streaks over a pupil's register.
 *
 * Positions are absolute slot numbers (2 * day + session) so that a history
 * extended backwards mid-walk, which shifts slot[], never confuses a loop.
 */
#include "stats.h"

#include "date.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int history_reserve(struct history *h, size_t slots)
{
	if (slots <= h->cap)
		return 0;
	size_t cap = h->cap ? h->cap : 1024;
	if (slots > (size_t)1 << 30)
		return -1; /* no real history comes near: a caller's bug, not a hang */
	while (cap < slots)
		cap *= 2;
	uint8_t *p = realloc(h->slot, cap);
	if (!p)
		return -1;
	h->slot = p;
	h->cap = cap;
	return 0;
}

int history_copy(struct history *to, const struct history *from)
{
	if ((size_t)from->nslots > to->cap) { /* as small as will do: there may be many */
		uint8_t *p = realloc(to->slot, (size_t)from->nslots);
		if (!p)
			return -1;
		to->slot = p;
		to->cap = (size_t)from->nslots;
	}
	uint8_t *slot = to->slot;
	size_t cap = to->cap;
	*to = *from;
	to->slot = slot;
	to->cap = cap;
	if (from->nslots > 0)
		memcpy(to->slot, from->slot, (size_t)from->nslots);
	return 0;
}

void history_free(struct history *h)
{
	free(h->slot);
	h->slot = NULL;
	h->cap = 0;
	h->nslots = 0;
}

/* Make sure the history reaches back to absolute position pos, if it can.
 * Returns 0 (reached, or there is nothing earlier), -1 on failure. */
static int reach(struct history *h, long pos)
{
	while (pos < 2L * h->first_day && !h->complete) {
		if (!h->extend) {
			h->complete = 1;
			break;
		}
		int before = h->first_day;
		if (h->extend(h, h->ctx) < 0)
			return -1;
		if (h->first_day >= before && !h->complete)
			return -1; /* an extend that adds nothing would loop */
	}
	return 0;
}

static long first_pos(const struct history *h)
{
	return 2L * h->first_day;
}

static long last_pos(const struct history *h)
{
	return 2L * h->first_day + h->nslots - 1;
}

static int code_at(const struct history *h, long pos)
{
	long i = pos - first_pos(h);
	return i >= 0 && i < h->nslots ? h->slot[i] : 0;
}

int stats_latest(const struct history *h, int *day, int *session, int *code)
{
	if (h->nslots <= 0)
		return 0;
	long pos = last_pos(h);
	*day = (int)(pos / 2);
	*session = (int)(pos % 2);
	*code = h->slot[h->nslots - 1];
	return 1;
}

/* Sum the per-code counts into the categories: counting goes code by code
 * (one increment a session), the categories once a window. */
static void tally(struct figures *f)
{
	f->codes[0] = 0; /* no mark */
	for (int c = 1; c <= CODES_COUNT; c++) {
		int n = f->codes[c];
		if (!n)
			continue;
		switch (codes_get(c)->category) {
		case CAT_PRESENT: f->present += n; break;
		case CAT_AEA: f->aea += n; break;
		case CAT_AUTHORISED: f->authorised += n; break;
		case CAT_UNAUTHORISED: f->unauthorised += n; break;
		case CAT_NOT_COUNTED: f->not_counted += n; continue;
		case CAT_COUNT: continue;
		}
		f->possible += n;
		f->late += codes_late(c) ? n : 0;
	}
	if (f->possible > 0) {
		f->rate = (double)(f->present + f->aea) / f->possible;
		f->absence_rate = (double)(f->authorised + f->unauthorised) / f->possible;
	}
}

/* Count every mark from day `from` through the latest mark. */
static int count_range(struct history *h, int from, struct figures *f)
{
	if (reach(h, 2L * from) < 0)
		return -1;
	long start = 2L * from > first_pos(h) ? 2L * from - first_pos(h) : 0;
	for (long i = start; i < h->nslots; i++)
		f->codes[h->slot[i]]++;
	return 0;
}

/* The first day of the last n school weeks: walk back a week at a time from
 * the latest mark's week, counting weeks with at least one possible session
 * (the DfE penalty-notice framework's "school week"). */
static int school_weeks_start(struct history *h, int n, int *from)
{
	int monday = date_monday((int)(last_pos(h) / 2));
	int found = 0, start = monday;
	for (;;) {
		if (reach(h, 2L * monday) < 0)
			return -1;
		if (2L * (monday + 7) <= first_pos(h))
			break; /* walked past the start of the history */
		int school_week = 0;
		for (long pos = 2L * monday; pos < 2L * (monday + 7); pos++)
			if (codes_possible(code_at(h, pos))) {
				school_week = 1;
				break;
			}
		if (school_week) {
			start = monday;
			if (++found == n)
				break;
		}
		monday -= 7;
	}
	*from = start;
	return 0;
}

/* The last n possible sessions, and any not-counted sessions among them. */
static int count_sessions(struct history *h, int n, struct figures *f)
{
	long earliest = last_pos(h);
	for (long pos = last_pos(h); f->possible < n; pos--) {
		if (reach(h, pos) < 0)
			return -1;
		if (pos < first_pos(h))
			break;
		int code = code_at(h, pos);
		if (code) {
			f->codes[code]++;
			f->possible += codes_possible(code); /* tally counts again */
			earliest = pos;
		}
	}
	f->from = (int)(earliest / 2);
	return 0;
}

int stats_window(struct history *h, const struct window *w, struct figures *f)
{
	memset(f, 0, sizeof *f);
	f->from = f->to = -1;
	if (w->kind != WINDOW_SINCE && w->kind != WINDOW_ACADEMIC_YEAR && w->n < 1)
		return -1;
	if (h->nslots <= 0)
		return 0;
	int last = (int)(last_pos(h) / 2), from = last, rc = 0;

	switch (w->kind) {
	case WINDOW_SESSIONS:
		rc = count_sessions(h, w->n, f);
		from = f->from;
		break;
	case WINDOW_SCHOOL_WEEKS:
		rc = school_weeks_start(h, w->n, &from);
		if (rc == 0)
			rc = count_range(h, from, f);
		break;
	case WINDOW_DAYS:
		from = last - w->n + 1 < DATE_MIN ? DATE_MIN : last - w->n + 1;
		rc = count_range(h, from, f);
		break;
	case WINDOW_SINCE:
		from = w->since;
		if (from <= last)
			rc = count_range(h, from, f);
		break;
	case WINDOW_ACADEMIC_YEAR:
		from = date_academic_start(last);
		rc = count_range(h, from, f);
		break;
	default: return -1;
	}
	f->from = from;
	f->to = last;
	f->possible = 0;
	tally(f);
	return rc;
}

int stats_consecutive(struct history *h, int *absent_days, int *unauthorised_days)
{
	int absent = 0, unauth = 0, absent_open = 1, unauth_open = 1;
	*absent_days = *unauthorised_days = 0;
	if (h->nslots <= 0)
		return 0;
	for (int day = (int)(last_pos(h) / 2); absent_open || unauth_open; day--) {
		if (reach(h, 2L * day) < 0)
			return -1;
		if (2L * day + 1 < first_pos(h))
			break;
		int possible = 0, absences = 0, unauthorised = 0;
		for (int s = 0; s < 2; s++) {
			int code = code_at(h, 2L * day + s);
			if (!codes_possible(code))
				continue;
			enum category c = codes_get(code)->category;
			possible++;
			absences += c == CAT_AUTHORISED || c == CAT_UNAUTHORISED;
			unauthorised += c == CAT_UNAUTHORISED;
		}
		if (!possible)
			continue; /* weekends, holidays, closures neither break nor extend */
		absent_open = absent_open && absences == possible;
		unauth_open = unauth_open && unauthorised == possible;
		absent += absent_open;
		unauth += unauth_open;
	}
	*absent_days = absent;
	*unauthorised_days = unauth;
	return 0;
}

json_t *stats_figures_json(const struct figures *f)
{
	char from[11], to[11];
	json_t *codes = json_object();
	for (int c = 1; c <= CODES_COUNT; c++)
		if (f->codes[c])
			json_object_set_new(codes, codes_get(c)->text, json_integer(f->codes[c]));
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:s?, s:s?, s:o}",
			 "possible", f->possible, "present", f->present, "aea", f->aea,
			 "authorised", f->authorised, "unauthorised", f->unauthorised, "late",
			 f->late, "not_counted", f->not_counted, "rate", f->rate, "absence_rate",
			 f->absence_rate, "from", f->from >= 0 ? date_format(f->from, from) : NULL,
			 "to", f->to >= 0 ? date_format(f->to, to) : NULL, "codes", codes);
}
