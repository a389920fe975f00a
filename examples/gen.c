/*
 * gen.c — a deterministic generator of national-like attendance data.
 *
 *   gen [--pupils N] [--schools N] [--days D] [--start YYYY-MM-DD] [--seed S]
 *       [--las 355,846] [--skip-days K] [--marks-only] [--out DIR]
 *
 * Writes DIR/schools.csv, DIR/pupils.csv and DIR/marks.csv. The same options
 * always give the same bytes. Rates follow docs/PERFORMANCE.md, "National
 * scale" (DfE's 2023/24 absence statistics and January 2024 census): about
 * 93% of possible sessions attended, 4.6% authorised and 2.5% unauthorised
 * absence, absence concentrated in a fifth of pupils and ~2% severe; 56% of
 * pupils in academies grouped into trusts; every school in a council.
 * Absence comes in spells (illness lasts days, a holiday a week), so streaks
 * and the penalty-notice threshold occur as they do in real registers.
 */
#include "codes.h"
#include "date.h"
#include "upn.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t rng_state;

static uint64_t rng(void) /* splitmix64 */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static double uniform(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

static int below(int n)
{
	return (int)(uniform() * n);
}

struct school {
	int urn, la, estab, secondary, size, closed_today;
	char trust[16];
};

enum profile { REGULAR, PERSISTENT, SEVERE };

struct pupil {
	char upn[14];
	int school;
	uint8_t profile, spell_days, spell_reason;
};

/* Share of pupils, target absence rate and unauthorised share per profile:
 * 0.78 * 3.5% + 0.20 * 17% + 0.02 * 60% = 7.1% absence. */
static const struct {
	double share, absence, unauthorised;
} profiles[] = { { 0.78, 0.035, 0.25 }, { 0.20, 0.17, 0.40 }, { 0.02, 0.60, 0.55 } };

/* English school holidays, roughly: October half-term, Christmas, February
 * half-term, Easter, May half-term, summer. */
static int holiday(int day)
{
	int y, m, d;
	date_to_ymd(day, &y, &m, &d);
	int mon = date_monday(day);
	if (mon == date_monday(date_from_ymd(y, 10, 28)) ||
	    mon == date_monday(date_from_ymd(y, 2, 16)) ||
	    mon == date_monday(date_from_ymd(y, 5, 28)))
		return 1;
	return (m == 12 && d >= 20) || (m == 1 && d <= 3) || (m == 4 && d <= 14) ||
	       (m == 7 && d >= 23) || m == 8 || (m == 9 && d <= 2);
}

static const char *const saints[] = { "St Mary's",    "St Peter's", "Oakwood",	 "Hillside",
				      "Holy Trinity", "Brookfield", "St Luke's", "Meadowbank" };
static const char *const places[] = { "Eccles",	     "Swinton",	  "Walkden",  "Pendleton",
				      "Irlam",	     "Cadishead", "Worsley",  "Little Hulton",
				      "Hove",	     "Portslade", "Patcham",  "Whitehawk",
				      "Moulsecoomb", "Hangleton", "Kemptown", "Rottingdean" };

static const char *absence_code(struct pupil *p, int session)
{
	switch (p->spell_reason) {
	case 0: return "I";
	case 1: return "M";
	case 2: return "G";
	case 3: return session ? "O" : "N";
	case 4: return "O";
	case 5: return "C";
	default: return "E";
	}
}

int main(int argc, char **argv)
{
	long npupils = 300;
	int fixed_schools = 0; /* --schools: that many schools of equal size */
	int ndays = 20, skip = 0, marks_only = 0;
	int start = date_parse("2025-09-03", 10);
	const char *out = ".", *las_arg = NULL;
	rng_state = 20240819;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--marks-only")) {
			marks_only = 1;
			continue;
		}
		if (!v)
			goto usage;
		i++;
		if (!strcmp(a, "--pupils"))
			npupils = atol(v);
		else if (!strcmp(a, "--schools"))
			fixed_schools = atoi(v);
		else if (!strcmp(a, "--days"))
			ndays = atoi(v);
		else if (!strcmp(a, "--skip-days"))
			skip = atoi(v);
		else if (!strcmp(a, "--seed"))
			rng_state = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--start") && (start = date_parse(v, (int)strlen(v))) >= 0)
			;
		else if (!strcmp(a, "--las"))
			las_arg = v;
		else if (!strcmp(a, "--out"))
			out = v;
		else
			goto usage;
	}
	if (npupils < 1 || ndays < 0 || skip < 0 || start < 0)
		goto usage;

	int las[200], nlas = 0;
	if (las_arg) {
		for (const char *p = las_arg; *p && nlas < 200; p += strspn(p, ","))
			las[nlas++] = (int)strtol(p, (char **)&p, 10);
	} else {
		for (nlas = 0; nlas < 153; nlas++) /* 153 councils with education duties */
			las[nlas] = 201 + nlas * 5;
	}

	/* Schools: primaries of 100-450 pupils, secondaries of 600-1500, each in
	 * a council; 56% of pupils in academies, which group into trusts of 1-10
	 * schools. */
	struct school *schools = NULL;
	struct pupil *pupils = xcalloc((size_t)npupils, sizeof *pupils);
	int nschools = 0, cap = 0, trust_no = 0, trust_left = 0, estab[200] = { 0 };
	for (long placed = 0; placed < npupils; nschools++) {
		if (nschools == cap)
			schools = xrealloc(schools,
					   (size_t)(cap = cap ? cap * 2 : 64) * sizeof *schools);
		struct school *s = &schools[nschools];
		memset(s, 0, sizeof *s);
		int la = nschools % nlas;
		s->urn = 100000 + nschools;
		s->la = las[la];
		s->estab =
			(s->secondary = uniform() < 0.15) ? 4000 + estab[la]++ : 2000 + estab[la]++;
		s->size = s->secondary ? 600 + below(900) : 100 + below(350);
		if (fixed_schools > 0)
			s->size = (int)((npupils + fixed_schools - 1) / fixed_schools);
		if (uniform() < (s->secondary ? 0.80 : 0.48)) {
			if (trust_left-- <= 0) {
				trust_no++;
				trust_left = below(10);
			}
			snprintf(s->trust, sizeof s->trust, "TR%05d", trust_no);
		}
		for (int k = 0; k < s->size && placed < npupils; k++, placed++) {
			struct pupil *p = &pupils[placed];
			char body[32];
			snprintf(body, sizeof body, "%03d%04d%02d%03d", s->la % 1000,
				 s->estab % 10000, (20 + k / 1000) % 100, k % 1000);
			p->upn[0] = upn_check_letter(body);
			memcpy(p->upn + 1, body, 12);
			p->school = nschools;
			double r = uniform();
			p->profile = r < profiles[SEVERE].share ? SEVERE
				     : r < profiles[SEVERE].share + profiles[PERSISTENT].share
					     ? PERSISTENT
					     : REGULAR;
		}
	}

	char path[4096];
	FILE *f;
	if (mkdir(out, 0755) != 0 && errno != EEXIST) {
		error("%s: %s", out, strerror(errno));
		return 1;
	}
	if (!marks_only) {
		snprintf(path, sizeof path, "%s/schools.csv", out);
		if (!(f = fopen(path, "w")))
			goto io;
		fprintf(f, "urn,name,la_code,trust_id,phase\r\n");
		for (int i = 0; i < nschools; i++) {
			const struct school *s = &schools[i];
			fprintf(f, "%06d,\"%s %s, %s\",%03d,%s,%s\r\n", s->urn, saints[i % 8],
				s->secondary ? "Academy" : "Primary School", places[i / 8 % 16],
				s->la, s->trust, s->secondary ? "secondary" : "primary");
		}
		fclose(f);
		snprintf(path, sizeof path, "%s/pupils.csv", out);
		if (!(f = fopen(path, "w")))
			goto io;
		fprintf(f, "upn,urn,year_group,social_worker,sen,fsm\r\n");
		for (long i = 0; i < npupils; i++) {
			const struct pupil *p = &pupils[i];
			const struct school *s = &schools[p->school];
			int year = s->secondary ? 7 + below(5) : below(7);
			double sen = uniform();
			fprintf(f, "%s,%06d,%s%.0d,%d,%c,%d\r\n", p->upn, s->urn, year ? "" : "R",
				year, uniform() < 0.03 + 0.05 * p->profile,
				sen < 0.83   ? 'N'
				: sen < 0.96 ? 'K'
					     : 'E',
				uniform() < 0.25);
		}
		fclose(f);
	}

	snprintf(path, sizeof path, "%s/marks.csv", out);
	if (!(f = fopen(path, "w")))
		goto io;
	fprintf(f, "upn,urn,date,session,code,minutes_late\r\n");
	char date[11];
	for (int day = start, done = 0; done < ndays + skip; day++) {
		if (date_weekday(day) >= 5 || holiday(day))
			continue;
		int write = done++ >= skip;
		date_format(day, date);
		for (int i = 0; i < nschools; i++)
			schools[i].closed_today = uniform() < 0.005; /* INSET day or closure */
		for (long i = 0; i < npupils; i++) {
			struct pupil *p = &pupils[i];
			const struct school *s = &schools[p->school];
			double a = profiles[p->profile].absence;
			/* A spell continues with probability 0.6, so it starts with the
			 * probability that makes the stationary absence rate a. */
			if (p->spell_days) {
				p->spell_days = uniform() < 0.6 ? p->spell_days + 1 : 0;
			} else if (uniform() < 0.4 * a / (1 - a)) {
				p->spell_days = 1;
				double r = uniform(), u = profiles[p->profile].unauthorised;
				p->spell_reason = r < u * 0.7		   ? 3
						  : r < u * 0.85	   ? 4
						  : r < u		   ? 2
						  : r < u + (1 - u) * 0.75 ? 0
						  : r < u + (1 - u) * 0.85 ? 1
						  : r < u + (1 - u) * 0.95 ? 5
									   : 6;
			}
			if (!write)
				continue;
			for (int session = 0; session < 2; session++) {
				const char *code = session ? "\\" : "/";
				int late = 0;
				if (s->closed_today)
					code = "#";
				else if (p->spell_days && (p->spell_reason != 1 || session == 0))
					code = absence_code(p, session);
				else if (uniform() < 0.02)
					code = uniform() < 0.8 ? (late = 5 + below(25), "L")
							       : (late = 35 + below(60), "U");
				else if (uniform() < 0.004)
					code = uniform() < 0.5 ? "V" : "P";
				if (late)
					fprintf(f, "%s,%06d,%s,%s,%s,%d\r\n", p->upn, s->urn, date,
						session ? "PM" : "AM", code, late);
				else
					fprintf(f, "%s,%06d,%s,%s,%s,\r\n", p->upn, s->urn, date,
						session ? "PM" : "AM", code);
			}
		}
	}
	if (fclose(f) != 0)
		goto io;
	free(schools);
	free(pupils);
	return 0;
io:
	error("%s: %s", path, strerror(errno));
	return 1;
usage:
	fprintf(stderr,
		"usage: gen [--pupils N] [--days D] [--start YYYY-MM-DD] [--seed S] "
		"[--schools N] [--las 355,846] [--skip-days K] [--marks-only] [--out DIR]\n");
	return 2;
}
