/*
 * stats.h — a pupil's attendance figures, as a policy sees them.
 *
 * The input is the pupil's register: one byte per session (a code index from
 * codes.h, 0 for no mark), two per calendar day, from a 1 September up to the
 * latest mark. Figures are computed here in C, never in Lua and never by SQL,
 * because this runs for every pupil whose marks changed (docs/ARCHITECTURE.md).
 *
 * Every window ends at the pupil's latest mark, so the same history always
 * gives the same figures, live or in a replay.
 */
#ifndef ROLLCALL_STATS_H
#define ROLLCALL_STATS_H

#include "codes.h"

#include <stddef.h>
#include <stdint.h>

struct history {
	int first_day; /* the day of slot[0]; always a 1 September */
	int nslots;    /* slot[nslots - 1] is the latest mark, if nslots > 0 */
	uint8_t *slot; /* slot[2 * (day - first_day) + session] */
	size_t cap;    /* bytes allocated at slot */
	int complete;  /* no marks exist before first_day */
	/* Called when a window reaches before first_day and the history is not
	 * complete: prepend at least one earlier year (or set complete). Returns
	 * 0, or -1 on failure. */
	int (*extend)(struct history *h, void *ctx);
	void *ctx;
	uint32_t pupil; /* whose history this is, for extend */
};

enum window_kind {
	WINDOW_SESSIONS,      /* the last n possible sessions */
	WINDOW_SCHOOL_WEEKS,  /* the last n Monday-Sunday weeks with a possible session */
	WINDOW_DAYS,	      /* the n calendar days ending on the latest mark */
	WINDOW_SINCE,	      /* from day `since` through the latest mark */
	WINDOW_ACADEMIC_YEAR, /* from the 1 September on or before the latest mark */
};

struct window {
	enum window_kind kind;
	int n;	   /* sessions, school_weeks, days: at least 1 */
	int since; /* WINDOW_SINCE: a day number */
};

struct figures {
	int possible, present, aea, authorised, unauthorised, late, not_counted;
	double rate;		    /* (present + aea) / possible, 0 when possible is 0 */
	double absence_rate;	    /* (authorised + unauthorised) / possible */
	int from, to;		    /* day numbers; -1 when the pupil has no marks */
	int codes[CODES_COUNT + 1]; /* sessions per code index */
};

/* The latest mark; returns 0 if the pupil has none. */
int stats_latest(const struct history *h, int *day, int *session, int *code);

/* Fill f for window w. Returns 0, or -1 if w is invalid or extending the
 * history failed. */
int stats_window(struct history *h, const struct window *w, struct figures *f);

/* Counting back from the latest mark: school days in a row on which every
 * possible session was an absence (authorised or unauthorised), resp. an
 * unauthorised absence. Days with no possible session are skipped. */
int stats_consecutive(struct history *h, int *absent_days, int *unauthorised_days);

/* The figures as a JSON object (from and to as dates, codes by text). */
struct json_t;
struct json_t *stats_figures_json(const struct figures *f);

/* Grow or free the slot buffer (used by whoever loads histories). */
int history_reserve(struct history *h, size_t slots);
/* Make `to` a copy of `from`: its slots, and how it extends into earlier
 * years. Returns 0, or -1 if out of memory. */
int history_copy(struct history *to, const struct history *from);
void history_free(struct history *h);

#endif
