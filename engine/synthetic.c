/*
 * synthetic.c — the synthetic pupils (synthetic.h).
 *
 * Three rounds of twelve stories make the 36 pupils: pupil i lives story
 * i % 12, is in year group i % 18 (so every year group has a pupil with
 * marks), and takes the other facts from strides that do not line up with
 * the stories, so each value meets several kinds of attendance. The first
 * round starts with no case; the second and third start with cases at
 * every stage, open and closed, so that p.case, p.case.stage and
 * p.case.steps paths run from the first call.
 *
 * Each pupil is evaluated at the end of every week it has marks in, at its
 * first mark, and at its last mark's AM and PM: a branch a policy takes
 * only later in a history (a case already open, a recovery) runs too.
 */
#include "synthetic.h"

#include "date.h"
#include "upn.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the calendar ---- */

/* A school year of 46 weeks from the Monday on or before 1 September,
 * weekdays only, less its holidays: the end of October, two weeks at
 * Christmas, February half-term, two weeks at Easter, the end of May
 * (for 2025/26 these fall as England's schools' terms do, give or take
 * a few days). */
static const int holiday_weeks[] = { 8, 16, 17, 24, 31, 32, 38 };
#define SCHOOL_WEEKS_SPAN 46

static int school_day(int day)
{
	int start = date_academic_start(day);
	int week = (day - date_monday(start)) / 7;
	if (date_weekday(day) >= 5 || week >= SCHOOL_WEEKS_SPAN)
		return 0;
	for (size_t i = 0; i < sizeof holiday_weeks / sizeof *holiday_weeks; i++)
		if (week == holiday_weeks[i])
			return 0;
	return 1;
}

/* ---- the stories: what each pupil's register holds ----
 *
 * A story gives the code of each session of school day k of its history
 * (k from 0, on calendar day `day`), or NULL for no mark. */

typedef const char *(*story_fn)(int k, int session, int day);

static const char *present(int k, int session, int day)
{
	(void)k;
	(void)day;
	return session ? "\\" : "/";
}

static const char *one_session(int k, int session, int day)
{
	(void)day;
	return k == 0 && session == 0 ? "/" : NULL;
}

/* 30 school days of unauthorised absence after two weeks at school: past
 * the 10 days of continuous absence and the 20 of children missing
 * education; then back. */
static const char *long_absence(int k, int session, int day)
{
	if (k >= 10 && k < 40)
		return k >= 35 ? "O" : "N";
	return present(k, session, day);
}

/* Two weeks of term-time holiday (G): 20 sessions, past the penalty
 * threshold and the holiday one. */
static const char *holiday(int k, int session, int day)
{
	return k >= 20 && k < 30 ? "G" : present(k, session, day);
}

/* Two days ill every nine, then a fortnight ill: past 15 days of illness;
 * a medical appointment now and then. */
static const char *illness(int k, int session, int day)
{
	if (k % 9 < 2 || (k >= 30 && k < 40))
		return "I";
	if (k % 13 == 5 && session == 0)
		return "M";
	return present(k, session, day);
}

/* About a fifth of sessions missed, unauthorised and authorised: persistent,
 * not severe, with late arrivals. */
static const char *persistent(int k, int session, int day)
{
	if (k % 8 == 3 && session == 0)
		return "N";
	if (k % 11 == 6)
		return "O";
	if (k % 17 == 9)
		return "C";
	if (k % 6 == 0 && session == 0)
		return "L";
	return present(k, session, day);
}

/* Three days in five missed: severe absence. */
static const char *severe(int k, int session, int day)
{
	if (k % 5 < 2)
		return "N";
	if (k % 5 == 2)
		return session ? "O" : "U";
	return present(k, session, day);
}

/* Every code valid on the day, in turn: the old codes in summer 2024, the
 * 2024 regulations' codes from the autumn. */
static const char *every_code(int k, int session, int day)
{
	int c = (2 * k + session) % CODES_COUNT + 1;
	while (!codes_valid_on(c, day))
		c = c % CODES_COUNT + 1;
	return codes_get(c)->text;
}

/* Unauthorised mornings in the last week of the summer term and the
 * second of the autumn one: ten sessions within ten school weeks only
 * when the window reaches across the summer. */
static const char *year_boundary(int k, int session, int day)
{
	int july = date_from_ymd(2025, 7, 14), september = date_from_ymd(2025, 9, 8);
	if (session == 0 &&
	    ((day >= july && day < july + 5) || (day >= september && day < september + 5)))
		return "N";
	return present(k, session, day);
}

/* Four weeks absent, then every session: a case opened, then recovered. */
static const char *recovers(int k, int session, int day)
{
	return k < 20 ? "N" : present(k, session, day);
}

/* Joins in January: often late, a part-time timetable on Friday
 * afternoons, trips and activities, a closure, a transport failure, an
 * exclusion. */
static const char *mid_year(int k, int session, int day)
{
	if (k == 30)
		return "#";
	if (k % 19 == 11)
		return "Y1";
	if (k % 15 == 7)
		return "B";
	if (k % 23 == 5)
		return "V";
	if (session == 1 && date_weekday(day) == 4)
		return "C2";
	if (session == 1 && k % 10 == 9)
		return "E";
	if (session == 0 && k % 4 == 0)
		return "L";
	if (session == 0 && k % 7 == 3)
		return "U";
	return present(k, session, day);
}

static const struct story {
	const char *what;
	int from[3], to[3]; /* the first and last day of the history, y m d */
	story_fn code;
} stories[] = {
	{ "no marks", { 2025, 9, 1 }, { 2025, 9, 1 }, NULL },
	{ "one session", { 2025, 9, 1 }, { 2025, 9, 1 }, one_session },
	{ "a full year present", { 2025, 9, 1 }, { 2026, 7, 24 }, present },
	{ "a long run of absence", { 2025, 9, 1 }, { 2025, 11, 21 }, long_absence },
	{ "term-time holiday", { 2025, 9, 1 }, { 2025, 11, 28 }, holiday },
	{ "illness", { 2025, 9, 1 }, { 2025, 12, 19 }, illness },
	{ "persistent absence", { 2025, 9, 1 }, { 2025, 12, 19 }, persistent },
	{ "severe absence", { 2025, 9, 1 }, { 2025, 12, 19 }, severe },
	{ "every code, across 2024", { 2024, 4, 15 }, { 2024, 12, 13 }, every_code },
	{ "absence either side of the summer", { 2025, 4, 21 }, { 2025, 12, 19 }, year_boundary },
	{ "absent, then recovered", { 2025, 9, 1 }, { 2025, 12, 12 }, recovers },
	{ "joined in January, often late", { 2026, 1, 5 }, { 2026, 7, 24 }, mid_year },
};

#define STORIES ((int)(sizeof stories / sizeof *stories))

/* ---- the cases pupils start with ---- */

static const struct start {
	const char *what;
	int referral;	      /* a mentor referral first */
	const char *steps[4]; /* then these legal steps, in order */
	int closed;	      /* then the case closed */
} starts[] = {
	{ NULL, 0, { NULL }, 0 },
	{ "open referral", 1, { NULL }, 0 },
	{ "open case at letter", 1, { "letter", NULL }, 0 },
	{ "closed case", 1, { "letter", NULL }, 1 },
	{ "open case at meeting", 0, { "letter", "meeting", NULL }, 0 },
	{ "open case at notice_to_improve",
	  0,
	  { "letter", "meeting", "notice_to_improve", NULL },
	  0 },
	{ "open case at penalty_notice", 0, { "notice_to_improve", "penalty_notice", NULL }, 0 },
	{ "open case at attendance_contract", 1, { "attendance_contract", NULL }, 0 },
};

/* Round 1 starts with no case; rounds 2 and 3 with these, by i % 4. */
static const int round_starts[2][4] = { { 1, 2, 3, 4 }, { 5, 6, 0, 7 } };

static const char *const year_groups[] = { "N1", "N2", "R", "1",  "2",	"3",  "4",  "5",  "6",
					   "7",	 "8",  "9", "10", "11", "12", "13", "14", "X" };

#define YEAR_GROUPS ((int)(sizeof year_groups / sizeof *year_groups))

/* The trust of the academies in a council's area, and the councils of a
 * trust's academies: made-up codes, so a message about them is plainly
 * about a synthetic pupil. */
#define SYNTHETIC_TRUST "SYNTH1"
static const char *const trust_las[] = { "990", "991", "992" };

/* ---- building ---- */

/* Fill sp's history from its story; its points from where the marks are.
 * Returns 0, or -1 if out of memory. */
static int build_history(struct synthetic_pupil *sp)
{
	const struct story *st = &stories[sp->story];
	int from = date_from_ymd(st->from[0], st->from[1], st->from[2]);
	int to = date_from_ymd(st->to[0], st->to[1], st->to[2]);
	struct history *h = &sp->h;
	h->first_day = date_academic_start(from);
	h->complete = 1; /* nothing before: no earlier year to reach for */
	h->nslots = 0;
	if (history_reserve(h, (size_t)(2 * (to - h->first_day + 1))) < 0)
		return -1;
	memset(h->slot, 0, h->cap);
	for (int day = from, k = 0; st->code && day <= to; day++) {
		if (!school_day(day))
			continue;
		for (int s = 0; s < 2; s++) {
			const char *text = st->code(k, s, day);
			if (!text)
				continue;
			int c = codes_find(text, (int)strlen(text));
			int slot = 2 * (day - h->first_day) + s;
			h->slot[slot] = (uint8_t)c;
			h->nslots = slot + 1;
		}
		k++;
	}
	sp->nslots = h->nslots;

	/* the first mark, the last of each week, the last AM and PM */
	int cap = 8, n = 0, prev = -1;
	sp->point = xmalloc((size_t)cap * sizeof *sp->point);
	for (int s = 0; s <= h->nslots; s++) {
		int end = s == h->nslots;
		if (!end && !h->slot[s])
			continue;
		int add[3], m = 0;
		if (prev < 0 && !end)
			add[m++] = s + 1;
		else if (prev >= 0 && (end || date_monday(h->first_day + s / 2) !=
						      date_monday(h->first_day + prev / 2))) {
			if (end && prev % 2 == 1 && h->slot[prev - 1])
				add[m++] = prev; /* the last day's AM */
			add[m++] = prev + 1;
		}
		for (int j = 0; j < m; j++) {
			if (n && sp->point[n - 1] >= add[j])
				continue;
			if (n == cap)
				sp->point =
					xrealloc(sp->point, (size_t)(cap *= 2) * sizeof *sp->point);
			sp->point[n++] = add[j];
		}
		prev = s;
	}
	sp->npoints = n;
	return 0;
}

int synthetic_open(struct synthetic *s, const struct config *cfg)
{
	memset(s, 0, sizeof *s);
	s->db.path = xstrdup("synthetic pupils (in memory)");
	if (sqlite3_open_v2(":memory:", &s->db.h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		db_fail(&s->db, "cannot open");
		goto fail;
	}
	if (db_exec(&s->db, "PRAGMA temp_store=MEMORY") < 0 || db_migrate(&s->db) < 0 ||
	    actions_open(&s->actions, &s->db, cfg) < 0)
		goto fail;
	/* the ladder climbs as it would if every proposal were approved, so
	 * that the branches after each rung run too */
	s->actions.approve_as = "rollcall check (approved on the day proposed)";
	for (int i = 0; i < SYNTHETIC_PUPILS; i++) {
		struct synthetic_pupil *sp = &s->pupil[i];
		int round = i / STORIES;
		sp->id = (uint32_t)i + 1;
		sp->story = i % STORIES;
		sp->start = round ? round_starts[(round - 1) % 2][i % 4] : 0;
		snprintf(sp->year_group, sizeof sp->year_group, "%s", year_groups[i % YEAR_GROUPS]);
		sp->sen = "NKE"[(i + round) % 3];
		sp->fsm = (i + round) % 2;
		sp->social_worker = i % 5 == 2;
		if (build_history(sp) < 0) {
			error("synthetic pupils: out of memory");
			goto fail;
		}
	}
	return 0;
fail:
	synthetic_close(s);
	return -1;
}

void synthetic_close(struct synthetic *s)
{
	if (s->actions.db)
		actions_close(&s->actions);
	for (int i = 0; i < SYNTHETIC_PUPILS; i++) {
		history_free(&s->pupil[i].h);
		free(s->pupil[i].point);
	}
	db_close(&s->db);
	memset(s, 0, sizeof *s);
}

/* The absence a case that starts at a penalty notice was grounded on: the
 * national framework records one only over 10 unauthorised sessions in
 * the 10 school weeks before it, so the pupil is given the five weekdays
 * before its history begins as unauthorised (N) in this history, which
 * only the recording of its starting case reads. Returns 0, or -1. */
static int grounds(struct history *h, int day)
{
	h->first_day = date_academic_start(day - 7);
	h->complete = 1;
	h->nslots = 0;
	if (history_reserve(h, (size_t)(2 * (day - h->first_day))) < 0)
		return -1;
	memset(h->slot, 0, h->cap);
	for (int d = day - 7; d < day; d++)
		if (date_weekday(d) < 5) {
			int slot = 2 * (d - h->first_day);
			h->slot[slot] = h->slot[slot + 1] = (uint8_t)codes_find("N", 1);
			h->nslots = slot + 2;
		}
	return 0;
}

/* Record the case sp starts with, on the first day of its history. Each
 * of its actions must be recorded: one refused means the rules have
 * changed under this table. */
static int record_start(struct synthetic *s, const struct synthetic_pupil *sp, const char *org)
{
	const struct start *st = &starts[sp->start];
	const struct story *story = &stories[sp->story];
	int day = date_from_ymd(story->from[0], story->from[1], story->from[2]);
	char why[256] = "";
	struct history before = { 0 };
	struct action_request r = {
		.org = org,
		.policy = "synthetic",
		.policy_sha256 = "0000000000000000000000000000000000000000000000000000000000000000",
		.pupil = sp->id,
		.upn = sp->upn,
		.urn = sp->urn,
		.year_group = sp->year_group,
		.severity = "medium",
		.cooldown_days = COOLDOWN_DEFAULT,
		.date = day,
		.history = &before,
	};
	int rc = grounds(&before, day) < 0 ? -1 : 1;
	if (rc > 0 && st->referral) {
		r.type = ACTION_REFERRAL;
		r.kind = "mentor";
		rc = actions_record(&s->actions, &r, why, sizeof why);
	}
	for (int k = 0; rc > 0 && k < 4 && st->steps[k]; k++) {
		r.type = ACTION_LEGAL_STEP;
		r.kind = st->steps[k];
		rc = actions_record(&s->actions, &r, why, sizeof why);
	}
	if (rc > 0 && st->closed) {
		r.type = ACTION_CASE_CLOSED;
		r.kind = "";
		r.severity = NULL;
		r.message = "synthetic: closed";
		rc = actions_record(&s->actions, &r, why, sizeof why);
	}
	history_free(&before);
	if (rc == 0)
		error("synthetic pupils: %s, starting %s, was refused: %s", sp->upn, st->what,
		      why[0] ? why : "a repeat");
	return rc > 0 ? 0 : -1;
}

int synthetic_begin(struct synthetic *s, const char *org)
{
	int trust = strncmp(org, "trust:", 6) == 0;
	const char *code = strchr(org, ':') + 1;
	if (db_exec(&s->db, "DELETE FROM actions; DELETE FROM cases; DELETE FROM deliveries") < 0)
		return -1;
	for (int i = 0; i < SYNTHETIC_PUPILS; i++) {
		struct synthetic_pupil *sp = &s->pupil[i];
		/* a council's pupils: four at LA schools, four at academies, and
		 * so on, which gives each starting case (by i % 4) and each
		 * story (by i % 12) both */
		int academy = trust || (i / 4) % 2;
		snprintf(sp->la_code, sizeof sp->la_code, "%s", trust ? trust_las[i % 3] : code);
		snprintf(sp->trust_id, sizeof sp->trust_id, "%s",
			 !academy ? ""
			 : trust  ? code
				  : SYNTHETIC_TRUST);
		sp->urn = 990000 + (academy ? 100 : 0) + i % 2 + 1;
		char body[24]; /* 12 characters: the LA code, 9999, a serial */
		snprintf(body, sizeof body, "%.3s9999%05d", sp->la_code, (i + 1) % 100000);
		snprintf(sp->upn, sizeof sp->upn, "%c%.12s", upn_check_letter(body), body);
		sp->h.nslots = sp->nslots;
	}
	if (db_exec(&s->db, "BEGIN") < 0)
		return -1;
	for (int i = 0; i < SYNTHETIC_PUPILS; i++)
		if (s->pupil[i].start && record_start(s, &s->pupil[i], org) < 0) {
			db_rollback(&s->db);
			return -1;
		}
	return db_commit(&s->db);
}

void synthetic_view(struct synthetic_pupil *sp, int point, struct pupil_view *v)
{
	sp->h.nslots = point < sp->npoints ? sp->point[point] : sp->nslots;
	*v = (struct pupil_view){
		.id = sp->id,
		.upn = sp->upn,
		.la_code = sp->la_code,
		.trust_id = sp->trust_id[0] ? sp->trust_id : NULL,
		.year_group = sp->year_group,
		.urn = sp->urn,
		.social_worker = sp->social_worker,
		.fsm = sp->fsm,
		.sen = sp->sen,
		.h = &sp->h,
	};
}

void synthetic_describe(const struct synthetic_pupil *sp, char *buf, size_t size)
{
	snprintf(buf, size, "year %s, %s%s, SEN %c%s%s%s%s: %s", sp->year_group,
		 sp->trust_id[0] ? "academy of " : "LA school", sp->trust_id, sp->sen,
		 sp->fsm ? ", FSM" : "", sp->social_worker ? ", social worker" : "",
		 sp->start ? ", " : "", sp->start ? starts[sp->start].what : "",
		 stories[sp->story].what);
}
