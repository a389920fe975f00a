/*
 * report.c — one organisation's attendance as a single self-contained HTML
 * page (report.h), for the people who read rather than write policies (a
 * trust's lead, a council's attendance team): `rollcall report` writes it
 * to a file, the API's GET /api/v1/report sends it.
 *
 * The page holds everything it needs: Chart.js, its licence, the page's own
 * script and style (report/, turned into C arrays at build time by
 * tools/embed.c), and the figures as JSON. It opens from disk, offline.
 *
 * The figures come from the pupils' registers, as a policy's do (stats.h),
 * in one pass over the organisation's pupils: each pupil's history is walked
 * once and added into per-week totals. Only actions and cases, which are
 * small, are counted by SQL. The academic year shown is the latest one with
 * any register.
 *
 * Privacy: the only pupil identifiers on the page are those of the severe
 * absentees among the organisation's own pupils, and of its own pupils
 * with a legal step waiting for a decision — the pupils its policy sees
 * (docs/POLICIES.md) and whose UPNs its actions already carry. A waiting
 * step of a pupil who has left is listed without the UPN.
 */
#include "report.h"

#include "actions.h"
#include "date.h"
#include "register.h"
#include "upn.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Built from report/ by the Makefile (tools/embed.c). */
extern const unsigned char report_chartjs[], report_chartjs_licence[], report_page_js[],
	report_page_css[];
extern const size_t report_chartjs_len, report_chartjs_licence_len, report_page_js_len,
	report_page_css_len;

/* Monday on or before 1 September to 31 August: 53 weeks at most. */
#define MAX_WEEKS 54

/* DfE: persistent absence is missing 10% or more of possible sessions, severe
 * absence 50% or more, over the academic year so far. */
#define PERSISTENT_PERCENT 10
#define SEVERE_PERCENT	   50

#define TOP_SCHOOLS 10
#define MAX_KINDS   64 /* series in the actions chart; more kinds are left out */

struct week {
	int possible, attended, absent; /* sessions of the week, every pupil */
	int persistent, severe;		/* pupils, on the year so far at the week's end */
};

struct school {
	int urn;
	char *name;
	int pupils, persistent; /* pupils with a possible session this year */
};

struct report {
	const char *org;
	int year, year_start, week0; /* week0: the Monday on or before 1 September */
	int first_week, last_week;   /* weeks with figures or actions; first > last: none */
	int through;		     /* the latest mark, -1 if none */
	int pupils;		     /* with a possible session this year */
	struct week weeks[MAX_WEEKS];
	struct school *schools;
	int nschools;
	int kind_count[MAX_KINDS][MAX_WEEKS]; /* actions of a kind a week */
	char kind_label[MAX_KINDS][96];	      /* "alert: severe_absence", "referral" */
	int nkinds;
	json_t *severe, *cases;
	json_t *waiting, *decided; /* legal steps waiting for a decision; decided lately, by whom */
};

static int is_persistent(int absent, int possible)
{
	return possible > 0 && absent * 100 >= PERSISTENT_PERCENT * possible;
}

static int is_severe(int absent, int possible)
{
	return possible > 0 && absent * 100 >= SEVERE_PERCENT * possible;
}

static double percent(int part, int whole)
{
	return round(1000.0 * part / whole) / 10.0;
}

static void note_week(struct report *r, int w)
{
	if (w < r->first_week)
		r->first_week = w;
	if (w > r->last_week)
		r->last_week = w;
}

static int by_urn(const void *a, const void *b)
{
	return ((const struct school *)a)->urn - ((const struct school *)b)->urn;
}

/* The organisation's schools and pupils: "la:NNN" is the schools of that
 * LA code, "trust:ID" those of that trust (as policies see them). */
static sqlite3_stmt *org_query(struct db *db, const char *org, const char *columns,
			       const char *from, const char *order)
{
	int la = !strncmp(org, "la:", 3);
	char sql[512];
	snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE s.%s = ? ORDER BY %s", columns, from,
		 la ? "la_code" : "trust_id", order);
	sqlite3_stmt *st = db_prepare(db, sql);
	if (st)
		sqlite3_bind_text(st, 1, strchr(org, ':') + 1, -1, SQLITE_STATIC);
	return st;
}

static int load_schools(struct db *db, struct report *r)
{
	sqlite3_stmt *st = org_query(db, r->org, "s.urn, s.name", "schools s", "s.urn");
	if (!st)
		return -1;
	int rc, cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nschools == cap)
			r->schools = xrealloc(r->schools, (size_t)(cap = cap ? 2 * cap : 16) *
								  sizeof *r->schools);
		r->schools[r->nschools++] = (struct school){
			.urn = sqlite3_column_int(st, 0),
			.name = xstrdup((const char *)sqlite3_column_text(st, 1)),
		};
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "reading schools");
}

/* Add one pupil's year into the weekly totals, their school and the severe
 * list. The per-week persistent and severe counts need the pupil's own
 * running total, so the pupil's sessions are first summed by week. */
static int add_pupil(struct report *r, struct history *h, struct school *school, sqlite3_stmt *row)
{
	int latest, session, code;
	if (!stats_latest(h, &latest, &session, &code) || latest < r->year_start)
		return 0; /* no marks this year: left, or not started */
	if (latest > r->through)
		r->through = latest;
	int possible[MAX_WEEKS] = { 0 }, absent[MAX_WEEKS] = { 0 };
	int first = MAX_WEEKS, last = (date_monday(latest) - r->week0) / 7;
	int start = 2 * (r->year_start - h->first_day);
	for (int s = start > 0 ? start : 0; s < h->nslots; s++) {
		int c = h->slot[s];
		if (!codes_possible(c))
			continue;
		int w = (date_monday(h->first_day + s / 2) - r->week0) / 7;
		enum category cat = codes_get(c)->category;
		int away = cat == CAT_AUTHORISED || cat == CAT_UNAUTHORISED;
		possible[w]++;
		absent[w] += away;
		r->weeks[w].possible++;
		r->weeks[w].absent += away;
		r->weeks[w].attended += cat == CAT_PRESENT || cat == CAT_AEA;
		if (w < first)
			first = w;
	}
	if (first == MAX_WEEKS)
		return 0; /* only not-counted codes: no possible session yet */
	note_week(r, first);
	note_week(r, last);
	/* On roll from the first possible session to the latest mark. */
	for (int w = first, p = 0, a = 0; w <= last; w++) {
		p += possible[w];
		a += absent[w];
		r->weeks[w].persistent += is_persistent(a, p);
		r->weeks[w].severe += is_severe(a, p);
	}

	/* Now: the academic-year window a policy sees (p:window{academic_year
	 * = true}), the same sessions as the running total above. */
	struct figures f;
	const struct window year = { .kind = WINDOW_ACADEMIC_YEAR };
	if (stats_window(h, &year, &f) < 0)
		return -1;
	int away = f.authorised + f.unauthorised;
	r->pupils++;
	school->pupils++;
	school->persistent += is_persistent(away, f.possible);
	if (is_severe(away, f.possible)) {
		char urn[16];
		snprintf(urn, sizeof urn, "%06d", school->urn);
		json_array_append_new(r->severe,
				      json_pack("{s:s, s:s, s:s, s:i, s:f}", "upn",
						(const char *)sqlite3_column_text(row, 1), "urn",
						urn, "year_group",
						(const char *)sqlite3_column_text(row, 3),
						"possible", f.possible, "absence_rate",
						percent(away, f.possible)));
	}
	return 0;
}

/* One pass over the organisation's pupils, each history loaded once. */
static int read_pupils(struct db *db, struct report *r)
{
	struct registers reg;
	struct history h = { 0 };
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (register_open(&reg, db) < 0)
		return -1;
	if (reg.nyears == 0) { /* no marks at all */
		rc = 0;
		goto out;
	}
	r->year = reg.years[reg.nyears - 1];
	r->year_start = date_from_ymd(r->year, 9, 1);
	r->week0 = date_monday(r->year_start);
	st = org_query(db, r->org, "p.id, p.upn, p.urn, p.year_group",
		       "pupils p JOIN schools s ON s.urn = p.urn", "p.id");
	if (!st)
		goto out;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct school key = { .urn = sqlite3_column_int(st, 2) };
		struct school *school =
			bsearch(&key, r->schools, (size_t)r->nschools, sizeof key, by_urn);
		if (!school) /* cannot happen within one snapshot */
			continue;
		if (register_history(&reg, (uint32_t)sqlite3_column_int64(st, 0), r->year, &h) <
			    0 ||
		    add_pupil(r, &h, school, st) < 0)
			goto out;
	}
	rc = step == SQLITE_DONE ? 0 : db_fail(db, "reading pupils");
out:
	sqlite3_finalize(st);
	history_free(&h);
	register_close(&reg);
	return rc;
}

/* Actions by (action, kind) and the week of their evaluated date. */
static int read_actions(struct db *db, struct report *r)
{
	sqlite3_stmt *st =
		db_prepare(db, "SELECT action, kind, date, count(*) FROM actions WHERE org = ? "
			       "GROUP BY action, kind, date ORDER BY action, kind");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, r->org, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *action = (const char *)sqlite3_column_text(st, 0);
		const char *kind = (const char *)sqlite3_column_text(st, 1);
		const char *date = (const char *)sqlite3_column_text(st, 2);
		int day = date_parse(date, (int)strlen(date));
		if (!r->year || day < r->year_start || day >= date_from_ymd(r->year + 1, 9, 1))
			continue; /* another academic year */
		int w = (date_monday(day) - r->week0) / 7;
		char label[96];
		if (!strcmp(action, "referral"))
			snprintf(label, sizeof label, "referral");
		else
			snprintf(label, sizeof label, "%s: %s",
				 !strcmp(action, "legal_step") ? "legal step" : action, kind);
		int i = 0;
		while (i < r->nkinds && strcmp(r->kind_label[i], label))
			i++;
		if (i == r->nkinds) {
			if (r->nkinds == MAX_KINDS)
				continue;
			memcpy(r->kind_label[r->nkinds++], label, sizeof label);
		}
		r->kind_count[i][w] += sqlite3_column_int(st, 3);
		note_week(r, w);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "reading actions");
}

/* Open cases by stage, in the order of the ladder: referral, then the legal
 * steps (actions.h); any other stage after them. */
static int read_cases(struct db *db, struct report *r)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT stage, count(*) FROM cases WHERE org = ? "
					  "AND closed IS NULL GROUP BY stage");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, r->org, -1, SQLITE_STATIC);
	json_t *by_stage = json_object();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(by_stage, (const char *)sqlite3_column_text(st, 0),
				    json_integer(sqlite3_column_int(st, 1)));
	sqlite3_finalize(st);
	const char *ladder[LEGAL_STEPS + 1] = { "referral" };
	memcpy(ladder + 1, legal_steps, sizeof legal_steps);
	for (int i = 0; i <= LEGAL_STEPS; i++) {
		json_t *count = json_object_get(by_stage, ladder[i]);
		if (count)
			json_array_append_new(r->cases, json_pack("{s:s, s:O}", "stage", ladder[i],
								  "count", count));
		json_object_del(by_stage, ladder[i]);
	}
	const char *stage;
	json_t *count;
	json_object_foreach(by_stage, stage, count) json_array_append_new(
		r->cases, json_pack("{s:s, s:O}", "stage", stage, "count", count));
	json_decref(by_stage);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "reading cases");
}

/* Most persistent absentees first; then the larger share; then by URN. */
static int by_persistence(const void *a, const void *b)
{
	const struct school *x = a, *y = b;
	if (x->persistent != y->persistent)
		return y->persistent - x->persistent;
	long long lx = (long long)x->persistent * y->pupils,
		  ly = (long long)y->persistent * x->pupils;
	if (lx != ly)
		return lx < ly ? 1 : -1;
	return x->urn - y->urn;
}

/* Decided "lately": by the wall clock, as decisions are timed. */
#define DECIDED_DAYS 28

/* The legal steps waiting for a person's decision, the first to expire
 * first, and those decided in the last DECIDED_DAYS days: how many each
 * person approved and declined, and how many expired undecided. */
static int read_signoff(struct db *db, struct report *r)
{
	sqlite3_stmt *st = db_prepare(
		db,
		"SELECT a.id, a.kind, a.date, a.decide_by, a.urn, EXISTS (SELECT 1 FROM pupils p "
		"JOIN schools s ON s.urn = p.urn WHERE p.id = a.pupil AND ('la:' || s.la_code = "
		"a.org OR 'trust:' || s.trust_id = a.org)), a.upn FROM actions a WHERE a.org = ? "
		"AND a.action = 'legal_step' AND a.state = 'proposed' ORDER BY a.decide_by, a.id");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, r->org, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char urn[16];
		snprintf(urn, sizeof urn, "%06d", sqlite3_column_int(st, 4));
		int here = sqlite3_column_int(st, 5);
		json_array_append_new(
			r->waiting,
			json_pack("{s:I, s:o, s:o, s:o, s:s, s:b, s:o}", "action_id",
				  (json_int_t)sqlite3_column_int64(st, 0), "step",
				  column_json(st, 1, NULL), "proposed", column_json(st, 2, NULL),
				  "decide_by", column_json(st, 3, NULL), "urn", urn, "left", !here,
				  "upn", here ? column_json(st, 6, NULL) : json_null()));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, "reading proposals");
	st = db_prepare(
		db, "SELECT coalesce(decided_by, ''), sum(state = 'approved'), sum(state = "
		    "'declined'), sum(state = 'expired') FROM actions WHERE org = ? AND action "
		    "= 'legal_step' AND signoff = 1 AND state IN ('approved', 'declined', "
		    "'expired') AND decided_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?) GROUP "
		    "BY 1 ORDER BY 1");
	if (!st)
		return -1;
	char since[24];
	snprintf(since, sizeof since, "-%d days", DECIDED_DAYS);
	sqlite3_bind_text(st, 1, r->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, since, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *by = (const char *)sqlite3_column_text(st, 0);
		json_array_append_new(r->decided,
				      json_pack("{s:o, s:i, s:i, s:i}", "by",
						*by ? column_json(st, 0, NULL) : json_null(),
						"approved", sqlite3_column_int(st, 1), "declined",
						sqlite3_column_int(st, 2), "expired",
						sqlite3_column_int(st, 3)));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "reading decisions");
}

/* The figures for page.js, weeks trimmed to those with figures or actions. */
static json_t *report_json(struct report *r)
{
	json_t *weeks = json_array(), *att = json_array(), *abs = json_array(),
	       *persistent = json_array(), *severe = json_array(), *actions = json_array(),
	       *schools = json_array();
	char date[11], year[16], through[11] = "";
	for (int w = r->first_week; w <= r->last_week; w++) {
		const struct week *k = &r->weeks[w];
		json_array_append_new(weeks, json_string(date_format(r->week0 + 7 * w, date)));
		json_array_append_new(att, k->possible
						   ? json_real(percent(k->attended, k->possible))
						   : json_null());
		json_array_append_new(abs, k->possible ? json_real(percent(k->absent, k->possible))
						       : json_null());
		json_array_append_new(persistent, json_integer(k->persistent));
		json_array_append_new(severe, json_integer(k->severe));
	}
	for (int i = 0; i < r->nkinds; i++) {
		json_t *series = json_array();
		for (int w = r->first_week; w <= r->last_week; w++)
			json_array_append_new(series, json_integer(r->kind_count[i][w]));
		json_array_append_new(actions, json_pack("{s:s, s:o}", "label", r->kind_label[i],
							 "weeks", series));
	}
	qsort(r->schools, (size_t)r->nschools, sizeof *r->schools, by_persistence);
	for (int i = 0; i < r->nschools && i < TOP_SCHOOLS; i++) {
		const struct school *s = &r->schools[i];
		char urn[16];
		snprintf(urn, sizeof urn, "%06d", s->urn);
		json_array_append_new(
			schools,
			json_pack("{s:s, s:s, s:i, s:i, s:o}", "urn", urn, "name", s->name,
				  "pupils", s->pupils, "persistent", s->persistent, "share",
				  s->pupils ? json_real(percent(s->persistent, s->pupils))
					    : json_null()));
	}
	snprintf(year, sizeof year, "%d/%02d", r->year, (r->year + 1) % 100);
	if (r->through >= 0)
		date_format(r->through, through);
	return json_pack("{s:s, s:s?, s:s?, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:O, s:O, s:O, "
			 "s:O, s:i}",
			 "org", r->org, "academic_year", r->year ? year : NULL, "through",
			 r->through >= 0 ? through : NULL, "pupils", r->pupils, "weeks", weeks,
			 "attendance_rate", att, "absence_rate", abs, "persistent", persistent,
			 "severe", severe, "actions", actions, "schools", schools, "cases",
			 r->cases, "severe_pupils", r->severe, "signoff_waiting", r->waiting,
			 "signoff_decided", r->decided, "decided_days", DECIDED_DAYS);
}

/* JSON inside <script>: the HTML parser ends the element at "</script" and
 * treats "<!--" specially whatever the JavaScript means, so no '<' may reach
 * it. '<', '>' and '&' only occur inside JSON strings, where \u003c and so
 * on mean the same characters. */
static void put_json(FILE *out, const json_t *data)
{
	char *text = json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(6));
	for (const char *p = text; *p; p++)
		switch (*p) {
		case '<': fputs("\\u003c", out); break;
		case '>': fputs("\\u003e", out); break;
		case '&': fputs("\\u0026", out); break;
		default: putc(*p, out);
		}
	free(text);
}

/* The page. org is checked to be la:DIGITS or trust:ALNUM, so it is safe
 * in the title as it is; every other text reaches the page through the
 * JSON and textContent. */
static void put_page(FILE *out, const struct report *r, const json_t *data)
{
	fprintf(out,
		"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		"<title>Attendance report: %s</title>\n<style>\n",
		r->org);
	fwrite(report_page_css, 1, report_page_css_len, out);
	fputs("</style>\n</head>\n<body>\n"
	      "<h1>Attendance report: <span id=\"org\"></span></h1>\n"
	      "<p class=\"meta\">Academic year <span id=\"year\"></span>, marks through "
	      "<span id=\"through\"></span>; <span id=\"pupils\"></span> pupils with a possible "
	      "session this year. Made by rollcall report.</p>\n"
	      "<h2>Weekly attendance and absence</h2>\n"
	      "<p class=\"note\">Sessions attended (present or approved educational activity), "
	      "resp. missed (authorised or unauthorised), of the possible sessions in each "
	      "Monday-to-Sunday week, all pupils together.</p>\n"
	      "<div class=\"chart\"><canvas id=\"rates\"></canvas></div>\n"
	      "<h2>Persistent and severe absence</h2>\n"
	      "<p class=\"note\">Pupils who had missed 10% or more (persistent), resp. 50% or "
	      "more (severe), of their possible sessions this academic year by the end of each "
	      "week.</p>\n"
	      "<div class=\"chart\"><canvas id=\"absentees\"></canvas></div>\n"
	      "<h2>Actions by kind and week</h2>\n"
	      "<p class=\"note\">Alerts, referrals and legal steps recorded by the "
	      "organisation's policy, by the week of the date evaluated; a legal step is "
	      "counted when it is proposed, whatever was decided since (below).</p>\n"
	      "<div class=\"chart\"><canvas id=\"actions\"></canvas></div>\n"
	      "<h2>Schools with the most persistent absence</h2>\n"
	      "<div class=\"chart\"><canvas id=\"schools\"></canvas></div>\n"
	      "<table id=\"schools-table\"></table>\n"
	      "<h2>Open cases by stage</h2>\n"
	      "<div class=\"chart\"><canvas id=\"cases\"></canvas></div>\n"
	      "<h2>Legal steps waiting for a decision</h2>\n"
	      "<p class=\"note\">Proposed by the policy; none is taken until a named person "
	      "approves it (rollcall signoff). The first to expire first.</p>\n"
	      "<table id=\"waiting-table\"></table>\n"
	      "<h2>Legal steps decided in the last 4 weeks, by whom</h2>\n"
	      "<table id=\"decided-table\"></table>\n"
	      "<h2>Pupils now in severe absence</h2>\n"
	      "<table id=\"severe-table\"></table>\n",
	      out);
	/* The licence travels with the library, as the MIT licence asks. */
	fputs("<script>\n/*\n", out);
	fwrite(report_chartjs_licence, 1, report_chartjs_licence_len, out);
	fputs("*/\n", out);
	fwrite(report_chartjs, 1, report_chartjs_len, out);
	fputs("\n</script>\n<script type=\"application/json\" id=\"report-data\">", out);
	put_json(out, data);
	fputs("</script>\n<script>\n", out);
	fwrite(report_page_js, 1, report_page_js_len, out);
	fputs("</script>\n</body>\n</html>\n", out);
}

/* One snapshot's figures for org, as the page's JSON, into *data; 1 if no
 * school belongs to org (reported). */
static int report_data(struct db *db, struct report *r, json_t **data)
{
	/* Every query reads one snapshot: the figures agree with each other. */
	if (db_exec(db, "BEGIN") < 0)
		return -1;
	int rc = load_schools(db, r);
	if (!rc && !r->nschools) {
		error("%s: no school belongs to this organisation", r->org);
		rc = 1;
	}
	if (!rc)
		rc = read_pupils(db, r);
	if (!rc)
		rc = read_actions(db, r);
	if (!rc)
		rc = read_cases(db, r);
	if (!rc)
		rc = read_signoff(db, r);
	db_exec(db, "COMMIT");
	if (!rc)
		*data = report_json(r);
	return rc;
}

/* The page to out, or the figures alone to *figures (the other NULL). */
static int build(struct db *db, const char *org, FILE *out, json_t **figures)
{
	struct report r = { .org = org, .through = -1, .first_week = MAX_WEEKS, .last_week = -1 };
	json_t *data = NULL;
	r.severe = json_array();
	r.cases = json_array();
	r.waiting = json_array();
	r.decided = json_array();
	int rc = report_data(db, &r, &data);
	if (!rc && out)
		put_page(out, &r, data);
	if (!rc && figures)
		*figures = json_incref(data);
	json_decref(data);
	json_decref(r.severe);
	json_decref(r.cases);
	json_decref(r.waiting);
	json_decref(r.decided);
	for (int i = 0; i < r.nschools; i++)
		free(r.schools[i].name);
	free(r.schools);
	return rc;
}

int report_page(struct db *db, const char *org, FILE *out)
{
	return build(db, org, out, NULL);
}

int report_figures(struct db *db, const char *org, json_t **figures)
{
	return build(db, org, NULL, figures);
}
